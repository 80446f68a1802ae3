#pragma once
// Retries that cannot turn an outage into a storm: each retry is paid from
// a retry budget shared by every caller (Finagle's RetryBudget, gRPC's
// retry throttling), waits a growing, jittered backoff on the runtime
// clock, and stops at the request's deadline or after max_attempts.
//
//   caller                                   retry()
//   ------                                   -------
//   retry(self, policy, due, attempt) ----> deadline passed?  -> deadline_exceeded, nothing tried
//                                           budget: one request deposited
//                                        +> attempt(n, due)
//                                        |  ok, or an error that is not
//                                        |  retryable             -> that result
//                                        |  n == max_attempts     -> retries_exhausted
//                                        |  backoff d would end past
//                                        |  the deadline           -> deadline_exceeded
//                                        |  cancelled              -> cancelled
//                                        |  budget has no retry    -> retry_budget_exhausted
//                                        |  sleep d on the runtime clock (clock_sleep_for)
//                                        +- n + 1
//
// When retries stop for one of those reasons, the error's detail names
// the reason, the attempts made, and the last attempt's error in full
// ("... ; last error: ask timeout: no reply from <0.12.0> within 200 ms").
//
// The budget: over a sliding window (10 s by default), retries may number
// at most min_retries + ratio * requests. With ratio 0.2 a dependency that
// fails everything sees at most 1.2 times its normal load from retries,
// instead of max_attempts times; min_retries lets a quiet caller retry at
// all. Share one budget per dependency among all its callers.
//
// Thread safety: retry_budget_policy is owner-only. retry_budget: any
// thread. retry() is owner-only for `self`: it runs the attempts and sleeps
// in the calling actor's fiber.

#include <weft/actors/deadline.hpp>
#include <weft/actors/detail/time_window.hpp>
#include <weft/actors/flow_error.hpp>
#include <weft/runtime/clock.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/expected.hpp>
#include <weft/runtime/runtime.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <type_traits>
#include <utility>

namespace weft::actors {

struct retry_budget_config {
  // Names the budget in errors.
  std::string name = "retry budget";
  // Retries allowed per request in the window (0.2: one retry per five
  // requests). In [0, 1000].
  double ratio = 0.2;
  // Retries allowed in any window, whatever the traffic.
  std::uint32_t min_retries = 10;
  std::chrono::nanoseconds window = std::chrono::seconds(10);
  // Buckets of the sliding window (its precision: window / window_slots).
  std::uint32_t window_slots = 10;

  expected<void> validate() const;
};

// The pure policy: requests and retries in a sliding window of clock
// time. Owner-only.
class retry_budget_policy {
 public:
  using time_point = weft::clock::time_point;

  // Throws std::invalid_argument (validate()'s text) for a bad config.
  explicit retry_budget_policy(const retry_budget_config& config);

  // One request (a first attempt) at `now`.
  void deposit(time_point now);
  // One retry at `now`, if the window allows it: true and counted, or
  // false and nothing counted.
  bool withdraw(time_point now);
  // Retries the window allows at `now` in all: min_retries + ratio * requests.
  double allowance(time_point now) const;
  std::uint64_t window_requests(time_point now) const { return window_.sum(now).requests; }
  std::uint64_t window_retries(time_point now) const { return window_.sum(now).retries; }

 private:
  struct counts {
    std::uint64_t requests = 0;
    std::uint64_t retries = 0;
    counts& operator+=(const counts& o) noexcept {
      requests += o.requests;
      retries += o.retries;
      return *this;
    }
  };
  retry_budget_config config_;
  detail::time_window<counts> window_;
};

struct retry_budget_stats {
  std::uint64_t requests = 0;  // ever deposited
  std::uint64_t retries = 0;   // ever allowed
  std::uint64_t refused = 0;   // retries the budget said no to
  std::uint64_t window_requests = 0;
  std::uint64_t window_retries = 0;
  double window_allowance = 0;
};

// A budget shared by the callers of one dependency. Not copyable: share it
// through a shared_ptr (retry_policy holds one).
class retry_budget {
 public:
  using time_point = weft::clock::time_point;

  // Throws std::invalid_argument for a bad config.
  explicit retry_budget(retry_budget_config config);
  retry_budget(const retry_budget&) = delete;
  retry_budget& operator=(const retry_budget&) = delete;

