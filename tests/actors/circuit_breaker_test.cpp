// Circuit breaker (circuit_breaker.hpp): the state machine alone on
// hand-made time points, then the thread-safe breaker in a runtime on a
// manual clock: one probe among 1,000 concurrent callers, notifications,
// the operator's force, guarded asks.

#include "weft_test.hpp"

#include <weft/actors/circuit_breaker.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <vector>

using namespace weft_test;
using weft::actors::breaker_cause;
using weft::actors::breaker_force;
using weft::actors::breaker_policy;
using weft::actors::breaker_state;
using weft::actors::breaker_transition;
using weft::actors::breaker_window;
using weft::actors::circuit_breaker;
using weft::actors::circuit_breaker_config;
using weft::actors::flow_errc;

namespace {

using time_point = weft::clock::time_point;
const time_point t0 = time_point(std::chrono::hours(1000));

circuit_breaker_config streak(std::uint32_t n) {
  circuit_breaker_config c;
  c.name = "db";
  c.consecutive_failures = n;
  c.failure_rate = 0;
  c.open_min = 1s;
  c.open_max = 8s;
  c.jitter = 0;
  c.random = [] { return 0.0; };
  return c;
}

// One call through the policy at `now` that fails or not, taking `latency`.
std::optional<breaker_transition> one_call(breaker_policy& p, time_point now, bool failed,
                                           std::chrono::nanoseconds latency = 0ns, double u = 0.0) {
  auto a = p.admit(now);
  REQUIRE(a.admitted);
  return p.record(now + latency, a, failed, latency, u);
}

}  // namespace

// -- the pure policy ----------------------------------------------------------

TEST_CASE("a closed breaker trips after N failures in a row, and a success in between resets the streak") {
  breaker_policy p(streak(3));
  CHECK_FALSE(one_call(p, t0, true));
  CHECK_FALSE(one_call(p, t0, true));
  CHECK_FALSE(one_call(p, t0, false));
  CHECK(p.consecutive_failures() == 0);
  CHECK_FALSE(one_call(p, t0, true));
  CHECK_FALSE(one_call(p, t0, true));
  auto t = one_call(p, t0, true);
  REQUIRE(t);
  CHECK(t->from == breaker_state::closed);
  CHECK(t->to == breaker_state::open);
  CHECK(t->cause == breaker_cause::consecutive_failures);
  CHECK(t->open_for == 1s);
  CHECK(p.state() == breaker_state::open);
  CHECK(p.open_until() == t0 + 1s);
}

TEST_CASE("a count window trips at the failure rate over the last N calls, never below min_calls") {
  circuit_breaker_config c = streak(0);
  c.failure_rate = 0.5;
  c.window = breaker_window::count;
  c.window_calls = 6;
  c.min_calls = 4;
  breaker_policy p(c);
  CHECK_FALSE(one_call(p, t0, true));
  CHECK_FALSE(one_call(p, t0, true));
  CHECK_FALSE(one_call(p, t0, false));  // 2 of 3 failed, but 3 < min_calls
  CHECK(p.window_counts(t0) == std::pair<std::uint64_t, std::uint64_t>{3, 2});
  CHECK(one_call(p, t0, false));  // 2 of 4: 50 %, the threshold, trips it
  CHECK(p.state() == breaker_state::open);

  // Sliding: old failures leave the window.
  breaker_policy q(c);
  CHECK_FALSE(one_call(q, t0, true));
  for (int i = 0; i < 6; ++i) CHECK_FALSE(one_call(q, t0, false));  // the failure slides out
  CHECK(q.window_counts(t0) == std::pair<std::uint64_t, std::uint64_t>{6, 0});
  CHECK_FALSE(one_call(q, t0, true));
  CHECK_FALSE(one_call(q, t0, true));
  auto t = one_call(q, t0, true);  // 3 of the last 6
  REQUIRE(t);
  CHECK(t->cause == breaker_cause::failure_rate);
}

