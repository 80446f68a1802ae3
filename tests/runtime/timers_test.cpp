#include "weft_test.hpp"

#include <doctest/doctest.h>

#include <atomic>

using namespace weft_test;

namespace {
struct tick {
  int n;
};
using increment = weft::protocol<int(int)>;
}  // namespace

TEST_CASE("send_after delivers once, not before its delay") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  const auto start = std::chrono::steady_clock::now();
  me.send_after(30ms, me.self(), tick{1});
  CHECK(me.receive<tick>().n == 1);
  CHECK(std::chrono::steady_clock::now() - start >= 30ms);
  CHECK_FALSE(me.receive_for<tick>(50ms).has_value());
}

TEST_CASE("a cancelled timer never fires") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::timer_ref t = me.send_after(20ms, me.self(), tick{1});
  CHECK(me.cancel_timer(t));
  CHECK_FALSE(me.cancel_timer(t));
  CHECK_FALSE(me.receive_for<tick>(60ms).has_value());
}

TEST_CASE("a periodic timer repeats until cancelled") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid report = me.self();
  rt.spawn([report](weft::context& self) {
    weft::timer_ref t = self.send_interval(5ms, self.self(), tick{0});
    for (int i = 0; i < 5; ++i) self.receive<tick>();
    self.send(report, self.cancel_timer(t));
  });
  CHECK(me.receive<bool>());
  CHECK(rt.stats().timers_pending == 0);
}

TEST_CASE("a timer storm: many actors each waiting on receive timeouts all wake") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid report = me.self();
  const int n = 10000 * stress_factor();
  for (int i = 0; i < n; ++i) {
    rt.spawn([report, i](weft::context& self) {
      // Spread over 1..50 ms so many slots and a cascade are involved.
      bool timed_out = !self.receive_for<int>(std::chrono::milliseconds(1 + i % 50)).has_value();
      self.send(report, timed_out);
    });
  }
  int timed_out = 0;
  for (int i = 0; i < n; ++i) timed_out += me.receive<bool>() ? 1 : 0;
  CHECK(timed_out == n);
  CHECK(eventually([&] { return rt.live_actors() == 0; }));
}

TEST_CASE("a million pending timers do not stop messages from flowing") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::ref<increment> sink =
      rt.spawn([](weft::context&) -> weft::behavior_of<increment> { return {[](int x) { return x + 1; }}; });
  std::vector<weft::timer_ref> timers;
  const int n = 1000000;
  timers.reserve(n);
  for (int i = 0; i < n; ++i) {
    timers.push_back(me.send_after(std::chrono::hours(1) + std::chrono::milliseconds(i), sink, 0));
  }
  CHECK(rt.stats().timers_pending == static_cast<std::size_t>(n));
  for (int i = 0; i < 1000; ++i) REQUIRE(me.ask(sink, i, 5s).value() == i + 1);
  for (auto& t : timers) REQUIRE(me.cancel_timer(t));
  CHECK(rt.stats().timers_pending == 0);
}

