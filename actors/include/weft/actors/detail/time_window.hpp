#pragma once
// Counts of events over the last `span` of clock time, in `slots` buckets
// (Resilience4j's time-based sliding window; Finagle's retry budget keeps
// its deposits the same way): what the circuit breaker's time window and
// the retry budget count with. Internal to weft::actors.
//
// Time is cut into slots of width w = span / slots, slot k covering
// [k*w, (k+1)*w) since the clock's epoch. A ring holds the last `slots`
// slots; each remembers which k it holds, so a slot left behind by a long
// idle period is recognised as stale and never read (no sweep needed, and
// no overflow however long the idle). sum(now) adds the slots k-slots+1..k:
// the last `span`, exact to one slot's width (events up to w older than
// span may still count).
//
// Counts is a struct of counters with operator+= (e.g. {calls, failures}).
// Owner-only: the caller serialises access.

#include <chrono>
#include <cstdint>
#include <vector>

namespace weft::actors::detail {

template <class Counts>
class time_window {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::nanoseconds;

  // Preconditions (checked by the owners' configs): span > 0, slots > 0.
  time_window(duration span, std::uint32_t slots)
      : width_(span / slots > duration::zero() ? span / slots : duration(1)), ring_(slots) {}

  void add(time_point now, const Counts& c) {
    slot& s = slot_for(index(now));
    s.counts += c;
  }

  Counts sum(time_point now) const {
    const std::int64_t k = index(now);
    const auto n = static_cast<std::int64_t>(ring_.size());
    Counts total{};
    for (const slot& s : ring_) {
      if (s.used && s.k <= k && s.k > k - n) total += s.counts;
    }
    return total;
  }

  void clear() {
    for (slot& s : ring_) s = slot{};
  }

 private:
  struct slot {
    std::int64_t k = 0;
    bool used = false;
    Counts counts{};
  };

  std::int64_t index(time_point now) const noexcept { return now.time_since_epoch() / width_; }

  slot& slot_for(std::int64_t k) {
    const auto n = static_cast<std::int64_t>(ring_.size());
    slot& s = ring_[static_cast<std::size_t>(((k % n) + n) % n)];
    if (!s.used || s.k != k) s = slot{k, true, Counts{}};
    return s;
  }

  duration width_;
  std::vector<slot> ring_;
};

}  // namespace weft::actors::detail
