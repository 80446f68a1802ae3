#pragma once
// Rate limiting with a token bucket: a shared limiter that actors consult
// before doing work, and the same limit applied to the messages of an
// actor (admission in front of its mailbox).
//
// Three layers, each usable alone:
//
//   token_bucket      the pure policy: `rate` tokens per `per` flow into a
//                     bucket of `burst`; taking n needs n in it. Fractional
//                     tokens, refill computed from the clock's now() on
//                     each use (no timer), no overflow after any idle.
//   rate_limiter      a thread-safe bucket any number of actors share; each
//                     caller chooses what happens when it is empty:
//                       on_empty::wait    suspend the caller (its fiber) on
//                                         the runtime clock until its tokens
//                                         are there, or fail at once with
//                                         deadline_exceeded if they would
//                                         come after its deadline
//                       on_empty::drop    answer `false`: the caller drops
//                                         its work; counted
//                       on_empty::reject  answer flow_errc::rate_limited
//   rate_limited<P>   an actor speaking P in front of a ref<P>: every
//                     message takes a token first, with the same three
//                     choices, counted, and is then forwarded; a request's
//                     answer comes from the target itself.
//
// How a waiting caller is released (rate_limiter, on_empty::wait):
//
//   caller                          rate_limiter                  runtime clock
//   ------                          ------------                  -------------
//   acquire(self, {.tokens = 2}) -> lock; refill to now;
//                                   enough and nobody waiting:
//                                     take them, return true
//                                   else reserve them (the bucket
//                                   goes into debt) and compute
//                                   when the debt is repaid: d
//                                   d past the deadline: undo,
//                                     return deadline_exceeded
//   clock_sleep_for(self, d) -------------------------------------> timer after d
//   ...other actors run...                                          fires (a manual_clock:
//   <- woken: return true                                           from advance())
//
// Reserving instead of polling makes waiters first come, first served: a
// later caller's reservation is behind the earlier ones', and a drop or
// reject caller finds the bucket in debt (empty) while anyone waits.
//
// Time: every decision reads the runtime clock of the calling actor
// (self.system().clock().now()); waits are timers on it. All callers of
// one limiter must belong to one runtime. A rate_limiter starts full at
// its first use.
//
// Thread safety: token_bucket is owner-only (not synchronised).
// rate_limiter: any actor, through its own context (acquire suspends that
// actor). rate_limited<P> is an actor definition.

#include <weft/actors/deadline.hpp>
#include <weft/actors/flow_error.hpp>
#include <weft/runtime/behavior.hpp>
#include <weft/runtime/clock.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/expected.hpp>
#include <weft/runtime/protocol.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace weft::actors {

// `rate` tokens per `per` flow into a bucket that holds at most `burst`.
// `{.rate = 100, .burst = 20}` is 100 per second with bursts of 20.
struct token_bucket_config {
  double rate = 0;
  std::chrono::nanoseconds per = std::chrono::seconds(1);
  double burst = 0;

  // rate > 0 and finite, per > 0, burst >= 1 and finite; else
  // flow_errc::invalid_request saying which field is wrong.
  expected<void> validate() const;
};

// The pure policy. Owner-only.
class token_bucket {
 public:
  using time_point = weft::clock::time_point;
  using duration = weft::clock::duration;

  // Starts full at `now`. Throws std::invalid_argument (validate()'s text)
  // for a bad config.
  token_bucket(const token_bucket_config& config, time_point now);

  // Tokens in the bucket at `now`: fractional, at most burst; negative
  // while reservations are being repaid.
  double available(time_point now);
  // Takes n if n are there at `now` (n <= 0 always succeeds).
  bool try_take(time_point now, double n);
  // Takes n now even if that puts the bucket into debt, and returns how
  // long until the debt is repaid (zero if n were there): the caller may
  // go ahead after that long. Takes nothing and returns nullopt if that
  // would be longer than `max_wait`. Precondition: n <= burst.
  std::optional<duration> reserve(time_point now, double n, duration max_wait);
  // Puts back n tokens taken by a reservation that will not be used
  // (never more than burst).
  void refund(time_point now, double n);
  // How long from `now` until n tokens are there (zero if they are).
  duration time_until(time_point now, double n);

  const token_bucket_config& config() const noexcept { return config_; }

 private:
  void refill(time_point now) noexcept;

  token_bucket_config config_;
  double per_ns_;  // tokens per nanosecond
  double tokens_;
  time_point last_;
};

// What a caller wants when the bucket is empty (see the header comment).
enum class on_empty : std::uint8_t { wait, drop, reject };
std::string_view to_string(on_empty e) noexcept;

struct acquire_options {
  double tokens = 1;
  on_empty when_empty = on_empty::wait;
  // on_empty::wait only: give up (at once) if the tokens would come later.
  deadline due = {};
};

struct rate_limiter_stats {
  std::uint64_t admitted = 0;  // at once or after a wait
  std::uint64_t waited = 0;    // of those, after a wait
  std::uint64_t dropped = 0;   // on_empty::drop, answered false
  std::uint64_t rejected = 0;  // on_empty::reject, answered rate_limited
  std::uint64_t expired = 0;   // on_empty::wait, past the deadline: deadline_exceeded
  std::uint64_t invalid = 0;   // more tokens than the burst: invalid_request
};

// A token bucket shared by actors. Not copyable: share it by reference
// (a member of something longer-lived) or through a shared_ptr.
class rate_limiter {
 public:
  // Throws std::invalid_argument for a bad config (token_bucket_config::
  // validate). `name` appears in error texts.
  explicit rate_limiter(token_bucket_config limit, std::string name = "rate limiter");
  rate_limiter(const rate_limiter&) = delete;
  rate_limiter& operator=(const rate_limiter&) = delete;