// An actor's wake timer outlives the wait that armed it and is reused by the
// next timed wait when due shortly before its deadline (actor.cpp,
// arm_wake_timer). That must never end a wait early, never hold a shorter
// wait up to the old timer's time, and never outlive the actor.
TEST_CASE("a timed wait is never cut short or held up by the wake timer of an earlier wait") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid report = me.self();
  struct result {
    std::int64_t reused_wait_us;
    bool reused_timed_out;
    std::int64_t short_wait_us;
    bool short_timed_out;
  };
  weft::pid waiter = rt.spawn([report](weft::context& self) {
    using clock = std::chrono::steady_clock;
    auto us_since = [](clock::time_point t) {
      return std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - t).count();
    };
    // Served at once; its 100 ms timer stays filed.
    self.send(report, 1);
    REQUIRE(self.receive_for<tick>(100ms).has_value());
    // A deadline 5 ms past that timer's: reuses it, so it is woken about
    // 5 ms early, and must still wait its full 105 ms.
    auto start = clock::now();
    const bool reused = !self.receive_for<tick>(105ms).has_value();
    const auto reused_us = us_since(start);
    // Served at once; leaves a 10 s timer filed.
    self.send(report, 2);
    REQUIRE(self.receive_for<tick>(10s).has_value());
    // A far shorter deadline than the filed timer's: needs one of its own.
    start = clock::now();
    const bool short_one = !self.receive_for<tick>(20ms).has_value();
    const auto short_us = us_since(start);
    self.send(report, result{reused_us, reused, short_us, short_one});
    // Leaves a 10 s timer filed as the actor exits.
    REQUIRE(self.receive_for<tick>(10s).has_value());
  });
  REQUIRE(me.receive<int>() == 1);
  me.send(waiter, tick{1});
  REQUIRE(me.receive<int>() == 2);
  me.send(waiter, tick{2});
  const result r = me.receive<result>();
  CHECK(r.reused_timed_out);
  CHECK(r.reused_wait_us >= 105'000);
  CHECK(r.short_timed_out);
  CHECK(r.short_wait_us >= 20'000);
  CHECK(r.short_wait_us < 5'000'000);  // not held up to the 10 s timer
  // The exit cancels the wake timer it still had filed.
  me.send(waiter, tick{3});
  REQUIRE(eventually([&] { return rt.live_actors() == 0; }));
  CHECK(rt.stats().timers_pending == 0);
}

// -- the runtime's clock (clock.hpp) ------------------------------------------

TEST_CASE("a manual clock moves only when advanced, and fires timers at their instant, in order") {
  weft_test::manual_runtime m;
  auto& clock = m.clock;
  weft::runtime& rt = m.rt;
  CHECK(&rt.clock() == clock.get());
  weft::scoped_actor me(rt);
  const auto t0 = clock->now();
  me.send_after(std::chrono::hours(24 * 30), me.self(), tick{30});
  me.send_after(std::chrono::hours(24), me.self(), tick{1});
  me.send_after(std::chrono::hours(24), me.self(), tick{2});  // same instant: start order
  CHECK(clock->pending() == 2 + 1);
  CHECK(rt.stats().timers_pending >= 3);
  CHECK(clock->next_due() == t0 + std::chrono::hours(24));
  CHECK_FALSE(me.receive_for<tick>(20ms).has_value());  // real time passes, virtual time does not
  CHECK(clock->now() == t0);

  CHECK(clock->advance(std::chrono::hours(23)) == 0);
  CHECK(clock->advance(std::chrono::hours(1)) == 2);
  CHECK(me.receive<tick>().n == 1);
  CHECK(me.receive<tick>().n == 2);
  CHECK(clock->advance_to_next() == 1);
  CHECK(clock->now() == t0 + std::chrono::hours(24 * 30));
  CHECK(me.receive<tick>().n == 30);
  CHECK(clock->pending() == 0);
  CHECK(clock->advance_to_next() == 0);
}

TEST_CASE("a manual clock: periodic timers fire once per period passed; cancel and dead targets stop them") {
  weft_test::manual_runtime m;
  auto& clock = m.clock;
  weft::runtime& rt = m.rt;
  weft::scoped_actor me(rt);
  weft::timer_ref t = me.send_interval(10s, me.self(), tick{7});
  CHECK(clock->advance(35s) == 3);
  for (int i = 0; i < 3; ++i) CHECK(me.receive<tick>().n == 7);
  CHECK(me.cancel_timer(t));
  CHECK_FALSE(me.cancel_timer(t));
  CHECK(clock->advance(100s) == 0);
  CHECK_FALSE(me.receive_for<tick>(10ms).has_value());

  // A periodic timer to an actor that exits stops at its next firing.
  weft::pid gone = rt.spawn([](weft::context&) {});
  me.monitor(gone);
  me.receive([](const weft::down_msg&) {});
  me.send_interval(1s, gone, tick{0});
  CHECK(clock->pending() == 1);
  clock->advance(1s);
  CHECK(clock->pending() == 0);
}

TEST_CASE("a manual clock: await_timers sees a timer filed by an actor; a 30-day timeout takes no real time") {
  weft_test::manual_runtime m;
  auto& clock = m.clock;
  weft::runtime& rt = m.rt;
  weft::scoped_actor me(rt);
  const weft::pid report = me.self();
  rt.spawn([report](weft::context& self) {
    self.send_after(std::chrono::hours(24 * 30), self.self(), tick{1});
    self.receive([&](tick t) { self.send(report, t); });
  });
  const auto real_start = std::chrono::steady_clock::now();
  REQUIRE(clock->await_timers(1));
  clock->advance(std::chrono::hours(24 * 30));
  CHECK(me.receive<tick>().n == 1);
  CHECK(std::chrono::steady_clock::now() - real_start < 5s);
}

TEST_CASE("a runtime that ends drops its timers from a manual clock it shares (no cycle keeps it alive)") {
  auto clock = std::make_shared<weft::manual_clock>();
  auto other_options = small_runtime();
  other_options.clock = clock;
  weft::runtime other(other_options);
  weft::scoped_actor stays(other);
  stays.send_after(1h, stays.self(), tick{2});
  {
    auto options = small_runtime();
    options.clock = clock;
    weft::runtime rt(options);
    rt.spawn([](weft::context& self) {
      self.send_after(1h, self.self(), tick{1});
      self.send_interval(1s, self.self(), tick{1});
      self.receive([](tick) {});
    });
    REQUIRE(clock->await_timers(3));
  }
  CHECK(clock->pending() == 1);  // only the other runtime's
  clock->advance(1h);
  CHECK(stays.receive<tick>().n == 2);
}
