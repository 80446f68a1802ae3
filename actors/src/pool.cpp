// The non-template part of pools (pool.hpp): the options check and the
// scaling decision.

#include <weft/actors/pool.hpp>

#include <string>

namespace weft::actors {

void validate(const pool_options& options) {
  auto refuse = [](const std::string& what) { throw std::invalid_argument("pool_options: " + what); };
  if (options.min_workers == 0) refuse("min_workers must be at least 1 (a pool with no worker cannot measure load)");
  if (options.max_workers < options.min_workers) {
    refuse("max_workers (" + std::to_string(options.max_workers) + ") is below min_workers (" +
           std::to_string(options.min_workers) + ")");
  }
  if (!(options.scale_up_backlog > 0)) refuse("scale_up_backlog must be positive");
  if (options.check_interval <= std::chrono::nanoseconds::zero()) refuse("check_interval must be positive");
  if (options.scale_down_after < std::chrono::nanoseconds::zero()) refuse("scale_down_after must not be negative");
}

namespace detail {

pool_step pool_decision(const pool_options& options, std::size_t workers, std::size_t queued_total,
                        std::chrono::steady_clock::time_point now,
                        std::optional<std::chrono::steady_clock::time_point>& idle_since) noexcept {
  if (queued_total == 0) {
    if (!idle_since) idle_since = now;
    if (workers > options.min_workers && now - *idle_since >= options.scale_down_after) {
      idle_since = now;  // the next worker goes after another full idle period
      return pool_step::shrink;
    }
    return pool_step::none;
  }
  idle_since.reset();
  if (workers < options.max_workers &&
      static_cast<double>(queued_total) > options.scale_up_backlog * static_cast<double>(workers)) {
    return pool_step::grow;
  }
  return pool_step::none;
}

}  // namespace detail

}  // namespace weft::actors
