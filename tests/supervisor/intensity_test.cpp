// Restart intensity, escalation through three levels, and start failures.

#include "sup_test.hpp"

#include <atomic>

using namespace sup_test;

TEST_CASE("more than max_restarts within the window stops the children and exits with shutdown") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto s = sup::start(rt, {.id = "s", .max_restarts = 2, .max_window = 1h, .children = {worker("a"), worker("b")}});
  REQUIRE(s);
  watcher w(self, *s);
  auto b = child_pid(self, *s, "b");
  for (int i = 0; i < 2; ++i) {
    auto a = child_pid(self, *s, "a");
    self.send(a, crash{});
    await_replaced(self, *s, "a", a);
  }
  watcher wb(self, b);
  self.send(child_pid(self, *s, "a"), crash{});
  CHECK(w.wait() == weft::exit_reason::shutdown());
  CHECK(wb.wait() == weft::exit_reason::shutdown());
  CHECK(events_of(rt, sup::event_kind::intensity_exceeded).size() == 1);
  CHECK(events_of(rt, sup::event_kind::child_restarted).size() == 2);
  REQUIRE(weft_test::eventually([&] { return rt.live_actors() == 0; }));
}

TEST_CASE("restart intensity reads the supervisor's clock, so the window can be tested without waiting") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto fake_now = std::make_shared<std::atomic<std::int64_t>>(0);
  auto s =
      sup::start(rt, {.id = "s", .max_restarts = 1, .max_window = 10s, .children = {worker("a")}, .clock = [fake_now] {
                        return std::chrono::steady_clock::time_point{} + std::chrono::seconds(1000 + fake_now->load());
                      }});
  REQUIRE(s);
  watcher w(self, *s);
  auto crash_and_wait = [&] {
    auto a = child_pid(self, *s, "a");
    self.send(a, crash{});
    await_replaced(self, *s, "a", a);
  };
  crash_and_wait();
  fake_now->store(11);  // the first restart left the window
  crash_and_wait();
  fake_now->store(12);  // two restarts within 10 s: one too many
  self.send(child_pid(self, *s, "a"), crash{});
  CHECK(w.wait() == weft::exit_reason::shutdown());
}

TEST_CASE("intensity exceeded escalates through three levels of supervisors") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  // leaf gives up at its first restart; mid tolerates 1 restart of leaf; root 1 of mid.
  auto tree = sup::supervisor_spec{
      .id = "root",
      .max_restarts = 1,
      .max_window = 1h,
      .children = {sup::as_child(
          {.id = "mid",
           .max_restarts = 1,
           .max_window = 1h,
           .children = {sup::as_child(
               {.id = "leaf", .max_restarts = 0, .max_window = 1h, .children = {worker("w", {.name = "w"})}})}})}};
  auto s = sup::start(rt, tree);
  REQUIRE(s);
  watcher root(self, *s);
  auto crash_w = [&] {
    auto w = rt.whereis("w");
    REQUIRE(w);
    self.send(w, crash{});
    REQUIRE(weft_test::eventually([&] { return rt.whereis("w") && rt.whereis("w") != w; }));
  };
  crash_w();  // leaf exceeds, mid restarts leaf (mid: 1 restart)
  crash_w();  // leaf exceeds, mid exceeds, root restarts mid (root: 1)
  CHECK(events_of(rt, sup::event_kind::intensity_exceeded).size() == 3);
  crash_w();  // the new mid has a fresh intensity: it restarts leaf (mid: 1)
  auto w = rt.whereis("w");
  self.send(w, crash{});  // leaf, mid, then root exceed: the whole tree exits
  CHECK(root.wait() == weft::exit_reason::shutdown());
  CHECK(events_of(rt, sup::event_kind::intensity_exceeded).size() == 7);
  std::vector<std::string> who;
  for (auto& e : events_of(rt, sup::event_kind::intensity_exceeded))
    who.push_back(e.text.substr(12, e.text.find('\'', 12) - 12));
  CHECK(who == std::vector<std::string>{"leaf", "leaf", "mid", "leaf", "leaf", "mid", "root"});
  REQUIRE(weft_test::eventually([&] { return rt.live_actors() == 0; }));
}

