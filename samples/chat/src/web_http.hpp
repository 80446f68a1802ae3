#pragma once
// The web front's HTTP side: what a web connection (web.hpp) does before
// the page opens its WebSocket. Beast parses each request and writes each
// response over a blocking_stream (web_stream.hpp): the actor has nothing
// else to do yet, so it waits for the socket, with a deadline.
//
//   GET / , /index.html, /app.js, /style.css --> 200, the embedded page
//                                                (web_assets.hpp); HEAD too
//   GET /ws with Upgrade: websocket ----------> returned to the caller,
//                                                which hands it to Beast's
//                                                websocket::stream
//   GET /ws without ---------------------------> 426
//   another path -------------------------------> 404
//   another method -----------------------------> 405
//   what Beast cannot parse, headers over 8 KiB -> 400, then close
//   silence past 15 s, or 100 requests ---------> close
//
// Owner only: the connection actor that holds the socket.

#include <weft/runtime/net.hpp>

#include <boost/beast/http.hpp>

#include <optional>
#include <string>

namespace chat {

struct upgrade_request {
  boost::beast::http::request<boost::beast::http::empty_body> request;
  std::string read_ahead;  // bytes after the request, already read
};

// Serves HTTP until the page's WebSocket asks for the upgrade (returned)
// or the client is done (nullopt: close the socket).
std::optional<upgrade_request> serve_http(weft::net::socket& sock);

}  // namespace chat
