// Token bucket, shared rate limiter, and the rate_limited forwarder
// (rate_limiter.hpp).

#include <weft/actors/rate_limiter.hpp>

#include <weft/actors/detail/forward.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace weft::actors {

namespace {

// Below this, a shortfall is floating-point noise, not a missing token
// (a reservation's wait is rounded up to whole nanoseconds, so the bucket
// holds at least what was reserved when the wait ends, up to rounding).
constexpr double token_epsilon = 1e-9;

std::int64_t as_us(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

std::string describe(const token_bucket_config& c) {
  return fmt::format("{} per {} ms, burst {}", c.rate,
                     std::chrono::duration_cast<std::chrono::duration<double, std::milli>>(c.per).count(), c.burst);
}

}  // namespace

// -- token_bucket_config ------------------------------------------------------

expected<void> token_bucket_config::validate() const {
  if (!(rate > 0) || !std::isfinite(rate)) {
    return error(
        flow_errc::invalid_request,
        fmt::format("token bucket: rate must be a positive, finite number of tokens per period (got {})", rate));
  }
  if (per <= std::chrono::nanoseconds::zero()) {
    return error(flow_errc::invalid_request,
                 fmt::format("token bucket: per must be a positive duration (got {} ns)", per.count()));
  }
  if (!(burst >= 1) || !std::isfinite(burst)) {
    return error(flow_errc::invalid_request,
                 fmt::format("token bucket: burst must be finite and at least 1 token (got {}): a smaller bucket "
                             "never holds a whole token",
                             burst));
  }
  return {};
}

// -- token_bucket -------------------------------------------------------------

token_bucket::token_bucket(const token_bucket_config& config, time_point now)
    : config_(config), per_ns_(0), tokens_(config.burst), last_(now) {
  if (auto ok = config.validate(); !ok) throw std::invalid_argument(std::string(ok.error().detail()));
  per_ns_ = config.rate / static_cast<double>(config.per.count());
}

void token_bucket::refill(time_point now) noexcept {
  // A clock read before the last one (two callers racing to the lock with
  // their `now`) adds nothing and does not move `last_` back.
  if (now <= last_) return;
  // In double: an idle of centuries times any rate stays finite, and the
  // cap applies before the value is used.
  const double elapsed_ns = static_cast<double>((now - last_).count());
  tokens_ = std::min(config_.burst, tokens_ + elapsed_ns * per_ns_);
  last_ = now;
}

double token_bucket::available(time_point now) {
  refill(now);
  return tokens_;
}

bool token_bucket::try_take(time_point now, double n) {
  if (n <= 0) return true;
  refill(now);
  if (tokens_ + token_epsilon < n) return false;
  tokens_ -= n;
  return true;
}

token_bucket::duration token_bucket::time_until(time_point now, double n) {
  refill(now);
  const double shortfall = n - tokens_;
  if (shortfall <= token_epsilon) return duration::zero();
  const double ns = std::ceil(shortfall / per_ns_);
  if (ns >= static_cast<double>(std::numeric_limits<duration::rep>::max())) return duration::max();
  return duration(static_cast<duration::rep>(ns));
}

std::optional<token_bucket::duration> token_bucket::reserve(time_point now, double n, duration max_wait) {
  const duration wait = time_until(now, n);
  if (wait > max_wait) return std::nullopt;
  tokens_ -= n;
  return wait;
}

void token_bucket::refund(time_point now, double n) {
  refill(now);
  tokens_ = std::min(config_.burst, tokens_ + std::max(n, 0.0));
}

std::string_view to_string(on_empty e) noexcept {
  switch (e) {
    case on_empty::wait:
      return "wait";
    case on_empty::drop:
      return "drop";
    case on_empty::reject:
      return "reject";
  }
  return "unknown";
}

// -- rate_limiter -------------------------------------------------------------

rate_limiter::rate_limiter(token_bucket_config limit, std::string name) : limit_(limit), name_(std::move(name)) {
  if (auto ok = limit_.validate(); !ok) {
    throw std::invalid_argument(fmt::format("rate limiter '{}': {}", name_, ok.error().detail()));
  }
}

token_bucket& rate_limiter::bucket_at(weft::clock::time_point now) {
  if (!bucket_) bucket_.emplace(limit_, now);
  return *bucket_;
}

expected<bool> rate_limiter::acquire(context& self, acquire_options options) {
  const auto now = self.system().clock().now();
  const double n = options.tokens;
  token_bucket::duration wait{};
  {
    std::lock_guard lock(mutex_);
    token_bucket& bucket = bucket_at(now);
    if (std::isnan(n) || n > limit_.burst) {
      ++stats_.invalid;
      return error(flow_errc::invalid_request,
                   fmt::format("rate limiter '{}': {} tokens asked, more than its burst of {}: they could never be "
                               "granted; ask for at most {} at a time",
                               name_, n, limit_.burst, limit_.burst));
    }
    if (bucket.try_take(now, n)) {
      ++stats_.admitted;
      return true;
    }
    switch (options.when_empty) {
      case on_empty::drop:
        ++stats_.dropped;
        return false;
      case on_empty::reject:
        ++stats_.rejected;
        return error(flow_errc::rate_limited,
                     fmt::format("rate limiter '{}' ({}): {} tokens asked, {:.3f} free; refused (next in {} us)", name_,
                                 describe(limit_), n, std::max(bucket.available(now), 0.0),
                                 as_us(bucket.time_until(now, n))));
      case on_empty::wait:
        break;
    }
    const auto left = options.due.remaining(now);
    const auto reserved = bucket.reserve(now, n, left);
    if (!reserved) {
      ++stats_.expired;
      return error(flow_errc::deadline_exceeded,
                   fmt::format("rate limiter '{}' ({}): {} tokens would be free in {} us, after the caller's deadline "
                               "({} us left); nothing taken",
                               name_, describe(limit_), n, as_us(bucket.time_until(now, n)), as_us(left)));
    }
    wait = *reserved;
    ++stats_.admitted;
    if (wait > token_bucket::duration::zero()) ++stats_.waited;
  }
  if (wait <= token_bucket::duration::zero()) return true;
  // Stopped while waiting (the actor is exiting: its stack unwinds through
  // here), the caller will not use its tokens: give them back.
  struct refund_on_unwind {
    rate_limiter& limiter;
    context& self;
    double n;
    bool done = false;
    ~refund_on_unwind() {
      if (done) return;
      std::lock_guard lock(limiter.mutex_);
      limiter.bucket_->refund(self.system().clock().now(), n);
      --limiter.stats_.admitted;
      --limiter.stats_.waited;
    }
  } guard{*this, self, n};
  clock_sleep_for(self, wait);
  guard.done = true;
  return true;
}

bool rate_limiter::try_acquire(context& self, double tokens) {
  auto r = acquire(self, {.tokens = tokens, .when_empty = on_empty::drop});
  return r && *r;
}

double rate_limiter::available(context& self) {
  const auto now = self.system().clock().now();
  std::lock_guard lock(mutex_);
  return bucket_at(now).available(now);
}

rate_limiter_stats rate_limiter::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

// -- admission ----------------------------------------------------------------

expected<void> admission_options::validate() const {
  if (auto ok = limit.validate(); !ok) {
    return error(flow_errc::invalid_request, fmt::format("rate_limited '{}': {}", name, ok.error().detail()));
  }
  if (max_wait < std::chrono::nanoseconds::zero()) {
    return error(flow_errc::invalid_request,
                 fmt::format("rate_limited '{}': max_wait must not be negative (got {} ns)", name, max_wait.count()));
  }
  return {};
}

namespace detail {

admission_state::admission_state(admission_options o, weft::clock::time_point now)
    : options(std::move(o)), bucket(options.limit, now) {}

bool admit(context& self, admission_state& state, std::string_view message_type) {
  const auto now = self.system().clock().now();
  if (state.bucket.try_take(now, 1)) return true;
  const admission_options& o = state.options;
  switch (o.when_empty) {
    case on_empty::drop:
      ++state.stats.dropped;
      self.reply(error(flow_errc::rate_limited,
                       fmt::format("{} ({}): {} dropped, no token free", o.name, describe(o.limit), message_type)));
      return false;
    case on_empty::reject:
      ++state.stats.rejected;
      self.reply(error(flow_errc::rate_limited,
                       fmt::format("{} ({}): {} rejected, no token free (next in {} us)", o.name, describe(o.limit),
                                   message_type, as_us(state.bucket.time_until(now, 1)))));
      return false;
    case on_empty::wait:
      break;
  }
  const auto wait = state.bucket.reserve(now, 1, o.max_wait);
  if (!wait) {
    ++state.stats.rejected;
    self.reply(error(flow_errc::rate_limited,
                     fmt::format("{} ({}): {} rejected, its token would come in {} us, later than max_wait {} us",
                                 o.name, describe(o.limit), message_type, as_us(state.bucket.time_until(now, 1)),
                                 as_us(o.max_wait))));
    return false;
  }
  // The forwarder handles one message at a time, so while it sleeps here
  // the messages behind this one wait in its mailbox, in order.
  clock_sleep_for(self, *wait);
  ++state.stats.waited;
  return true;
}

void forward(context& self, admission_state& state, const pid& target) {
  if (forward_current(self, target) == send_status::ok) {
    ++state.stats.forwarded;
  } else {
    ++state.stats.failed;
  }
}

}  // namespace detail

}  // namespace weft::actors
