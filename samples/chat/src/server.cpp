// weft-chat's supervision tree (server.hpp).

#include "server.hpp"

#include "irc_connection.hpp"
#include "presence.hpp"
#include "web.hpp"

#include <weft/runtime/net.hpp>
#include <weft/supervisor/supervisor.hpp>

#include <fmt/format.h>

#include <atomic>
#include <chrono>

namespace chat {

namespace net = weft::net;
namespace sup = weft::sup;
using namespace std::chrono_literals;

namespace {

// A connection's mailbox: deliveries wait here only while the connection
// is busy (it never blocks on its socket), so the bound is a last resort:
// a room whose delivery finds it full cuts the connection off.
constexpr std::size_t connection_mailbox = 1u << 16;
constexpr auto accept_retry_pause = 100ms;

weft::expected<net::listener> listen_on(weft::context& self, const std::string& address, std::uint16_t port) {
  auto listening = net::listener::listen(self, address, port);
  if (!listening && address == "::") listening = net::listener::listen(self, "0.0.0.0", port);
  return listening;
}

void accept_irc(weft::context& self, net::listener& listening, std::shared_ptr<const hub> h) {
  for (;;) {
    auto peer = listening.accept(net::forever);
    if (!peer) {
      self.sleep_for(accept_retry_pause);  // out of descriptors, say: let some close
      continue;
    }
    auto clients = sup::supervisor::from(self.system().whereis(irc_clients_name));
    if (!clients) continue;  // being restarted: this client is dropped (its socket closes)
    auto counts = clients->count_children(self);
    if (counts && counts->active >= h->cfg.max_connections) {
      (void)peer->write_all(":" + h->cfg.server_name + " ERROR :Closing Link: too many connections\r\n", 100ms);
      continue;
    }
    (void)clients->start_child(self, sup::child_args(std::make_shared<net::socket>(std::move(*peer)), h));
  }
}

sup::child_spec irc_acceptor(std::shared_ptr<const hub> h, std::shared_ptr<std::atomic<std::uint16_t>> bound) {
  return {
      .id = "irc_acceptor",
      .start = [h, bound](sup::child_starter& starting) -> sup::start_result {
        auto listening = listen_on(starting.self(), h->cfg.bind_address, h->cfg.irc_port);
        if (!listening) {
          return sup::start_result::error(fmt::format("cannot listen for IRC on port {}: {}", h->cfg.irc_port,
                                                      listening.error()));
        }
        bound->store(listening->port());
        return starting.spawn_link([listening = std::move(*listening), h](weft::context& self) mutable {
          accept_irc(self, listening, h);
        });
      },
  };
}

// The web front's acceptor: as accept_irc, for HTTP (web.hpp). Over
// max_connections a browser gets a 503 instead of an IRC ERROR line.
void accept_web(weft::context& self, net::listener& listening, std::shared_ptr<web_front> front) {
  const config& cfg = config_of(*front);
  for (;;) {
    auto peer = listening.accept(net::forever);
    if (!peer) {
      self.sleep_for(accept_retry_pause);
      continue;
    }
    auto clients = sup::supervisor::from(self.system().whereis(web_clients_name));
    if (!clients) continue;
    auto counts = clients->count_children(self);
    if (counts && counts->active >= cfg.max_connections) {
      turn_away(*peer);
      continue;
    }
    (void)clients->start_child(self, sup::child_args(std::make_shared<net::socket>(std::move(*peer)), front));
  }
}

sup::child_spec web_acceptor(std::shared_ptr<web_front> front, std::shared_ptr<std::atomic<std::uint16_t>> bound) {
  return {
      .id = "web_acceptor",
      .start = [front, bound](sup::child_starter& starting) -> sup::start_result {
        const config& cfg = config_of(*front);
        auto listening = listen_on(starting.self(), cfg.bind_address, cfg.ws_port);
        if (!listening) {
          return sup::start_result::error(
              fmt::format("cannot listen for the web front on port {}: {}", cfg.ws_port, listening.error()));
        }
        bound->store(listening->port());
        return starting.spawn_link([listening = std::move(*listening), front](weft::context& self) mutable {
          accept_web(self, listening, front);
        });
      },
  };
}

}  // namespace

weft::expected<running_server> start_server(weft::runtime& rt, const config& cfg, weft::persistence::journal& journal) {
  auto shared = std::make_shared<hub>();
  shared->cfg = cfg;
  shared->rooms_supervisor = rooms_name;
  shared->journal = &journal;
  shared->presence_events = presence_broker({.name = "chat_presence_events"});
  std::shared_ptr<const hub> h = shared;
  auto irc_port = std::make_shared<std::atomic<std::uint16_t>>(0);
  auto ws_port = std::make_shared<std::atomic<std::uint16_t>>(0);

  sup::supervisor_spec tree{
      .id = "chat",
      .strategy = sup::restart_strategy::one_for_one,
      .max_restarts = 10,
      .max_window = 10s,
      .children =
          {
              h->presence_events.child_spec("presence_events"),
              presence_spec(h->presence_events),
              sup::as_child({.id = "rooms",
                             .strategy = sup::restart_strategy::one_for_one,
                             .max_restarts = static_cast<std::uint32_t>(cfg.room_restarts),
                             .max_window = cfg.restart_window,
                             .name = rooms_name}),
              sup::as_child({.id = "irc_clients",
                             .strategy = sup::restart_strategy::dynamic,
                             .children = {sup::dynamic_worker<handed_socket, std::shared_ptr<const hub>>(
                                 "irc", irc_connection,
                                 {.restart = sup::restart_type::temporary,
                                  .spawn = {.mailbox_capacity = connection_mailbox}})},
                             .name = irc_clients_name}),
              irc_acceptor(h, irc_port),
          },
      .name = "chat",
  };
  if (cfg.web) {
    auto front = make_web_front(h);
    tree.children.push_back(sup::as_child(
        {.id = "web_clients",
         .strategy = sup::restart_strategy::dynamic,
         .children = {sup::dynamic_worker<handed_socket, std::shared_ptr<web_front>>(
             "web", web_connection,
             {.restart = sup::restart_type::temporary, .spawn = {.mailbox_capacity = connection_mailbox}})},
         .name = web_clients_name}));
    tree.children.push_back(web_acceptor(front, ws_port));
  }
  auto started = sup::start(rt, std::move(tree));
  if (!started) return started.error();
  return running_server{*started, h, irc_port->load(), ws_port->load()};
}

}  // namespace chat
