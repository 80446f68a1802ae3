#pragma once
// Circuit breaker: stops calling a dependency that keeps failing, lets one
// probe call through after a while, and closes again when it succeeds.
//
//          failures trip it                interval elapsed
//   closed ─────────────────────> open ─────────────────────> half-open
//     ^   (N in a row, or a        ^   (backoff: longer at     │ exactly one
//     │    failure rate over a     │    each re-open, capped,  │ probe call
//     │    window; slow calls      │    with jitter)           │ goes through;
//     │    are failures)           └───── probe failed ────────┤ the others fail
//     └─────────────────────────────────── probe succeeded ────┘ fast
//
// An operator may force it open (every call fails fast) or closed (every
// call goes through and nothing trips it), and release the force (back to
// closed, from a clean slate). Every change of state is sent as a
// breaker_transition message to the subscribed actors.
//
// Design: a thread-safe object, not an actor. A call runs in the caller's
// own fiber (an ask, a net call, a blocking() call): the breaker only
// decides before it and records after it, under a mutex held for a few
// hundred nanoseconds. So calls in the closed state run in parallel with
// no extra hop and no actor serialising them, the breaker measures the
// call's latency where it happens, and one breaker guards any kind of call
// (Akka's CircuitBreaker makes the same choice). "Exactly one probe" is a
// flag under that mutex. The state logic is breaker_policy: pure, no
// lock, no clock, tested alone. Time comes from the calling actor's
// runtime clock (self.system().clock().now()); open → half-open happens at
// the first call (or state() query) after the interval, without a timer
// (Resilience4j's default), so a breaker nobody calls stays open quietly.
//
//   caller (any actor)                 circuit_breaker
//   ------------------                 ---------------
//   breaker.call(self, fn) ----------> lock; policy.admit(now):
//                                        refused -> flow_errc::circuit_open,
//                                        fn is not called
//                                        admitted (maybe as the probe);
//                                        transitions sent to subscribers
//   fn() runs in the caller's fiber
//   its result, latency ------------> lock; policy.record(...): may trip
//                                      or close; subscribers told
//   <- fn's result
//
// A call's outcome counts only in the state period it was admitted in: a
// slow call admitted while closed that ends after the breaker opened is
// not a verdict on the probe.
//
// Thread safety: breaker_policy is owner-only. circuit_breaker: any actor
// through its own context; stats() and subscribe() from any thread. A
// permit stays with the actor that took it.

#include <weft/actors/detail/time_window.hpp>
#include <weft/actors/flow_error.hpp>
#include <weft/runtime/clock.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/expected.hpp>
#include <weft/runtime/protocol.hpp>
#include <weft/runtime/runtime.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace weft::actors {

enum class breaker_state : std::uint8_t { closed, open, half_open };
std::string_view to_string(breaker_state s) noexcept;

// An operator's override.
enum class breaker_force : std::uint8_t { none, open, closed };
std::string_view to_string(breaker_force f) noexcept;

// Why the state changed.
enum class breaker_cause : std::uint8_t {
  consecutive_failures,  // closed -> open: N failures in a row
  failure_rate,          // closed -> open: the window's failure rate
  interval_elapsed,      // open -> half-open
  probe_succeeded,       // half-open -> closed
  probe_failed,          // half-open -> open (a longer interval)
  forced_open,           // an operator forced it open
  forced_closed,         // an operator forced it closed
  force_released,        // an operator released the force: closed, clean slate
};
std::string_view to_string(breaker_cause c) noexcept;

// How the failure rate is measured.
enum class breaker_window : std::uint8_t {
  count,  // the last window_calls calls
  time,   // the calls of the last window_span (in window_slots buckets)
};

