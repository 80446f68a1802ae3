// pg scopes (process_groups.hpp): join/leave with repetition, reads from
// any thread, watches, cleanup on exit, and OTP's pg bugs as tests:
// erlang/otp#7625 (an actor that watches and joins, then crashes) and
// erlang/otp#11360 (an empty group left behind).

#include <weft/actors/process_groups.hpp>
#include <weft/supervisor/supervisor.hpp>

#include "weft_test.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace weft_test;
namespace pg = weft::actors::pg;

namespace {

struct stop {};
using idle = weft::protocol<void(stop)>;

// An actor that does nothing until told to stop: a member to join.
weft::pid idler(weft::runtime& rt) {
  return rt.spawn(weft::stateful<idle>(0, [](weft::context& self, int&, stop) { self.exit(); }));
}

std::vector<weft::pid> sorted(std::vector<weft::pid> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// The next group_change for the calling scoped_actor (20 s hang guard).
pg::group_change next_change(weft::scoped_actor& self) {
  auto c = self.receive_for<pg::group_change>(std::chrono::seconds(20));
  REQUIRE(c.has_value());
  return std::move(*c);
}

}  // namespace

TEST_CASE("join and leave, one or many pids, with repetition; reads see each answered change") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  pg::scope s;
  REQUIRE(s.start(rt));
  const weft::pid a = idler(rt), b = idler(rt), c = idler(rt);

  REQUIRE(s.join(self, "g", a));
  CHECK(s.get_members("g") == std::vector<weft::pid>{a});
  const std::vector<weft::pid> many{b, c, a};
  REQUIRE(s.join(self, "g", many));
  CHECK(sorted(s.get_members("g")) == sorted({a, a, b, c}));
  CHECK(s.get_local_members("g") == s.get_members("g"));

  REQUIRE(s.leave(self, "g", a));  // one of a's two memberships
  CHECK(sorted(s.get_members("g")) == sorted({a, b, c}));
  const std::vector<weft::pid> two{b, c};
  REQUIRE(s.leave(self, "g", two));
  CHECK(s.get_members("g") == std::vector<weft::pid>{a});
  CHECK(s.which_groups() == std::vector<std::string>{"g"});
  CHECK(s.which_local_groups() == s.which_groups());

  auto st = s.stats(self);
  REQUIRE(st);
  CHECK(st->memberships == 1);
  CHECK(st->members == 1);
  CHECK(st->monitors == 1);  // b and c left everything: their monitors went too
}

TEST_CASE("leaving more often than joined is refused and changes nothing") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  pg::scope s;
  REQUIRE(s.start(rt));
  const weft::pid a = idler(rt), b = idler(rt);
  REQUIRE(s.join(self, "g", a));
  REQUIRE(s.join(self, "g", b));
  const std::vector<weft::pid> a_twice_and_b{a, a, b};
  auto r = s.leave(self, "g", a_twice_and_b);
  REQUIRE_FALSE(r);
  CHECK(r.error() == pg::errc::not_joined);
  CHECK(r.error().detail().find(a.to_string()) != std::string_view::npos);
  CHECK(sorted(s.get_members("g")) == sorted({a, b}));
  CHECK(s.leave(self, "other", a).error() == pg::errc::not_joined);
  CHECK(s.join(self, "", a).error() == pg::errc::invalid_group);
  CHECK(s.join(self, "g", weft::pid()).error() == pg::errc::invalid_member);
  CHECK(s.join(self, "g", std::span<const weft::pid>()).error() == pg::errc::invalid_member);
}

TEST_CASE("no empty group is left behind, after a leave or an exit (erlang/otp#11360)") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  pg::scope s;
  REQUIRE(s.start(rt));
  const weft::pid a = idler(rt), b = idler(rt);

  REQUIRE(s.join(self, "left", a));
  REQUIRE(s.leave(self, "left", a));
  CHECK(s.which_groups().empty());
  CHECK(s.get_members("left").empty());

  REQUIRE(s.join(self, "twice", a));
  REQUIRE(s.join(self, "twice", a));
  REQUIRE(s.leave(self, "twice", a));
  CHECK(s.which_groups() == std::vector<std::string>{"twice"});  // still one membership
  REQUIRE(s.leave(self, "twice", a));
  CHECK(s.which_groups().empty());

  REQUIRE(s.join(self, "exited", b));
  REQUIRE(s.join(self, "exited", b));
  self.send(weft::ref<idle>::adopt_checked(b), stop{});
  CHECK(eventually([&] { return s.which_groups().empty(); }));
  auto st = s.stats(self);
  REQUIRE(st);
  CHECK(st->groups == 0);
  CHECK(st->memberships == 0);
  CHECK(st->monitors == 0);  // a left everything, b exited: no monitor is kept
}