TEST_CASE("a child that fails to start rolls back the started ones in reverse order and names itself") {
  weft::runtime rt(weft_test::small_runtime());
  auto failing =
      sup::child_spec{.id = "c", .start = [](sup::child_starter&) { return sup::start_result::error("no database"); }};
  auto s = sup::start(rt, {.id = "s", .children = {worker("a"), worker("b"), failing, worker("d")}});
  auto why = error_of(s);
  CHECK(why == sup::errc::start_failed);
  CHECK(why.detail() == "supervisor 's': child 'c' failed to start: no database");
  std::vector<std::string> order;
  for (auto& e : events_of(rt, sup::event_kind::child_stopped))
    order.push_back(e.text.substr(e.text.find("child '") + 7, 1));
  CHECK(order == std::vector<std::string>{"b", "a"});
  REQUIRE(weft_test::eventually([&] { return rt.live_actors() == 0; }));
}

TEST_CASE("a start function that throws fails the start with its message") {
  weft::runtime rt(weft_test::small_runtime());
  auto throwing = sup::child_spec{
      .id = "x", .start = [](sup::child_starter&) -> sup::start_result { throw std::runtime_error("config missing"); }};
  auto s = sup::start(rt, {.id = "s", .children = {throwing}});
  auto why = error_of(s);
  CHECK(why == sup::errc::start_failed);
  CHECK(why.detail() == "supervisor 's': child 'x' failed to start: the start function threw: config missing");
}

TEST_CASE("a nested start failure fails every level up to the caller, naming each") {
  weft::runtime rt(weft_test::small_runtime());
  auto failing =
      sup::child_spec{.id = "bad", .start = [](sup::child_starter&) { return sup::start_result::error("boom"); }};
  auto s = sup::start(
      rt,
      {.id = "root", .children = {worker("a"), sup::as_child({.id = "inner", .children = {worker("b"), failing}})}});
  auto why = error_of(s);
  CHECK(why == sup::errc::start_failed);
  CHECK(why.detail() ==
        "supervisor 'root': child 'inner' failed to start: supervisor 'inner': child 'bad' failed to start: boom");
  REQUIRE(weft_test::eventually([&] { return rt.live_actors() == 0; }));
}

TEST_CASE("start_link from an actor that does not trap exits returns the error and leaves the caller alive") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto failing =
      sup::child_spec{.id = "bad", .start = [](sup::child_starter&) { return sup::start_result::error("boom"); }};
  std::atomic<int> outcome{0};
  std::string why;  // written before `outcome`, read after it
  auto caller = rt.spawn([&](weft::context& ctx) {
    auto s = sup::start_link(ctx, {.id = "s", .children = {failing}});
    if (!s && s.error() == sup::errc::start_failed) why = s.error().detail();
    outcome = s ? 1 : 2;
    ctx.receive([](quit) {});
  });
  REQUIRE(weft_test::eventually([&] { return outcome.load() != 0; }));
  CHECK(outcome.load() == 2);
  CHECK(why == "supervisor 's': child 'bad' failed to start: boom");
  REQUIRE(rt.wait_quiescent(5s));
  CHECK(rt.info(caller)->status != weft::actor_status::dead);
  self.send(caller, quit{});
}

TEST_CASE("a child whose start returns ignore is kept as a stopped spec") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto ignored = sup::child_spec{.id = "i", .start = [](sup::child_starter&) { return sup::start_result::ignore(); }};
  auto s = sup::start(rt, {.id = "s", .children = {worker("a"), ignored}});
  REQUIRE(s);
  auto cs = children(self, *s);
  REQUIRE(cs.size() == 2);
  CHECK(cs[1].state == sup::child_state::stopped);
  CHECK(s->count_children(self)->active == 1);
}
