// The shutdown protocol: brutal_kill, timeouts, infinity, children that
// trap exits or unlink, stop order, and runtime shutdown of a tree.

#include "sup_test.hpp"

using namespace sup_test;

namespace {

// Traps exits and ignores them all: only kill stops it.
void stubborn(weft::context& self) {
  self.trap_exit(true);
  for (;;)
    self.receive([](const weft::exit_msg&) {}, [](ping) {});
}

// Unlinks from its supervisor, then ignores everything.
void unlinker(weft::context& self) {
  self.trap_exit(true);
  weft::pid parent = self.system().info(self.self())->parent;
  self.unlink(parent);
  for (;;)
    self.receive([](const weft::exit_msg&) {}, [](ping) {});
}

sup::child_spec erlang_child(std::string id, void (*fn)(weft::context&), sup::shutdown_spec how) {
  return sup::worker(std::move(id), fn, {.shutdown = how});
}

std::string stopped_text(weft::runtime& rt) {
  auto e = events_of(rt, sup::event_kind::child_stopped);
  REQUIRE(e.size() == 1);
  return e[0].text;
}

}  // namespace

TEST_CASE("brutal_kill kills a child at once even if it traps exits") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto s = sup::start(rt, {.id = "s", .children = {erlang_child("x", stubborn, sup::shutdown_spec::brutal_kill())}});
  REQUIRE(s);
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(s->terminate_child(self, "x"));
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  CHECK(stopped_text(rt).find("stopped: killed") != std::string::npos);
}

TEST_CASE("a child that traps exits and never stops is killed at its shutdown deadline") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto s = sup::start(rt, {.id = "s", .children = {erlang_child("x", stubborn, sup::shutdown_spec::timeout(200ms))}});
  REQUIRE(s);
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(s->terminate_child(self, "x"));
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(took >= 200ms);
  CHECK(took < 5s);
  CHECK(stopped_text(rt).find("killed (killed at its shutdown deadline)") != std::string::npos);
}

TEST_CASE("a child that unlinked itself cannot hang its supervisor's stop") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto s = sup::start(rt, {.id = "s", .children = {erlang_child("x", unlinker, sup::shutdown_spec::timeout(100ms))}});
  REQUIRE(s);
  auto x = child_pid(self, *s, "x");
  REQUIRE(weft_test::eventually([&] { return rt.info(x)->links.empty(); }));
  watcher w(self, *s);
  REQUIRE(s->stop(self, 10s));
  CHECK(w.wait() == weft::exit_reason::normal());
  CHECK(stopped_text(rt).find("killed") != std::string::npos);
  CHECK(weft_test::eventually([&] { return rt.info(x)->status == weft::actor_status::dead; }));
}

TEST_CASE("a child that traps exits and stops on shutdown is stopped with reason shutdown") {
  weft::runtime rt(weft_test::small_runtime());
  auto polite = [](weft::context& self) {
    self.trap_exit(true);
    auto m = self.receive<weft::exit_msg>();
    self.exit(m.reason);
  };
  weft::scoped_actor self(rt);
  auto s = sup::start(rt, {.id = "s", .children = {sup::worker("x", polite)}});
  REQUIRE(s);
  REQUIRE(s->terminate_child(self, "x"));
  CHECK(stopped_text(rt).find("stopped: shutdown") != std::string::npos);
}

TEST_CASE("shutdown infinity waits for a slow child instead of killing it") {
  weft::runtime rt(weft_test::small_runtime());
  auto slow = [](weft::context& self) {
    self.trap_exit(true);
    auto m = self.receive<weft::exit_msg>();
    self.sleep_for(300ms);
    self.exit(m.reason);
  };
  weft::scoped_actor self(rt);
  auto s =
      sup::start(rt, {.id = "s", .children = {sup::worker("x", slow, {.shutdown = sup::shutdown_spec::infinity()})}});
  REQUIRE(s);
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(s->terminate_child(self, "x"));
  CHECK(std::chrono::steady_clock::now() - t0 >= 300ms);
  CHECK(stopped_text(rt).find("stopped: shutdown") != std::string::npos);
  // terminate_child keeps the spec, stopped.
  CHECK(children(self, *s)[0].state == sup::child_state::stopped);
}

TEST_CASE("stopping a supervisor stops its children in reverse start order") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto s = sup::start(rt, {.id = "s", .children = {worker("a"), worker("b"), worker("c"), worker("d")}});
  REQUIRE(s);
  watcher w(self, *s);
  REQUIRE(s->stop(self));
  CHECK(w.wait() == weft::exit_reason::normal());
  std::vector<std::string> order;
  for (auto& e : events_of(rt, sup::event_kind::child_stopped))
    order.push_back(e.text.substr(e.text.find("child '") + 7, 1));
  CHECK(order == std::vector<std::string>{"d", "c", "b", "a"});
}

TEST_CASE("runtime shutdown stops a tree children-first and restarts nothing") {
  auto rt = std::make_unique<weft::runtime>(weft_test::small_runtime());
  auto leaf = [](std::string id) {
    return sup::as_child({.id = id, .max_restarts = 100, .children = {worker(id + ".1"), worker(id + ".2")}});
  };
  auto s = sup::start(*rt, {.id = "root", .children = {leaf("l"), leaf("r")}});
  REQUIRE(s);
  REQUIRE(rt->live_actors() == 7);
  auto* events = &rt->events();
  REQUIRE(rt->shutdown(weft::shutdown_mode::drain, 10s));
  // Every worker's exit was seen by its (still living) supervisor, and
  // every child supervisor's exit by the root: children first.
  CHECK(events_of(*rt, sup::event_kind::child_exited).size() == 6);
  CHECK(events_of(*rt, sup::event_kind::child_restarted).empty());
  CHECK(rt->live_actors() == 0);
  (void)events;
}
