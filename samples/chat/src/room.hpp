#pragma once
// A room (an IRC channel): one actor per room, a topic its members
// publish to. It keeps the members, numbers what they say, makes it
// durable in its history (history.hpp) and then hands ONE shared event to
// every member.
//
//   session                     room (actors::server)              room's history (persistent actor)
//   -------                     ---------------------              ---------------------------------
//   call join_room -----------> add the member, monitor it,
//                               tell the others (JOIN);
//   <-- joined{topic, names} -- answer with topic and names
//   cast say -----------------> queue it; the first one of a
//                               batch posts `flush` to itself,
//                               so every say queued before the
//                               flush joins the batch
//                               flush: ask append(batch) ------->  numbered, on disk (group
//                                                                  commit with every room)
//                               <-- last sequence number --------
//                               for each record: make the event
//                               (both IRC encodings, once), then
//   <-- deliver{event} -------- try_send it to every member
//                               (not the sender unless it asked
//                               for echo); a member whose mailbox
//                               is full is cut off: it is hopelessly
//                               behind
//   cast leave_room ----------> remove, tell the others (PART/QUIT)
//   (session dies) -----------> down_msg: remove, tell the others (QUIT)
//
// Crash and restart (the `rooms` supervisor restarts a crashed room):
// its history child dies with it (linked) and the new incarnation
// recovers topic and history from the journal. Members are not in the
// journal: each session monitors its rooms and, when one goes down,
// joins the new incarnation again without announcing itself, then asks
// for the history after the last message it had (session.hpp). So what a
// crash loses is only what was not yet durable: the says in the room's
// mailbox and in the batch being written. Lost says are not reported to
// their senders (IRC has no acknowledgement for PRIVMSG).
//
// Who may call: sessions (join, leave, say, changes, history, who). The
// room's own pid is found by name: "room:" + the folded room name
// (rooms.hpp starts it on first use).

#include "config.hpp"
#include "event.hpp"

#include <weft/runtime/protocol.hpp>
#include <weft/supervisor/child_spec.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace weft::persistence {
class journal;
}

namespace chat {

struct member_info {
  weft::pid who;
  std::string nick;
  std::string prefix;
  bool echo = false;  // wants its own messages back (IRCv3 echo-message; web clients)
};

// -- requests ------------------------------------------------------------------

struct join_room {
  member_info member;
  bool announce = true;  // false: a rejoin after the room restarted
};
struct joined {
  std::string name{};  // the room's display name (as first created)
  std::string topic{};
  std::string topic_by{};
  std::int64_t topic_time_ms = 0;
  std::vector<std::string> names{};  // members' nicks, the joiner included
  std::uint64_t last_seq = 0;        // the newest durable history event
  std::string tag{};                 // the room tag in this room's msgids
};
struct leave_room {
  weft::pid who;
  event_kind how = event_kind::part;  // part or quit
  std::string reason;
  std::uint64_t once_id = 0;
};
struct say {
  weft::pid who;
  event_kind kind = event_kind::privmsg;  // privmsg, notice, topic
  std::string text;
};
// A member's away state or nick changed: the room tells the others.
struct member_changed {
  weft::pid who;
  event_kind kind = event_kind::away;  // away or nick
  std::string text;                    // away text ("" = back), or the new nick
  std::string new_prefix;              // nick: the prefix after the change
  std::uint64_t once_id = 0;
};

// CHATHISTORY selectors, resolved against the room's sequence numbers.
struct history_ref {
  std::uint64_t seq = 0;      // from a msgid
  std::int64_t time_ms = -1;  // from a timestamp (when seq is 0)
  bool any() const noexcept { return seq == 0 && time_ms < 0; }
};
struct history_request {
  enum class selector : std::uint8_t { latest, before, after, around, between };
  selector what = selector::latest;
  history_ref a{};  // latest: the bound ('*' = any); between: the first
  history_ref b{};  // between: the second
  std::size_t limit = 50;
};
struct who_request {};
// Topic and names without joining (TOPIC / NAMES of a room one is not in).
struct describe_room {};

using room_protocol =
    weft::protocol<joined(join_room), void(leave_room), void(say), void(member_changed),
                   std::vector<event_ptr>(history_request), std::vector<member_info>(who_request),
                   joined(describe_room)>;

// The room's child spec for the `rooms` supervisor: id = folded name,
// registered as room_name(folded), transient (a room that stops because
// it stayed empty is not restarted; one that crashed is).
weft::sup::child_spec room_spec(const config& cfg, weft::persistence::journal& journal, std::string folded,
                                std::string display);
std::string room_name(std::string_view folded);

}  // namespace chat
