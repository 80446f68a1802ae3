// registry<Key, Value> (registry.hpp): unique and duplicate keys, reads
// from any thread, dispatch, and entries removed when their actor exits,
// also when it exits racing its own registration.

#include <weft/actors/registry.hpp>
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
using weft::actors::registry;
using weft::actors::registry_errc;
using weft::actors::registry_keys;

namespace {

struct stop {};
using idle = weft::protocol<void(stop)>;

// An actor that registers `key` (with its index as value) and reports
// whether that worked, then waits for stop.
template <class Reg>
weft::pid registering(weft::runtime& rt, Reg reg, std::string key, int value, weft::pid report) {
  return rt.spawn([reg, key, value, report](weft::context& self) {
    self.send(report, static_cast<bool>(reg.register_key(self, key, value)));
    self.receive<stop>();
  });
}

}  // namespace

TEST_CASE("unique keys: one entry per key; a second registration is refused and names the holder") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  registry<std::string, int> reg;
  REQUIRE(reg.start(rt));
  CHECK(reg.mode() == registry_keys::unique);

  REQUIRE(reg.register_key(self, "room:1", 7));
  const auto found = reg.lookup("room:1");
  REQUIRE(found.size() == 1);
  CHECK(found[0].owner == self.self());
  CHECK(found[0].value == 7);

  const weft::pid other = registering(rt, reg, "room:1", 8, self.self());
  CHECK_FALSE(self.receive<bool>());
  auto again = reg.register_key(self, "room:1", 9);
  REQUIRE_FALSE(again);
  CHECK(again.error() == registry_errc::already_registered);
  CHECK(again.error().detail().find(self.self().to_string()) != std::string_view::npos);
  CHECK(reg.lookup("room:1")[0].value == 7);
  CHECK(reg.count() == 1);
  self.send(other, stop{});
}

TEST_CASE("duplicate keys: every registration is an entry, listed in order; unregister takes the caller's only") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  registry<std::string, int> reg({.keys = registry_keys::duplicate});
  REQUIRE(reg.start(rt));
  REQUIRE(reg.register_key(self, "topic", 1));
  const weft::pid a = registering(rt, reg, "topic", 2, self.self());
  CHECK(self.receive<bool>());
  REQUIRE(reg.register_key(self, "topic", 3));
  REQUIRE(reg.register_key(self, "other", 4));

  const auto entries = reg.lookup("topic");
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].value == 1);
  CHECK(entries[1].owner == a);
  CHECK(entries[2].value == 3);
  CHECK(reg.count() == 4);
  CHECK(reg.count("topic") == 3);
  auto mine = reg.keys(self.self());
  std::sort(mine.begin(), mine.end());
  CHECK(mine == std::vector<std::string>{"other", "topic", "topic"});
  CHECK(reg.keys(a) == std::vector<std::string>{"topic"});

  CHECK(reg.unregister_key(self, "topic") == 2);
  REQUIRE(reg.lookup("topic").size() == 1);
  CHECK(reg.lookup("topic")[0].owner == a);
  CHECK(reg.keys(self.self()) == std::vector<std::string>{"other"});
  CHECK(reg.unregister_key(self, "topic") == 0);
  self.send(a, stop{});
}

TEST_CASE("dispatch calls the function once per entry, outside the lock") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  registry<std::string, int> reg({.keys = registry_keys::duplicate});
  REQUIRE(reg.start(rt));
  for (int i = 0; i < 5; ++i)
    REQUIRE(reg.register_key(self, "k", i));
  int sum = 0;
  std::size_t seen_during = 0;
  const std::size_t n = reg.dispatch("k", [&](const weft::pid& owner, const int& v) {
    CHECK(owner == self.self());
    sum += v;
    // The registry may be used from inside: a write would deadlock if
    // dispatch held its lock.
    REQUIRE(reg.register_key(self, "from-dispatch", v));
    seen_during = reg.count("k");
  });
  CHECK(n == 5);
  CHECK(sum == 0 + 1 + 2 + 3 + 4);
  CHECK(seen_during == 5);
  CHECK(reg.count("from-dispatch") == 5);
  CHECK(reg.dispatch("nobody", [](const weft::pid&, const int&) { FAIL("no entries"); }) == 0);
}

TEST_CASE("an actor's entries go when it exits, and so does the registry's monitor of it") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  registry<std::string, int> reg({.keys = registry_keys::duplicate});
  REQUIRE(reg.start(rt));
  std::vector<weft::pid> actors;
  for (int i = 0; i < 100; ++i) {
    actors.push_back(rt.spawn([reg, i, report = self.self()](weft::context& me) {
      bool ok = reg.register_key(me, "all", i) && reg.register_key(me, "n" + std::to_string(i % 10), i) &&
                reg.register_key(me, "all", i);
      me.send(report, ok);
      me.receive<stop>();
      if (i % 2 == 0) throw std::runtime_error("crash on purpose");  // crashes count as exits too
    }));
  }
  for (int i = 0; i < 100; ++i)
    REQUIRE(self.receive<bool>());
  CHECK(reg.count() == 300);
  CHECK(reg.count("all") == 200);
  auto before = reg.stats(self);
  REQUIRE(before);
  CHECK(before->owners == 100);
  CHECK(before->monitors == 100);  // one per actor, not one per entry
  for (const auto& a : actors)
    self.send(a, stop{});
  CHECK(eventually([&] { return reg.count() == 0; }));
  CHECK(reg.lookup("all").empty());
  CHECK(reg.keys(actors[0]).empty());
  CHECK(eventually([&] {
    auto st = reg.stats(self);
    return st && st->monitors == 0 && st->keys == 0 && st->owners == 0;
  }));
}