TEST_CASE("a time window counts only the calls of its span") {
  circuit_breaker_config c = streak(0);
  c.failure_rate = 0.5;
  c.window = breaker_window::time;
  c.window_span = 10s;
  c.window_slots = 10;
  c.min_calls = 4;
  breaker_policy p(c);
  for (int i = 0; i < 3; ++i) CHECK_FALSE(one_call(p, t0, true));
  // 11 s later those failures are out of the window.
  const auto later = t0 + 11s;
  CHECK(p.window_counts(later) == std::pair<std::uint64_t, std::uint64_t>{0, 0});
  CHECK_FALSE(one_call(p, later, true));
  for (int i = 0; i < 3; ++i) CHECK_FALSE(one_call(p, later, false));
  CHECK(p.window_counts(later) == std::pair<std::uint64_t, std::uint64_t>{4, 1});
  CHECK(p.state() == breaker_state::closed);
  CHECK_FALSE(one_call(p, later + 1s, true));
  auto t = one_call(p, later + 2s, true);  // 3 of 6 within the last 10 s
  REQUIRE(t);
  CHECK(t->cause == breaker_cause::failure_rate);
}

TEST_CASE("a call slower than slow_call is a failure even when it succeeded") {
  circuit_breaker_config c = streak(2);
  c.slow_call = 500ms;
  breaker_policy p(c);
  CHECK_FALSE(one_call(p, t0, false, 499ms));
  CHECK(p.consecutive_failures() == 0);
  CHECK_FALSE(one_call(p, t0, false, 500ms));
  CHECK(p.consecutive_failures() == 1);
  auto t = one_call(p, t0 + 1s, false, 2s);
  REQUIRE(t);
  CHECK(t->to == breaker_state::open);
}

TEST_CASE("after its interval an open breaker lets exactly one probe through, and its success closes it") {
  breaker_policy p(streak(1));
  REQUIRE(one_call(p, t0, true));
  auto early = p.admit(t0 + 999ms);
  CHECK_FALSE(early.admitted);
  CHECK(early.retry_in == 1ms);
  auto probe = p.admit(t0 + 1s);
  CHECK(probe.admitted);
  CHECK(probe.probe);
  REQUIRE(probe.transition);
  CHECK(probe.transition->to == breaker_state::half_open);
  CHECK(probe.transition->cause == breaker_cause::interval_elapsed);
  for (int i = 0; i < 10; ++i) CHECK_FALSE(p.admit(t0 + 2s).admitted);  // the probe is in flight
  auto t = p.record(t0 + 2s, probe, false, 1s, 0.0);
  REQUIRE(t);
  CHECK(t->to == breaker_state::closed);
  CHECK(t->cause == breaker_cause::probe_succeeded);
  CHECK(p.admit(t0 + 2s).admitted);
}

TEST_CASE("each re-open doubles the open interval up to the cap, jitter comes after the cap, a close resets it") {
  circuit_breaker_config c = streak(1);
  c.open_min = 1s;
  c.open_max = 4s;
  c.jitter = 0.5;
  breaker_policy p(c);
  time_point now = t0;
  auto trip = one_call(p, now, true);
  REQUIRE(trip);
  CHECK(trip->open_for == 1s);
  std::vector<std::chrono::nanoseconds> intervals;
  for (int i = 0; i < 4; ++i) {
    now = p.open_until();
    auto probe = p.admit(now);
    REQUIRE(probe.probe);
    auto t = p.record(now, probe, true, 0ns, 0.0);
    REQUIRE(t);
    CHECK(t->cause == breaker_cause::probe_failed);
    CHECK(t->opens_in_a_row == static_cast<std::uint32_t>(i + 2));
    intervals.push_back(t->open_for);
  }
  CHECK(intervals == std::vector<std::chrono::nanoseconds>{2s, 4s, 4s, 4s});
  // With u near 1 the capped interval grows by up to jitter: 4 s * 1.5.
  now = p.open_until();
  auto probe = p.admit(now);
  auto jittered = p.record(now, probe, true, 0ns, 0.999);
  REQUIRE(jittered);
  CHECK(jittered->open_for > 5900ms);
  CHECK(jittered->open_for <= 6s);
  // A successful probe closes it and resets the curve.
  now = p.open_until();
  probe = p.admit(now);
  REQUIRE(p.record(now, probe, false, 0ns, 0.0));
  auto again = one_call(p, now, true);
  REQUIRE(again);
  CHECK(again->open_for == 1s);
}

