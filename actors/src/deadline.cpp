// Deadlines, the callee's gate, and sleeping on the runtime clock
// (deadline.hpp).
//
// clock_sleep_until, step by step:
//   1. If the clock has reached `when`, return: nothing was filed.
//   2. File one timer on the runtime clock (send_after to ourselves) that
//      delivers clock_wake{token}; the token is unique to this wait, so a
//      wake-up of an earlier wait (left queued, see the header) never ends
//      this one.
//   3. Wait, by selective receive, for that wake-up, but at most 50 ms of
//      real time at a stretch; after each stretch re-read the clock. A
//      timer firing into a full mailbox is rejected (clock.hpp), and
//      without the re-read that wait would never end.
//   4. Once the clock has passed `when`: cancel the timer. If it could not
//      be cancelled it has fired; its wake-up is queued or on its way (or
//      was lost to a full mailbox), so take it with one more bounded
//      receive, and leave no stale message behind in the common case.
// A cancelled token ends the wait at the next re-read (step 3). If the
// actor is stopped meanwhile, the guard cancels the timer.

#include <weft/actors/deadline.hpp>

#include <fmt/format.h>

#include <atomic>
#include <limits>

namespace weft::actors {

namespace {

struct clock_wake {
  std::uint64_t token;
};

constexpr auto clock_poll = std::chrono::milliseconds(50);

std::uint64_t next_wake_token() noexcept {
  // relaxed: only uniqueness matters; nothing is published with the number.
  static std::atomic<std::uint64_t> counter{1};
  return counter.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

deadline deadline::after(const weft::clock& c, duration d) noexcept {
  const time_point now = c.now();
  if (d > time_point::max() - now) return never();
  return at(now + d);
}

deadline deadline::after(context& self, duration d) noexcept { return after(self.system().clock(), d); }

deadline::duration deadline::remaining(time_point now) const noexcept {
  if (is_never()) return duration::max();
  return now >= when_ ? duration::zero() : when_ - now;
}

std::string_view to_string(verdict v) noexcept {
  switch (v) {
    case verdict::run:
      return "run";
    case verdict::expired:
      return "expired";
    case verdict::cancelled:
      return "cancelled";
  }
  return "unknown";
}

verdict deadline_gate::check(deadline::time_point now, const deadline& due, const cancel_token& token) noexcept {
  if (due.expired(now)) {
    ++counts_.expired;
    return verdict::expired;
  }
  if (token.cancelled()) {
    ++counts_.cancelled;
    return verdict::cancelled;
  }
  ++counts_.admitted;
  return verdict::run;
}

bool deadline_gate::keep_going(deadline::time_point now, const deadline& due, const cancel_token& token) noexcept {
  if (due.expired(now) || token.cancelled()) {
    ++counts_.abandoned;
    return false;
  }
  return true;
}

error refusal(verdict v, std::string_view message_type, deadline::duration late) {
  if (v == verdict::cancelled) {
    return error(flow_errc::cancelled,
                 fmt::format("{}: the request was cancelled before the work started", message_type));
  }
  return error(flow_errc::deadline_exceeded,
               fmt::format("{}: dropped unexecuted, its deadline passed {} us before the work could start",
                           message_type, std::chrono::duration_cast<std::chrono::microseconds>(late).count()));
}

bool clock_sleep_until(context& self, weft::clock::time_point when, const cancel_token& cancel) {
  const weft::clock& c = self.system().clock();
  if (c.now() >= when) return true;
  if (cancel.cancelled()) return false;
  const std::uint64_t token = next_wake_token();
  struct timer_guard {
    context& self;
    timer_ref timer;
    ~timer_guard() {
      if (timer) self.cancel_timer(timer);
    }
  } guard{self, {}};
  const auto mine = [token](const clock_wake& w) { return w.token == token; };
  bool cancelled = false;
  for (;;) {
    const auto now = c.now();
    if (now >= when) break;
    if (cancel.cancelled()) {
      cancelled = true;
      break;
    }
    if (!guard.timer) guard.timer = self.send_after(when - now, self.self(), clock_wake{token});
    // Woken, the clock still decides: the loop re-checks it, and files the
    // timer again if it fired early (a manual clock never fires early).
    if (self.receive_if<clock_wake>(mine, clock_poll)) guard.timer = {};
  }
  if (guard.timer) {
    const bool was_pending = self.cancel_timer(guard.timer);
    guard.timer = {};
    if (!was_pending) (void)self.receive_if<clock_wake>(mine, clock_poll);
  }
  return !cancelled;
}

bool clock_sleep_for(context& self, weft::clock::duration d, const cancel_token& cancel) {
  const auto now = self.system().clock().now();
  const auto when = d > weft::clock::time_point::max() - now ? weft::clock::time_point::max() : now + d;
  return clock_sleep_until(self, when, cancel);
}

}  // namespace weft::actors
