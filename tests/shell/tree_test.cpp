// The endpoint on a real supervision tree: the tree exactly as JSON, and a
// worker killed through the endpoint coming back, seen by tree and events.

#include "shell_test.hpp"

#include <weft/supervisor/supervisor.hpp>

#include <weft_test.hpp>

#include <doctest/doctest.h>

using namespace shell_test;
namespace sup = weft::sup;

namespace {

weft::behavior idle_worker(weft::context&) {
  return {[](int) {}};
}

// top (one_for_one)
// ├── mid (one_for_one)
// │   ├── w1
// │   └── w2
// └── w3
weft::expected<sup::supervisor> start_three_levels(weft::runtime& rt) {
  return sup::start(rt, {.id = "top",
                         .max_restarts = 5,
                         .children = {sup::as_child({.id = "mid",
                                                     .children = {sup::worker("w1", idle_worker, {.name = "w1"}),
                                                                  sup::worker("w2", idle_worker, {.name = "w2"})},
                                                     .name = "mid"}),
                                      sup::worker("w3", idle_worker, {.name = "w3"})},
                         .name = "top"});
}

json node(const weft::runtime& rt, const std::string& name, const std::string& label, json capacity, int restarts,
          json children) {
  return json{{"pid", rt.whereis(name).to_string()},
              {"name", name},
              {"label", label},
              {"status", "waiting"},
              {"mailbox", {{"length", 0}, {"capacity", capacity}}},
              {"restarts", restarts},
              {"children", children}};
}

// Children are listed in pid (spawn) order, so a restarted w1, with a
// newer pid, comes after w2.
json expected_tree(const weft::runtime& rt, int w1_restarts = 0) {
  json w1 = node(rt, "w1", "w1", 1024, w1_restarts, json::array());
  json w2 = node(rt, "w2", "w2", 1024, 0, json::array());
  json workers = w1_restarts == 0 ? json::array({w1, w2}) : json::array({w2, w1});
  return json{{"roots", json::array({node(rt, "top", "supervisor top", nullptr, 0,
                                          json::array({node(rt, "mid", "supervisor mid", nullptr, 0, workers),
                                                       node(rt, "w3", "w3", 1024, 0, json::array())}))})}};
}

}  // namespace

TEST_CASE("tree of a three-level supervision tree is exactly its structure as JSON") {
  temp_dir dir;
  weft::runtime rt(weft_test::small_runtime());
  REQUIRE(start_three_levels(rt));
  weft::shell::endpoint ep(rt, options_in(dir));
  weft::shell::client c(weft::shell::parse_address(ep.socket_path()));
  json actual;
  // Just-started actors may still be runnable; the tree settles at once.
  weft_test::eventually([&] {
    actual = call(c, {{"cmd", "tree"}, {"target", "top"}})["result"];
    return actual == expected_tree(rt);
  });
  CHECK(actual.dump(1) == expected_tree(rt).dump(1));

  const json shallow = call(c, {{"cmd", "tree"}, {"target", "top"}, {"depth", 1}})["result"]["roots"][0];
  CHECK(shallow["children"][0]["children"] == json::array());
  CHECK(shallow["children"][0]["children_omitted"] == 2);
}

TEST_CASE("a worker killed through the endpoint is restarted, as tree and events show") {
  temp_dir dir;
  weft::runtime rt(weft_test::small_runtime());
  REQUIRE(start_three_levels(rt));
  weft::shell::endpoint ep(rt, options_in(dir, true));
  weft::shell::client c(weft::shell::parse_address(ep.socket_path()));
  const weft::pid old_w1 = rt.whereis("w1");
  const std::uint64_t seq_before = rt.events().last_seq();

  const json killed = call(c, {{"cmd", "kill"}, {"target", "w1"}});
  CHECK(killed["ok"] == true);
  CHECK(killed["result"]["pid"] == old_w1.to_string());
  REQUIRE(weft_test::eventually([&] { return rt.whereis("w1") && rt.whereis("w1") != old_w1; }));

  json actual;
  weft_test::eventually([&] {
    actual = call(c, {{"cmd", "tree"}, {"target", "top"}})["result"];
    return actual == expected_tree(rt, 1);
  });
  CHECK(actual.dump(1) == expected_tree(rt, 1).dump(1));

  const json events = call(c, {{"cmd", "events"}, {"after", seq_before}, {"source", "supervisor"}})["result"]["events"];
  std::vector<std::string> kinds;
  for (const auto& e : events)
    kinds.push_back(e["kind"]);
  CHECK(kinds == std::vector<std::string>{"child_exited", "child_restarted"});
  REQUIRE(events.size() == 2);
  CHECK(events[0]["who"] == old_w1.to_string());
  CHECK(events[1]["who"] == rt.whereis("w1").to_string());
  CHECK(events[1]["text"].get<std::string>().find("restart 1") != std::string::npos);
}

TEST_CASE("restart goes through the supervisor and the child gets a new pid") {
  temp_dir dir;
  weft::runtime rt(weft_test::small_runtime());
  REQUIRE(start_three_levels(rt));
  weft::shell::endpoint ep(rt, options_in(dir, true));
  const weft::pid old_w2 = rt.whereis("w2");
  const json r = call(ep.socket_path(), {{"cmd", "restart"}, {"target", "w2"}});
  REQUIRE(r["ok"] == true);
  CHECK(r["result"]["child_id"] == "w2");
  CHECK(r["result"]["supervisor"] == rt.whereis("mid").to_string());
  CHECK(r["result"]["old_pid"] == old_w2.to_string());
  CHECK(r["result"]["new_pid"] == rt.whereis("w2").to_string());
  CHECK(rt.whereis("w2") != old_w2);
  const json not_child = call(ep.socket_path(), {{"cmd", "restart"}, {"target", "top"}});
  CHECK(not_child["error"]["code"] == "not_supervised");
}
