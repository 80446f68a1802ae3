// Rate limiting (rate_limiter.hpp): the token bucket alone on hand-made
// time points; the shared limiter's three choices and its waits released
// by a manual clock; the rate_limited forwarder in front of an actor.

#include "weft_test.hpp"

#include <weft/actors/rate_limiter.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <stdexcept>
#include <vector>

using namespace weft_test;
using weft::actors::acquire_options;
using weft::actors::deadline;
using weft::actors::flow_errc;
using weft::actors::on_empty;
using weft::actors::rate_limiter;
using weft::actors::token_bucket;
using weft::actors::token_bucket_config;

namespace {

using time_point = weft::clock::time_point;
const time_point t0 = time_point(std::chrono::hours(1000));

// What a waiting caller reports: whether it got its tokens, and when (on
// the runtime clock).
struct acquired {
  int who;
  bool ok;
  time_point at;
};

}  // namespace

// -- the pure policy ----------------------------------------------------------

TEST_CASE("a token bucket starts full, refills at its rate, and never holds more than its burst") {
  token_bucket b({.rate = 10, .burst = 5}, t0);
  CHECK(b.available(t0) == doctest::Approx(5));
  CHECK(b.try_take(t0, 5));
  CHECK_FALSE(b.try_take(t0, 1));
  CHECK(b.available(t0 + 100ms) == doctest::Approx(1));
  CHECK(b.available(t0 + 350ms) == doctest::Approx(3.5));  // fractional
  CHECK(b.try_take(t0 + 350ms, 2));
  CHECK(b.available(t0 + 350ms) == doctest::Approx(1.5));
  CHECK(b.available(t0 + 1h) == doctest::Approx(5));  // capped at the burst
}

TEST_CASE("a token bucket accumulates fractions of a token: 1 per 3 s is a third each second") {
  token_bucket b({.rate = 1, .per = 3s, .burst = 1}, t0);
  REQUIRE(b.try_take(t0, 1));
  CHECK(b.available(t0 + 1s) == doctest::Approx(1.0 / 3));
  CHECK_FALSE(b.try_take(t0 + 2s, 1));
  CHECK(b.available(t0 + 2s) == doctest::Approx(2.0 / 3));
  CHECK(b.try_take(t0 + 3s, 1));
  CHECK(b.time_until(t0 + 3s, 1) == 3s);
}

TEST_CASE("a token bucket idle for two centuries at a billion tokens a second holds exactly its burst") {
  token_bucket b({.rate = 1e9, .burst = 7}, t0);
  REQUIRE(b.try_take(t0, 7));
  const auto later = t0 + std::chrono::hours(24 * 365 * 200);
  const double n = b.available(later);
  CHECK(std::isfinite(n));
  CHECK(n == 7);
}

TEST_CASE("reservations put the bucket into debt and are served first come, first served") {
  token_bucket b({.rate = 10, .burst = 1}, t0);
  REQUIRE(b.try_take(t0, 1));
  CHECK(b.reserve(t0, 1, 1s) == 100ms);
  CHECK(b.reserve(t0, 1, 1s) == 200ms);  // behind the first
  CHECK(b.available(t0) == doctest::Approx(-2));
  CHECK_FALSE(b.try_take(t0 + 150ms, 1));  // a non-waiting caller finds it empty while anyone waits
  CHECK(b.available(t0 + 150ms) == doctest::Approx(-0.5));
  // Too long a wait takes nothing: the next token is 150 ms away.
  CHECK_FALSE(b.reserve(t0 + 150ms, 1, 100ms).has_value());
  CHECK(b.available(t0 + 150ms) == doctest::Approx(-0.5));
  // The debt is repaid on time: at 200 ms the second waiter's token is there.
  CHECK(b.available(t0 + 200ms) == doctest::Approx(0));
  // A reservation given back returns its token.
  CHECK(b.reserve(t0 + 200ms, 1, 1s) == 100ms);
  b.refund(t0 + 200ms, 1);
  CHECK(b.available(t0 + 200ms) == doctest::Approx(0));
}

