// The web front's HTTP side (web_http.hpp).

#include "web_http.hpp"

#include "web.hpp"
#include "web_assets.hpp"
#include "web_stream.hpp"

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <fmt/format.h>

#include <chrono>
#include <string_view>

namespace chat {

namespace {

namespace net = weft::net;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using namespace std::chrono_literals;
using beast_io::error_code;

// Each request must arrive whole within this (also the keep-alive wait
// between requests), in at most this many header bytes.
constexpr auto http_timeout = 15s;
constexpr std::uint32_t http_header_limit = 8192;
constexpr std::size_t requests_per_connection = 100;

// Writes one response; false if the client is gone.
template <class Body>
bool respond(beast_io::blocking_stream& stream, const http::request<http::empty_body>* req,
             http::response<Body>& res, bool keep_alive) {
  res.set(http::field::server, "weft-chat");
  res.keep_alive(keep_alive);
  if (req != nullptr && req->method() == http::verb::head) {
    http::response<http::empty_body> head{res.base()};
    head.content_length(res.payload_size().value_or(0));
    error_code ec;
    http::write(stream, head, ec);
    return !ec;
  }
  res.prepare_payload();
  error_code ec;
  http::write(stream, res, ec);
  return !ec;
}

bool respond_text(beast_io::blocking_stream& stream, const http::request<http::empty_body>* req, http::status status,
                  std::string text, bool keep_alive, void (*decorate)(http::fields&) = nullptr) {
  http::response<http::string_body> res{status, 11};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.body() = std::move(text) + "\n";
  if (decorate) decorate(res.base());
  return respond(stream, req, res, keep_alive);
}

}  // namespace

std::optional<upgrade_request> serve_http(net::socket& sock) {
  beast_io::blocking_stream stream(sock);
  beast::flat_buffer buffer;
  for (std::size_t served = 0; served < requests_per_connection; ++served) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(http_header_limit);
    stream.expires_after(http_timeout);
    error_code ec;
    http::read(stream, buffer, parser, ec);
    if (ec == http::error::end_of_stream || ec == boost::asio::error::eof || ec == boost::asio::error::timed_out ||
        ec == boost::asio::error::connection_reset) {
      return std::nullopt;  // gone, or quiet for too long between requests: nothing to answer
    }
    if (ec) {
      respond_text(stream, nullptr, http::status::bad_request, fmt::format("Bad request: {}", ec.message()), false);
      return std::nullopt;
    }
    const auto& req = parser.get();
    const std::string_view target(req.target().data(), req.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    const bool keep_alive = req.keep_alive();
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      if (!respond_text(stream, &req, http::status::method_not_allowed, "Only GET and HEAD are served here.",
                        keep_alive, [](http::fields& f) { f.set(http::field::allow, "GET, HEAD"); })) {
        return std::nullopt;
      }
    } else if (path == "/ws") {
      if (websocket::is_upgrade(req)) {
        return upgrade_request{parser.release(), beast::buffers_to_string(buffer.data())};
      }
      if (!respond_text(stream, &req, http::status::upgrade_required,
                        "This is weft-chat's WebSocket: open the page at / instead.", keep_alive,
                        [](http::fields& f) {
                          f.set(http::field::upgrade, "websocket");
                          f.set(http::field::connection, "Upgrade");
                        })) {
        return std::nullopt;
      }
    } else if (auto asset = web::find_asset(path)) {
      http::response<http::span_body<const char>> res{http::status::ok, 11};
      res.set(http::field::content_type, beast::string_view(asset->content_type.data(), asset->content_type.size()));
      res.set(http::field::cache_control, "no-cache");
      res.set("X-Content-Type-Options", "nosniff");
      // The page runs its own script only, and talks to this server only.
      res.set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:");
      res.body() = http::span_body<const char>::value_type(asset->body.data(), asset->body.size());
      if (!respond(stream, &req, res, keep_alive)) return std::nullopt;
    } else {
      if (!respond_text(stream, &req, http::status::not_found, fmt::format("Not found: {}", path), keep_alive)) {
        return std::nullopt;
      }
    }
    if (!keep_alive) return std::nullopt;
  }
  return std::nullopt;
}

void turn_away(net::socket& sock) {
  beast_io::blocking_stream stream(sock);
  stream.expires_after(100ms);
  respond_text(stream, nullptr, http::status::service_unavailable, "Too many connections: try again later.", false);
}

}  // namespace chat
