// The non-template part of sticky per-key workers (sticky.hpp): the
// options check.

#include <weft/actors/sticky.hpp>

#include <stdexcept>
#include <string>

namespace weft::actors {

void validate(const sticky_options& options) {
  auto refuse = [](const std::string& what) { throw std::invalid_argument("sticky_options: " + what); };
  const auto zero = std::chrono::nanoseconds::zero();
  if (options.idle_timeout < zero) refuse("idle_timeout must not be negative (zero: never passivate)");
  if (options.check_interval < zero) refuse("check_interval must not be negative (zero: idle_timeout / 2)");
  if (options.idle_timeout > zero && options.check_interval == zero && options.idle_timeout / 2 == zero) {
    refuse("idle_timeout is too short to check at half of it: give a check_interval");
  }
  if (options.stop_timeout <= zero) refuse("stop_timeout must be positive");
  if (options.buffer_capacity == 0) refuse("buffer_capacity must be at least 1");
}

}  // namespace weft::actors