  // -- any thread (time from the caller's runtime clock) --------------------
  void deposit(time_point now);
  bool withdraw(time_point now);
  retry_budget_stats stats(time_point now) const;
  const std::string& name() const noexcept { return name_; }

 private:
  const std::string name_;
  mutable std::mutex mutex_;
  retry_budget_policy policy_;
  std::uint64_t requests_ = 0;
  std::uint64_t retries_ = 0;
  std::uint64_t refused_ = 0;
};

struct retry_policy {
  // Attempts in all, the first included (1: no retry).
  std::uint32_t max_attempts = 3;
  // Before retry k (k = 1, 2, ...): min(max_backoff, first_backoff *
  // 2^(k-1)) * (1 + jitter * u), u uniform in [0, 1): the supervisor's
  // backoff curve (weft/supervisor/backoff.hpp).
  std::chrono::nanoseconds first_backoff = std::chrono::milliseconds(100);
  std::chrono::nanoseconds max_backoff = std::chrono::seconds(10);
  double jitter = 0.2;
  // Shared by every caller of the dependency; null: only max_attempts and
  // the deadline limit retries.
  std::shared_ptr<retry_budget> budget{};
  // Which errors are worth retrying. Unset: all but deadline_exceeded,
  // cancelled, circuit_open (the breaker asks callers to back off) and
  // invalid_request (it would fail again).
  std::function<bool(const error&)> retryable{};
  // u in [0, 1) for the jitter (unset: a generator per retry() call).
  std::function<double()> random{};

  // Errors (invalid_request) name the field.
  expected<void> validate() const;
};

// What an attempt is told.
struct attempt_info {
  std::uint32_t number = 1;  // 1 for the first
  deadline due{};            // pass it on with the request (with_deadline)
};

namespace detail {

template <class R>
struct retry_value;
template <class T>
struct retry_value<expected<T>> {
  using type = T;
};

// The non-template steps of retry() (retry.cpp).
class retry_run {
 public:
  retry_run(context& self, const retry_policy& policy, const deadline& due, const cancel_token& cancel);
  // Before the first attempt: an error if the deadline has passed
  // already or the policy is invalid. Deposits the request in the budget.
  std::optional<error> start();
  // After attempt `n` failed with `last`: sleeps the backoff and returns
  // nullopt (try again), or returns why to stop (the error to return).
  std::optional<error> after_failure(std::uint32_t n, const error& last);

 private:
  double unit_random();
  context& self_;
  const retry_policy& policy_;
  deadline due_;
  cancel_token cancel_;
  std::optional<std::mt19937_64> prng_;
};

}  // namespace detail

// Calls attempt(attempt_info) (or attempt()) until it succeeds, or retries
// must stop (see the header comment). `attempt` returns expected<T>; so
// does retry. Owner-only for `self`: attempts run and backoffs sleep in
// the caller's fiber; `cancel` ends a backoff within 50 ms.
//
//   auto r = weft::actors::retry(self, policy, deadline::after(self, 2s),
//       [&](const weft::actors::attempt_info& a) {
//         return self.ask(db, weft::actors::with_deadline{query{}, a.due});
//       });
template <class F>
auto retry(context& self, const retry_policy& policy, const deadline& due, F&& attempt,
           const cancel_token& cancel = {}) {
  constexpr bool takes_info = std::is_invocable_v<F&, const attempt_info&>;
  using R = typename std::conditional_t<takes_info, std::invoke_result<F&, const attempt_info&>,
                                        std::invoke_result<F&>>::type;
  static_assert(is_expected_v<R>, "weft::actors::retry: the attempt must return weft::expected<T>");
  using out = expected<typename detail::retry_value<R>::type>;
  detail::retry_run run(self, policy, due, cancel);
  if (auto stop = run.start()) return out(std::move(*stop));
  for (std::uint32_t n = 1;; ++n) {
    R r = [&] {
      if constexpr (takes_info) {
        return attempt(attempt_info{n, due});
      } else {
        return attempt();
      }
    }();
    if (r) return out(std::move(r));
    if (auto stop = run.after_failure(n, r.error())) return out(std::move(*stop));
  }
}

}  // namespace weft::actors
