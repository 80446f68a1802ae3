// which_children, count_children, start_child, terminate_child,
// restart_child, delete_child, stop — from a thread and from an actor.

#include "sup_test.hpp"

#include <atomic>

using namespace sup_test;

TEST_CASE("the child operations work from a plain thread") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto s = sup::start(rt, {.id = "s", .children = {worker("a")}});
  REQUIRE(s);
  auto added = s->start_child(self, worker("b"));
  REQUIRE(added);
  CHECK(answers(self, *added));
  CHECK(ids(children(self, *s)) == std::vector<std::string>{"a", "b"});
  // A running child is named in the error, pid and all.
  auto twice = error_of(s->start_child(self, worker("b")));
  CHECK(twice == sup::errc::running);
  CHECK(twice.detail().find(added->to_string()) != std::string_view::npos);

  auto busy = error_of(s->delete_child(self, "b"));
  CHECK(busy == sup::errc::running);
  CHECK(busy.detail().find(added->to_string()) != std::string_view::npos);
  REQUIRE(s->terminate_child(self, "b"));
  CHECK(children(self, *s)[1].state == sup::child_state::stopped);
  CHECK(error_of(s->start_child(self, worker("b"))) == sup::errc::already_present);
  auto c = s->count_children(self);
  REQUIRE(c);
  CHECK(c->specs == 2);
  CHECK(c->active == 1);
  CHECK(c->workers == 2);
  CHECK(c->supervisors == 0);

  auto again = s->restart_child(self, "b");
  REQUIRE(again);
  CHECK(answers(self, *again));
  auto running = error_of(s->restart_child(self, "b"));
  CHECK(running == sup::errc::running);
  CHECK(running.detail().find(again->to_string()) != std::string_view::npos);
  REQUIRE(s->terminate_child(self, "b"));
  REQUIRE(s->delete_child(self, "b"));
  CHECK(ids(children(self, *s)) == std::vector<std::string>{"a"});
  CHECK(error_of(s->delete_child(self, "b")) == sup::errc::not_found);
  CHECK(error_of(s->terminate_child(self, "zzz")) == sup::errc::not_found);
  CHECK(error_of(s->start_child(self, sup::child_args(1))) == sup::errc::not_supported);

  // A terminated child is not restarted by a later crash of nobody: it stays stopped.
  REQUIRE(s->terminate_child(self, "a"));
  REQUIRE(rt.wait_quiescent(5s));
  CHECK(children(self, *s)[0].state == sup::child_state::stopped);
  CHECK(events_of(rt, sup::event_kind::child_restarted).empty());

  REQUIRE(s->stop(self));
  REQUIRE(weft_test::eventually([&] { return rt.live_actors() == 0; }));
  // A supervisor that is gone answers with the ask's own error, at once.
  CHECK(error_of(s->which_children(self, 1s)) == weft::ask_errc::no_actor);
  CHECK(error_of(s->stop(self, 1s)) == weft::ask_errc::no_actor);
}

TEST_CASE("the child operations work from an actor, which stays responsive meanwhile") {
  weft::runtime rt(weft_test::small_runtime());
  std::atomic<int> step{0};
  rt.spawn([&](weft::context& self) {
    auto s = sup::start_link(self, {.id = "s", .name = "the-sup"});
    REQUIRE(s);
    CHECK(self.system().whereis("the-sup") == s->id());
    auto x = s->start_child(self, worker("x"));
    REQUIRE(x);
    CHECK(answers(self, *x));
    auto cs = s->which_children(self);
    REQUIRE(cs);
    CHECK(cs->size() == 1);
    CHECK(s->count_children(self)->active == 1);
    CHECK(s->terminate_child(self, "x"));
    CHECK(s->restart_child(self, "x"));
    CHECK(s->stop(self));
    step = 1;
  });
  REQUIRE(weft_test::eventually([&] { return step.load() == 1; }));
  REQUIRE(weft_test::eventually([&] { return rt.live_actors() == 0; }));
}

TEST_CASE("a pid converts back to a supervisor handle only if it is one") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto s = sup::start(rt, {.id = "s", .children = {sup::as_child({.id = "inner", .children = {worker("a")}})}});
  REQUIRE(s);
  const auto top = children(self, *s);
  REQUIRE(top.size() == 1);
  CHECK(top[0].type == sup::child_type::supervisor);
  auto inner = sup::supervisor::from(top[0].who);
  REQUIRE(inner);
  CHECK(ids(children(self, *inner)) == std::vector<std::string>{"a"});
  CHECK(error_of(sup::supervisor::from(child_pid(self, *inner, "a"))) == weft::ask_errc::wrong_protocol);
  CHECK(error_of(sup::supervisor::from(weft::pid())) == weft::ask_errc::no_actor);
}

TEST_CASE("which_children reports restart counts per child and the runtime's actor info agrees") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto s = sup::start(rt, {.id = "s", .max_restarts = 10, .children = {worker("a"), worker("b")}});
  REQUIRE(s);
  for (int i = 0; i < 3; ++i) {
    auto b = child_pid(self, *s, "b");
    self.send(b, crash{});
    await_replaced(self, *s, "b", b);
  }
  auto cs = children(self, *s);
  CHECK(cs[0].restarts == 0);
  CHECK(cs[1].restarts == 3);
  CHECK(rt.info(cs[1].who)->restarts == 3);
  auto text = rt.describe(*s, 5s);
  REQUIRE(text);
  CHECK(*text == "supervisor 's' (one_for_one, at most 10 restarts in 5000 ms): 2 children, 2 running, 3 restarts");
}

TEST_CASE("the supervisor stops when its parent exits") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  std::atomic<bool> started{false};
  weft::pid sup_pid;
  auto parent = rt.spawn([&](weft::context& ctx) {
    auto s = sup::start_link(ctx, {.id = "s", .children = {worker("a")}});
    REQUIRE(s);
    sup_pid = *s;
    started = true;
    ctx.receive([](quit) {});
  });
  REQUIRE(weft_test::eventually([&] { return started.load(); }));
  watcher w(self, sup_pid);
  self.send(parent, quit{});
  CHECK(w.wait() == weft::exit_reason::shutdown());
  REQUIRE(weft_test::eventually([&] { return rt.live_actors() == 0; }));
}

TEST_CASE("supervisor events are counted, summarised in one line, and print nothing") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  std::atomic<int> hooked{0};
  rt.events().set_hook([&](const weft::runtime_event& e) {
    if (e.source == sup::event_source) ++hooked;
  });
  auto s = sup::start(rt, {.id = "s", .max_restarts = 10, .children = {worker("a")}});
  REQUIRE(s);
  auto a = child_pid(self, *s, "a");
  self.send(a, crash{});
  await_replaced(self, *s, "a", a);
  CHECK(sup::summary(rt.events()) == "supervisor events: child_exited=1 child_restarted=1 child_started=1");
  CHECK(hooked.load() == 3);
}
