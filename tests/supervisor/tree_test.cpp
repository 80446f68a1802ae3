// The message-passing exercise: a root supervisor, two child supervisors,
// four workers each, all one_for_one, declared in one expression.

#include "sup_test.hpp"

#include <map>
#include <random>

using namespace sup_test;

namespace {

std::string wname(int group, int i) {
  return "w" + std::to_string(group) + "." + std::to_string(i);
}

sup::supervisor_spec exercise_tree() {
  auto group = [](int g) {
    sup::supervisor_spec spec{
        .id = "g" + std::to_string(g), .max_restarts = 1000, .max_window = 1s, .name = "g" + std::to_string(g)};
    for (int i = 0; i < 4; ++i)
      spec.children.push_back(worker(wname(g, i), {.name = wname(g, i)}));
    return sup::as_child(std::move(spec));
  };
  return {.id = "root", .max_restarts = 1000, .max_window = 1s, .children = {group(0), group(1)}, .name = "root"};
}

std::map<std::string, weft::pid> snapshot(weft::runtime& rt) {
  std::map<std::string, weft::pid> out;
  for (auto n : {"root", "g0", "g1"})
    out[n] = rt.whereis(n);
  for (int g = 0; g < 2; ++g) {
    for (int i = 0; i < 4; ++i)
      out[wname(g, i)] = rt.whereis(wname(g, i));
  }
  return out;
}

bool whole(weft::runtime& rt) {
  auto s = snapshot(rt);
  for (auto& [name, p] : s) {
    if (!p) return false;
  }
  return rt.live_actors() == 11;
}

}  // namespace

TEST_CASE("crashing one worker of the exercise tree restarts only that worker") {
  weft::runtime rt(weft_test::small_runtime());
  REQUIRE(sup::start(rt, exercise_tree()));
  auto before = snapshot(rt);
  rt.send(before["w1.2"], crash{});
  REQUIRE(weft_test::eventually([&] { return rt.whereis("w1.2") && rt.whereis("w1.2") != before["w1.2"]; }));
  REQUIRE(rt.wait_quiescent(5s));
  auto after = snapshot(rt);
  for (auto& [name, p] : before) {
    if (name != "w1.2") CHECK_MESSAGE(after[name] == p, name);
  }
  CHECK(answers(rt, after["w1.2"]));
}

TEST_CASE("crashing a child supervisor restarts its whole subtree and not the other") {
  weft::runtime rt(weft_test::small_runtime());
  REQUIRE(sup::start(rt, exercise_tree()));
  auto before = snapshot(rt);
  rt.exit(before["g0"], weft::exit_reason::kill());
  REQUIRE(weft_test::eventually([&] { return whole(rt) && rt.whereis("g0") != before["g0"]; }));
  REQUIRE(rt.wait_quiescent(5s));
  auto after = snapshot(rt);
  CHECK(after["root"] == before["root"]);
  CHECK(after["g1"] == before["g1"]);
  for (int i = 0; i < 4; ++i) {
    CHECK(after[wname(0, i)] != before[wname(0, i)]);
    CHECK(after[wname(1, i)] == before[wname(1, i)]);
    CHECK(answers(rt, after[wname(0, i)]));
  }
}

TEST_CASE("after 100 random kills the exercise tree is whole and every worker answers") {
  weft::runtime rt(weft_test::small_runtime());
  auto root = sup::start(rt, exercise_tree());
  REQUIRE(root);
  std::mt19937 rng(12345);
  std::vector<std::string> targets{"g0", "g1"};
  for (int g = 0; g < 2; ++g) {
    for (int i = 0; i < 4; ++i)
      targets.push_back(wname(g, i));
  }
  int kills = 0;
  while (kills < 100) {
    auto victim = rt.whereis(targets[rng() % targets.size()]);
    if (!victim) continue;  // being restarted
    rt.exit(victim, rng() % 2 ? weft::exit_reason::kill() : weft::exit_reason::error("random fault"));
    ++kills;
    if (kills % 10 == 0) REQUIRE(weft_test::eventually([&] { return whole(rt); }));
  }
  REQUIRE(weft_test::eventually([&] { return whole(rt); }));
  REQUIRE(rt.wait_quiescent(5s));
  CHECK(rt.live_actors() == 11);
  CHECK(rt.whereis("root") == root.supervisor);
  for (int g = 0; g < 2; ++g) {
    for (int i = 0; i < 4; ++i)
      CHECK(answers(rt, rt.whereis(wname(g, i))));
  }
  auto top = children(rt, root.supervisor);
  CHECK(top.size() == 2);
  CHECK(events_of(rt, sup::event_kind::intensity_exceeded).empty());
}
