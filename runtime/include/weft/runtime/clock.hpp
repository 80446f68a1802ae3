#pragma once
// weft::clock — the time that timers run on.
//
// Every timer of a runtime goes through its clock: context::send_after and
// send_interval, and so everything built on them (the supervisor's restart
// backoff, every timeout in weft/actors: server, state machine, circuit
// breaker, rate limiter, passivation...). A runtime made with a
// manual_clock runs all of those on virtual time that a test moves by
// hand, so a 30-day timeout is tested in microseconds:
//
//   auto clock = std::make_shared<weft::manual_clock>();
//   weft::runtime rt({.clock = clock});
//   ... an actor does self.send_after(std::chrono::hours(24 * 30), ...) ...
//   clock->await_timers(1);                    // the actor has filed it
//   clock->advance(std::chrono::hours(24 * 30)); // it fires now
//
// What does NOT follow the clock: the runtime's own waits (receive_for,
// ask's timeout, send_for, sleep_for) stay on real time, because they
// bound how long a fiber is parked, and a test that froze them could
// hang instead of failing. Code that needs "now" for a timeout decision
// reads self.system().clock().now(), never std::chrono::steady_clock.
//
// Thread safety: every member may be called from any thread.

#include <weft/runtime/detail/envelope.hpp>
#include <weft/runtime/pid.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>

namespace weft {

namespace detail {
class runtime_impl;
}

class clock {
 public:
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::steady_clock::time_point;

  clock() = default;
  clock(const clock&) = delete;
  clock& operator=(const clock&) = delete;
  virtual ~clock() = default;

  // The current time on this clock.
  virtual time_point now() const = 0;
  // How many timers wait on this clock.
  virtual std::size_t pending() const = 0;

  // -- for the runtime (context::send_after and friends call these) --------
  // Files a timer that delivers make() to `to` after `delay`, then every
  // `period` if it is positive, until cancelled or `to` is dead. Firing
  // never blocks: a full block-policy mailbox rejects the message.
  // Returns the timer's id (never 0).
  virtual std::uint64_t start(duration delay, duration period, pid to, std::function<detail::envelope*()> make) = 0;
  // True if the timer was pending (it will not fire).
  virtual bool cancel(std::uint64_t id) = 0;
  // Called by a runtime as it ends: drop every timer aimed at one of its
  // actors. A clock shared with the runtime (runtime_options::clock) would
  // otherwise keep the runtime alive through its timers' pids, and the
  // runtime keeps the clock: a cycle nothing would break.
  virtual void drop_timers_of(const detail::runtime_impl* rt) = 0;
};

// Virtual time for tests: it stands still until advance() moves it, and
// firing happens inside advance(), on the calling thread, in deadline
// order (timers due at the same instant fire in the order they were
// started). It starts at an arbitrary fixed time point, not at zero.
class manual_clock final : public clock {
 public:
  manual_clock();
  ~manual_clock() override;

  time_point now() const override;
  std::size_t pending() const override;
  std::uint64_t start(duration delay, duration period, pid to, std::function<detail::envelope*()> make) override;
  bool cancel(std::uint64_t id) override;
  void drop_timers_of(const detail::runtime_impl* rt) override;

  // Moves time forward by `by` (or to `t`), firing every timer that falls
  // due on the way at its own instant; a periodic timer fires once per
  // period passed. Returns how many firings happened.
  std::size_t advance(duration by);
  std::size_t advance_to(time_point t);
  // Jumps to the next deadline, if any, and fires what is due there.
  std::size_t advance_to_next();
  // When the earliest pending timer is due (time_point::max() if none).
  time_point next_due() const;
  // Waits (real time, up to `timeout`) until at least `count` timers are
  // pending: how a test knows an actor has filed the timer it is about to
  // skip over. False on timeout.
  bool await_timers(std::size_t count, std::chrono::nanoseconds timeout = std::chrono::seconds(10)) const;

 private:
  struct entry {
    pid to;
    std::function<detail::envelope*()> make;
    duration period{0};
    time_point due;
  };
  using key = std::tuple<time_point, std::uint64_t>;  // (due, id): ids grow, so ties fire in start order

  mutable std::mutex mutex_;
  mutable std::condition_variable filed_;
  time_point now_;
  std::uint64_t next_id_ = 1;
  std::map<key, std::uint64_t> queue_;
  std::unordered_map<std::uint64_t, entry> entries_;
};

}  // namespace weft
