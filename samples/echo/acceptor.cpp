// The acceptor (acceptor.hpp).

#include "acceptor.hpp"

#include "connection.hpp"
#include "limits.hpp"

#include <weft/runtime/net.hpp>
#include <weft/runtime/runtime.hpp>
#include <weft/supervisor/supervisor.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <utility>

namespace echo {

namespace net = weft::net;
namespace sup = weft::sup;

namespace {

void accept_connections(weft::context& self, net::listener& listening, const sup::supervisor& connections) {
  for (;;) {
    auto peer = listening.accept(net::forever);
    if (!peer) {
      self.sleep_for(accept_retry_pause);
      continue;
    }
    auto started = connections.start_child(self, sup::child_args(std::make_shared<net::socket>(std::move(*peer))));
    if (!started) fmt::print(stderr, "weft-echo: cannot start a connection: {}\n", started.error());
  }
}

// Both IPv6 and IPv4 where the host has IPv6, else IPv4 alone.
weft::expected<net::listener> listen_any(weft::context& self, std::uint16_t port) {
  auto listening = net::listener::listen(self, "::", port);
  if (!listening) listening = net::listener::listen(self, "0.0.0.0", port);
  return listening;
}

}  // namespace

sup::child_spec acceptor(std::uint16_t port, std::string connections_name) {
  return {
      .id = "acceptor",
      .start = [port, connections_name](sup::child_starter& starting) -> sup::start_result {
        auto connections = sup::supervisor::from(starting.self().system().whereis(connections_name));
        if (!connections) {
          return sup::start_result::error(fmt::format("no supervisor named '{}' to hand connections to: {}",
                                                      connections_name, connections.error()));
        }
        auto listening = listen_any(starting.self(), port);
        if (!listening) {
          const bool taken = listening.error() == net::errc::address_in_use;
          return sup::start_result::error(fmt::format("cannot listen on port {}: {}{}", port, listening.error(),
                                                      taken ? "; stop the server that holds it, or give weft-echo "
                                                              "another port (weft-echo PORT)"
                                                            : ""));
        }
        fmt::print("weft-echo: listening on port {}\n", listening->port());
        std::fflush(stdout);
        return starting.spawn_link(
            [listening = std::move(*listening), connections = *connections](weft::context& self) mutable {
              accept_connections(self, listening, connections);
            });
      },
  };
}

}  // namespace echo
