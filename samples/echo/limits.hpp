#pragma once
// Every limit and timeout of weft-echo, named in one place. Each says what
// it protects against; bench/echo depends on max_line (its longest test
// line is max_line bytes and a '\n').

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace echo {

using namespace std::chrono_literals;

// The longest line echoed, in bytes, without its '\n'. A longer line is
// answered with an error and the connection is closed: a peer cannot make
// its connection actor buffer without bound.
inline constexpr std::size_t max_line = 4096;

// A connection that sends nothing for this long is closed, so a peer that
// vanished without a FIN does not keep its actor and descriptor forever.
inline constexpr auto idle_timeout = std::chrono::minutes(10);

// How long a peer may take to take our output before it counts as gone:
// the greeting, the echo of what it sent, and the error before we close.
inline constexpr auto greeting_timeout = 5s;
inline constexpr auto echo_timeout = 30s;
inline constexpr auto farewell_timeout = 1s;

// After a failed accept (out of descriptors, say) the listener stays
// readable: pause this long instead of spinning, and keep serving the
// connections we have.
inline constexpr auto accept_retry_pause = 100ms;

// The tree gives up, and weft-echo exits, after more than this many
// restarts within the window: a fault that restarting does not fix.
inline constexpr std::uint32_t max_restarts = 5;
inline constexpr auto restart_window = 10s;

inline constexpr std::uint16_t default_port = 7777;

}  // namespace echo
