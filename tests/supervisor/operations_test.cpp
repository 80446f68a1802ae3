// which_children, count_children, start_child, terminate_child,
// restart_child, delete_child, stop — from a thread and from an actor.

#include "sup_test.hpp"

#include <atomic>

using namespace sup_test;

TEST_CASE("the child operations work from a plain thread") {
  weft::runtime rt(weft_test::small_runtime());
  auto s = sup::start(rt, {.id = "s", .children = {worker("a")}});
  REQUIRE(s);
  auto added = sup::start_child(rt, s.supervisor, worker("b"));
  REQUIRE(added);
  CHECK(answers(rt, added.child));
  CHECK(ids(children(rt, s.supervisor)) == std::vector<std::string>{"a", "b"});
  CHECK(sup::start_child(rt, s.supervisor, worker("b")).status == sup::op_status::running);

  CHECK(sup::delete_child(rt, s.supervisor, "b").status == sup::op_status::running);
  REQUIRE(sup::terminate_child(rt, s.supervisor, "b"));
  CHECK(children(rt, s.supervisor)[1].state == sup::child_state::stopped);
  CHECK(sup::start_child(rt, s.supervisor, worker("b")).status == sup::op_status::already_present);
  auto c = sup::count_children(rt, s.supervisor);
  REQUIRE(c);
  CHECK(c->specs == 2);
  CHECK(c->active == 1);
  CHECK(c->workers == 2);
  CHECK(c->supervisors == 0);

  auto again = sup::restart_child(rt, s.supervisor, "b");
  REQUIRE(again);
  CHECK(answers(rt, again.child));
  CHECK(sup::restart_child(rt, s.supervisor, "b").status == sup::op_status::running);
  REQUIRE(sup::terminate_child(rt, s.supervisor, "b"));
  REQUIRE(sup::delete_child(rt, s.supervisor, "b"));
  CHECK(ids(children(rt, s.supervisor)) == std::vector<std::string>{"a"});
  CHECK(sup::delete_child(rt, s.supervisor, "b").status == sup::op_status::not_found);
  CHECK(sup::terminate_child(rt, s.supervisor, "zzz").status == sup::op_status::not_found);
  CHECK(sup::start_child(rt, s.supervisor, sup::child_args(1)).status == sup::op_status::not_supported);

  // A terminated child is not restarted by a later crash of nobody: it stays stopped.
  REQUIRE(sup::terminate_child(rt, s.supervisor, "a"));
  REQUIRE(rt.wait_quiescent(5s));
  CHECK(children(rt, s.supervisor)[0].state == sup::child_state::stopped);
  CHECK(events_of(rt, sup::event_kind::child_restarted).empty());

  REQUIRE(sup::stop(rt, s.supervisor));
  REQUIRE(weft_test::eventually([&] { return rt.live_actors() == 0; }));
  auto gone = sup::which_children(rt, s.supervisor, 1s);
  CHECK_FALSE(gone.has_value());
  CHECK(sup::stop(rt, s.supervisor, 1s).status == sup::op_status::unreachable);
}

TEST_CASE("the child operations work from an actor, which stays responsive meanwhile") {
  weft::runtime rt(weft_test::small_runtime());
  std::atomic<int> step{0};
  rt.spawn([&](weft::context& self) {
    auto s = sup::start_link(self, {.id = "s", .name = "the-sup"});
    REQUIRE(s);
    CHECK(self.system().whereis("the-sup") == s.supervisor);
    auto r = sup::start_child(self, s.supervisor, worker("x"));
    REQUIRE(r);
    CHECK(*self.ask<std::uint64_t>(r.child, ping{}, 5s) == r.child.id());
    auto cs = sup::which_children(self, s.supervisor);
    REQUIRE(cs);
    CHECK(cs->size() == 1);
    CHECK(sup::count_children(self, s.supervisor)->active == 1);
    CHECK(sup::terminate_child(self, s.supervisor, "x"));
    CHECK(sup::restart_child(self, s.supervisor, "x"));
    CHECK(sup::stop(self, s.supervisor));
    step = 1;
  });
  REQUIRE(weft_test::eventually([&] { return step.load() == 1; }));
  REQUIRE(weft_test::eventually([&] { return rt.live_actors() == 0; }));
}

TEST_CASE("which_children reports restart counts per child and the runtime's actor info agrees") {
  weft::runtime rt(weft_test::small_runtime());
  auto s = sup::start(rt, {.id = "s", .max_restarts = 10, .children = {worker("a"), worker("b")}});
  REQUIRE(s);
  for (int i = 0; i < 3; ++i) {
    auto b = child_pid(rt, s.supervisor, "b");
    rt.send(b, crash{});
    await_replaced(rt, s.supervisor, "b", b);
  }
  auto cs = children(rt, s.supervisor);
  CHECK(cs[0].restarts == 0);
  CHECK(cs[1].restarts == 3);
  CHECK(rt.info(cs[1].who)->restarts == 3);
  auto text = rt.describe(s.supervisor, 5s);
  REQUIRE(text);
  CHECK(*text == "supervisor 's' (one_for_one, at most 10 restarts in 5000 ms): 2 children, 2 running, 3 restarts");
}

TEST_CASE("the supervisor stops when its parent exits") {
  weft::runtime rt(weft_test::small_runtime());
  std::atomic<bool> started{false};
  weft::pid sup_pid;
  auto parent = rt.spawn([&](weft::context& self) {
    auto s = sup::start_link(self, {.id = "s", .children = {worker("a")}});
    sup_pid = s.supervisor;
    started = true;
    self.receive([](quit) {});
  });
  REQUIRE(weft_test::eventually([&] { return started.load(); }));
  watcher w(rt, sup_pid);
  rt.send(parent, quit{});
  CHECK(w.wait() == weft::exit_reason::shutdown());
  REQUIRE(weft_test::eventually([&] { return rt.live_actors() == 0; }));
}

TEST_CASE("supervisor events are counted, summarised in one line, and print nothing") {
  weft::runtime rt(weft_test::small_runtime());
  std::atomic<int> hooked{0};
  rt.events().set_hook([&](const weft::runtime_event& e) {
    if (e.source == sup::event_source) ++hooked;
  });
  auto s = sup::start(rt, {.id = "s", .max_restarts = 10, .children = {worker("a")}});
  REQUIRE(s);
  auto a = child_pid(rt, s.supervisor, "a");
  rt.send(a, crash{});
  await_replaced(rt, s.supervisor, "a", a);
  CHECK(sup::summary(rt.events()) == "supervisor events: child_exited=1 child_restarted=1 child_started=1");
  CHECK(hooked.load() == 3);
}