struct circuit_breaker_config {
  // Names the breaker in errors and notifications.
  std::string name = "circuit breaker";
  // Trips after this many failures in a row (0: streaks never trip it).
  std::uint32_t consecutive_failures = 5;
  // Trips when at least this fraction of the window's calls failed, once
  // the window holds min_calls calls (0: the rate never trips it).
  double failure_rate = 0.5;
  std::uint32_t min_calls = 20;
  breaker_window window = breaker_window::count;
  std::uint32_t window_calls = 100;
  std::chrono::nanoseconds window_span = std::chrono::seconds(60);
  std::uint32_t window_slots = 10;
  // A call that takes at least this long is a failure whatever it returned
  // (its caller still gets its result). max(): off.
  std::chrono::nanoseconds slow_call = std::chrono::nanoseconds::max();
  // The n-th time it opens without closing in between (n = 1, 2, ...), it
  // stays open min(open_max, open_min * 2^(n-1)) * (1 + jitter * u), u
  // uniform in [0, 1): the supervisor's backoff curve (weft/supervisor/
  // backoff.hpp), jitter after the cap, so many breakers that opened
  // together do not probe in lock step.
  std::chrono::nanoseconds open_min = std::chrono::seconds(1);
  std::chrono::nanoseconds open_max = std::chrono::seconds(60);
  double jitter = 0.2;
  // Which errors are failures of the dependency (unset: every error). An
  // error it says is not (a "not found") counts as a success.
  std::function<bool(const error&)> is_failure{};
  // u in [0, 1) for the jitter (unset: a per-breaker generator). Called
  // under the breaker's lock: must not call the breaker.
  std::function<double()> random{};

  // Errors (invalid_request) name the field: a rate outside [0, 1], no trip
  // rule at all, min_calls above window_calls, a zero window, open_max
  // below open_min, jitter outside [0, 1], open_max too large to jitter.
  expected<void> validate() const;
};

// The message subscribers get at every change of state.
struct breaker_transition {
  std::string breaker{};
  breaker_state from = breaker_state::closed;
  breaker_state to = breaker_state::closed;
  breaker_cause cause = breaker_cause::consecutive_failures;
  weft::clock::time_point at{};
  // to == open, not forced: how long until a probe may go.
  std::chrono::nanoseconds open_for{0};
  // to == open: how many times it opened without closing in between.
  std::uint32_t opens_in_a_row = 0;
};
// What a subscriber speaks (at least).
using breaker_events = weft::protocol<void(breaker_transition)>;

// -- the pure policy ----------------------------------------------------------

// The state machine alone: no lock, no clock (every call is told `now`),
// no randomness (told u). Owner-only.
class breaker_policy {
 public:
  using time_point = weft::clock::time_point;
  using duration = std::chrono::nanoseconds;

  // Throws std::invalid_argument (validate()'s text) for a bad config.
  explicit breaker_policy(const circuit_breaker_config& config);

  struct admission {
    bool admitted = false;
    bool probe = false;
    // The state period the call belongs to (see record()).
    std::uint64_t epoch = 0;
    // Open (not forced) and refused: how long until a probe may go.
    duration retry_in{0};
    // The state change this admission caused (open -> half-open).
    std::optional<breaker_transition> transition{};
  };

  // A call wants to start at `now`.
  admission admit(time_point now);
  // The outcome of a call admitted with `a`: `failed` is the call's own
  // verdict; a latency of slow_call or more makes it a failure too.
  // `unit_random` jitters a new open interval. An outcome from an earlier
  // state period is ignored (returns nullopt, ignored() counts it).
  std::optional<breaker_transition> record(time_point now, const admission& a, bool failed, duration latency,
                                           double unit_random);
  // The operator's override; breaker_force::none releases it (to closed,
  // counts and backoff cleared). Returns the transition (also when the
  // state stays, e.g. closed -> forced closed: subscribers learn of it).
  std::optional<breaker_transition> force(time_point now, breaker_force f);
  // Applies a due open -> half-open without admitting anything.
  std::optional<breaker_transition> refresh(time_point now);