TEST_CASE("monitor_scope answers the groups now, then every join and leave as group_change") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  pg::scope s;
  REQUIRE(s.start(rt));
  const weft::pid a = idler(rt), b = idler(rt);
  REQUIRE(s.join(self, "x", a));

  auto w = s.monitor_scope(self);
  REQUIRE(w);
  CHECK(w->groups.size() == 1);
  CHECK(w->groups["x"] == std::vector<weft::pid>{a});

  const std::vector<weft::pid> b_twice{b, b};
  REQUIRE(s.join(self, "y", b_twice));
  auto joined = next_change(self);
  CHECK(joined.ref == w->ref);
  CHECK(joined.what == pg::group_change::kind::joined);
  CHECK(joined.group == "y");
  CHECK(joined.members == b_twice);

  self.send(weft::ref<idle>::adopt_checked(b), stop{});
  auto left = next_change(self);
  CHECK(left.what == pg::group_change::kind::left);
  CHECK(left.group == "y");
  CHECK(left.members == b_twice);  // both memberships, in one notification

  REQUIRE(s.demonitor(self, w->ref));
  REQUIRE(s.leave(self, "x", a));
  CHECK_FALSE(self.receive_for<pg::group_change>(std::chrono::milliseconds(50)).has_value());
  CHECK(s.demonitor(self, w->ref).error() == pg::errc::not_watching);
}

TEST_CASE("monitor(group) sees that group only") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  pg::scope s;
  REQUIRE(s.start(rt));
  const weft::pid a = idler(rt);
  auto w = s.monitor(self, "mine");
  REQUIRE(w);
  CHECK(w->members.empty());
  REQUIRE(s.join(self, "other", a));
  REQUIRE(s.join(self, "mine", a));
  REQUIRE(s.leave(self, "other", a));
  auto c = next_change(self);
  CHECK(c.group == "mine");
  CHECK(c.what == pg::group_change::kind::joined);
  CHECK(c.ref == w->ref);
  CHECK_FALSE(self.receive_for<pg::group_change>(std::chrono::milliseconds(50)).has_value());
  auto st = s.stats(self);
  REQUIRE(st);
  CHECK(st->group_watches == 1);
  CHECK(st->scope_watches == 0);
}

TEST_CASE("a watcher that exits is forgotten, with its monitor") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  pg::scope s;
  REQUIRE(s.start(rt));
  weft::pid report = self.self();
  auto watcher = rt.spawn([s, report](weft::context& me) {
    auto w = s.monitor(me, "g");
    auto all = s.monitor_scope(me);
    me.send(report, w.has_value() && all.has_value());
    me.receive<int>();
  });
  CHECK(self.receive<bool>());
  auto st = s.stats(self);
  REQUIRE(st);
  CHECK(st->group_watches == 1);
  CHECK(st->scope_watches == 1);
  CHECK(st->monitors == 1);
  self.send(watcher, 0);
  CHECK(eventually([&] {
    auto now = s.stats(self);
    return now && now->group_watches == 0 && now->scope_watches == 0 && now->monitors == 0;
  }));
}