TEST_CASE("bad token bucket configs are refused with a message naming the field") {
  auto rate = token_bucket_config{.rate = 0, .burst = 1}.validate();
  REQUIRE_FALSE(rate);
  CHECK(rate.error() == flow_errc::invalid_request);
  CHECK(rate.error().detail().find("rate must be") != std::string_view::npos);
  auto per = token_bucket_config{.rate = 1, .per = 0s, .burst = 1}.validate();
  REQUIRE_FALSE(per);
  CHECK(per.error().detail().find("per must be") != std::string_view::npos);
  auto burst = token_bucket_config{.rate = 1, .burst = 0.5}.validate();
  REQUIRE_FALSE(burst);
  CHECK(burst.error().detail().find("burst must be") != std::string_view::npos);
  CHECK_FALSE(token_bucket_config{.rate = std::nan(""), .burst = 1}.validate());
  CHECK_THROWS_AS(token_bucket(token_bucket_config{.rate = 1, .burst = 0}, t0), std::invalid_argument);
  CHECK_THROWS_AS(rate_limiter(token_bucket_config{.rate = -1, .burst = 2}), std::invalid_argument);
}

// -- the shared limiter ---------------------------------------------------------

TEST_CASE("a limiter that is empty drops or rejects as each caller chooses, and counts both") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  rate_limiter limiter({.rate = 1, .burst = 2}, "api");
  CHECK(limiter.try_acquire(me));
  CHECK(limiter.acquire(me, {.when_empty = on_empty::reject}).value());
  CHECK_FALSE(limiter.try_acquire(me));
  auto refused = limiter.acquire(me, {.when_empty = on_empty::reject});
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == flow_errc::rate_limited);
  CHECK(refused.error().detail().find("rate limiter 'api'") != std::string_view::npos);
  auto too_many = limiter.acquire(me, {.tokens = 3, .when_empty = on_empty::reject});
  REQUIRE_FALSE(too_many);
  CHECK(too_many.error() == flow_errc::invalid_request);
  const auto s = limiter.stats();
  CHECK(s.admitted == 2);
  CHECK(s.dropped == 1);
  CHECK(s.rejected == 1);
  CHECK(s.invalid == 1);
  // A second of virtual time brings one token back.
  m.clock->advance(1s);
  CHECK(limiter.try_acquire(me));
  CHECK_FALSE(limiter.try_acquire(me));
}

TEST_CASE("over ten virtual seconds at 10 per second a limiter admits its burst plus exactly 100") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  rate_limiter limiter({.rate = 10, .burst = 5});
  int admitted = 0;
  for (int step = 0; step <= 1000; ++step) {
    while (limiter.try_acquire(me)) ++admitted;
    if (step < 1000) m.clock->advance(10ms);
  }
  CHECK(admitted == 5 + 100);
}

TEST_CASE("a waiting caller is suspended until the manual clock brings its tokens, not a moment before") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  auto limiter = std::make_shared<rate_limiter>(token_bucket_config{.rate = 10, .burst = 3});
  REQUIRE(limiter->acquire(me, {.tokens = 3}).value());
  const time_point start = m.clock->now();
  weft::pid report = me.self();
  m.rt.spawn([limiter, report](weft::context& self) {
    auto r = limiter->acquire(self, {.tokens = 2});
    self.send(report, acquired{1, r.has_value() && *r, self.system().clock().now()});
  });
  REQUIRE(m.clock->await_timers(1));
  m.clock->advance(199ms);
  CHECK(m.clock->pending() == 1);  // its wake-up is still filed: it waits
  m.clock->advance(1ms);
  const auto a = me.receive<acquired>();
  CHECK(a.ok);
  CHECK(a.at - start == 200ms);
  CHECK(limiter->stats().waited == 1);
}