  // -- any actor, through its own context ----------------------------------

  // Takes options.tokens. true: taken (at once, or after suspending the
  // caller on the runtime clock under on_empty::wait). false: empty and
  // on_empty::drop. Errors: rate_limited (on_empty::reject),
  // deadline_exceeded (on_empty::wait, the tokens would come after
  // options.due; nothing is taken), invalid_request (more tokens than the
  // burst: they could never come). A caller stopped while it waits gives
  // its tokens back.
  expected<bool> acquire(context& self, acquire_options options = {});
  // on_empty::drop: whether `tokens` were taken, never waits.
  bool try_acquire(context& self, double tokens = 1);
  // Tokens in the bucket now (negative while callers wait).
  double available(context& self);

  // -- any thread ----------------------------------------------------------
  rate_limiter_stats stats() const;
  const std::string& name() const noexcept { return name_; }

 private:
  token_bucket& bucket_at(weft::clock::time_point now);

  const token_bucket_config limit_;
  const std::string name_;
  mutable std::mutex mutex_;
  std::optional<token_bucket> bucket_;  // made at the first use: it starts full then
  rate_limiter_stats stats_;
};

// -- admission in front of an actor -------------------------------------------

struct admission_options {
  token_bucket_config limit{};
  on_empty when_empty = on_empty::wait;
  // on_empty::wait: a message that would wait longer is rejected instead.
  std::chrono::nanoseconds max_wait = std::chrono::seconds(1);
  // rejected/dropped requests are answered with flow_errc::rate_limited
  // naming this.
  std::string name = "rate_limited";

  expected<void> validate() const;
};

struct admission_stats {
  std::uint64_t forwarded = 0;  // passed on to the target
  std::uint64_t waited = 0;     // of those, after a wait (on_empty::wait)
  std::uint64_t dropped = 0;    // on_empty::drop
  std::uint64_t rejected = 0;   // on_empty::reject, or a wait longer than max_wait
  std::uint64_t failed = 0;     // admitted but the target could not take it (exited, full)
};

// Asks a rate_limited actor for its counters.
struct get_admission_stats {};

// What a rate_limited<P> actor speaks: P, and its counters. Its ref
// converts to ref<P>.
template <class P>
using rate_limited_protocol = extend<P, admission_stats(get_admission_stats)>;

namespace detail {

// The forwarder's own state (one actor: owner-only, no lock).
struct admission_state {
  admission_state(admission_options o, weft::clock::time_point now);
  admission_options options;
  token_bucket bucket;
  admission_stats stats;
};

// Whether the message being handled now may go on: takes a token, waiting
// on the clock under on_empty::wait; counts; answers a refused request
// with rate_limited. Owner-only (the forwarder).
bool admit(context& self, admission_state& state, std::string_view message_type);
// Hands the message being handled now on to `target` as its sender sent
// it (detail/forward.hpp: a request keeps its asker, who is answered by
// `target`); counts it as forwarded, or as failed if `target` could not
// take it (a request is then answered with the reason).
void forward(context& self, admission_state& state, const pid& target);

template <class M>
auto admission_handler(context& self, const std::shared_ptr<admission_state>& state, const pid& target) {
  // By const reference: the message is never moved out of its envelope,
  // which goes on to the target as it is.
  return [&self, state, target](const M&) {
    if (admit(self, *state, weft::detail::type_name_of<M>())) forward(self, *state, target);
  };
}

template <class P, class... S>
behavior_of<rate_limited_protocol<P>> admission_behavior(context& self, const std::shared_ptr<admission_state>& state,
                                                         const pid& target, weft::detail::type_list<S...>) {
  return {admission_handler<typename weft::detail::signature_traits<S>::message>(self, state, target)...,
          [state](get_admission_stats) { return state->stats; }};
}

}  // namespace detail

// An actor definition: spawn it to put the limit in front of `target`.
// Messages queue in the limiter's mailbox in arrival order; each takes one
// token, then goes to `target` (a blocking send: a full target slows the
// limiter, and its own mailbox fills, under the usual overflow policy).
// When the bucket is empty:
//   wait    the limiter holds this message, and so the ones behind it,
//           until its token comes (on the runtime clock): shaping. One that
//           would wait longer than max_wait is rejected.
//   drop    the message is discarded and counted.
//   reject  the message is refused and counted.
// A request dropped or rejected is answered at once with
// flow_errc::rate_limited (every request gets an answer); for a plain
// message drop and reject differ only in which counter counts it. A
// sender that must know synchronously uses a rate_limiter (acquire with
// on_empty::reject) before sending, or asks.
// Throws std::invalid_argument here, at the call, for bad options.
//
//   auto limited = rt.spawn(weft::actors::rate_limited(db, {.limit = {.rate = 50, .burst = 10}}));
//   self.ask(limited, query{...});   // answered by db
template <class P>
auto rate_limited(ref<P> target, admission_options options) {
  if (auto ok = options.validate(); !ok) throw std::invalid_argument(std::string(ok.error().detail()));
  return [target, options](context& self) -> behavior_of<rate_limited_protocol<P>> {
    auto state = std::make_shared<detail::admission_state>(options, self.system().clock().now());
    self.set_label(options.name);
    return detail::admission_behavior<P>(self, state, target.to_pid(), weft::detail::signatures_of<P>{});
  };
}

}  // namespace weft::actors
