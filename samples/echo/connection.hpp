#pragma once
// The connection actor: one per client, started by the `connections`
// dynamic supervisor (main.cpp) with the socket the acceptor accepted.
//
//   peer                               connection actor
//   ----                               ----------------
//   connects ------------------------> "weft echo: type a line"
//   "hello" -------------------------> "hello"
//   "a" "b" (in one packet) ---------> "a" "b" (in one write)
//   a line over max_line ------------> an error line, then close
//   silence for idle_timeout --------> close
//   close / reset -------------------> the actor ends
//
// Every way out is a normal exit: the socket closes as the actor's frame
// unwinds, whatever the reason. A connection is `temporary`: never
// restarted, since its peer is gone with it.

#include <weft/runtime/context.hpp>
#include <weft/runtime/net.hpp>

#include <memory>

namespace echo {

// A socket on its way to its connection actor. Shared only because a
// dynamic supervisor's start arguments travel in a std::any, which must be
// copyable; the actor moves the socket out as it starts.
using handed_socket = std::shared_ptr<weft::net::socket>;

void connection(weft::context& self, handed_socket handed);

}  // namespace echo