TEST_CASE("waiting callers are released in the order they came, one token period apart") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  auto limiter = std::make_shared<rate_limiter>(token_bucket_config{.rate = 10, .burst = 1});
  REQUIRE(limiter->try_acquire(me));
  const time_point start = m.clock->now();
  weft::pid report = me.self();
  for (int i = 1; i <= 3; ++i) {
    m.rt.spawn([limiter, report, i](weft::context& self) {
      auto r = limiter->acquire(self);
      self.send(report, acquired{i, r.has_value() && *r, self.system().clock().now()});
    });
    REQUIRE(m.clock->await_timers(static_cast<std::size_t>(i)));  // caller i has reserved its token
  }
  // While they wait the bucket is in debt: a caller that will not wait is refused.
  CHECK_FALSE(limiter->try_acquire(me));
  for (int i = 1; i <= 3; ++i) {
    m.clock->advance(100ms);
    const auto a = me.receive<acquired>();
    CHECK(a.who == i);
    CHECK(a.ok);
    CHECK(a.at - start == i * 100ms);
  }
}

TEST_CASE("a caller whose tokens would come after its deadline fails at once and takes nothing") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  rate_limiter limiter({.rate = 10, .burst = 1});
  REQUIRE(limiter.try_acquire(me));
  auto r = limiter.acquire(me, {.due = deadline::after(me, 50ms)});
  REQUIRE_FALSE(r);
  CHECK(r.error() == flow_errc::deadline_exceeded);
  CHECK(limiter.stats().expired == 1);
  CHECK(m.clock->pending() == 0);  // it did not wait
  m.clock->advance(100ms);
  CHECK(limiter.try_acquire(me));  // the token was not taken by the failed caller
}

TEST_CASE("a caller stopped while it waits gives its tokens back") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  auto limiter = std::make_shared<rate_limiter>(token_bucket_config{.rate = 1, .burst = 1});
  REQUIRE(limiter->try_acquire(me));
  weft::pid waiter = m.rt.spawn([limiter](weft::context& self) { (void)limiter->acquire(self); });
  REQUIRE(m.clock->await_timers(1));
  CHECK(limiter->available(me) == doctest::Approx(-1));
  me.exit(waiter, weft::exit_reason::kill());
  REQUIRE(eventually([&] { return m.rt.live_actors() == 0; }));
  CHECK(limiter->available(me) == doctest::Approx(0));
  CHECK(limiter->stats().admitted == 1);
  CHECK(m.clock->pending() == 0);  // its timer is cancelled
}

// -- admission in front of an actor ---------------------------------------------

namespace {

struct hit {
  int n;
};
struct seen {};
struct record {
  int n;
  time_point at;
};
using target_protocol = weft::protocol<int(hit), std::vector<record>(seen)>;

weft::ref<target_protocol> spawn_target(weft::runtime& rt) {
  return rt.spawn(weft::stateful<target_protocol>(
      std::vector<record>{},
      [](weft::context& self, std::vector<record>& log, hit h) {
        log.push_back({h.n, self.system().clock().now()});
        return h.n * 10;
      },
      [](std::vector<record>& log, seen) { return log; }));
}

std::vector<int> numbers(const std::vector<record>& log) {
  std::vector<int> out;
  for (const auto& r : log) out.push_back(r.n);
  return out;
}

}  // namespace

TEST_CASE("rate_limited with drop passes the burst and drops the rest, answering dropped requests") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  auto target = spawn_target(m.rt);
  auto limited = m.rt.spawn(weft::actors::rate_limited(
      target, {.limit = {.rate = 1, .burst = 3}, .when_empty = on_empty::drop, .name = "hits"}));
  weft::ref<target_protocol> as_target = limited;  // it speaks the target's protocol
  for (int i = 0; i < 3; ++i) CHECK(me.ask(as_target, hit{i}).value() == i * 10);  // answered by the target
  for (int i = 3; i < 10; ++i) me.send(as_target, hit{i});
  auto refused = me.ask(as_target, hit{99});
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == flow_errc::rate_limited);
  CHECK(refused.error().detail().find("hits") != std::string_view::npos);
  const auto s = me.ask(limited, weft::actors::get_admission_stats{}).value();
  CHECK(s.forwarded == 3);
  CHECK(s.dropped == 8);
  CHECK(s.rejected == 0);
  CHECK(numbers(me.ask(target, seen{}).value()) == std::vector<int>{0, 1, 2});
}

