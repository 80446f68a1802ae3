// The text weft-chat-loadgen sends and reads: PRIVMSG payloads (what a
// message carries so its receiver can check and time it), received IRC
// lines split as far as the load generator needs, and JSON escaping. Pure
// functions; any thread.
#pragma once

#include "measure.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace chat_bench {

// -- payloads -------------------------------------------------------------------

// "<scheduled ns:19> <sender:6> <seq:10> <filler>", exactly `bytes` long. The
// filler depends on the sender and the position, so a shifted or mixed-up
// message does not pass for another.
inline void make_payload(char* out, int bytes, nanos scheduled, std::uint32_t sender, std::uint64_t seq) {
  auto digits = [](char* at, int width, std::uint64_t v) {
    for (int i = width - 1; i >= 0; --i, v /= 10) at[i] = static_cast<char>('0' + v % 10);
  };
  digits(out, 19, static_cast<std::uint64_t>(scheduled));
  out[19] = ' ';
  digits(out + 20, 6, sender);
  out[26] = ' ';
  digits(out + 27, 10, seq);
  out[37] = ' ';
  for (int i = 38; i < bytes; ++i) out[i] = static_cast<char>('a' + (seq + sender + static_cast<std::uint64_t>(i)) % 26);
}

struct payload_fields {
  nanos scheduled = 0;
  std::uint32_t sender = 0;
  std::uint64_t seq = 0;
};

inline bool parse_payload(std::string_view p, int bytes, payload_fields& out) {
  if (p.size() != static_cast<std::size_t>(bytes) || p[19] != ' ' || p[26] != ' ' || p[37] != ' ') return false;
  std::uint64_t scheduled = 0, sender = 0;
  auto field = [&](std::size_t from, std::size_t to, std::uint64_t& v) {
    const auto [end, ec] = std::from_chars(p.data() + from, p.data() + to, v);
    return ec == std::errc{} && end == p.data() + to;
  };
  if (!field(0, 19, scheduled) || !field(20, 26, sender) || !field(27, 37, out.seq)) return false;
  for (std::size_t i = 38; i < p.size(); ++i) {
    if (p[i] != static_cast<char>('a' + (out.seq + sender + i) % 26)) return false;
  }
  out.scheduled = static_cast<nanos>(scheduled);
  out.sender = static_cast<std::uint32_t>(sender);
  return true;
}

// -- IRC lines ------------------------------------------------------------------

// One received line, split as far as this tool needs: the command (or
// numeric) and its parameters, the last one with its ':' removed.
struct irc_line {
  std::string_view command;
  std::array<std::string_view, 4> params{};
  int param_count = 0;
  std::string_view trailing() const { return param_count > 0 ? params[static_cast<std::size_t>(param_count - 1)] : std::string_view{}; }
};

inline irc_line split_irc_line(std::string_view line) {
  irc_line out;
  auto next_token = [&line]() {
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    const auto sp = line.find(' ');
    std::string_view token = line.substr(0, sp);
    line.remove_prefix(sp == std::string_view::npos ? line.size() : sp);
    return token;
  };
  if (!line.empty() && line.front() == '@') next_token();  // message tags: none requested, skipped if sent
  while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  if (!line.empty() && line.front() == ':') next_token();  // the source
  out.command = next_token();
  while (out.param_count < static_cast<int>(out.params.size())) {
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    if (line.empty()) break;
    if (line.front() == ':' || out.param_count == static_cast<int>(out.params.size()) - 1) {
      if (line.front() == ':') line.remove_prefix(1);
      out.params[static_cast<std::size_t>(out.param_count++)] = line;
      break;
    }
    out.params[static_cast<std::size_t>(out.param_count++)] = next_token();
  }
  return out;
}

inline bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

inline std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace chat_bench
