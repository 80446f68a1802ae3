// Circuit breaker: the pure state machine and the thread-safe object
// around it (circuit_breaker.hpp).
//
// breaker_policy's bookkeeping, and why each part exists:
//   1. epoch_ grows at every state change. A permit carries the epoch it
//      was admitted in; record() ignores outcomes from another epoch, so a
//      call admitted while closed that ends during half-open is never
//      taken for the probe's verdict, and a probe cut off by an operator's
//      force does not close the breaker behind the operator's back.
//   2. probe_in_flight_ is set when the one half-open probe is admitted and
//      cleared by its outcome (or any state change): the "exactly one
//      probe" rule. A permit's destructor settles an abandoned probe as a
//      failure, so the flag cannot stay set for ever.
//   3. Counts (the streak and the window) are cleared whenever the
//      breaker opens or closes: a breaker that closes after a successful
//      probe judges the dependency afresh, not by the failures that opened
//      it.
//   4. opens_in_a_row_ counts opens with no close in between and picks
//      the open interval on the supervisor's backoff curve; a successful
//      probe or a released force resets it.

#include <weft/actors/circuit_breaker.hpp>

#include <weft/supervisor/backoff.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace weft::actors {

namespace {

std::int64_t as_ms(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace

std::string_view to_string(breaker_state s) noexcept {
  switch (s) {
    case breaker_state::closed:
      return "closed";
    case breaker_state::open:
      return "open";
    case breaker_state::half_open:
      return "half-open";
  }
  return "unknown";
}

std::string_view to_string(breaker_force f) noexcept {
  switch (f) {
    case breaker_force::none:
      return "none";
    case breaker_force::open:
      return "forced open";
    case breaker_force::closed:
      return "forced closed";
  }
  return "unknown";
}

std::string_view to_string(breaker_cause c) noexcept {
  switch (c) {
    case breaker_cause::consecutive_failures:
      return "consecutive failures";
    case breaker_cause::failure_rate:
      return "failure rate";
    case breaker_cause::interval_elapsed:
      return "open interval elapsed";
    case breaker_cause::probe_succeeded:
      return "probe succeeded";
    case breaker_cause::probe_failed:
      return "probe failed";
    case breaker_cause::forced_open:
      return "forced open";
    case breaker_cause::forced_closed:
      return "forced closed";
    case breaker_cause::force_released:
      return "force released";
  }
  return "unknown";
}

// -- config -------------------------------------------------------------------

expected<void> circuit_breaker_config::validate() const {
  auto bad = [this](std::string what) {
    return error(flow_errc::invalid_request, fmt::format("circuit breaker '{}': {}", name, what));
  };
  if (!(failure_rate >= 0.0 && failure_rate <= 1.0)) {
    return bad(fmt::format("failure_rate must be in [0, 1], 0 to turn it off (got {})", failure_rate));
  }
  if (consecutive_failures == 0 && failure_rate == 0.0) {
    return bad("nothing would ever trip it: set consecutive_failures or failure_rate");
  }
  if (failure_rate > 0.0) {
    if (min_calls == 0) return bad("min_calls must be at least 1 when failure_rate is on");
    if (window == breaker_window::count) {
      if (window_calls == 0) return bad("window_calls must be at least 1");
      if (min_calls > window_calls) {
        return bad(fmt::format("min_calls ({}) is above window_calls ({}): the rate would never be judged", min_calls,
                               window_calls));
      }
    } else {
      if (window_span <= std::chrono::nanoseconds::zero()) return bad("window_span must be positive");
      if (window_slots == 0) return bad("window_slots must be at least 1");
      if (window_span.count() < static_cast<std::int64_t>(window_slots)) {
        return bad("window_span must be at least window_slots nanoseconds");
      }
    }
  }
  if (slow_call <= std::chrono::nanoseconds::zero()) {
    return bad("slow_call must be positive (nanoseconds::max() turns it off)");
  }
  if (open_min <= std::chrono::nanoseconds::zero()) return bad("open_min must be positive");
  if (open_max < open_min) {
    return bad(fmt::format("open_max ({} ms) is below open_min ({} ms)", as_ms(open_max), as_ms(open_min)));
  }
  if (!(jitter >= 0.0 && jitter <= 1.0)) return bad(fmt::format("jitter must be in [0, 1] (got {})", jitter));
  if (open_max > std::chrono::nanoseconds::max() / 4) {
    return bad("open_max is too large: the jittered interval would not fit in nanoseconds");
  }
  return {};
}

// -- breaker_policy -----------------------------------------------------------

breaker_policy::breaker_policy(const circuit_breaker_config& config)
    : config_(config),
      time_window_(config.window_span > duration::zero() ? config.window_span : duration(1),
                   std::max<std::uint32_t>(config.window_slots, 1)) {
  if (auto ok = config.validate(); !ok) throw std::invalid_argument(std::string(ok.error().detail()));
  // Only the numbers are the policy's business.
  config_.is_failure = nullptr;
  config_.random = nullptr;
  if (config.window == breaker_window::count) ring_.assign(config.window_calls, 0);
}

void breaker_policy::clear_counts() {
  consecutive_ = 0;
  std::fill(ring_.begin(), ring_.end(), 0);
  ring_next_ = 0;
  ring_filled_ = 0;
  ring_failures_ = 0;
  time_window_.clear();
}

breaker_transition breaker_policy::move_to(time_point now, breaker_state to, breaker_cause cause, double unit_random) {
  breaker_transition t;
  t.breaker = config_.name;
  t.from = state_;
  t.to = to;
  t.cause = cause;
  t.at = now;
  state_ = to;
  ++epoch_;
  probe_in_flight_ = false;
  if (to == breaker_state::open && cause != breaker_cause::forced_open) {
    ++opens_in_a_row_;
    const sup::backoff_policy curve{.min_delay = config_.open_min, .max_delay = config_.open_max,
                                    .jitter = config_.jitter};
    t.open_for = sup::backoff_delay(opens_in_a_row_ - 1, curve, unit_random);
    open_until_ = now + t.open_for;
    opened_by_ = cause;
  }
  if (to == breaker_state::open) t.opens_in_a_row = opens_in_a_row_;
  if (to == breaker_state::closed) opens_in_a_row_ = 0;
  if (to != breaker_state::half_open) clear_counts();
  return t;
}

std::optional<breaker_transition> breaker_policy::refresh(time_point now) {
  if (forced_ == breaker_force::none && state_ == breaker_state::open && now >= open_until_) {
    return move_to(now, breaker_state::half_open, breaker_cause::interval_elapsed, 0.0);
  }
  return std::nullopt;
}

breaker_policy::admission breaker_policy::admit(time_point now) {
  admission a;
  a.transition = refresh(now);
  a.epoch = epoch_;
  if (forced_ == breaker_force::open) return a;
  switch (state_) {
    case breaker_state::closed:
      a.admitted = true;
      break;
    case breaker_state::open:
      a.retry_in = open_until_ - now;
      break;
    case breaker_state::half_open:
      if (!probe_in_flight_) {
        probe_in_flight_ = true;
        a.admitted = true;
        a.probe = true;
      }
      break;
  }
  return a;
}

std::optional<breaker_cause> breaker_policy::trip_reason(time_point now) const {
  if (config_.consecutive_failures > 0 && consecutive_ >= config_.consecutive_failures) {
    return breaker_cause::consecutive_failures;
  }
  if (config_.failure_rate > 0.0) {
    const auto [calls, failures] = window_counts(now);
    if (calls >= config_.min_calls &&
        static_cast<double>(failures) >= config_.failure_rate * static_cast<double>(calls)) {
      return breaker_cause::failure_rate;
    }
  }
  return std::nullopt;
}

std::optional<breaker_transition> breaker_policy::record(time_point now, const admission& a, bool failed,
                                                         duration latency, double unit_random) {
  if (!a.admitted) return std::nullopt;
  if (a.epoch != epoch_) {
    ++ignored_;
    return std::nullopt;
  }
  if (latency >= config_.slow_call) failed = true;
  if (forced_ != breaker_force::none) return std::nullopt;
  if (a.probe) {
    probe_in_flight_ = false;
    return failed ? move_to(now, breaker_state::open, breaker_cause::probe_failed, unit_random)
                  : move_to(now, breaker_state::closed, breaker_cause::probe_succeeded, unit_random);
  }
  if (state_ != breaker_state::closed) return std::nullopt;
  consecutive_ = failed ? consecutive_ + 1 : 0;
  if (config_.failure_rate > 0.0) {
    if (config_.window == breaker_window::count) {
      if (ring_filled_ == ring_.size()) {
        ring_failures_ -= ring_[ring_next_];
      } else {
        ++ring_filled_;
      }
      ring_[ring_next_] = failed ? 1 : 0;
      ring_failures_ += failed ? 1 : 0;
      ring_next_ = (ring_next_ + 1) % ring_.size();
    } else {
      time_window_.add(now, call_counts{1, failed ? 1U : 0U});
    }
  }
  if (auto cause = trip_reason(now)) return move_to(now, breaker_state::open, *cause, unit_random);
  return std::nullopt;
}

std::optional<breaker_transition> breaker_policy::force(time_point now, breaker_force f) {
  if (f == breaker_force::none) {
    if (forced_ == breaker_force::none) return std::nullopt;
    forced_ = breaker_force::none;
    opens_in_a_row_ = 0;
    return move_to(now, breaker_state::closed, breaker_cause::force_released, 0.0);
  }
  forced_ = f;
  return f == breaker_force::open ? move_to(now, breaker_state::open, breaker_cause::forced_open, 0.0)
                                  : move_to(now, breaker_state::closed, breaker_cause::forced_closed, 0.0);
}

std::pair<std::uint64_t, std::uint64_t> breaker_policy::window_counts(time_point now) const {
  if (config_.window == breaker_window::count) return {ring_filled_, ring_failures_};
  const call_counts c = time_window_.sum(now);
  return {c.calls, c.failures};
}

std::string breaker_policy::refusal(time_point now) const {
  if (forced_ == breaker_force::open) {
    return fmt::format("circuit breaker '{}' is forced open by an operator; calls fail until it is released",
                       config_.name);
  }
  if (state_ == breaker_state::half_open) {
    return fmt::format("circuit breaker '{}' is half-open and its one probe call is in flight; retry after it ends",
                       config_.name);
  }
  return fmt::format("circuit breaker '{}' is open after {} (opened {} time(s) in a row); the next probe is allowed "
                     "in {} ms",
                     config_.name, to_string(opened_by_), opens_in_a_row_,
                     as_ms(std::max(open_until_ - now, duration::zero())));
}

// -- circuit_breaker ----------------------------------------------------------

circuit_breaker::circuit_breaker(circuit_breaker_config config)
    : name_(config.name),
      is_failure_(config.is_failure),
      random_(config.random),
      policy_(config),
      prng_(std::random_device{}()) {}

bool circuit_breaker::counts_as_failure(const error& e) const { return !is_failure_ || is_failure_(e); }

double circuit_breaker::unit_random() {
  if (random_) return random_();
  return std::uniform_real_distribution<double>(0.0, 1.0)(prng_);
}

void circuit_breaker::publish(context& self, const breaker_transition& t) {
  ++stats_.transitions;
  if (t.to == breaker_state::open && t.cause != breaker_cause::forced_open) ++stats_.opened;
  // Sent under the lock, so every subscriber sees the transitions in the
  // order they happened. try_send never waits (a full mailbox refuses).
  for (auto it = subscribers_.begin(); it != subscribers_.end();) {
    const send_status s = self.try_send(*it, t);
    if (s == send_status::dead) {
      it = subscribers_.erase(it);
      continue;
    }
    if (s != send_status::ok) ++stats_.notifications_lost;
    ++it;
  }
}

expected<circuit_breaker::permit> circuit_breaker::try_acquire(context& self) {
  const auto now = self.system().clock().now();
  std::lock_guard lock(mutex_);
  last_now_ = std::max(last_now_, now);
  breaker_policy::admission a = policy_.admit(now);
  if (a.transition) publish(self, *a.transition);
  a.transition.reset();
  if (!a.admitted) {
    ++stats_.rejected;
    return error(flow_errc::circuit_open, policy_.refusal(now));
  }
  ++stats_.admitted;
  if (a.probe) ++stats_.probes;
  return permit(*this, self, std::move(a), now);
}

void circuit_breaker::settle(context& self, const breaker_policy::admission& a, weft::clock::time_point started,
                             bool failed) {
  const auto now = self.system().clock().now();
  const auto latency = now - started;
  std::lock_guard lock(mutex_);
  last_now_ = std::max(last_now_, now);
  const bool slow = latency >= policy_.config().slow_call;
  if (failed || slow) {
    ++stats_.failures;
  } else {
    ++stats_.successes;
  }
  if (slow) ++stats_.slow;
  if (auto t = policy_.record(now, a, failed, latency, unit_random())) publish(self, *t);
}

breaker_state circuit_breaker::state(context& self) {
  const auto now = self.system().clock().now();
  std::lock_guard lock(mutex_);
  last_now_ = std::max(last_now_, now);
  if (auto t = policy_.refresh(now)) publish(self, *t);
  return policy_.state();
}

void circuit_breaker::force(context& self, breaker_force f) {
  const auto now = self.system().clock().now();
  std::lock_guard lock(mutex_);
  last_now_ = std::max(last_now_, now);
  if (auto t = policy_.force(now, f)) publish(self, *t);
}

void circuit_breaker::subscribe(const ref<breaker_events>& subscriber) {
  std::lock_guard lock(mutex_);
  if (std::find(subscribers_.begin(), subscribers_.end(), subscriber) == subscribers_.end()) {
    subscribers_.push_back(subscriber);
  }
}

void circuit_breaker::unsubscribe(const pid& subscriber) {
  std::lock_guard lock(mutex_);
  std::erase_if(subscribers_, [&](const ref<breaker_events>& r) { return r.to_pid() == subscriber; });
}

breaker_stats circuit_breaker::stats() const {
  std::lock_guard lock(mutex_);
  breaker_stats s = stats_;
  s.state = policy_.state();
  s.forced = policy_.forced();
  s.ignored = policy_.ignored();
  s.consecutive_failures = policy_.consecutive_failures();
  const auto [calls, failures] = policy_.window_counts(last_now_);
  s.window_calls = calls;
  s.window_failures = failures;
  s.open_until = policy_.open_until();
  return s;
}

// -- permit -------------------------------------------------------------------

circuit_breaker::permit::permit(permit&& other) noexcept
    : breaker_(std::exchange(other.breaker_, nullptr)),
      self_(other.self_),
      admission_(std::move(other.admission_)),
      started_(other.started_) {}

circuit_breaker::permit::~permit() {
  if (breaker_ == nullptr) return;
  try {
    settle(true);
  } catch (...) {  // NOLINT(bugprone-empty-catch): out of memory while notifying; the outcome is lost, not the actor
  }
}

void circuit_breaker::permit::settle(bool failed) {
  circuit_breaker* b = std::exchange(breaker_, nullptr);
  if (b != nullptr) b->settle(*self_, admission_, started_, failed);
}

}  // namespace weft::actors
