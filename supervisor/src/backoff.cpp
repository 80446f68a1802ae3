#include <weft/supervisor/backoff.hpp>

#include <algorithm>
#include <cmath>

namespace weft::sup {

std::chrono::nanoseconds backoff_delay(std::uint32_t attempt, const backoff_policy& policy, double unit_random) {
  // In double: min_delay * 2^attempt overflows 64 bits after ~34 doublings
  // of a second; the cap makes the exact value irrelevant past that.
  const double min_ns = static_cast<double>(std::max<std::int64_t>(policy.min_delay.count(), 0));
  const double max_ns = std::max(static_cast<double>(policy.max_delay.count()), min_ns);
  const double grown = min_ns * std::exp2(static_cast<double>(std::min<std::uint32_t>(attempt, 1024)));
  const double capped = std::min(grown, max_ns);
  const double u = std::clamp(unit_random, 0.0, 1.0);
  const double jitter = std::clamp(policy.jitter, 0.0, 1.0);
  return std::chrono::nanoseconds(static_cast<std::int64_t>(capped * (1.0 + jitter * u)));
}

std::chrono::nanoseconds backoff_state::next_delay(const backoff_policy& policy, std::chrono::nanoseconds uptime,
                                                   double unit_random) {
  if (uptime >= policy.reset_after) attempt_ = 0;
  const auto delay = backoff_delay(attempt_, policy, unit_random);
  if (attempt_ < 1024) ++attempt_;
  return delay;
}

}  // namespace weft::sup
