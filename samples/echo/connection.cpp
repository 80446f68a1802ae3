// The connection actor (connection.hpp).

#include "connection.hpp"

#include "limits.hpp"

#include <fmt/format.h>

#include <string>
#include <utility>

namespace echo {

namespace net = weft::net;

void connection(weft::context&, handed_socket handed) {
  net::socket peer = std::move(*handed);
  // A peer that cannot take the greeting shows it at the first read.
  (void)peer.write_all("weft echo: type a line\n", greeting_timeout);
  for (;;) {
    auto line = peer.read_line(max_line, idle_timeout);
    if (!line) {
      if (line.error() == net::errc::too_long) {
        (void)peer.write_all(fmt::format("error: line longer than {} bytes; closing\n", max_line), farewell_timeout);
      }
      return;  // closed, reset, idle or too long: the socket closes as the actor exits
    }
    std::string out = std::move(*line);
    out.push_back('\n');
    // Lines that arrived together are echoed with one write, as an epoll
    // server written for speed would; an over-long one is left for the
    // next read_line to report.
    while (peer.has_line()) {
      auto more = peer.read_line(max_line, 0s);
      if (!more) break;
      out += *more;
      out.push_back('\n');
    }
    if (!peer.write_all(out, echo_timeout)) return;  // the peer stopped reading
  }
}

}  // namespace echo
