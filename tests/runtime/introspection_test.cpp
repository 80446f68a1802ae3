#include "weft_test.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <thread>

using namespace weft_test;

namespace {
struct stop {};
struct note {
  int n;
};

// Counts the notes it gets and renders the count as its state.
struct note_counter {
  int count = 0;
  weft::behavior make_behavior(weft::context& self) {
    self.set_describe([this] { return "{\"count\":" + std::to_string(count) + "}"; });
    return {[this](note x) { count += x.n; }};
  }
};

using echo_protocol = weft::protocol<int(note)>;
}  // namespace

TEST_CASE("a snapshot shows each actor's name, label, parent, links, monitors and mailbox") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid report = me.self();
  weft::pid parent = rt.spawn(
      [report](weft::context& self) {
        self.set_label("the parent");
        weft::pid child = self.spawn_link([](weft::context& c) { c.receive([](stop) {}); },
                                          {.mailbox_capacity = 8, .overflow = weft::overflow_policy::reject});
        self.send(child, note{1});
        self.send(child, note{2});
        self.send(report, child);
        self.receive([](stop) {});
      },
      {.name = "parent"});
  weft::pid child = me.receive<weft::pid>();
  me.monitor(child);
  REQUIRE(eventually([&] {
    auto i = rt.info(child);
    // Fields are read one by one without stopping the actor, so wait for
    // a moment where all of them have settled: each arrival of a note
    // briefly resumes the child's fiber (holds_fiber false) before it
    // parks again in its receive.
    return i && i->mailbox_length == 2 && i->monitored_by.size() == 1 && i->status == weft::actor_status::receiving &&
           i->holds_fiber;
  }));
  auto ci = *rt.info(child);
  CHECK(ci.parent == parent);
  CHECK(ci.links == std::vector<weft::pid>{parent});
  CHECK(ci.monitored_by == std::vector<weft::pid>{me.self()});
  CHECK(ci.mailbox_capacity == 8);
  CHECK(ci.overflow == weft::overflow_policy::reject);
  auto all = rt.actors();
  CHECK(all.size() == 2);
  auto pi = std::find_if(all.begin(), all.end(), [&](const weft::actor_info& i) { return i.self == parent; });
  REQUIRE(pi != all.end());
  CHECK(pi->name == "parent");
  CHECK(pi->label == "the parent");
  CHECK(pi->links == std::vector<weft::pid>{child});
  me.send(child, stop{});
  me.send(parent, stop{});
}

TEST_CASE("describe is answered by the actor itself, and a stuck actor times out instead of hanging") {
  weft::runtime rt(small_runtime(2));
  weft::scoped_actor me(rt);
  weft::pid counter = rt.spawn_actor<note_counter>();
  me.send(counter, note{5});
  CHECK(rt.describe(counter, 5s) == std::optional<std::string>("{\"count\":5}"));
  std::atomic<bool> release{false};
  weft::pid stuck = rt.spawn([&release](weft::context&) {
    while (!release.load()) std::this_thread::sleep_for(1ms);  // never reaches a receive
  });
  CHECK_FALSE(rt.describe(stuck, 50ms).has_value());
  release = true;
  CHECK(eventually([&] { return !rt.info(stuck) || rt.info(stuck)->status == weft::actor_status::dead; }));
}

TEST_CASE("a trace records message types and sizes in and out, up to its count") {
  weft::runtime rt(small_runtime());
  weft::ref<echo_protocol> echo =
      rt.spawn([](weft::context&) -> weft::behavior_of<echo_protocol> { return {[](note n) { return n.n; }}; });
  std::thread traffic([&] {
    weft::scoped_actor self(rt);
    for (int i = 0; i < 50; ++i) {
      (void)self.ask(echo, note{i}, 5s);
      std::this_thread::sleep_for(1ms);
    }
  });
  auto events = rt.trace(echo, 6, 5s);
  traffic.join();
  REQUIRE(events.size() == 6);
  bool saw_in = false, saw_out = false;
  for (auto& e : events) {
    if (e.dir == weft::trace_event::direction::in) {
      saw_in = true;
      CHECK(e.type_name.find("note") != std::string::npos);
      CHECK(e.size == sizeof(note));
    } else {
      saw_out = true;
      CHECK(e.type_name == "int");
    }
  }
  CHECK(saw_in);
  CHECK(saw_out);
}

