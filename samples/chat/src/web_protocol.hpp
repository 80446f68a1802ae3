#pragma once
// The web front's protocol: JSON objects, one per WebSocket text frame,
// each with a "type". This file is the protocol alone (no runtime, no
// socket): parse() turns a client's frame into one typed request or a
// refusal, the encode_* functions build the server's objects. The web
// connection (web.hpp) does what a request asks through its session; the
// fuzz target (fuzz/ws_json_fuzz.cpp) runs parse and encode on any bytes.
//
//   client -> server                     server -> client
//   ----------------                     ----------------
//   {"type":"hello","nick"} -----------> welcome {nick, server, max_text}
//                                        or error (the client may retry)
//   {"type":"join","room"} ------------> joined {room, topic, topic_by,
//                                        topic_time, names, history}
//   {"type":"part","room","reason"?} --> part {room, nick: yours}
//   {"type":"say","room"|"to","text",
//    "notice"?} -----------------------> message (your own, back from the
//                                        room with its msgid and time)
//   {"type":"topic","room","text"} ----> topic (from the room, to all)
//   {"type":"away","text"} ------------> away {nick: yours, text}
//   {"type":"history","room",
//    "before"?,"limit"?} --------------> history {room, messages}
//   {"type":"nick","nick"} ------------> nick {nick: old, new}
//   anything malformed ----------------> error {code, text, request?}
//                                        (the connection stays up)
//   (others act) <---------------------- message, topic, join, part,
//                                        quit, nick, away
//
// The table in docs/guide/chat/web.md lists every field. Times are
// milliseconds since the epoch (UTC); msgids are the ones IRC clients see.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace chat::web {

// The longest text (a message, topic, reason or away text) a web client
// may send: what one IRC line carries whatever the sender's nick, host and
// room (512 bytes less ":nick!user@host PRIVMSG #room :" at their longest),
// so IRC users see every message whole. The page splits longer input.
inline constexpr std::size_t max_text_bytes = 350;
// A history request without a limit gets this many messages; so does a join.
inline constexpr std::size_t default_history = 50;

// What an error object's "code" says.
enum class error_code : std::uint8_t {
  bad_json = 1,        // not JSON (or not UTF-8)
  not_an_object,       // JSON, but not an object
  unknown_type,        // "type" missing, not a string, or not one above
  missing_field,       // a required field is absent
  bad_field,           // a field of the wrong JSON type or an impossible value
  text_too_long,       // over max_text_bytes
  binary_frame,        // the protocol is text frames only
  not_registered,      // anything but hello before a hello succeeded
  already_registered,  // a second hello (use "nick" to change)
  nick_in_use,
  invalid_name,  // a nick or room name IRC would refuse
  no_such_nick,
  no_such_room,
  not_in_room,
  too_many_rooms,
  unavailable,  // the server could not do it now (a room restarting)
};
// The JSON spelling: "bad_json", "nick_in_use", ...
std::string_view to_string(error_code code) noexcept;

// -- client -> server ------------------------------------------------------------

struct hello_request {
  std::string nick;
  bool operator==(const hello_request&) const = default;
};
struct join_request {
  std::string room;
  bool operator==(const join_request&) const = default;
};
struct part_request {
  std::string room;
  std::string reason;
  bool operator==(const part_request&) const = default;
};
// To a room ("room": a name starting with '#' or '&') or to a nick ("to").
struct say_request {
  std::string target;
  std::string text;
  bool notice = false;
  bool operator==(const say_request&) const = default;
};
struct topic_request {
  std::string room;
  std::string text;
  bool operator==(const topic_request&) const = default;
};
struct away_request {
  std::string text;  // empty: back
  bool operator==(const away_request&) const = default;
};
struct history_query {
  std::string room;
  std::string before;  // a msgid; empty: the latest
  std::size_t limit = default_history;
  bool operator==(const history_query&) const = default;
};
struct nick_request {
  std::string nick;
  bool operator==(const nick_request&) const = default;
};
// A frame that is not a request: what to answer.
struct refusal {
  error_code code = error_code::bad_json;
  std::string text;
  std::string request;  // the request's type, when it was known
  bool operator==(const refusal&) const = default;
};

using request = std::variant<refusal, hello_request, join_request, part_request, say_request, topic_request,
                             away_request, history_query, nick_request>;

// One frame's text, whatever it holds: a request, or why it is none.
// Never throws (but std::bad_alloc).
request parse(std::string_view frame);

// The client's side: the frame that parse() reads back as `r` (a refusal
// gives an empty string). The fuzz target and the tests use it.
std::string encode(const request& r);

// -- server -> client ------------------------------------------------------------

enum class event_type : std::uint8_t { message, topic, join, part, quit, nick, away };
std::string_view to_string(event_type type) noexcept;

// One thing that happened, as a view (the web connection fills it from a
// room's event; nothing is copied until it is encoded).
struct event_fields {
  event_type type = event_type::message;
  bool notice = false;      // message: a NOTICE
  std::string_view room{};  // empty for a direct message and for quit/nick/away
  std::string_view to{};    // a direct message: the nick it was sent to
  std::string_view nick{};  // who did it
  std::string_view text{};  // message, topic, reason, away text, or the new nick
  std::int64_t time_ms = 0;
  std::string_view msgid{};  // messages and topics of rooms
};

std::string encode_welcome(std::string_view nick, std::string_view server);
std::string encode_error(error_code code, std::string_view text, std::string_view request = {});
std::string encode_event(const event_fields& e);
struct joined_fields {
  std::string_view room{};
  std::string_view topic{};
  std::string_view topic_by{};
  std::int64_t topic_time_ms = 0;
  const std::vector<std::string>* names = nullptr;
  const std::vector<event_fields>* history = nullptr;  // oldest first
};
std::string encode_joined(const joined_fields& j);
std::string encode_history(std::string_view room, const std::vector<event_fields>& messages);

}  // namespace chat::web