TEST_CASE("10,000 actors that register and exit at once leave no entry behind") {
  std::atomic<int> registered{0};
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  registry<int, int> reg({.keys = registry_keys::duplicate});
  REQUIRE(reg.start(rt));
  const int n = 10000;
  for (int i = 0; i < n; ++i) {
    rt.spawn([reg, i, &registered](weft::context& me) {
      // The watch request and the exit race: the registry may get the
      // watch after the actor is gone (then its monitor says noproc).
      if (reg.register_key(me, i % 97, i)) registered.fetch_add(1);
    });
  }
  CHECK(eventually([&] { return registered.load() == n; }));
  CHECK(eventually([&] { return reg.count() == 0; }));
  auto st = reg.stats(self);
  REQUIRE(st);
  CHECK(st->monitors == 0);
  CHECK(st->keys == 0);
}

TEST_CASE("reads work from plain threads while actors register and leave") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  registry<std::string, int> reg({.keys = registry_keys::duplicate});
  REQUIRE(reg.start(rt));
  std::atomic<bool> done{false};
  std::atomic<bool> odd{false};
  std::atomic<long> reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      int last = -1;
      while (!done.load()) {
        // The writer holds at most one entry under "a" at a time, with
        // values that only grow: a read sees 0 or 1 entry, never an older
        // value after a newer one.
        const auto entries = reg.lookup("a");
        if (entries.size() > 1) odd.store(true);
        for (const auto& e : entries) {
          if (e.value < last) odd.store(true);
          last = e.value;
        }
        if (reg.count() > 2 || reg.keys(self.self()).size() > 2) odd.store(true);
        reads.fetch_add(1);
      }
    });
  }
  REQUIRE(eventually([&] { return reads.load() >= 2; }));  // the readers run
  for (int round = 0; round < 200; ++round) {
    REQUIRE(reg.register_key(self, "a", round));
    REQUIRE(reg.register_key(self, "b", round));
    CHECK(reg.unregister_key(self, "a") == 1);
    CHECK(reg.unregister_key(self, "b") == 1);
  }
  done.store(true);
  for (auto& t : readers)
    t.join();
  CHECK_FALSE(odd.load());
  CHECK(reads.load() > 0);
  CHECK(reg.count() == 0);
}

TEST_CASE("a registry that is not running refuses registrations; one instance at a time") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  registry<std::string> reg;
  auto early = reg.register_key(self, "k");
  REQUIRE_FALSE(early);
  CHECK(early.error() == weft::ask_errc::no_actor);
  CHECK(reg.count() == 0);
  REQUIRE(reg.start(rt));
  CHECK(reg.start(rt).error() == registry_errc::already_running);
  REQUIRE(reg.register_key(self, "k"));
  // A clean stop empties the table; then it may start again.
  self.exit(reg.actor(), weft::exit_reason::shutdown());
  CHECK(eventually([&] { return !reg.actor() && reg.count() == 0; }));
  REQUIRE(reg.start(rt));
  REQUIRE(reg.register_key(self, "k"));
}

TEST_CASE("a supervised registry keeps its entries across a restart and still cleans up after exits") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  registry<std::string, int> reg({.keys = registry_keys::unique, .name = "names"});
  weft::sup::supervisor_spec spec;
  spec.max_restarts = 5;
  spec.children.push_back(reg.child_spec("registry"));
  auto tree = weft::sup::start(rt, spec);
  REQUIRE(tree);
  const weft::pid first = reg.actor();
  REQUIRE(first);
  CHECK(rt.whereis("names") == first);
  const weft::pid a = registering(rt, reg, "a", 1, self.self());
  const weft::pid b = registering(rt, reg, "b", 2, self.self());
  REQUIRE(self.receive<bool>());
  REQUIRE(self.receive<bool>());

  self.exit(first, weft::exit_reason::kill());
  CHECK(eventually([&] {
    const weft::pid now = reg.actor();
    return now && now != first;
  }));
  CHECK(reg.count() == 2);
  CHECK(reg.lookup("a")[0].owner == a);
  auto st = reg.stats(self);
  REQUIRE(st);
  CHECK(st->monitors == 2);  // the new actor watches both owners again
  self.send(a, stop{});
  CHECK(eventually([&] { return reg.lookup("a").empty(); }));
  CHECK(reg.lookup("b").size() == 1);
  self.send(b, stop{});
}

TEST_CASE("a registry spawned with start_link stops with the actor that started it") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  registry<std::string> reg;
  auto owner = rt.spawn([reg, report = self.self()](weft::context& me) {
    me.send(report, static_cast<bool>(reg.start_link(me)));
    me.receive<int>();
    throw std::runtime_error("the owner fails");
  });
  REQUIRE(self.receive<bool>());
  const weft::pid registry_actor = reg.actor();
  REQUIRE(registry_actor);
  self.monitor(registry_actor);
  self.send(owner, 0);
  auto down = self.receive<weft::down_msg>();
  CHECK(down.who == registry_actor);
  CHECK(down.reason.text() == "the owner fails");
  CHECK_FALSE(reg.actor());
}