TEST_CASE("runtime statistics count workers, activations and pending timers") {
  weft::runtime rt(small_runtime(2));
  weft::scoped_actor me(rt);
  weft::pid p = rt.spawn([](weft::context&) -> weft::behavior { return {[](note) {}}; });
  for (int i = 0; i < 100; ++i) me.send(p, note{i});
  me.send_after(std::chrono::hours(1), p, note{0});
  REQUIRE(rt.wait_quiescent(5s));
  auto s = rt.stats();
  CHECK(s.workers.size() == 2);
  std::uint64_t activations = 0;
  for (auto& w : s.workers) activations += w.activations;
  CHECK(activations >= 1);
  CHECK(s.timers_pending == 1);
  CHECK(s.live_actors == 1);
  CHECK(rt.info(p)->processed == 100);
}

TEST_CASE("an actor asleep or blocked on a full mailbox shows as waiting, also after a signal woke it") {
  weft::runtime rt(small_runtime(2));
  weft::scoped_actor me(rt);
  weft::pid sleeper = rt.spawn([](weft::context& self) { self.sleep_for(std::chrono::hours(1)); });
  weft::pid full = rt.spawn([](weft::context& self) { self.receive([](stop) {}); }, {.mailbox_capacity = 1});
  me.send(full, note{1});  // its one slot; the sender below blocks
  weft::pid sender = rt.spawn([full](weft::context& self) { self.send(full, note{2}); });
  auto waiting = [&](const weft::pid& p) {
    auto i = rt.info(p);
    return i && i->status == weft::actor_status::waiting;
  };
  REQUIRE(eventually([&] { return waiting(sleeper) && waiting(sender); }));
  // A monitor request is a signal: it resumes each fiber briefly, which
  // must not leave it marked running while it goes on waiting.
  me.monitor(sleeper);
  me.monitor(sender);
  CHECK(eventually([&] { return waiting(sleeper) && waiting(sender); }));
  me.exit(sleeper, weft::exit_reason::kill());
  me.exit(sender, weft::exit_reason::kill());
  me.exit(full, weft::exit_reason::kill());
  CHECK(eventually([&] { return rt.live_actors() == 0; }));
}

namespace {
// Waits for `stop` below a frame of `bytes` of stack, so the actor is
// suspended that deep.
__attribute__((noinline)) void wait_deep(weft::context& self, std::size_t bytes) {
  auto* frame = static_cast<volatile char*>(__builtin_alloca(bytes));
  frame[0] = 1;
  frame[bytes - 1] = 1;
  self.receive([](stop) {});
  frame[0] = 2;  // keep the frame alive across the wait
}
}  // namespace

TEST_CASE("a suspended actor's stack in use and its high-water mark are measured where it waits") {
  weft::runtime rt(small_runtime(2));
  weft::scoped_actor me(rt);
  weft::pid shallow = rt.spawn([](weft::context& self) {
    self.receive([](stop) {});
    self.receive([](stop) {});
  });
  weft::pid deep = rt.spawn([](weft::context& self) {
    wait_deep(self, 20000);
    self.receive([](stop) {});  // shallow again, still holding its fiber
  });
  auto suspended = [&](const weft::pid& p) {
    auto i = rt.info(p);
    return i && i->status == weft::actor_status::receiving && i->holds_fiber;
  };
  REQUIRE(eventually([&] { return suspended(shallow) && suspended(deep); }));
  const auto s = *rt.info(shallow);
  const auto d = *rt.info(deep);
  MESSAGE("stack in use: shallow " << s.stack_in_use << " B, deep " << d.stack_in_use << " B");
  CHECK(s.stack_in_use > 0);
  CHECK(s.stack_in_use < 8192);
  CHECK(d.stack_in_use >= 20000);
  CHECK(d.stack_in_use < d.stack_size);
  CHECK(d.stack_high_water == d.stack_in_use);
  // Back in a shallow wait: in use drops, the high-water mark stays.
  me.send(deep, stop{});
  REQUIRE(eventually([&] {
    auto i = rt.info(deep);
    return i && suspended(deep) && i->stack_in_use < 8192;
  }));
  CHECK(rt.info(deep)->stack_high_water >= 20000);
  me.send(shallow, stop{});
  me.send(shallow, stop{});
  me.send(deep, stop{});
  CHECK(eventually([&] { return rt.live_actors() == 0; }));
}
