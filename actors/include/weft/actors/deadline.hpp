#pragma once
// Deadlines that travel with requests, cancellation that reaches every
// stage of a pipeline, and the callee-side gate that drops work nobody
// waits for any more (gRPC's deadline propagation; Go's context in
// messages instead of in arguments).
//
//   requester                    stage / callee                 runtime
//   ---------                    --------------                 -------
//   due = deadline::after(self, 200ms)
//   send(stage, with_deadline{job, due, cancel.token()})
//                                handler made by drop_expired:
//                                gate.check(now, due, token):
//                                  expired   -> counted, not run;
//                                               an asker gets
//                                               flow_errc::deadline_exceeded
//                                  cancelled -> counted, not run;
//                                               an asker gets flow_errc::cancelled
//                                  run       -> your handler(with_deadline<M>)
//                                passes w.due and w.cancel on to the next
//                                stage, and between long steps asks
//                                gate.keep_going(...) (false: stop, counted)
//   cancel.cancel() ------------------------------------------------> every stage holding
//                                                                     the token sees it
//
// Time is the runtime's clock (weft/runtime/clock.hpp): "now" is
// self.system().clock().now(), so a test on a manual_clock expires work by
// advancing the clock. A deadline is an absolute time point on that clock:
// pass it on unchanged, never as "200 ms left", and the stages after the
// first do not each restart the budget.
//
// Why a shared flag for cancellation and not a message: a cancel message
// queues behind the work it cancels (mailboxes are FIFO per sender), so a
// stage would run every item already queued before it learned they are
// unwanted. A token carried in each message is seen at once by every
// stage that holds the work, including the one in the middle of it.
//
// Thread safety: deadline, with_deadline, cancel_token and cancel_source
// are values / any thread. deadline_gate is owner-only (one per actor).
// clock_sleep_for/until are owner-only: they suspend the calling actor.

#include <weft/actors/flow_error.hpp>
#include <weft/runtime/behavior.hpp>
#include <weft/runtime/clock.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/expected.hpp>
#include <weft/runtime/runtime.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>
#include <type_traits>
#include <utility>

namespace weft::actors {

// An instant on the runtime's clock after which work is no longer wanted;
// or never (the default).
class deadline {
 public:
  using time_point = weft::clock::time_point;
  using duration = weft::clock::duration;

  constexpr deadline() noexcept = default;
  static constexpr deadline never() noexcept { return deadline(); }
  static constexpr deadline at(time_point when) noexcept { return deadline(when); }
  // `d` from now on `c` (saturating: a huge d is never). A negative d is
  // already expired.
  static deadline after(const weft::clock& c, duration d) noexcept;
  // `d` from now on the calling actor's runtime clock. Owner-only.
  static deadline after(context& self, duration d) noexcept;

  bool is_never() const noexcept { return when_ == time_point::max(); }
  time_point when() const noexcept { return when_; }
  bool expired(time_point now) const noexcept { return !is_never() && now >= when_; }
  // What is left at `now`: zero once expired, duration::max() for never.
  duration remaining(time_point now) const noexcept;
  // The earlier of the two (a callee may only tighten a deadline).
  deadline earliest(const deadline& other) const noexcept { return other.when_ < when_ ? other : *this; }

  friend constexpr bool operator==(const deadline&, const deadline&) noexcept = default;
  friend constexpr auto operator<=>(const deadline&, const deadline&) noexcept = default;

 private:
  constexpr explicit deadline(time_point when) noexcept : when_(when) {}
  time_point when_ = time_point::max();
};

// The read side of a cancellation: copy it into every message of the
// request. A default-constructed token is never cancelled. Any thread.
class cancel_token {
 public:
  cancel_token() = default;
  bool cancelled() const noexcept {
    // relaxed: a lone flag; no data is published with it, and a stage that
    // reads a stale `false` only does work it would have done a moment
    // earlier anyway.
    return flag_ != nullptr && flag_->load(std::memory_order_relaxed);
  }
  // Whether some cancel_source can cancel it.
  bool cancellable() const noexcept { return flag_ != nullptr; }

 private:
  friend class cancel_source;
  explicit cancel_token(std::shared_ptr<const std::atomic<bool>> flag) noexcept : flag_(std::move(flag)) {}
  std::shared_ptr<const std::atomic<bool>> flag_;
};

// The requester's side: cancel() is seen by every token made from it.
// Copies share the flag. Any thread.
class cancel_source {
 public:
  cancel_source() : flag_(std::make_shared<std::atomic<bool>>(false)) {}
  cancel_token token() const { return cancel_token(flag_); }
  void cancel() noexcept { flag_->store(true, std::memory_order_relaxed); }  // see cancel_token::cancelled
  bool cancelled() const noexcept { return flag_->load(std::memory_order_relaxed); }

