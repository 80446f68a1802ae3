// Events and their IRC encodings (event.hpp).

#include "event.hpp"

#include "irc/protocol.hpp"

#include <fmt/format.h>

#include <charconv>

namespace chat {

std::string_view to_string(event_kind k) noexcept {
  switch (k) {
    case event_kind::privmsg: return "privmsg";
    case event_kind::notice: return "notice";
    case event_kind::topic: return "topic";
    case event_kind::join: return "join";
    case event_kind::part: return "part";
    case event_kind::quit: return "quit";
    case event_kind::away: return "away";
    case event_kind::nick: return "nick";
  }
  return "unknown";
}

std::string_view command_of(event_kind k) noexcept {
  switch (k) {
    case event_kind::privmsg: return "PRIVMSG";
    case event_kind::notice: return "NOTICE";
    case event_kind::topic: return "TOPIC";
    case event_kind::join: return "JOIN";
    case event_kind::part: return "PART";
    case event_kind::quit: return "QUIT";
    case event_kind::away: return "AWAY";
    case event_kind::nick: return "NICK";
  }
  return "NOTICE";
}

event_ptr event::make(event e) {
  const std::string_view command = command_of(e.kind);
  switch (e.kind) {
    case event_kind::privmsg:
    case event_kind::notice:
    case event_kind::topic:
    case event_kind::part: e.line = irc::line(e.prefix, command, {e.room, e.text}); break;
    case event_kind::join: e.line = irc::line(e.prefix, command, {e.room}); break;
    case event_kind::quit:
    case event_kind::nick: e.line = irc::line(e.prefix, command, {e.text}); break;
    case event_kind::away:
      e.line = e.text.empty() ? irc::line(e.prefix, command, {}) : irc::line(e.prefix, command, {e.text});
      break;
  }
  e.tagged = fmt::format("@time={}{}{} {}", irc::format_time(e.time_ms), e.msgid.empty() ? "" : ";msgid=",
                         irc::escape_tag_value(e.msgid), e.line);
  return std::make_shared<const event>(std::move(e));
}

std::string room_tag(std::string_view folded_room) {
  std::uint32_t h = 2166136261u;  // FNV-1a: stable across runs and builds, unlike std::hash
  for (unsigned char c : folded_room) {
    h ^= c;
    h *= 16777619u;
  }
  return fmt::format("{:08x}", h);
}

std::string make_msgid(std::uint64_t seq, std::string_view tag) { return fmt::format("{}-{}", seq, tag); }

std::uint64_t seq_of_msgid(std::string_view msgid, std::string_view tag) noexcept {
  const auto dash = msgid.find('-');
  if (dash == std::string_view::npos || msgid.substr(dash + 1) != tag) return 0;
  std::uint64_t seq = 0;
  const auto [end, ec] = std::from_chars(msgid.data(), msgid.data() + dash, seq);
  if (ec != std::errc{} || end != msgid.data() + dash) return 0;
  return seq;
}

}  // namespace chat
