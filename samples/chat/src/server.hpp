#pragma once
// weft-chat's supervision tree, started by main.cpp (and by the tests,
// which run the same tree on a private port).
//
//   chat (one_for_one)
//    |- presence_events  pubsub broker: presence.<nick> -> MONITOR watchers
//    |- presence         nick table, away/idle, on/off line (presence.hpp)
//    |- rooms            one_for_one; one transient child per room, added
//    |                   on first JOIN (room.hpp), each with its history
//    |- irc_clients      dynamic; one temporary child per IRC connection
//    |- irc_acceptor     listens, hands each socket to irc_clients
//    |- web_clients      dynamic; one per WebSocket connection (web.hpp)
//    '- web_acceptor     HTTP: the page, and WebSocket upgrades
//
// one_for_one at the top: a crashed room is restarted alone (rooms),
// a crashed connection is not restarted (its client is gone), and a
// crashed acceptor is restarted without touching the connections.
// Known limit: a restarted presence forgets who is on line until each
// session claims its nick again (on its next NICK); see the guide.

#include "config.hpp"
#include "session.hpp"

#include <weft/runtime/expected.hpp>
#include <weft/runtime/runtime.hpp>
#include <weft/supervisor/supervisor.hpp>

#include <memory>

namespace weft::persistence {
class journal;
}

namespace chat {

inline constexpr const char* rooms_name = "chat_rooms";
inline constexpr const char* irc_clients_name = "chat_irc_clients";
inline constexpr const char* web_clients_name = "chat_web_clients";

struct running_server {
  weft::sup::supervisor tree;
  std::shared_ptr<const hub> shared;
  std::uint16_t irc_port = 0;  // the port bound (config port 0: a free one)
  std::uint16_t ws_port = 0;   // 0: no web front
};

// Starts the tree in `rt`. The journal must outlive the runtime's actors.
weft::expected<running_server> start_server(weft::runtime& rt, const config& cfg,
                                            weft::persistence::journal& journal);

}  // namespace chat