TEST_CASE("rate_limited with reject refuses requests over the rate with rate_limited") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  auto target = spawn_target(m.rt);
  auto limited = m.rt.spawn(
      weft::actors::rate_limited(target, {.limit = {.rate = 2, .burst = 1}, .when_empty = on_empty::reject}));
  CHECK(me.ask(limited, hit{1}).value() == 10);
  auto r = me.ask(limited, hit{2});
  REQUIRE_FALSE(r);
  CHECK(r.error() == flow_errc::rate_limited);
  m.clock->advance(500ms);
  CHECK(me.ask(limited, hit{3}).value() == 30);
  const auto s = me.ask(limited, weft::actors::get_admission_stats{}).value();
  CHECK(s.forwarded == 2);
  CHECK(s.rejected == 1);
}

TEST_CASE("rate_limited with wait releases queued messages in order, one per token, on the clock") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  auto target = spawn_target(m.rt);
  auto limited = m.rt.spawn(weft::actors::rate_limited(target, {.limit = {.rate = 10, .burst = 1}}));
  const time_point start = m.clock->now();
  for (int i = 1; i <= 5; ++i) me.send(limited, hit{i});
  for (int released = 1; released <= 5; ++released) {
    REQUIRE(eventually([&] { return me.ask(target, seen{}).value().size() == static_cast<std::size_t>(released); }));
    if (released < 5) {
      REQUIRE(m.clock->await_timers(1));
      m.clock->advance(100ms);
    }
  }
  const auto log = me.ask(target, seen{}).value();
  CHECK(numbers(log) == std::vector<int>{1, 2, 3, 4, 5});
  for (std::size_t i = 0; i < log.size(); ++i) CHECK(log[i].at - start == static_cast<int>(i) * 100ms);
  const auto s = me.ask(limited, weft::actors::get_admission_stats{}).value();
  CHECK(s.forwarded == 5);
  CHECK(s.waited == 4);
}

TEST_CASE("rate_limited with wait rejects a message that would wait longer than max_wait") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  auto target = spawn_target(m.rt);
  auto limited =
      m.rt.spawn(weft::actors::rate_limited(target, {.limit = {.rate = 1, .burst = 1}, .max_wait = 500ms}));
  CHECK(me.ask(limited, hit{1}).value() == 10);
  auto r = me.ask(limited, hit{2});
  REQUIRE_FALSE(r);
  CHECK(r.error() == flow_errc::rate_limited);
  CHECK(r.error().detail().find("max_wait") != std::string_view::npos);
}

TEST_CASE("rate_limited refuses bad options at the call, before anything is spawned") {
  manual_runtime m;
  auto target = spawn_target(m.rt);
  CHECK_THROWS_AS(weft::actors::rate_limited(target, {.limit = {.rate = 0, .burst = 1}}), std::invalid_argument);
  CHECK_THROWS_AS(weft::actors::rate_limited(target, {.limit = {.rate = 1, .burst = 1}, .max_wait = -1s}),
                  std::invalid_argument);
}

TEST_CASE("rate_limited answers a request it cannot pass on because the target has exited") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  auto target = spawn_target(m.rt);
  auto limited = m.rt.spawn(weft::actors::rate_limited(target, {.limit = {.rate = 100, .burst = 10}}));
  me.exit(target, weft::exit_reason::kill());
  REQUIRE(eventually([&] { return m.rt.live_actors() == 1; }));
  auto r = me.ask(limited, hit{1});
  REQUIRE_FALSE(r);
  CHECK(r.error() == weft::ask_errc::no_actor);
  CHECK(me.ask(limited, weft::actors::get_admission_stats{}).value().failed == 1);
}
