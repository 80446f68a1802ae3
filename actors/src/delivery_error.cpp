// Names of weft::actors::delivery_errc (delivery_error.hpp).

#include <weft/actors/delivery_error.hpp>

namespace weft::actors {

std::string_view to_string(delivery_errc e) noexcept {
  switch (e) {
    case delivery_errc::no_routee:
      return "no_routee";
    case delivery_errc::stash_full:
      return "stash_full";
    case delivery_errc::no_message:
      return "no_message";
  }
  return "unknown";
}

namespace detail {
std::string_view delivery_errc_name(int code) noexcept { return to_string(static_cast<delivery_errc>(code)); }
}  // namespace detail

}  // namespace weft::actors
