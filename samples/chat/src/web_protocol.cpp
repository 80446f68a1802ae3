// The web front's JSON protocol (web_protocol.hpp).
//
// Parsing is strict about types and lenient about extras: a field of the
// wrong JSON type is refused (bad_field) rather than guessed at, unknown
// fields are ignored (a newer page may send more). Names are not judged
// here: the session refuses what IRC would (invalid_name), so both
// protocols agree on what a nick or a room is.

#include "web_protocol.hpp"

#include "irc/protocol.hpp"

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include <limits>
#include <optional>

namespace chat::web {

namespace {

using json = nlohmann::json;
// Output keeps "type" first, as a person reading frames expects.
using ordered = nlohmann::ordered_json;

// Names, topics and texts reached the server as valid UTF-8, but a
// session's nick from IRC is bytes: never let dump() throw on one.
template <class Json>
std::string dumped(const Json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Reads the fields of one request object, remembering the first problem.
class fields {
 public:
  fields(const json& object, std::string_view type) : object_(object), type_(type) {}

  // A string field; absent: nullopt (a problem when required).
  std::optional<std::string> text(const char* key, bool required, std::size_t max_bytes = 0) {
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) {
      if (required) fail(error_code::missing_field, fmt::format("{} needs \"{}\"", type_, key));
      return std::nullopt;
    }
    if (!it->is_string()) {
      fail(error_code::bad_field, fmt::format("\"{}\" must be a string", key));
      return std::nullopt;
    }
    const auto& value = it->get_ref<const std::string&>();
    if (max_bytes != 0 && value.size() > max_bytes) {
      fail(error_code::text_too_long,
           fmt::format("\"{}\" is {} bytes; the most is {} (what one IRC line carries)", key, value.size(), max_bytes));
      return std::nullopt;
    }
    return value;
  }

  bool flag(const char* key) {
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return false;
    if (!it->is_boolean()) {
      fail(error_code::bad_field, fmt::format("\"{}\" must be true or false", key));
      return false;
    }
    return it->get<bool>();
  }

  std::optional<std::size_t> count(const char* key) {
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return std::nullopt;
    if (it->is_number_unsigned() && it->get<std::uint64_t>() >= 1) {
      return static_cast<std::size_t>(std::min<std::uint64_t>(it->get<std::uint64_t>(),
                                                              std::numeric_limits<std::size_t>::max()));
    }
    fail(error_code::bad_field, fmt::format("\"{}\" must be a whole number of at least 1", key));
    return std::nullopt;
  }

  void fail(error_code code, std::string text) {
    if (!problem_) problem_ = refusal{code, std::move(text), std::string(type_)};
  }
  bool ok() const noexcept { return !problem_; }
  // The problem, or `r` if there was none.
  template <class R>
  request result(R r) {
    if (problem_) return *problem_;
    return r;
  }

 private:
  const json& object_;
  std::string_view type_;
  std::optional<refusal> problem_;
};

request parse_object(const json& object, std::string_view type) {
  fields f(object, type);
  if (type == "hello") {
    auto nick = f.text("nick", true);
    return f.result(hello_request{nick.value_or("")});
  }
  if (type == "nick") {
    auto nick = f.text("nick", true);
    return f.result(nick_request{nick.value_or("")});
  }
  if (type == "join") {
    auto room = f.text("room", true);
    return f.result(join_request{room.value_or("")});
  }
  if (type == "part") {
    auto room = f.text("room", true);
    auto reason = f.text("reason", false, max_text_bytes);
    return f.result(part_request{room.value_or(""), reason.value_or("")});
  }
  if (type == "say") {
    auto room = f.text("room", false);
    auto to = f.text("to", false);
    if (f.ok()) {
      if (room && to) f.fail(error_code::bad_field, "say takes \"room\" or \"to\", not both");
      if (!room && !to) f.fail(error_code::missing_field, "say needs \"room\" (a room) or \"to\" (a nick)");
      if (room && !irc::is_channel(*room)) {
        f.fail(error_code::bad_field, "\"room\" is a room name, starting with '#' or '&'");
      }
      if (to && irc::is_channel(*to)) f.fail(error_code::bad_field, "\"to\" is a nick; say to a room with \"room\"");
    }
    auto text = f.text("text", true, max_text_bytes);
    if (text && text->empty()) f.fail(error_code::bad_field, "\"text\" is empty");
    const bool notice = f.flag("notice");
    return f.result(say_request{room ? *room : to.value_or(""), text.value_or(""), notice});
  }
  if (type == "topic") {
    auto room = f.text("room", true);
    auto text = f.text("text", true, max_text_bytes);
    return f.result(topic_request{room.value_or(""), text.value_or("")});
  }
  if (type == "away") {
    auto text = f.text("text", false, max_text_bytes);
    return f.result(away_request{text.value_or("")});
  }
  if (type == "history") {
    auto room = f.text("room", true);
    auto before = f.text("before", false);
    auto limit = f.count("limit");
    return f.result(history_query{room.value_or(""), before.value_or(""), limit.value_or(default_history)});
  }
  return refusal{error_code::unknown_type,
                 fmt::format("unknown type \"{}\" (hello, join, part, say, topic, away, history, nick)",
                             irc::to_valid_utf8(type.substr(0, 32))),
                 {}};
}

ordered event_json(const event_fields& e) {
  ordered j;
  j["type"] = to_string(e.type);
  switch (e.type) {
    case event_type::message:
      j["kind"] = e.notice ? "notice" : "privmsg";
      if (e.room.empty()) {
        j["to"] = e.to;
      } else {
        j["room"] = e.room;
      }
      j["nick"] = e.nick;
      j["text"] = e.text;
      break;
    case event_type::topic:
      j["room"] = e.room;
      j["nick"] = e.nick;
      j["text"] = e.text;
      break;
    case event_type::join:
      j["room"] = e.room;
      j["nick"] = e.nick;
      break;
    case event_type::part:
      j["room"] = e.room;
      j["nick"] = e.nick;
      j["reason"] = e.text;
      break;
    case event_type::quit:
      j["nick"] = e.nick;
      j["reason"] = e.text;
      break;
    case event_type::nick:
      j["nick"] = e.nick;
      j["new"] = e.text;
      break;
    case event_type::away:
      j["nick"] = e.nick;
      j["text"] = e.text;
      break;
  }
  j["time"] = e.time_ms;
  if (!e.msgid.empty()) j["msgid"] = e.msgid;
  return j;
}

}  // namespace

std::string_view to_string(error_code code) noexcept {
  switch (code) {
    case error_code::bad_json: return "bad_json";
    case error_code::not_an_object: return "not_an_object";
    case error_code::unknown_type: return "unknown_type";
    case error_code::missing_field: return "missing_field";
    case error_code::bad_field: return "bad_field";
    case error_code::text_too_long: return "text_too_long";
    case error_code::binary_frame: return "binary_frame";
    case error_code::not_registered: return "not_registered";
    case error_code::already_registered: return "already_registered";
    case error_code::nick_in_use: return "nick_in_use";
    case error_code::invalid_name: return "invalid_name";
    case error_code::no_such_nick: return "no_such_nick";
    case error_code::no_such_room: return "no_such_room";
    case error_code::not_in_room: return "not_in_room";
    case error_code::too_many_rooms: return "too_many_rooms";
    case error_code::unavailable: return "unavailable";
  }
  return "unknown";
}

std::string_view to_string(event_type type) noexcept {
  switch (type) {
    case event_type::message: return "message";
    case event_type::topic: return "topic";
    case event_type::join: return "join";
    case event_type::part: return "part";
    case event_type::quit: return "quit";
    case event_type::nick: return "nick";
    case event_type::away: return "away";
  }
  return "message";
}

request parse(std::string_view frame) {
  json object;
  try {
    object = json::parse(frame.data(), frame.data() + frame.size());
  } catch (const json::exception& e) {
    // "[json.exception.parse_error.101] parse error at line 1, column 3:
    // ...": the part after the bracket says where and why.
    std::string_view why = e.what();
    if (const auto bracket = why.find("] "); bracket != std::string_view::npos) why.remove_prefix(bracket + 2);
    return refusal{error_code::bad_json, fmt::format("not JSON: {}", irc::to_valid_utf8(why)), {}};
  }
  if (!object.is_object()) {
    return refusal{error_code::not_an_object, "a request is a JSON object, like {\"type\":\"hello\",\"nick\":\"ada\"}",
                   {}};
  }
  auto type = object.find("type");
  if (type == object.end() || !type->is_string()) {
    return refusal{error_code::unknown_type, "a request needs \"type\", a string", {}};
  }
  return parse_object(object, type->get_ref<const std::string&>());
}

std::string encode(const request& r) {
  ordered j;
  std::visit(
      [&](const auto& q) {
        using T = std::decay_t<decltype(q)>;
        if constexpr (std::is_same_v<T, hello_request>) {
          j = {{"type", "hello"}, {"nick", q.nick}};
        } else if constexpr (std::is_same_v<T, nick_request>) {
          j = {{"type", "nick"}, {"nick", q.nick}};
        } else if constexpr (std::is_same_v<T, join_request>) {
          j = {{"type", "join"}, {"room", q.room}};
        } else if constexpr (std::is_same_v<T, part_request>) {
          j = {{"type", "part"}, {"room", q.room}};
          if (!q.reason.empty()) j["reason"] = q.reason;
        } else if constexpr (std::is_same_v<T, say_request>) {
          j = {{"type", "say"}};
          j[irc::is_channel(q.target) ? "room" : "to"] = q.target;
          j["text"] = q.text;
          if (q.notice) j["notice"] = true;
        } else if constexpr (std::is_same_v<T, topic_request>) {
          j = {{"type", "topic"}, {"room", q.room}, {"text", q.text}};
        } else if constexpr (std::is_same_v<T, away_request>) {
          j = {{"type", "away"}, {"text", q.text}};
        } else if constexpr (std::is_same_v<T, history_query>) {
          j = {{"type", "history"}, {"room", q.room}};
          if (!q.before.empty()) j["before"] = q.before;
          if (q.limit != default_history) j["limit"] = q.limit;
        }
      },
      r);
  return j.is_null() ? std::string() : dumped(j);
}

std::string encode_welcome(std::string_view nick, std::string_view server) {
  return dumped(ordered{{"type", "welcome"}, {"nick", nick}, {"server", server}, {"max_text", max_text_bytes}});
}

std::string encode_error(error_code code, std::string_view text, std::string_view request) {
  ordered j{{"type", "error"}, {"code", to_string(code)}, {"text", text}};
  if (!request.empty()) j["request"] = request;
  return dumped(j);
}

std::string encode_event(const event_fields& e) { return dumped(event_json(e)); }

std::string encode_joined(const joined_fields& joined) {
  ordered j{{"type", "joined"},
            {"room", joined.room},
            {"topic", joined.topic},
            {"topic_by", joined.topic_by},
            {"topic_time", joined.topic_time_ms}};
  j["names"] = joined.names ? ordered(*joined.names) : ordered::array();
  ordered history = ordered::array();
  if (joined.history) {
    for (const event_fields& e : *joined.history) history.push_back(event_json(e));
  }
  j["history"] = std::move(history);
  return dumped(j);
}

std::string encode_history(std::string_view room, const std::vector<event_fields>& messages) {
  ordered j{{"type", "history"}, {"room", room}};
  ordered list = ordered::array();
  for (const event_fields& e : messages) list.push_back(event_json(e));
  j["messages"] = std::move(list);
  return dumped(j);
}

}  // namespace chat::web