 private:
  std::shared_ptr<std::atomic<bool>> flag_;
};

// A message with the deadline (and cancellation) of the request it
// belongs to. Put `R(with_deadline<M>)` in a protocol; build its handler
// with drop_expired.
template <class M>
struct with_deadline {
  M message{};
  deadline due{};
  cancel_token cancel{};
};
template <class M>
with_deadline(M, deadline) -> with_deadline<M>;
template <class M>
with_deadline(M, deadline, cancel_token) -> with_deadline<M>;

// What a gate decided about one piece of work.
enum class verdict : std::uint8_t { run, expired, cancelled };
std::string_view to_string(verdict v) noexcept;

struct gate_counts {
  std::uint64_t admitted = 0;   // checked and run
  std::uint64_t expired = 0;    // dropped at the door: deadline passed
  std::uint64_t cancelled = 0;  // dropped at the door: request cancelled
  std::uint64_t abandoned = 0;  // stopped half-way (keep_going said false)
  std::uint64_t dropped() const noexcept { return expired + cancelled; }
};

// The callee's bookkeeping of late and cancelled work. Owner-only: one per
// actor (a member of a class actor, or in a stateful actor's state).
class deadline_gate {
 public:
  // Whether work due at `due`, cancellable through `token`, should start
  // at `now`. Counts the verdict. Expiry wins over cancellation.
  verdict check(deadline::time_point now, const deadline& due, const cancel_token& token = {}) noexcept;
  template <class M>
  verdict check(context& self, const with_deadline<M>& w) noexcept {
    return check(self.system().clock().now(), w.due, w.cancel);
  }
  // For work in progress, between its steps: false (counted as abandoned)
  // once the deadline passed or the request was cancelled.
  bool keep_going(deadline::time_point now, const deadline& due, const cancel_token& token = {}) noexcept;
  template <class M>
  bool keep_going(context& self, const with_deadline<M>& w) noexcept {
    return keep_going(self.system().clock().now(), w.due, w.cancel);
  }

  const gate_counts& counts() const noexcept { return counts_; }

 private:
  gate_counts counts_;
};

// The error an asker gets for work a gate refused: deadline_exceeded or
// cancelled, naming the message type and (for expiry) how late it was.
error refusal(verdict v, std::string_view message_type, deadline::duration late);

namespace detail {

template <class T>
struct deadline_payload;
template <class M>
struct deadline_payload<with_deadline<M>> {
  using message = M;
};

template <class R>
struct gated_result {
  using type = expected<R>;
};
template <class T, class E>
struct gated_result<expected<T, E>> {
  using type = expected<T, E>;
};

}  // namespace detail

// A handler for with_deadline<M> that runs `handler` only for work still
// wanted: expired or cancelled work is counted in `gate` and never run,
// and a request among it is answered at once with flow_errc::
// deadline_exceeded or flow_errc::cancelled. `handler` takes the
// with_deadline<M> (to pass its due and cancel on) and returns what it
// would as a plain handler (R, expected<R>, or void). `gate` must outlive
// the behavior; `self` is the actor's own context.
//
//   return {weft::actors::drop_expired(self, gate_, [this](weft::actors::with_deadline<lookup> q) {
//     return table_.at(q.message.key);
//   })};
template <class F>
auto drop_expired(context& self, deadline_gate& gate, F handler) {
  using W = weft::detail::message_type_of<F>;
  using M = typename detail::deadline_payload<W>::message;
  using R = weft::detail::handler_result_of<F>;
  using out = typename detail::gated_result<R>::type;
  return [&self, &gate, handler = std::move(handler)](W work) mutable -> out {
    const auto now = self.system().clock().now();
    const verdict v = gate.check(now, work.due, work.cancel);
    if (v != verdict::run) {
      return refusal(v, weft::detail::type_name_of<M>(),
                     work.due.is_never() ? deadline::duration::zero() : now - work.due.when());
    }
    if constexpr (std::is_void_v<R>) {
      handler(std::move(work));
      return {};
    } else {
      return handler(std::move(work));
    }
  };
}

// Suspends the calling actor (its fiber; a scoped_actor's thread) until
// the runtime's clock reaches `when`, on a timer of that clock: a
// manual_clock releases it from advance(). Messages keep queueing and are
// handled after. Unlike context::sleep_for, which waits real time.
// Returns false, early, if `cancel` is cancelled meanwhile (seen within
// 50 ms of real time). Owner-only.
//
// Hazards: the wake-up is a timer message to the caller, matched by a
// selective receive; a caller with a full mailbox may lose it, so the
// wait also re-reads the clock every 50 ms of real time. A wake-up that
// was already queued when the wait ended some other way is left in the
// mailbox (a handler-style actor counts it as an unhandled dead letter).
bool clock_sleep_until(context& self, weft::clock::time_point when, const cancel_token& cancel = {});
bool clock_sleep_for(context& self, weft::clock::duration d, const cancel_token& cancel = {});

}  // namespace weft::actors
