#pragma once
// Presence: who is on line under which nick, and whether they are away or
// idle. One actor (actors::server); the nick table is its state, so a
// nick is claimed atomically (433 "in use" comes from here).
//
//   session                         presence                       watchers (MONITOR)
//   -------                         --------                       ------------------
//   call claim_nick(new) ---------> free (or its own)? take it,
//                                   release the old one, monitor
//                                   the session (first claim)
//                                   publish "presence.<nick>" ----> broker --> deliveries
//                                     online / offline                     (730 / 731)
//   cast set_presence(away|idle) -> publish away / back --------> broker --> AWAY lines
//   (session exits) --------------> down_msg: release, publish
//                                   offline
//   call find_nick(n) ------------> the session's pid (PRIVMSG to a
//                                   nick, WHOIS), its away text
//
// Watchers subscribe to presence_subject(folded nick) on the presence
// broker (pubsub.hpp); the broker, not presence, holds who watches whom,
// and a slow watcher only drops its own notices (drop_oldest).
//
// States: online -> away (AWAY :text) or idle (no input for
// config::idle_after: shown as away "Idle") -> online -> ... -> offline.

#include <weft/actors/pubsub.hpp>
#include <weft/runtime/pid.hpp>
#include <weft/runtime/protocol.hpp>
#include <weft/supervisor/child_spec.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace chat {

enum class presence_state : std::uint8_t { online, away, offline };

// What watchers get.
struct presence_change {
  std::string nick;    // as the user spells it
  std::string prefix;  // nick!user@host
  presence_state state = presence_state::online;
  std::string away;      // away text (state away)
  bool arrived = false;  // online: just came on line (not back from away)
};
using presence_broker = weft::actors::pubsub::broker<presence_change>;
std::string presence_subject(std::string_view folded_nick);

struct claim_nick {
  weft::pid who;
  std::string nick;
  std::string prefix;  // after the change
  // Registered (NICK and USER both given): watchers learn of it. A nick
  // claimed during registration is reserved but not yet on line.
  bool on_line = false;
};
enum class claim_result : std::uint8_t { ok, in_use };
struct find_nick {
  std::string nick;
};
struct nick_found {
  weft::pid who;  // empty: nobody has it
  std::string nick;
  std::string prefix;
  std::string away;
};
struct set_presence {
  weft::pid who;
  bool away = false;
  std::string text;  // away text ("Idle" for idle)
};
struct presence_stats_request {};
struct presence_stats {
  std::size_t online = 0;
  std::size_t away = 0;
};

using presence_protocol = weft::protocol<claim_result(claim_nick), nick_found(find_nick), void(set_presence),
                                         presence_stats(presence_stats_request)>;

inline constexpr const char* presence_name = "chat_presence";

// A worker for the tree: the presence server, registered as presence_name.
weft::sup::child_spec presence_spec(presence_broker broker);

}  // namespace chat
