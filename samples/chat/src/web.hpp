#pragma once
// The web connection actor: one per browser connection, started by the
// `web_clients` dynamic supervisor with the socket the web acceptor
// accepted. It serves the page over HTTP and, once the page opens its
// WebSocket, is a chat user like an IRC connection: it owns the socket,
// a session (session.hpp) and an output queue, and never blocks on the
// client. Beast does all HTTP parsing and WebSocket framing
// (web_stream.hpp adapts it to the socket); web_protocol.hpp is the JSON.
// After the upgrade it is a handler-style actor: an idle web user holds
// no fiber stack.
//
//   browser                   web connection actor                    the rest
//   -------                   --------------------                    --------
//   GET / , /app.js ------->  HTTP (blocking reads with a deadline:
//   <-----------------------  nothing else to do yet): the embedded
//                             page (web_assets.hpp), 404, 400, ...
//   GET /ws, Upgrade ------>  hand the request to websocket::stream
//   <----------------------- 101; from here nothing waits on the socket:
//   frame ----------------->  net::readable -> Beast's read completes ->
//                             token (flood control: none left, the next
//                             read waits) -> parse -> session --------> rooms, presence
//                             deliver{event} <------------------------ rooms, other users
//   <-----------------------  JSON into the output queue; one
//                             async_write at a time; a queue over
//                             config::sendq_bytes: close "SendQ exceeded"
//   silence past ping_after -> WebSocket ping; past ping_timeout: close
//   no hello ---------------> closed after register_timeout
//   (server stops) ---------> exit from the supervisor (trapped after
//                             the upgrade): close frame "Server shutting
//                             down", a short wait for the answer, close
//
// A crash here ends this connection only (a temporary child); its rooms
// see the down_msg and tell the others it quit.

#include "session.hpp"

#include <weft/runtime/behavior.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/net.hpp>

#include <memory>

namespace chat {

// A socket on its way to its connection actor (as in irc_connection.hpp).
using handed_socket = std::shared_ptr<weft::net::socket>;

// What a server's web connections share: the hub, and the registry where
// Beast keeps its per-stream timer service (web_stream.hpp says why it is
// one per server). Made once by start_server; it outlives the connections
// that hold it.
class web_front;
std::shared_ptr<web_front> make_web_front(std::shared_ptr<const hub> h);
const config& config_of(const web_front& front) noexcept;

// The actor: HTTP until the upgrade, then a handler-style actor (an idle
// web user holds no fiber stack).
weft::behavior web_connection(weft::context& self, handed_socket handed, std::shared_ptr<web_front> front);

// For the acceptor, over config::max_connections: a 503 for the browser
// (written within a short deadline: the acceptor does not wait for a slow
// client), then the socket closes.
void turn_away(weft::net::socket& sock);

}  // namespace chat
