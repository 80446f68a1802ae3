#pragma once
// What moves between the actors of weft-chat: one immutable event per
// thing that happened (a message said, a join, a part, a quit, a topic, an
// away change, a nick change), encoded once and shared by every member
// that receives it.
//
//   session (IRC or web) --say--> room: numbers it, makes it durable,
//                                 builds ONE event (both IRC encodings
//                                 inside), then for each member:
//                                   try_send(member, deliver{ptr}) -> session:
//                                   appends ptr->line or ptr->tagged (or
//                                   its JSON) to its output queue
//
// A shared_ptr<const event> is safe to read from every member's thread at
// once: nothing in it changes after make().

#include <weft/runtime/pid.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace chat {

enum class event_kind : std::uint8_t {
  privmsg = 0,  // values are stored in the journal (history.hpp): append, never reorder
  notice = 1,
  topic = 2,
  join = 3,
  part = 4,
  quit = 5,
  away = 6,  // text empty: back
  nick = 7,  // text: the new nick
};
std::string_view to_string(event_kind k) noexcept;
// The IRC command of an event ("PRIVMSG", ...).
std::string_view command_of(event_kind k) noexcept;
// Kept in a room's history (and numbered): the rest are presence.
constexpr bool is_history(event_kind k) noexcept {
  return k == event_kind::privmsg || k == event_kind::notice || k == event_kind::topic;
}

struct event {
  event_kind kind = event_kind::privmsg;
  std::string room{};        // the room's display name ("#weft"); the target nick for a direct message
  std::string nick{};        // who did it
  std::string prefix{};      // nick!user@host
  std::string text{};        // message, reason, topic, away text, or new nick
  std::int64_t time_ms = 0;  // server time, milliseconds since the epoch
  std::uint64_t seq = 0;     // history events: the room's sequence number (1, 2, ...)
  std::string msgid{};       // history events: "<seq>-<room tag>", unique across rooms
  weft::pid from{};          // presence events: the session it is about (not kept in history)
  // A quit or a nick change reaches a user once per room it shares with
  // them; sessions drop the copies with the same nonzero once_id.
  std::uint64_t once_id = 0;
  std::string line{};    // the IRC line, CR LF included, without tags
  std::string tagged{};  // "@time=...;msgid=... " + line (server-time, msgid)

  // Builds an event and its two IRC encodings.
  static std::shared_ptr<const event> make(event e);
};
using event_ptr = std::shared_ptr<const event>;

// To a member (a session actor): something happened where it is.
struct deliver {
  event_ptr e;
};

// The room tag of msgids: 8 hex digits of a hash of the folded room name.
std::string room_tag(std::string_view folded_room);
std::string make_msgid(std::uint64_t seq, std::string_view tag);
// The sequence number in a msgid of this room (tag must match); 0 if not.
std::uint64_t seq_of_msgid(std::string_view msgid, std::string_view tag) noexcept;

}  // namespace chat
