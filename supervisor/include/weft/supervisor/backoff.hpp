#pragma once
// weft::sup::backoff — delayed restarts for a child that keeps failing
// (beyond OTP; Akka's `restartWithBackoff`). Pure functions and a tiny
// per-child state, tested alone.
//
// The n-th consecutive restart (n = 0, 1, 2, ...) waits
//
//     delay(n) = min(max_delay, min_delay * 2^n) * (1 + jitter * u)
//
// with u uniform in [0, 1) drawn per restart. As in Akka the jitter is
// applied after the cap, so the longest possible wait is
// max_delay * (1 + jitter); jitter spreads the restarts of many children
// that failed together (a database going away) so they do not come back in
// lock step. A child that ran for at least `reset_after` before it failed
// counts as healthy again: its next restart waits min_delay.
//
// While a child waits it has no pid: its name is not registered, so
// whereis() answers an empty pid and a send to it fails with
// send_status::dead (the runtime counts no dead letter for an empty pid);
// a send to the pid of the previous incarnation fails the same way and is
// counted as a `dead_actor` dead letter (runtime::dead_letters()). Nothing
// is buffered for the next incarnation.

#include <chrono>
#include <cstdint>

namespace weft::sup {

struct backoff_policy {
  std::chrono::nanoseconds min_delay = std::chrono::milliseconds(100);
  std::chrono::nanoseconds max_delay = std::chrono::seconds(10);
  // Random factor in [0, 1]: 0.2 makes each delay up to 20 % longer.
  double jitter = 0.2;
  // Uptime after which a child counts as healthy again (its next failure
  // restarts the curve at min_delay).
  std::chrono::nanoseconds reset_after = std::chrono::seconds(10);
};

// The delay before restart number `attempt` (0 = the first after a healthy
// run); `unit_random` is u in [0, 1). Saturates at max_delay * (1 + jitter)
// for any attempt, without overflow.
std::chrono::nanoseconds backoff_delay(std::uint32_t attempt, const backoff_policy& policy, double unit_random);

// One child's position on the curve.
class backoff_state {
 public:
  // The child failed after running for `uptime`: returns how long to wait
  // before restarting it, and advances the curve.
  std::chrono::nanoseconds next_delay(const backoff_policy& policy, std::chrono::nanoseconds uptime,
                                      double unit_random);
  std::uint32_t attempt() const noexcept { return attempt_; }

 private:
  std::uint32_t attempt_ = 0;
};

}  // namespace weft::sup
