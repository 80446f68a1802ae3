#include "weft_test.hpp"

#include <doctest/doctest.h>

#include <stdexcept>

using namespace weft_test;

namespace {
struct stop {};
weft::pid spawn_waiter(weft::runtime& rt, bool trap = false) {
  return rt.spawn([](weft::context& self) { self.receive([](stop) {}); }, {.trap_exit = trap});
}
}  // namespace

TEST_CASE("an exception escaping an actor ends it with an error reason carrying the text") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid p = rt.spawn([](weft::context& self) {
    self.receive([](int) { throw std::runtime_error("bad input 7"); });
  });
  weft::monitor_ref ref = me.monitor(p);
  me.send(p, 1);
  auto down = me.receive<weft::down_msg>();
  CHECK(down.ref == ref);
  CHECK(down.who == p);
  CHECK(down.reason.code() == weft::exit_reason::kind::error);
  CHECK(down.reason.text() == "bad input 7");
}

TEST_CASE("a link propagates an abnormal exit to a non-trapping actor, with the same reason") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid a = spawn_waiter(rt);
  weft::pid report = me.self();
  weft::pid b = rt.spawn([a, report](weft::context& self) {
    self.link(a);
    self.send(report, 1);  // the link signal is in a's mailbox before our exit
    self.receive([](stop) {});
  });
  weft::monitor_ref ref = me.monitor(b);
  me.receive<int>();
  me.exit(a, weft::exit_reason::error("boom"));
  auto down = me.receive<weft::down_msg>();
  CHECK(down.ref == ref);
  CHECK(down.reason == weft::exit_reason::error("boom"));
}

TEST_CASE("a normal exit does not propagate through a link") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid a = rt.spawn([](weft::context& self) { self.receive([](stop) {}); });
  weft::pid report = me.self();
  weft::pid b = rt.spawn([a, report](weft::context& self) {
    self.link(a);
    self.send(report, 1);
    self.receive([](stop) {});
  });
  me.receive<int>();  // linked before a stops, not racing with it
  weft::monitor_ref ra = me.monitor(a);
  me.send(a, stop{});
  auto down = me.receive<weft::down_msg>();
  CHECK(down.ref == ra);
  CHECK(down.reason.is_normal());
  // a sends its down signal before it leaves the live set; once no worker
  // runs anything, a is gone and b, had the link killed it, would be too.
  REQUIRE(rt.wait_quiescent(10s));
  CHECK(rt.live_actors() == 1);
  me.send(b, stop{});
}

TEST_CASE("trap_exit turns exit signals into exit_msg messages") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid report = me.self();
  rt.spawn([report](weft::context& self) {
    self.trap_exit(true);
    weft::pid child = self.spawn_link([](weft::context&) { throw std::logic_error("child broke"); });
    auto e = self.receive<weft::exit_msg>();
    self.send(report, e.from == child && e.reason.text() == "child broke");
  });
  CHECK(me.receive<bool>());
}

TEST_CASE("kill cannot be trapped and leaves reason killed, which links see") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid trapper = spawn_waiter(rt, true);
  weft::pid report = me.self();
  weft::pid watcher = rt.spawn([trapper, report](weft::context& self) {
    self.trap_exit(true);
    self.link(trapper);
    self.send(report, 1);
    auto e = self.receive<weft::exit_msg>();
    self.send(report, e.reason);
  });
  me.receive<int>();
  weft::monitor_ref ref = me.monitor(trapper);
  me.exit(trapper, weft::exit_reason::kill());
  auto down = me.receive<weft::down_msg>();
  CHECK(down.ref == ref);
  CHECK(down.reason == weft::exit_reason::killed());
  CHECK(me.receive<weft::exit_reason>() == weft::exit_reason::killed());
  (void)watcher;
}

TEST_CASE("a trapped exit(pid, shutdown) arrives as a message and the actor lives on") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid report = me.self();
  weft::pid p = rt.spawn(
      [report](weft::context& self) {
        auto e = self.receive<weft::exit_msg>();
        self.send(report, e.reason == weft::exit_reason::shutdown());
      },
      {.trap_exit = true});
  me.exit(p, weft::exit_reason::shutdown());
  CHECK(me.receive<bool>());
}