TEST_CASE("an outcome from an earlier state period is ignored") {
  breaker_policy p(streak(2));
  auto slow = p.admit(t0);  // admitted while closed
  REQUIRE(slow.admitted);
  CHECK_FALSE(one_call(p, t0, true));
  REQUIRE(one_call(p, t0, true));  // opens
  auto probe = p.admit(t0 + 1s);
  REQUIRE(probe.probe);
  // The old call ends now: it must not be taken for the probe's verdict.
  CHECK_FALSE(p.record(t0 + 1s, slow, false, 1s, 0.0));
  CHECK(p.ignored() == 1);
  CHECK(p.state() == breaker_state::half_open);
  CHECK(p.probe_in_flight());
}

TEST_CASE("forced open refuses every call, forced closed admits every call and never trips, release closes afresh") {
  breaker_policy p(streak(1));
  auto t = p.force(t0, breaker_force::open);
  REQUIRE(t);
  CHECK(t->to == breaker_state::open);
  CHECK(t->cause == breaker_cause::forced_open);
  CHECK_FALSE(p.admit(t0 + 1h).admitted);  // no interval: stays open
  CHECK(p.refusal(t0).find("forced open") != std::string::npos);
  t = p.force(t0, breaker_force::closed);
  REQUIRE(t);
  CHECK(t->to == breaker_state::closed);
  for (int i = 0; i < 10; ++i) CHECK_FALSE(one_call(p, t0, true));
  CHECK(p.state() == breaker_state::closed);
  t = p.force(t0, breaker_force::none);
  REQUIRE(t);
  CHECK(t->cause == breaker_cause::force_released);
  CHECK(p.forced() == breaker_force::none);
  CHECK_FALSE(p.force(t0, breaker_force::none));  // nothing to release
  REQUIRE(one_call(p, t0, true));                 // ordinary again: one failure trips it
}

TEST_CASE("bad breaker configs are refused with a message naming the field") {
  auto check_bad = [](circuit_breaker_config c, std::string_view words) {
    auto r = c.validate();
    REQUIRE_FALSE(r);
    CHECK(r.error() == flow_errc::invalid_request);
    CHECK_MESSAGE(r.error().detail().find(words) != std::string_view::npos, r.error().detail());
    CHECK_THROWS_AS(circuit_breaker{c}, std::invalid_argument);
  };
  circuit_breaker_config c;
  c.failure_rate = 1.5;
  check_bad(c, "failure_rate");
  c = {};
  c.consecutive_failures = 0;
  c.failure_rate = 0;
  check_bad(c, "nothing would ever trip it");
  c = {};
  c.min_calls = 200;
  check_bad(c, "min_calls (200) is above window_calls (100)");
  c = {};
  c.open_max = 10ms;
  check_bad(c, "open_max");
  c = {};
  c.jitter = -0.1;
  check_bad(c, "jitter");
  c = {};
  c.window = breaker_window::time;
  c.window_span = 0s;
  check_bad(c, "window_span");
  CHECK(circuit_breaker_config{}.validate());
}

// -- the breaker in a runtime ---------------------------------------------------

namespace {

struct go {};
struct proceed {};
struct probe_reached {
  weft::pid who;
};
struct outcome {
  int id;
  bool ok;
  bool circuit_open;
  std::string text;
};

}  // namespace

