#pragma once
// The acceptor: listens on a TCP port and has the `connections`
// supervisor start a connection actor for each accepted socket.
//
//   supervisor (start function)         acceptor actor
//   ---------------------------         --------------
//   find `connections` by name,
//   listen on the port; either fails:
//   the start fails, naming why
//   spawn_link the acceptor with the
//   listener moved into it -----------> accept (waits without a deadline:
//                                       only a connection ends the wait)
//                                       connections.start_child(socket)
//                                       accept again ...
//
// Listening in the start function makes a port that cannot be had (in use,
// no permission) fail the tree's start, so weft-echo reports it and exits
// instead of restarting an acceptor that cannot work. The acceptor is
// started after `connections` under rest_for_one: if `connections` is
// restarted, so is the acceptor, which then finds the new one by name.

#include <weft/supervisor/child_spec.hpp>

#include <cstdint>
#include <string>

namespace echo {

weft::sup::child_spec acceptor(std::uint16_t port, std::string connections_name);

}  // namespace echo
