#pragma once
// The IRC connection actor: one per client, started by the `irc_clients`
// dynamic supervisor with the socket the acceptor accepted. It owns the
// socket, the user's session (session.hpp) and the output queue, and
// never blocks on the client: input comes as net::readable notices,
// output goes with write_some and waits for net::writable in user space.
// It is a handler-style actor: an idle connection holds no fiber stack.
//
//   client                      connection actor                   the rest
//   ------                      ----------------                   --------
//   bytes ------------------->  readable: read what is there, split
//                               lines (417 for one over 512 bytes),
//                               take a token per line (flood
//                               control: a line without one waits;
//                               too many waiting: "Excess Flood")
//                               parse, dispatch one command ------> session: rooms,
//                                                                   presence
//                               deliver{event} <------------------- rooms, other users
//                               append event->line (or ->tagged)
//                               to the output queue; after the
//                               messages queued now are handled,
//   <------------------------   write_some; the rest waits for
//                               writable. Output over the sendq:
//                               cut off ("SendQ exceeded")
//   silence past ping_after --> PING; past ping_timeout: cut off
//   never registers ----------> cut off after register_timeout
//   (server stops) -----------> exit from the supervisor (trapped):
//                               "ERROR :Closing Link ..." then close
//
// A crash here ends this connection only: it is a temporary child, the
// rooms see its down_msg and tell the others it quit.

#include "session.hpp"

#include <weft/runtime/behavior.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/net.hpp>

#include <memory>

namespace chat {

// A socket on its way to its connection actor (shared only because a
// dynamic supervisor's start arguments must be copyable).
using handed_socket = std::shared_ptr<weft::net::socket>;

weft::behavior irc_connection(weft::context& self, handed_socket handed, std::shared_ptr<const hub> h);

}  // namespace chat