TEST_CASE("1,000 concurrent callers at half-open: exactly one probe reaches the call, the rest fail fast") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  auto breaker = std::make_shared<circuit_breaker>(streak(1));
  auto tripped = breaker->call(me, [] { return weft::expected<int>(weft::error(weft::ask_errc::timeout, "down")); });
  REQUIRE_FALSE(tripped);
  REQUIRE(breaker->stats().state == breaker_state::open);

  std::atomic<int> reached{0};
  const int callers = 1000;
  weft::pid report = me.self();
  std::vector<weft::pid> pids;
  for (int id = 0; id < callers; ++id) {
    pids.push_back(m.rt.spawn(
        [breaker, report, id, &reached](weft::context& self) {
          self.receive<go>();
          auto r = breaker->call(self, [&]() -> weft::expected<int> {
            reached.fetch_add(1);
            self.send(report, probe_reached{self.self()});
            self.receive<proceed>();  // the probe stays in flight until the test says
            return 7;
          });
          self.send(report, outcome{id, r.has_value(), !r && r.error() == flow_errc::circuit_open,
                                    r ? std::string() : std::string(r.error().detail())});
        },
        weft::spawn_options{.stack_size = 64 * 1024}));
  }
  m.clock->advance(1s);  // the open interval has passed: the next call is the probe
  for (const auto& p : pids) me.send(p, go{});

  weft::pid probe;
  int fast_failures = 0;
  while (fast_failures < callers - 1 || !probe) {
    // A second probe would leave fewer fast failures than awaited: the hang
    // guard then fails the test instead of hanging it.
    REQUIRE(me.receive_for(20s, [&](const probe_reached& r) { probe = r.who; },
                           [&](const outcome& o) {
                             CHECK_FALSE(o.ok);
                             CHECK(o.circuit_open);
                             CHECK(o.text.find("half-open and its one probe call is in flight") != std::string::npos);
                             ++fast_failures;
                           }));
  }
  CHECK(reached.load() == 1);
  CHECK(fast_failures == callers - 1);
  me.send(probe, proceed{});
  const auto last = me.receive<outcome>();
  CHECK(last.ok);
  const auto s = breaker->stats();
  CHECK(s.state == breaker_state::closed);
  CHECK(s.probes == 1);
  CHECK(s.rejected == static_cast<std::uint64_t>(callers - 1));
  CHECK(reached.load() == 1);
}

namespace {

struct transitions_seen {};
using collector_protocol =
    weft::protocol<void(breaker_transition), std::vector<breaker_transition>(transitions_seen)>;

weft::ref<collector_protocol> spawn_collector(weft::runtime& rt) {
  return rt.spawn(weft::stateful<collector_protocol>(
      std::vector<breaker_transition>{},
      [](std::vector<breaker_transition>& log, breaker_transition t) { log.push_back(std::move(t)); },
      [](std::vector<breaker_transition>& log, transitions_seen) { return log; }));
}

weft::expected<int> failing() { return weft::error(weft::ask_errc::timeout, "no reply"); }
weft::expected<int> working() { return 1; }

}  // namespace

TEST_CASE("subscribers get every change of state as a typed message, in order") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  circuit_breaker breaker(streak(2));
  auto collector = spawn_collector(m.rt);
  breaker.subscribe(collector);

  (void)breaker.call(me, failing);
  (void)breaker.call(me, failing);  // closed -> open (1 s)
  CHECK(breaker.state(me) == breaker_state::open);
  m.clock->advance(1s);
  CHECK(breaker.state(me) == breaker_state::half_open);  // the query applies the transition
  (void)breaker.call(me, failing);                       // probe fails: open (2 s)
  m.clock->advance(2s);
  CHECK(breaker.call(me, working).value() == 1);  // half-open, probe succeeds: closed
  breaker.force_open(me);
  breaker.release(me);

  struct expect {
    breaker_state from, to;
    breaker_cause cause;
  };
  const std::vector<expect> want = {
      {breaker_state::closed, breaker_state::open, breaker_cause::consecutive_failures},
      {breaker_state::open, breaker_state::half_open, breaker_cause::interval_elapsed},
      {breaker_state::half_open, breaker_state::open, breaker_cause::probe_failed},
      {breaker_state::open, breaker_state::half_open, breaker_cause::interval_elapsed},
      {breaker_state::half_open, breaker_state::closed, breaker_cause::probe_succeeded},
      {breaker_state::closed, breaker_state::open, breaker_cause::forced_open},
      {breaker_state::open, breaker_state::closed, breaker_cause::force_released},
  };
  std::vector<breaker_transition> got;
  REQUIRE(eventually([&] {
    got = me.ask(collector, transitions_seen{}).value();
    return got.size() >= want.size();
  }));
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i].breaker == "db");
    CHECK(got[i].from == want[i].from);
    CHECK(got[i].to == want[i].to);
    CHECK(got[i].cause == want[i].cause);
  }
  CHECK(got[0].open_for == 1s);
  CHECK(got[2].open_for == 2s);
  CHECK(got[2].opens_in_a_row == 2);
  CHECK(breaker.stats().transitions == want.size());
}

