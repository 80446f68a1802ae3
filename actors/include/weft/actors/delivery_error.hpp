#pragma once
// What weft's message-moving actors fail with when a message cannot be
// delivered or kept: routers and pools (router.hpp, pool.hpp), sticky
// per-key workers (sticky.hpp), stashes and the backoff buffer (stash.hpp,
// backoff_buffer.hpp). One code enum for all of them:
//
//   auto r = self.ask(router, work{7});
//   if (!r && r.error() == weft::actors::delivery_errc::no_routee) ...
//
// They are errors of category `actors` (error.hpp): each is the reason a
// request got no ordinary answer. The detail text names the actor and the
// limit, e.g. "stash of <0.42.0> is full (capacity 100): the message was
// not stashed".
//
// Pure names: any thread.

#include <weft/runtime/error.hpp>

#include <cstdint>
#include <string_view>

namespace weft::actors {

enum class delivery_errc : std::uint8_t {
  no_routee = 1,  // a router or pool had no live routee to take the message
  stash_full,     // a bounded stash (or a buffer built on one) was at capacity
  no_message,     // a stash operation called with no message being handled
};
std::string_view to_string(delivery_errc e) noexcept;

namespace detail {
std::string_view delivery_errc_name(int code) noexcept;
inline constexpr error_domain delivery_domain{error_category::actors, &delivery_errc_name};
}  // namespace detail

}  // namespace weft::actors

template <>
struct weft::error_code_traits<weft::actors::delivery_errc> {
  static constexpr const error_domain* domain = &weft::actors::detail::delivery_domain;
};