  breaker_state state() const noexcept { return state_; }
  breaker_force forced() const noexcept { return forced_; }
  time_point open_until() const noexcept { return open_until_; }
  bool probe_in_flight() const noexcept { return probe_in_flight_; }
  std::uint32_t consecutive_failures() const noexcept { return consecutive_; }
  std::uint32_t opens_in_a_row() const noexcept { return opens_in_a_row_; }
  std::uint64_t ignored() const noexcept { return ignored_; }
  // The window's calls and failures at `now` (since the last state change).
  std::pair<std::uint64_t, std::uint64_t> window_counts(time_point now) const;
  // Why a call at `now` is refused, for the error text.
  std::string refusal(time_point now) const;
  const circuit_breaker_config& config() const noexcept { return config_; }

 private:
  struct call_counts {
    std::uint64_t calls = 0;
    std::uint64_t failures = 0;
    call_counts& operator+=(const call_counts& o) noexcept {
      calls += o.calls;
      failures += o.failures;
      return *this;
    }
  };

  breaker_transition move_to(time_point now, breaker_state to, breaker_cause cause, double unit_random);
  void clear_counts();
  std::optional<breaker_cause> trip_reason(time_point now) const;

  circuit_breaker_config config_;
  breaker_state state_ = breaker_state::closed;
  breaker_force forced_ = breaker_force::none;
  std::uint64_t epoch_ = 1;
  std::uint32_t consecutive_ = 0;
  std::uint32_t opens_in_a_row_ = 0;
  std::uint64_t ignored_ = 0;
  time_point open_until_{};
  breaker_cause opened_by_ = breaker_cause::consecutive_failures;
  bool probe_in_flight_ = false;
  // Count window: the last window_calls outcomes, a ring.
  std::vector<std::uint8_t> ring_;
  std::size_t ring_next_ = 0;
  std::size_t ring_filled_ = 0;
  std::uint64_t ring_failures_ = 0;
  // Time window.
  detail::time_window<call_counts> time_window_;
};

// -- the breaker ----------------------------------------------------------------

struct breaker_stats {
  breaker_state state = breaker_state::closed;
  breaker_force forced = breaker_force::none;
  std::uint64_t admitted = 0;
  std::uint64_t rejected = 0;
  std::uint64_t probes = 0;
  std::uint64_t successes = 0;
  std::uint64_t failures = 0;  // slow calls included
  std::uint64_t slow = 0;
  std::uint64_t ignored = 0;  // outcomes from an earlier state period
  std::uint64_t opened = 0;   // times it tripped or re-opened (not forced)
  std::uint64_t transitions = 0;
  std::uint64_t notifications_lost = 0;  // a subscriber's mailbox was full
  std::uint32_t consecutive_failures = 0;
  std::uint64_t window_calls = 0;
  std::uint64_t window_failures = 0;
  weft::clock::time_point open_until{};
};

class circuit_breaker {
 public:
  // Throws std::invalid_argument for a bad config (validate()).
  explicit circuit_breaker(circuit_breaker_config config);
  circuit_breaker(const circuit_breaker&) = delete;
  circuit_breaker& operator=(const circuit_breaker&) = delete;

  // The right to make one call, taken before it. Settle it with
  // succeeded() or failed(); dropped unsettled (the call threw, the actor
  // is stopping) it counts as a failure. Move-only; owner-only: it stays
  // with the actor that took it.
  class permit {
   public:
    permit(permit&& other) noexcept;
    permit& operator=(permit&&) = delete;
    permit(const permit&) = delete;
    ~permit();
    bool probe() const noexcept { return admission_.probe; }
    void succeeded() { settle(false); }
    void failed() { settle(true); }

   private:
    friend class circuit_breaker;
    permit(circuit_breaker& b, context& self, breaker_policy::admission a, weft::clock::time_point started) noexcept
        : breaker_(&b), self_(&self), admission_(std::move(a)), started_(started) {}
    void settle(bool failed);
    circuit_breaker* breaker_;
    context* self_;
    breaker_policy::admission admission_;
    weft::clock::time_point started_;
  };

  // -- any actor, through its own context ----------------------------------

