// Retry budget and the non-template steps of retry() (retry.hpp).
//
// The order of the checks after a failed attempt matters:
//   1. not retryable       -> the attempt's own error, untouched
//   2. max_attempts        -> retries_exhausted
//   3. deadline            -> deadline_exceeded, checked against the end
//                             of the backoff: sleeping only to find the
//                             deadline gone would waste the caller's time
//   4. cancelled           -> cancelled
//   5. budget              -> retry_budget_exhausted; checked last, so the
//                             budget is only spent on a retry that will
//                             really be attempted
//   6. sleep the backoff   -> a cancel during it stops (cancelled)

#include <weft/actors/retry.hpp>

#include <weft/supervisor/backoff.hpp>

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace weft::actors {

namespace {

std::int64_t as_ms(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

bool retryable_by_default(const error& e) {
  return !(e == flow_errc::deadline_exceeded || e == flow_errc::cancelled || e == flow_errc::circuit_open ||
           e == flow_errc::invalid_request);
}

}  // namespace

// -- budget -------------------------------------------------------------------

expected<void> retry_budget_config::validate() const {
  auto bad = [this](std::string what) {
    return error(flow_errc::invalid_request, fmt::format("retry budget '{}': {}", name, what));
  };
  if (!(ratio >= 0.0 && ratio <= 1000.0)) return bad(fmt::format("ratio must be in [0, 1000] (got {})", ratio));
  if (window <= std::chrono::nanoseconds::zero()) return bad("window must be positive");
  if (window_slots == 0) return bad("window_slots must be at least 1");
  if (window.count() < static_cast<std::int64_t>(window_slots)) {
    return bad("window must be at least window_slots nanoseconds");
  }
  if (ratio == 0.0 && min_retries == 0) return bad("ratio and min_retries are both 0: no retry could ever happen");
  return {};
}

retry_budget_policy::retry_budget_policy(const retry_budget_config& config)
    : config_(config),
      window_(config.window > std::chrono::nanoseconds::zero() ? config.window : std::chrono::nanoseconds(1),
              std::max<std::uint32_t>(config.window_slots, 1)) {
  if (auto ok = config.validate(); !ok) throw std::invalid_argument(std::string(ok.error().detail()));
}

void retry_budget_policy::deposit(time_point now) { window_.add(now, counts{1, 0}); }

double retry_budget_policy::allowance(time_point now) const {
  return static_cast<double>(config_.min_retries) + config_.ratio * static_cast<double>(window_.sum(now).requests);
}

bool retry_budget_policy::withdraw(time_point now) {
  const counts in_window = window_.sum(now);
  const double allowed =
      static_cast<double>(config_.min_retries) + config_.ratio * static_cast<double>(in_window.requests);
  // Retries are whole: the next one fits if the count after it does.
  if (static_cast<double>(in_window.retries + 1) > allowed) return false;
  window_.add(now, counts{0, 1});
  return true;
}

retry_budget::retry_budget(retry_budget_config config) : name_(config.name), policy_(config) {}

void retry_budget::deposit(time_point now) {
  std::lock_guard lock(mutex_);
  policy_.deposit(now);
  ++requests_;
}

bool retry_budget::withdraw(time_point now) {
  std::lock_guard lock(mutex_);
  if (policy_.withdraw(now)) {
    ++retries_;
    return true;
  }
  ++refused_;
  return false;
}

retry_budget_stats retry_budget::stats(time_point now) const {
  std::lock_guard lock(mutex_);
  return {requests_, retries_, refused_, policy_.window_requests(now), policy_.window_retries(now),
          policy_.allowance(now)};
}

// -- policy -------------------------------------------------------------------

expected<void> retry_policy::validate() const {
  auto bad = [](std::string what) { return error(flow_errc::invalid_request, "retry policy: " + what); };
  if (max_attempts == 0) return bad("max_attempts must be at least 1 (the first attempt counts)");
  if (first_backoff < std::chrono::nanoseconds::zero()) return bad("first_backoff must not be negative");
  if (max_backoff < first_backoff) {
    return bad(fmt::format("max_backoff ({} ms) is below first_backoff ({} ms)", as_ms(max_backoff),
                           as_ms(first_backoff)));
  }
  if (max_backoff > std::chrono::nanoseconds::max() / 4) return bad("max_backoff is too large to jitter");
  if (!(jitter >= 0.0 && jitter <= 1.0)) return bad(fmt::format("jitter must be in [0, 1] (got {})", jitter));
  return {};
}

// -- retry() ------------------------------------------------------------------

namespace detail {

retry_run::retry_run(context& self, const retry_policy& policy, const deadline& due, const cancel_token& cancel)
    : self_(self), policy_(policy), due_(due), cancel_(cancel) {}

double retry_run::unit_random() {
  if (policy_.random) return policy_.random();
  if (!prng_) prng_.emplace(std::random_device{}());
  return std::uniform_real_distribution<double>(0.0, 1.0)(*prng_);
}

std::optional<error> retry_run::start() {
  if (auto ok = policy_.validate(); !ok) return ok.error();
  const auto now = self_.system().clock().now();
  if (due_.expired(now)) {
    return error(flow_errc::deadline_exceeded,
                 fmt::format("retry: the deadline passed {} ms before the first attempt; nothing was tried",
                             as_ms(now - due_.when())));
  }
  if (cancel_.cancelled()) return error(flow_errc::cancelled, "retry: cancelled before the first attempt");
  if (policy_.budget) policy_.budget->deposit(now);
  return std::nullopt;
}

std::optional<error> retry_run::after_failure(std::uint32_t n, const error& last) {
  const bool retryable = policy_.retryable ? policy_.retryable(last) : retryable_by_default(last);
  if (!retryable) return last;
  const std::string last_text = last.to_string();
  if (n >= policy_.max_attempts) {
    return error(flow_errc::retries_exhausted,
                 fmt::format("retry: all {} attempt(s) failed; last error: {}", n, last_text));
  }
  const sup::backoff_policy curve{.min_delay = policy_.first_backoff, .max_delay = policy_.max_backoff,
                                  .jitter = policy_.jitter};
  const auto delay = sup::backoff_delay(n - 1, curve, unit_random());
  const auto now = self_.system().clock().now();
  if (!due_.is_never() && delay >= due_.remaining(now)) {
    return error(flow_errc::deadline_exceeded,
                 fmt::format("retry: attempt {} would start in {} ms, after the deadline ({} ms left); {} attempt(s) "
                             "made; last error: {}",
                             n + 1, as_ms(delay), as_ms(due_.remaining(now)), n, last_text));
  }
  if (cancel_.cancelled()) {
    return error(flow_errc::cancelled,
                 fmt::format("retry: cancelled after {} attempt(s); last error: {}", n, last_text));
  }
  if (policy_.budget && !policy_.budget->withdraw(now)) {
    const auto s = policy_.budget->stats(now);
    return error(flow_errc::retry_budget_exhausted,
                 fmt::format("retry: retry budget '{}' allows no retry now ({} retries for {} requests in its window, "
                             "{:.1f} allowed); {} attempt(s) made; last error: {}",
                             policy_.budget->name(), s.window_retries, s.window_requests, s.window_allowance, n,
                             last_text));
  }
  if (!clock_sleep_for(self_, delay, cancel_)) {
    return error(flow_errc::cancelled,
                 fmt::format("retry: cancelled during the backoff after {} attempt(s); last error: {}", n, last_text));
  }
  return std::nullopt;
}

}  // namespace detail

}  // namespace weft::actors