TEST_CASE("linking to a dead actor gives noproc; monitoring one gives a noproc down") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid dead = rt.spawn([](weft::context&) {});
  REQUIRE(eventually([&] { return rt.live_actors() == 0; }));
  weft::monitor_ref ref = me.monitor(dead);
  auto down = me.receive<weft::down_msg>();
  CHECK(down.ref == ref);
  CHECK(down.reason == weft::exit_reason::noproc());
  weft::pid p = rt.spawn([dead](weft::context& self) { self.link(dead); self.receive([](stop) {}); });
  weft::monitor_ref rp = me.monitor(p);
  auto d2 = me.receive<weft::down_msg>();
  CHECK(d2.ref == rp);
  CHECK(d2.reason == weft::exit_reason::noproc());
}

TEST_CASE("demonitor cancels the down message, even one already queued") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid p = spawn_waiter(rt);
  weft::monitor_ref ref = me.monitor(p);
  me.send(p, stop{});
  // p posts its down message before it leaves the live set: once it is
  // gone, the down message is queued here.
  REQUIRE(eventually([&] { return rt.live_actors() == 0; }));
  me.demonitor(ref);
  // A marker sent now queues behind that down message, so a receive of
  // either would meet the down message first, had demonitor left it.
  struct marker {};
  me.send(me.self(), marker{});
  bool down_seen = false;
  me.receive([&](const weft::down_msg&) { down_seen = true; }, [](marker) {});
  CHECK_FALSE(down_seen);
  CHECK_FALSE(me.receive_for<weft::down_msg>(20ms).has_value());
}

TEST_CASE("unlink stops propagation") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid a = spawn_waiter(rt);
  weft::pid report = me.self();
  weft::pid b = rt.spawn([a, report](weft::context& self) {
    self.link(a);
    self.unlink(a);
    self.send(report, 1);
    self.receive([](stop) {});
  });
  me.receive<int>();
  weft::monitor_ref ra = me.monitor(a);
  me.exit(a, weft::exit_reason::error("x"));
  me.receive<weft::down_msg>();
  // a sends its down signal before it leaves the live set; once no worker
  // runs anything, a is gone and b, had the link killed it, would be too.
  REQUIRE(rt.wait_quiescent(10s));
  CHECK(rt.live_actors() == 1);
  me.send(b, stop{});
  (void)ra;
}

TEST_CASE("an exit cascade runs through a long chain of linked actors") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  const int n = 10000 * stress_factor();
  // Handler-style links in a chain: each spawn_links the next while it
  // starts (so a chain of n costs n cells, not n fiber stacks), the last
  // one reports.
  weft::pid report = me.self();
  struct chain {
    static weft::behavior link_next(weft::context& self, int depth, int n, weft::pid report) {
      if (depth + 1 < n) {
        self.spawn_link([depth, n, report](weft::context& s) { return link_next(s, depth + 1, n, report); });
      } else {
        self.send(report, self.self());
      }
      return {[](stop) {}};
    }
  };
  weft::pid head = rt.spawn([n, report](weft::context& self) { return chain::link_next(self, 0, n, report); });
  me.receive<weft::pid>();
  CHECK(rt.live_actors() == static_cast<std::size_t>(n));
  me.exit(head, weft::exit_reason::error("cascade"));
  CHECK(eventually([&] { return rt.live_actors() == 0; }, std::chrono::seconds(60)));
}

TEST_CASE("monitoring an actor that already died: its down_msg comes after every message it sent before dying") {
  weft::runtime rt(small_runtime());
  for (int round = 0; round < 50; ++round) {
    weft::scoped_actor me(rt);
    const weft::pid to = me.self();
    weft::pid sender = rt.spawn([to](weft::context& self) {
      for (int i = 0; i < 100; ++i) self.send(to, i);
    });
    REQUIRE(eventually([&] { return !rt.info(sender) || rt.info(sender)->status == weft::actor_status::dead; }));
    me.monitor(sender);
    int received = 0;
    bool down = false;
    while (!down) {
      me.receive([&](int i) { CHECK(i == received++); }, [&](const weft::down_msg& d) {
        CHECK(d.reason.code() == weft::exit_reason::kind::noproc);
        down = true;
      });
    }
    CHECK(received == 100);
  }
}