TEST_CASE("10,000 actors that watch and join, then crash, leave the scope consistent (erlang/otp#7625)") {
  weft::runtime rt(small_runtime());
  // Unbounded: every notification of our watch must find room (counted below).
  weft::scoped_actor self(rt, weft::spawn_options{.mailbox_capacity = weft::unbounded});
  pg::scope s;
  REQUIRE(s.start(rt));
  const weft::pid scope_pid = s.actor();
  auto own = s.monitor(self, "g");
  REQUIRE(own);

  // Four ways to be both a watcher and a member; each actor then crashes.
  // Memberships it holds when it crashes: 1, 1, 2, 1.
  const weft::pid report = self.self();
  auto crasher = [s, report](int way) {
    return [s, report, way](weft::context& me) {
      const weft::pid p = me.self();
      const std::vector<weft::pid> twice{p, p};
      bool ok = true;
      switch (way) {
        case 0:
          ok = s.monitor(me, "g") && s.join(me, "g", p);
          break;
        case 1:
          ok = s.join(me, "g", p) && s.monitor_scope(me);
          break;
        case 2:
          ok = s.monitor(me, "g") && s.monitor_scope(me) && s.join(me, "g", twice) && s.monitor(me, "other");
          break;
        default:
          ok = s.monitor(me, "g") && s.join(me, "g", p) && s.leave(me, "g", p) && s.join(me, "g", p);
          break;
      }
      me.send(report, ok);
      throw std::runtime_error("crash on purpose");
    };
  };

  const int total = 10000;
  const int window = 32;  // at most this many alive at once: each join notifies the watchers alive
  int started = 0;
  int finished = 0;
  int calls_ok = 0;
  std::size_t expected_joins = 0;
  std::size_t joins = 0;
  std::size_t leaves = 0;
  auto drain_changes = [&] {
    while (auto c = self.receive_for<pg::group_change>(std::chrono::nanoseconds(0))) {
      (c->what == pg::group_change::kind::joined ? joins : leaves) += c->members.size();
    }
  };
  while (finished < total) {
    while (started < total && started - finished < window) {
      const int way = started % 4;
      expected_joins += way == 2 ? 2 : way == 3 ? 2 : 1;
      self.monitor(rt.spawn(crasher(way)));
      ++started;
    }
    // The down may say noproc (the actor crashed before the monitor was
    // set): its `ok` report, sent before the crash, tells that it got
    // that far.
    self.receive([&](const weft::down_msg&) { ++finished; }, [&](bool ok) { calls_ok += ok ? 1 : 0; });
    drain_changes();
  }
  while (calls_ok < total && self.receive_for<bool>(std::chrono::seconds(20)).value_or(false))
    ++calls_ok;
  CHECK(calls_ok == total);

  // The scope ends with nothing but our own watch, and is the same actor.
  CHECK(eventually([&] {
    auto st = s.stats(self);
    return st && st->monitors == 1 && st->memberships == 0;
  }));
  auto st = s.stats(self);
  REQUIRE(st);
  CHECK(st->groups == 0);
  CHECK(st->members == 0);
  CHECK(st->group_watches == 1);
  CHECK(st->scope_watches == 0);
  CHECK(st->monitors == 1);
  CHECK(s.which_groups().empty());
  CHECK(s.get_members("g").empty());
  CHECK(s.actor() == scope_pid);
  // Our watch saw every membership come and go.
  CHECK(eventually([&] {
    drain_changes();
    return leaves == expected_joins;
  }));
  CHECK(joins == expected_joins);
  CHECK(leaves == expected_joins);
}

TEST_CASE("reads from other threads while members join and leave see whole groups") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  pg::scope s;
  REQUIRE(s.start(rt));
  std::vector<weft::pid> members;
  for (int i = 0; i < 8; ++i)
    members.push_back(idler(rt));
  std::atomic<bool> done{false};
  std::atomic<long> reads{0};
  std::atomic<bool> odd{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!done.load()) {
        // Joins and leaves move all 8 at once: a read sees 0 or 8.
        const auto m = s.get_members("pairs");
        if (m.size() != 0 && m.size() != 8) odd.store(true);
        for (const auto& g : s.which_groups()) {
          if (g != "pairs") odd.store(true);
        }
        reads.fetch_add(1);
      }
    });
  }
  REQUIRE(eventually([&] { return reads.load() >= 2; }));  // the readers run
  for (int i = 0; i < 500; ++i) {
    REQUIRE(s.join(self, "pairs", members));
    REQUIRE(s.leave(self, "pairs", members));
  }
  done.store(true);
  for (auto& t : readers)
    t.join();
  CHECK_FALSE(odd.load());
  CHECK(reads.load() > 0);
  CHECK(s.which_groups().empty());
}

