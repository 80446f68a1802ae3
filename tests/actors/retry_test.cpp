// Retries (retry.hpp): the budget alone on hand-made time points, then
// retry() in a runtime on a manual clock: backoff on the clock, max
// attempts, budget exhaustion shared by callers, the deadline, cancel.

#include "weft_test.hpp"

#include <weft/actors/retry.hpp>

#include <doctest/doctest.h>

#include <memory>
#include <stdexcept>
#include <vector>

using namespace weft_test;
using weft::actors::attempt_info;
using weft::actors::deadline;
using weft::actors::flow_errc;
using weft::actors::retry;
using weft::actors::retry_budget;
using weft::actors::retry_budget_config;
using weft::actors::retry_budget_policy;
using weft::actors::retry_policy;

namespace {

using time_point = weft::clock::time_point;
const time_point t0 = time_point(std::chrono::hours(1000));

weft::error down() { return weft::error(weft::ask_errc::timeout, "no reply from the ledger"); }

// No backoff: retries that never sleep, for tests of counting.
retry_policy immediate(std::uint32_t attempts) {
  retry_policy p;
  p.max_attempts = attempts;
  p.first_backoff = 0ns;
  p.max_backoff = 0ns;
  p.jitter = 0;
  return p;
}

struct result {
  bool ok;
  int value;
  weft::error error;
  std::vector<time_point> attempts_at;
};

}  // namespace

// -- the budget alone -----------------------------------------------------------

TEST_CASE("a retry budget allows min_retries plus ratio times the requests of its window") {
  retry_budget_policy b({.ratio = 0.5, .min_retries = 2, .window = 10s, .window_slots = 10});
  CHECK(b.withdraw(t0));
  CHECK(b.withdraw(t0));
  CHECK_FALSE(b.withdraw(t0));  // no requests: only the minimum
  for (int i = 0; i < 4; ++i) b.deposit(t0);
  CHECK(b.allowance(t0) == doctest::Approx(4));
  CHECK(b.withdraw(t0 + 1s));
  CHECK(b.withdraw(t0 + 1s));
  CHECK_FALSE(b.withdraw(t0 + 1s));
  CHECK(b.window_retries(t0 + 1s) == 4);
  // A window later the old requests and retries are gone: the minimum again.
  const auto later = t0 + 12s;
  CHECK(b.window_requests(later) == 0);
  CHECK(b.window_retries(later) == 0);
  CHECK(b.withdraw(later));
  CHECK(b.withdraw(later));
  CHECK_FALSE(b.withdraw(later));
}

TEST_CASE("bad retry budgets and policies are refused with a message naming the field") {
  auto budget = retry_budget_config{.ratio = -1}.validate();
  REQUIRE_FALSE(budget);
  CHECK(budget.error() == flow_errc::invalid_request);
  CHECK(budget.error().detail().find("ratio") != std::string_view::npos);
  CHECK_FALSE(retry_budget_config{.ratio = 0, .min_retries = 0}.validate());
  CHECK_FALSE(retry_budget_config{.window = 0s}.validate());
  CHECK_THROWS_AS(retry_budget(retry_budget_config{.window_slots = 0}), std::invalid_argument);
  retry_policy p;
  p.max_attempts = 0;
  CHECK(p.validate().error().detail().find("max_attempts") != std::string_view::npos);
  p = {};
  p.max_backoff = 1ms;
  CHECK(p.validate().error().detail().find("max_backoff") != std::string_view::npos);
  // retry() answers a bad policy with the error, trying nothing.
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  int calls = 0;
  p.max_attempts = 0;
  auto r = retry(me, p, deadline::never(), [&]() -> weft::expected<int> { return ++calls; });
  REQUIRE_FALSE(r);
  CHECK(r.error() == flow_errc::invalid_request);
  CHECK(calls == 0);
}

// -- retry() ------------------------------------------------------------------

TEST_CASE("retry sleeps its backoffs on the runtime clock and returns the attempt that succeeds") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  weft::pid report = me.self();
  m.rt.spawn([report](weft::context& self) {
    retry_policy p;
    p.max_attempts = 5;
    p.first_backoff = 100ms;
    p.max_backoff = 1s;
    p.jitter = 0;
    result out{};
    auto r = retry(self, p, deadline::never(), [&](const attempt_info& a) -> weft::expected<int> {
      out.attempts_at.push_back(self.system().clock().now());
      if (a.number < 3) return down();
      return static_cast<int>(a.number) * 10;
    });
    out.ok = r.has_value();
    out.value = r ? *r : 0;
    self.send(report, out);
  });
  const time_point start = m.clock->now();
  REQUIRE(m.clock->await_timers(1));
  m.clock->advance(99ms);
  CHECK(m.clock->pending() == 1);  // still in its first backoff
  m.clock->advance(1ms);
  REQUIRE(m.clock->await_timers(1));
  m.clock->advance(200ms);  // the second backoff doubles
  const auto r = me.receive<result>();
  CHECK(r.ok);
  CHECK(r.value == 30);
  REQUIRE(r.attempts_at.size() == 3);
  CHECK(r.attempts_at[0] - start == 0ms);
  CHECK(r.attempts_at[1] - start == 100ms);
  CHECK(r.attempts_at[2] - start == 300ms);
}

TEST_CASE("retry stops after max_attempts with retries_exhausted naming the last error") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  int calls = 0;
  auto r = retry(me, immediate(4), deadline::never(), [&]() -> weft::expected<int> {
    ++calls;
    return down();
  });
  REQUIRE_FALSE(r);
  CHECK(calls == 4);
  CHECK(r.error() == flow_errc::retries_exhausted);
  CHECK(r.error().detail().find("all 4 attempt(s) failed") != std::string_view::npos);
  CHECK(r.error().detail().find("no reply from the ledger") != std::string_view::npos);
}

