#include <weft/supervisor/restart_intensity.hpp>

namespace weft::sup {

restart_intensity::restart_intensity(std::uint32_t max_restarts, std::chrono::nanoseconds window)
    : max_restarts_(max_restarts), window_(window), capacity_(std::size_t{max_restarts} + 1) {}

bool restart_intensity::add(time_point now) {
  if (window_ <= std::chrono::nanoseconds::zero()) return true;
  if (ring_.size() < capacity_) {
    ring_.push_back(now);
    if (ring_.size() < capacity_) return true;  // fewer than max_restarts + 1 restarts ever
    oldest_ = 0;
  } else {
    // Overwrite the oldest with the newest; the next slot is now the oldest.
    ring_[oldest_] = now;
    oldest_ = oldest_ + 1 == capacity_ ? 0 : oldest_ + 1;
  }
  // The ring holds the last max_restarts + 1 restarts, this one included:
  // all of them inside the window means one too many.
  return now - ring_[oldest_] >= window_;
}

}  // namespace weft::sup
