// The non-template part of routers (router.hpp): the smallest-mailbox scan.

#include <weft/actors/router.hpp>

namespace weft::actors::detail {

std::size_t least_loaded(std::span<const routee> routees, std::size_t start) noexcept {
  const std::size_t n = routees.size();
  std::size_t best = start;
  std::size_t best_length = queued_messages(routees[start].who);
  for (std::size_t step = 1; step < n && best_length != 0; ++step) {
    const std::size_t i = (start + step) % n;
    const std::size_t length = queued_messages(routees[i].who);
    if (length < best_length) {
      best = i;
      best_length = length;
    }
  }
  return best;
}

}  // namespace weft::actors::detail