TEST_CASE("an error that is not retryable is returned as it is, after one attempt") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  int calls = 0;
  auto r = retry(me, immediate(5), deadline::never(), [&]() -> weft::expected<int> {
    ++calls;
    return weft::error(flow_errc::circuit_open, "breaker 'ledger' is open");
  });
  CHECK(calls == 1);
  CHECK(r.error() == flow_errc::circuit_open);
  retry_policy p = immediate(5);
  p.retryable = [](const weft::error& e) { return e == weft::ask_errc::timeout; };
  calls = 0;
  r = retry(me, p, deadline::never(), [&]() -> weft::expected<int> {
    ++calls;
    return weft::error(weft::ask_errc::unhandled);
  });
  CHECK(calls == 1);
  CHECK(r.error() == weft::ask_errc::unhandled);
}

TEST_CASE("an exhausted budget stops retries, for every caller that shares it") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  auto budget = std::make_shared<retry_budget>(
      retry_budget_config{.name = "ledger", .ratio = 0, .min_retries = 2, .window = 10s, .window_slots = 10});
  retry_policy p = immediate(10);
  p.budget = budget;
  int calls = 0;
  auto failing = [&]() -> weft::expected<int> {
    ++calls;
    return down();
  };
  auto first = retry(me, p, deadline::never(), failing);
  REQUIRE_FALSE(first);
  CHECK(first.error() == flow_errc::retry_budget_exhausted);
  CHECK(first.error().detail().find("retry budget 'ledger'") != std::string_view::npos);
  CHECK(first.error().detail().find("no reply from the ledger") != std::string_view::npos);
  CHECK(calls == 3);  // the first attempt and the two retries the budget had
  // Another caller of the same dependency gets no retry at all.
  calls = 0;
  auto second = retry(me, p, deadline::never(), failing);
  CHECK(second.error() == flow_errc::retry_budget_exhausted);
  CHECK(calls == 1);
  auto s = budget->stats(m.clock->now());
  CHECK(s.requests == 2);
  CHECK(s.retries == 2);
  CHECK(s.refused == 2);
  // A window later the budget has its minimum again.
  m.clock->advance(11s);
  calls = 0;
  CHECK(retry(me, p, deadline::never(), failing).error() == flow_errc::retry_budget_exhausted);
  CHECK(calls == 3);
}

TEST_CASE("with a ratio, retries follow the traffic: one retry per five requests") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  auto budget = std::make_shared<retry_budget>(retry_budget_config{.ratio = 0.2, .min_retries = 0});
  retry_policy p = immediate(3);
  p.budget = budget;
  int attempts = 0;
  int succeeded = 0;
  // 100 requests; each fails its first attempt and succeeds on a retry.
  for (int i = 0; i < 100; ++i) {
    auto r = retry(me, p, deadline::never(), [&](const attempt_info& a) -> weft::expected<int> {
      ++attempts;
      if (a.number == 1) return down();
      return 1;
    });
    if (r) ++succeeded;
  }
  CHECK(succeeded == 20);
  CHECK(attempts == 120);
  CHECK(budget->stats(m.clock->now()).refused == 80);
}

TEST_CASE("retry gives up at once when the next backoff would end past the deadline") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  weft::pid report = me.self();
  m.rt.spawn([report](weft::context& self) {
    retry_policy p;
    p.max_attempts = 10;
    p.first_backoff = 100ms;
    p.max_backoff = 1s;
    p.jitter = 0;
    result out{};
    const auto due = deadline::after(self, 250ms);
    auto r = retry(self, p, due, [&](const attempt_info& a) -> weft::expected<int> {
      CHECK(a.due == due);  // the deadline travels to each attempt
      out.attempts_at.push_back(self.system().clock().now());
      return down();
    });
    out.ok = r.has_value();
    out.error = r.error();
    self.send(report, out);
  });
  REQUIRE(m.clock->await_timers(1));
  m.clock->advance(100ms);  // first backoff; the second (200 ms) would end at 300 ms > 250 ms
  const auto r = me.receive<result>();
  CHECK_FALSE(r.ok);
  CHECK(r.error == flow_errc::deadline_exceeded);
  CHECK(r.error.detail().find("after the deadline") != std::string_view::npos);
  CHECK(r.attempts_at.size() == 2);
  CHECK(m.clock->pending() == 0);  // it did not sleep towards a lost cause
}

TEST_CASE("retry with a deadline already passed tries nothing") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  const auto due = deadline::after(me, 10ms);
  m.clock->advance(20ms);
  int calls = 0;
  auto r = retry(me, immediate(3), due, [&]() -> weft::expected<int> { return ++calls; });
  CHECK(r.error() == flow_errc::deadline_exceeded);
  CHECK(calls == 0);
}

TEST_CASE("cancelling ends a retry in its backoff, without waiting for the clock") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  weft::actors::cancel_source cancel;
  weft::pid report = me.self();
  m.rt.spawn([report, token = cancel.token()](weft::context& self) {
    retry_policy p;
    p.first_backoff = 1h;
    p.max_backoff = 1h;
    result out{};
    auto r = retry(self, p, deadline::never(), [&]() -> weft::expected<int> { return down(); }, token);
    out.ok = r.has_value();
    out.error = r.error();
    self.send(report, out);
  });
  REQUIRE(m.clock->await_timers(1));  // sleeping its hour of backoff
  cancel.cancel();
  const auto r = me.receive<result>();
  CHECK(r.error == flow_errc::cancelled);
  CHECK(r.error.detail().find("during the backoff") != std::string_view::npos);
  CHECK(eventually([&] { return m.clock->pending() == 0; }));
}
