// The bounded stash (stash.hpp): stashing takes the message itself (a
// request keeps its asker), unstash_all re-delivers in the original order
// ahead of newer messages, and a full stash is an error the caller sees.

#include "weft_test.hpp"

#include <weft/actors/stash.hpp>

#include <doctest/doctest.h>

#include <memory>
#include <stdexcept>
#include <vector>

using namespace weft_test;
namespace wa = weft::actors;

namespace {

struct item {
  int n = 0;
};
struct query {
  int n = 0;
};
struct ready {};
struct hold {};
struct release {};
struct stop {};
struct stash_size {};
struct twice {};

// What the actor tells the test.
struct handled {
  int n;
};
struct overflowed {
  int n;
};
struct twice_result {
  bool first_ok;
  bool second_is_no_message;
};

using stasher = weft::protocol<void(item), int(query), void(ready), void(hold), void(stop), std::size_t(stash_size),
                               void(twice)>;

struct stash_state {
  explicit stash_state(std::size_t capacity) : stash(capacity) {}
  wa::stash_buffer stash;
};

weft::behavior_of<stasher> serving(weft::context& self, std::shared_ptr<stash_state> st, weft::pid report) {
  return {
      [&self, report](const item& m) { self.send(report, handled{m.n}); },
      [](const query& q) { return q.n * 10; },
      [](ready) {},
      [&self](hold) { self.receive([](release) {}); },
      [&self](stop) { self.exit(); },
      [st](stash_size) { return st->stash.size(); },
      [](twice) {},
  };
}

// Stashes items and queries until `ready`, then serves them (become) after
// putting the stashed ones back in front.
auto stashing(std::size_t capacity, weft::pid report) {
  return [capacity, report](weft::context& self) -> weft::behavior_of<stasher> {
    auto st = std::make_shared<stash_state>(capacity);
    return {
        [&self, st, report](const item& m) {
          if (auto ok = st->stash.stash(self); !ok) {
            CHECK(ok.error() == wa::delivery_errc::stash_full);
            self.send(report, overflowed{m.n});  // still ours: the stash refused it
          }
        },
        [&self, st](const query&) {
          if (auto ok = st->stash.stash(self); !ok) self.reply(ok.error());
        },
        [&self, st, report](ready) {
          self.become(serving(self, st, report));
          st->stash.unstash_all(self);
        },
        [&self](hold) { self.receive([](release) {}); },
        [&self](stop) { self.exit(); },
        [st](stash_size) { return st->stash.size(); },
        [&self, st, report](twice) {
          const bool first = st->stash.stash(self).has_value();
          auto second = st->stash.stash(self);
          self.send(report, twice_result{first, !second && second.error() == wa::delivery_errc::no_message});
        },
    };
  };
}

}  // namespace

TEST_CASE("unstash_all re-delivers stashed messages in their order, ahead of messages that arrived after them") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::ref<stasher> a = rt.spawn(stashing(100, me.self()));
  // The actor holds first, so that everything below is queued before it
  // handles any of it: 1..5 get stashed, `ready` unstashes them while 6..8
  // are already waiting behind.
  me.send(a, hold{});
  for (int i = 1; i <= 5; ++i) me.send(a, item{i});
  me.send(a, ready{});
  for (int i = 6; i <= 8; ++i) me.send(a, item{i});
  me.send(a.to_pid(), release{});
  std::vector<int> order;
  for (int i = 0; i < 8; ++i) order.push_back(me.receive<handled>().n);
  CHECK(order == std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8});
}

TEST_CASE("stashing past the capacity is an error the handler sees, and the message stays its own") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::ref<stasher> a = rt.spawn(stashing(3, me.self()));
  for (int i = 1; i <= 5; ++i) me.send(a, item{i});
  CHECK(me.receive<overflowed>().n == 4);
  CHECK(me.receive<overflowed>().n == 5);
  CHECK(me.ask(a, stash_size{}, 10s).value() == 3);
  auto refused = me.ask(a, query{1}, 10s);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error() == wa::delivery_errc::stash_full);
  CHECK(refused.error().detail().find("capacity 3") != std::string_view::npos);

  me.send(a, ready{});
  for (int i = 1; i <= 3; ++i) CHECK(me.receive<handled>().n == i);
  CHECK_FALSE(me.receive_for<handled>(20ms).has_value());
}

TEST_CASE("a stashed request is answered by whoever handles it after unstash_all") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::ref<stasher> a = rt.spawn(stashing(10, me.self()));
  weft::pid report = me.self();
  rt.spawn([a, report](weft::context& self) {
    auto r = self.ask(a, query{4}, 10s);
    self.send(report, r.has_value() ? *r : -1);
  });
  REQUIRE(eventually([&] { return me.ask(a, stash_size{}, 10s).value() == 1; }));
  CHECK_FALSE(me.receive_for<int>(20ms).has_value());  // not acknowledged when its handler returned
  me.send(a, ready{});
  CHECK(me.receive<int>() == 40);
}

TEST_CASE("requests still stashed when the actor exits are answered actor_down") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::ref<stasher> a = rt.spawn(stashing(10, me.self()));
  weft::pid report = me.self();
  rt.spawn([a, report](weft::context& self) {
    auto r = self.ask(a, query{4}, 10s);
    self.send(report, !r.has_value() && r.error() == weft::ask_errc::actor_down);
  });
  REQUIRE(eventually([&] { return me.ask(a, stash_size{}, 10s).value() == 1; }));
  me.send(a, stop{});
  CHECK(me.receive<bool>());
}

TEST_CASE("a message can be stashed once; stashing it again is no_message") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::ref<stasher> a = rt.spawn(stashing(10, me.self()));
  me.send(a, twice{});
  twice_result r = me.receive<twice_result>();
  CHECK(r.first_ok);
  CHECK(r.second_is_no_message);
  CHECK(me.ask(a, stash_size{}, 10s).value() == 1);
}

TEST_CASE("clear answers stashed requests with the given error and counts plain messages as dead letters") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  struct clear_now {};
  using clearing = weft::protocol<void(item), int(query), void(clear_now)>;
  weft::ref<clearing> a = rt.spawn([](weft::context& self) -> weft::behavior_of<clearing> {
    auto st = std::make_shared<stash_state>(10);
    return {
        [&self, st](const item&) { CHECK(st->stash.stash(self).has_value()); },
        [&self, st](const query&) { CHECK(st->stash.stash(self).has_value()); },
        [&self, st](clear_now) {
          st->stash.clear(self, weft::error(weft::ask_errc::rejected, "cleared"));
          CHECK(st->stash.empty());
        },
    };
  });
  weft::pid report = me.self();
  rt.spawn([a, report](weft::context& self) {
    auto r = self.ask(a, query{1}, 10s);
    self.send(report, !r.has_value() && r.error() == weft::ask_errc::rejected);
  });
  me.send(a, item{1});
  me.send(a, item{2});
  // The query may arrive before or after the items; clear once all three
  // are stashed.
  const auto dead_before = rt.dead_letters().total();
  REQUIRE(eventually([&] {
    auto info = rt.info(a);
    return info && info->processed >= 3;
  }));
  me.send(a, clear_now{});
  CHECK(me.receive<bool>());
  CHECK(eventually([&] { return rt.dead_letters().total() == dead_before + 2; }));
}

TEST_CASE("a stash of capacity 0 is refused") { CHECK_THROWS_AS(wa::stash_buffer(0), std::invalid_argument); }