TEST_CASE("scopes are independent, and one started by name is found by it") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  pg::scope one({.name = "pg-one"});
  pg::scope two;
  REQUIRE(one.start(rt));
  REQUIRE(two.start(rt));
  CHECK(one.start(rt).error() == pg::errc::already_running);
  const weft::pid a = idler(rt);
  REQUIRE(one.join(self, "g", a));
  CHECK(two.get_members("g").empty());
  CHECK(two.which_groups().empty());

  auto found = pg::scope::find(self, "pg-one");
  REQUIRE(found);
  CHECK(found->get_members("g") == std::vector<weft::pid>{a});
  CHECK(found->actor() == one.actor());
  CHECK(pg::scope::find(self, "nobody").error() == weft::ask_errc::no_actor);
}

TEST_CASE("a supervised scope restarts with its members, and still removes one that exits") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  pg::scope s({.name = "pg-supervised"});
  weft::sup::supervisor_spec spec;
  spec.max_restarts = 5;
  spec.children.push_back(s.child_spec("pg"));
  auto tree = weft::sup::start(rt, spec);
  REQUIRE(tree);
  const weft::pid first = s.actor();
  REQUIRE(first);
  const weft::pid a = idler(rt), b = idler(rt);
  REQUIRE(s.join(self, "g", a));
  REQUIRE(s.join(self, "g", b));

  self.exit(first, weft::exit_reason::kill());
  CHECK(eventually([&] {
    const weft::pid now = s.actor();
    return now && now != first;
  }));
  CHECK(sorted(s.get_members("g")) == sorted({a, b}));
  auto st = s.stats(self);
  REQUIRE(st);
  CHECK(st->monitors == 2);  // the new scope monitors both again
  self.send(weft::ref<idle>::adopt_checked(a), stop{});
  CHECK(eventually([&] { return s.get_members("g") == std::vector<weft::pid>{b}; }));
  CHECK(rt.whereis("pg-supervised") == s.actor());
}

TEST_CASE("a scope that stops cleanly empties its table") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  pg::scope s;
  REQUIRE(s.start(rt));
  REQUIRE(s.join(self, "g", idler(rt)));
  self.exit(s.actor(), weft::exit_reason::shutdown());
  CHECK(eventually([&] { return s.which_groups().empty() && !s.actor(); }));
  CHECK(s.join(self, "g", self.self()).error() == weft::ask_errc::no_actor);
  REQUIRE(s.start(rt));  // may run again
  REQUIRE(s.join(self, "g", self.self()));
}

TEST_CASE("a typed actor takes group_change without listing it in its protocol") {
  std::atomic<int> joined{0};
  std::atomic<bool> watching{false};
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  pg::scope s;
  REQUIRE(s.start(rt));
  auto watcher = rt.spawn([s, &joined, &watching](weft::context& me) -> weft::behavior_of<idle> {
    watching.store(static_cast<bool>(s.monitor(me, "g")));
    return {[&me](stop) { me.exit(); },
            [&joined](const pg::group_change& c) {
              if (c.what == pg::group_change::kind::joined) joined.fetch_add(static_cast<int>(c.members.size()));
            }};
  });
  CHECK(eventually([&] { return watching.load(); }));
  const std::vector<weft::pid> three{self.self(), self.self(), self.self()};
  REQUIRE(s.join(self, "g", three));
  CHECK(eventually([&] { return joined.load() == 3; }));
  self.send(watcher, stop{});
}

TEST_CASE("a scope spawned with start_link stops with the actor that started it") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  pg::scope s;
  auto owner = rt.spawn([s, report = self.self()](weft::context& me) {
    me.send(report, static_cast<bool>(s.start_link(me)));
    me.receive<int>();
    throw std::runtime_error("the owner fails");
  });
  REQUIRE(self.receive<bool>());
  const weft::pid scope_actor = s.actor();
  REQUIRE(scope_actor);
  REQUIRE(s.join(self, "g", self.self()));
  self.monitor(scope_actor);
  self.send(owner, 0);
  auto down = self.receive<weft::down_msg>();
  CHECK(down.who == scope_actor);
  CHECK(down.reason.text() == "the owner fails");
  CHECK_FALSE(s.actor());
}