TEST_CASE("forced open, every call fails fast naming the operator; forced closed, failures never trip it") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  circuit_breaker breaker(streak(1));
  int calls = 0;
  auto counted = [&]() -> weft::expected<int> {
    ++calls;
    return failing();
  };
  breaker.force_open(me);
  auto r = breaker.call(me, counted);
  REQUIRE_FALSE(r);
  CHECK(r.error() == flow_errc::circuit_open);
  CHECK(r.error().detail().find("forced open by an operator") != std::string_view::npos);
  CHECK(calls == 0);
  breaker.force_closed(me);
  for (int i = 0; i < 5; ++i) CHECK(breaker.call(me, counted).error() == weft::ask_errc::timeout);
  CHECK(calls == 5);
  CHECK(breaker.stats().state == breaker_state::closed);
  breaker.release(me);
  (void)breaker.call(me, counted);
  CHECK(breaker.stats().state == breaker_state::open);
}

TEST_CASE("a throwing call is a failure and its exception reaches the caller; a non-failure error is a success") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  circuit_breaker_config c = streak(2);
  c.is_failure = [](const weft::error& e) { return !(e == weft::ask_errc::unhandled); };
  circuit_breaker breaker(c);
  CHECK_THROWS_AS(breaker.call(me, []() -> int { throw std::runtime_error("boom"); }), std::runtime_error);
  CHECK(breaker.stats().consecutive_failures == 1);
  auto business = breaker.call(me, []() -> weft::expected<int> { return weft::error(weft::ask_errc::unhandled); });
  CHECK_FALSE(business);
  CHECK(breaker.stats().consecutive_failures == 0);  // a success for the breaker
  CHECK(breaker.call(me, [] {}));                    // void calls work too
  CHECK(breaker.stats().successes == 2);
  CHECK(breaker.stats().failures == 1);
}

TEST_CASE("a call that takes longer than slow_call on the runtime clock counts as a failure") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  circuit_breaker_config c = streak(1);
  c.slow_call = 2s;
  auto breaker = std::make_shared<circuit_breaker>(c);
  weft::pid report = me.self();
  weft::pid caller = m.rt.spawn([breaker, report](weft::context& self) {
    auto r = breaker->call(self, [&]() -> weft::expected<int> {
      self.send(report, probe_reached{self.self()});
      self.receive<proceed>();
      return 1;
    });
    self.send(report, outcome{0, r.has_value(), false, {}});
  });
  (void)me.receive<probe_reached>();
  m.clock->advance(3s);  // the call is in progress for 3 s of clock time
  me.send(caller, proceed{});
  CHECK(me.receive<outcome>().ok);  // the caller still gets its result
  const auto s = breaker->stats();
  CHECK(s.slow == 1);
  CHECK(s.state == breaker_state::open);
}

namespace {
struct lookup {
  int key;
};
using store_protocol = weft::protocol<int(lookup)>;
}  // namespace

TEST_CASE("guarded asks go through the breaker and stop reaching a failing actor once it opens") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  auto hits = std::make_shared<std::atomic<int>>(0);
  auto store = m.rt.spawn(weft::stateful<store_protocol>(0, [hits](int&, lookup l) -> weft::expected<int> {
    hits->fetch_add(1);
    if (l.key < 0) return weft::error(weft::ask_errc::rejected, "overloaded");
    return l.key * 2;
  }));
  weft::actors::guarded<store_protocol> guarded(store, std::make_shared<circuit_breaker>(streak(3)));
  CHECK(guarded.ask(me, lookup{21}).value() == 42);
  for (int i = 0; i < 3; ++i) CHECK(guarded.ask(me, lookup{-1}).error() == weft::ask_errc::rejected);
  for (int i = 0; i < 10; ++i) CHECK(guarded.ask(me, lookup{1}).error() == flow_errc::circuit_open);
  CHECK(hits->load() == 4);  // the ten after it opened never reached the actor
  m.clock->advance(1s);
  CHECK(guarded.ask(me, lookup{5}).value() == 10);  // the probe succeeds
  CHECK(guarded.breaker().stats().state == breaker_state::closed);
}
