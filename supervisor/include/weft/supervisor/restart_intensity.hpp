#pragma once
// weft::sup::restart_intensity — the "too many restarts" policy of a
// supervisor, as a small pure object (STYLE.md "small pure policies").
//
// Rule (OTP's): a supervisor may restart children at most `max_restarts`
// times within any `window`; the restart that would make it
// max_restarts + 1 inside the window is refused, and the supervisor then
// gives up (stops its children, exits with `shutdown`, and its own parent
// decides what that means).
//
// Cost: O(1) per restart, independent of how many restarts sit in the
// window. The last max_restarts + 1 restart times are kept in a ring; the
// new restart is refused exactly when the oldest of them is still inside
// the window. (OTP keeps a list of every restart in the period and walks
// it on each restart: O(restarts in the window), which shows up in restart
// storms.) Memory is one time point per allowed restart, allocated as the
// ring fills, so a generous max_restarts that is never reached costs little.
//
// Not thread-safe: one supervisor owns one instance.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace weft::sup {

class restart_intensity {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  // window <= 0 means "no window": restarts are never refused.
  restart_intensity(std::uint32_t max_restarts, std::chrono::nanoseconds window);

  // Records a restart at `now` (non-decreasing between calls); false if it
  // is one too many for the window (the supervisor must give up).
  bool add(time_point now);

  std::uint32_t max_restarts() const noexcept { return max_restarts_; }
  std::chrono::nanoseconds window() const noexcept { return window_; }

 private:
  std::uint32_t max_restarts_;
  std::chrono::nanoseconds window_;
  std::size_t capacity_;  // max_restarts + 1
  std::vector<time_point> ring_;
  std::size_t oldest_ = 0;  // once the ring is full: index of its oldest entry
};

}  // namespace weft::sup