  // A permit, or flow_errc::circuit_open saying why (open and for how
  // long, probe in flight, forced).
  expected<permit> try_acquire(context& self);

  // Runs fn() in the caller's fiber if the breaker lets it, and records
  // how it went. fn returns expected<T> (an error is a failure if
  // config.is_failure says so), or T / void (a throw is a failure; it is
  // rethrown). Returns fn's result as expected<T>, or circuit_open without
  // calling fn.
  template <class F>
  auto call(context& self, F&& fn);

  // The state now (applies a due open -> half-open, telling subscribers).
  breaker_state state(context& self);

  // The operator's switch: every call fails fast / goes through untouched,
  // until release().
  void force_open(context& self) { force(self, breaker_force::open); }
  void force_closed(context& self) { force(self, breaker_force::closed); }
  void release(context& self) { force(self, breaker_force::none); }

  // -- any thread ----------------------------------------------------------

  // Sends every later transition to `subscriber` (a dead one is dropped).
  void subscribe(const ref<breaker_events>& subscriber);
  void unsubscribe(const pid& subscriber);
  // Counters, and the window as of the last call.
  breaker_stats stats() const;
  const std::string& name() const noexcept { return name_; }
  // Whether `e` counts as a failure (config.is_failure; every error if unset).
  bool counts_as_failure(const error& e) const;

 private:
  void force(context& self, breaker_force f);
  void settle(context& self, const breaker_policy::admission& a, weft::clock::time_point started, bool failed);
  void publish(context& self, const breaker_transition& t);  // under mutex_
  double unit_random();                                        // under mutex_

  const std::string name_;
  const std::function<bool(const error&)> is_failure_;
  const std::function<double()> random_;
  mutable std::mutex mutex_;
  breaker_policy policy_;
  std::mt19937_64 prng_;
  std::vector<ref<breaker_events>> subscribers_;
  breaker_stats stats_;
  weft::clock::time_point last_now_{};
};

namespace detail {
template <class R>
struct breaker_result {
  using type = expected<R>;
};
template <class T>
struct breaker_result<expected<T>> {
  using type = expected<T>;
};
}  // namespace detail

template <class F>
auto circuit_breaker::call(context& self, F&& fn) {
  using R = std::invoke_result_t<F&>;
  using out = typename detail::breaker_result<R>::type;
  auto p = try_acquire(self);
  if (!p) return out(p.error());
  // An exception (or the actor stopping) unwinds past the unsettled permit:
  // its destructor records the failure.
  if constexpr (is_expected_v<R>) {
    R r = fn();
    if (r.has_value() || !counts_as_failure(r.error())) {
      p->succeeded();
    } else {
      p->failed();
    }
    return r;
  } else if constexpr (std::is_void_v<R>) {
    fn();
    p->succeeded();
    return out();
  } else {
    out r(fn());
    p->succeeded();
    return r;
  }
}

// Asks to a ref<P> through a breaker: "ask through the breaker" as a typed
// handle. Copyable; ask() is owner-only for `self`, like context::ask.
//
//   weft::actors::guarded<db_protocol> db(db_ref, breaker);
//   auto row = db.ask(self, lookup{42}, 500ms);   // expected<row>, or circuit_open
template <class P>
class guarded {
 public:
  guarded(ref<P> target, std::shared_ptr<circuit_breaker> breaker)
      : target_(std::move(target)), breaker_(std::move(breaker)) {}

  template <class M>
  expected<reply_type_t<P, M>> ask(context& self, M&& request,
                                   std::chrono::nanoseconds timeout = default_ask_timeout) const {
    weft::detail::require_message_in_protocol<std::remove_cvref_t<M>, P>();
    return breaker_->call(self, [&] { return self.ask(target_, std::forward<M>(request), timeout); });
  }

  const ref<P>& target() const noexcept { return target_; }
  circuit_breaker& breaker() const noexcept { return *breaker_; }

 private:
  ref<P> target_;
  std::shared_ptr<circuit_breaker> breaker_;
};

}  // namespace weft::actors
