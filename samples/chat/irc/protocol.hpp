#pragma once
// The IRC protocol alone: lines in, messages out, and back. No runtime,
// no sockets, no allocation beyond the strings it returns, so that the
// fuzz target (fuzz/irc_line_fuzz.cpp) and the tests exercise exactly
// what the server runs.
//
//   bytes from a socket --> line_splitter --> one line at a time (no CR/LF),
//                                             or "too long" (the line was
//                                             dropped as it arrived: memory
//                                             stays bounded whatever comes)
//   a line -------------> parse() --------> message{tags, prefix, command, params}
//                                             or a parse_error saying why
//   the server's reply -> line() ---------> ":prefix CMD a b :last words\r\n"
//                                             cut to 512 bytes on a UTF-8
//                                             boundary
//
// Grammar: RFC 1459/2812 with IRCv3 message-tags
//   [@tags SPACE] [:prefix SPACE] command [params] CRLF
// Limits (what the server announces in 005 and enforces):
//   - the part after the tags: at most 512 bytes including CRLF (RFC 2812);
//     over it, a client gets 417 ERR_INPUTTOOLONG and the line is dropped.
//   - a client's tags: at most 4094 bytes (IRCv3), the '@' and space apart.
//   - at most 15 parameters (RFC 2812); more is a parse_error.
//
// Who may call what: everything here is a pure function or an owner-only
// value type; any thread.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chat::irc {

inline constexpr std::size_t max_line_bytes = 512;       // without tags, CRLF included
inline constexpr std::size_t max_client_tag_bytes = 4094;  // '@' and the space after excluded
inline constexpr std::size_t max_params = 15;
inline constexpr std::size_t max_nick_length = 30;     // NICKLEN in 005
inline constexpr std::size_t max_channel_length = 50;  // CHANNELLEN in 005, prefix included

struct tag {
  std::string key;    // with its client-only '+' or vendor prefix, as sent
  std::string value;  // unescaped (\: \s \\ \r \n); empty when absent
  friend bool operator==(const tag&, const tag&) = default;
};

struct message {
  std::vector<tag> tags;
  std::string prefix;               // without the ':'; empty when absent
  std::string command;              // upper-cased ("privmsg" -> "PRIVMSG"); numerics as sent
  std::vector<std::string> params;  // the trailing parameter last, without its ':'
  friend bool operator==(const message&, const message&) = default;
};

enum class parse_error : std::uint8_t {
  empty = 1,       // nothing but spaces (clients send these; ignore them)
  nul_byte,        // a NUL anywhere in the line
  too_long,        // the part after the tags is over 510 bytes
  tags_too_long,   // the tags are over max_client_tag_bytes
  bad_tags,        // '@' with no tags, or no space after them
  no_command,      // a prefix and nothing after it, or a command that is
                   // neither letters nor three digits
  too_many_params, // more than max_params
};
std::string_view to_string(parse_error e) noexcept;

// Parses one line without its CR LF (a stray trailing '\r' is removed).
// Bytes are kept as they are: the caller decides what invalid UTF-8 means.
std::optional<message> parse(std::string_view line, parse_error* why = nullptr);

// Splits a byte stream into lines on '\n' (a '\r' before it is removed,
// so bare LF clients work). A line longer than `max_bytes` (CR LF not
// counted) is not kept: its bytes are dropped as they come, and when its
// end arrives the callback gets too_long = true once, with an empty line.
// Memory held: at most max_bytes, whatever the input.
class line_splitter {
 public:
  explicit line_splitter(std::size_t max_bytes = max_client_tag_bytes + 2 + max_line_bytes)
      : max_(max_bytes) {}
  // Calls on_line(std::string_view line, bool too_long) for every line
  // that `bytes` completes, in order. The view is valid during the call.
  template <class F>
  void feed(std::string_view bytes, F&& on_line);
  std::size_t buffered() const noexcept { return partial_.size(); }
  bool discarding() const noexcept { return discarding_; }

 private:
  std::size_t max_;
  std::string partial_;
  bool held_cr_ = false;
  bool discarding_ = false;
};

// -- names -------------------------------------------------------------------

// RFC 2812 nicknames: a letter or one of [ ] \ ` _ ^ { | } first, then
// those, digits and '-'; 1..max_nick_length bytes.
bool valid_nick(std::string_view nick) noexcept;
// '#' or '&', then 1..(max_channel_length-1) bytes of valid UTF-8 with no
// space, comma, BEL (0x07), NUL, CR, LF or ':'.
bool valid_channel(std::string_view name) noexcept;
bool is_channel(std::string_view target) noexcept;  // starts with '#' or '&'
// CASEMAPPING=ascii: A-Z to a-z, nothing else. Nicks and channel names
// are compared by their folded form.
std::string casefold(std::string_view name);

// -- text --------------------------------------------------------------------

bool valid_utf8(std::string_view text) noexcept;
// Every ill-formed sequence replaced by U+FFFD (as a browser would show it).
std::string to_valid_utf8(std::string_view text);

// IRCv3 tag value escaping: ';' -> \: , ' ' -> \s , '\' -> \\ , CR -> \r , LF -> \n.
std::string escape_tag_value(std::string_view value);
std::string unescape_tag_value(std::string_view value);

// server-time: 2026-12-02T17:20:13.123Z from milliseconds since the epoch (UTC).
std::string format_time(std::int64_t unix_ms);
// The inverse, for CHATHISTORY timestamp= selectors; nullopt if malformed.
std::optional<std::int64_t> parse_time(std::string_view text);

// -- building lines -----------------------------------------------------------

// ":prefix COMMAND p1 p2 :last\r\n". The last parameter gets a ':' when it
// is empty, has a space, or starts with ':'; the others must have none of
// those (the caller's names were validated). Without a prefix when it is
// empty. The result, CR LF included, is cut to max_line_bytes, the cut
// falling on a UTF-8 character boundary.
std::string line(std::string_view prefix, std::string_view command,
                 std::initializer_list<std::string_view> params);
std::string line(std::string_view prefix, std::string_view command,
                 const std::vector<std::string_view>& params);
// "@k1=v1;k2=v2 " for a line's tags (values escaped); empty for none.
std::string tags_prefix(const std::vector<tag>& tags);

// -- implementation of the template ------------------------------------------

// partial_ holds the start of the current line except a '\r' at its very
// end, which waits in held_cr_: it is the first half of CR LF (not part
// of the line) unless more than a '\n' follows. So a line of exactly
// max_ bytes plus its CR never needs max_ + 1 bytes, and a line is
// measured before it is copied: neither a long run without '\n' nor one
// huge read that completes a line makes partial_ grow past max_.
template <class F>
void line_splitter::feed(std::string_view bytes, F&& on_line) {
  while (!bytes.empty()) {
    const std::size_t nl = bytes.find('\n');
    std::string_view chunk = bytes.substr(0, nl);
    if (discarding_) {
      if (nl == std::string_view::npos) return;  // still inside the over-long line
      discarding_ = false;
      on_line(std::string_view{}, true);
    } else {
      // The line so far (or the whole line when nl was found), its final
      // '\r' apart: partial_, the held '\r' if anything came after it,
      // and chunk.
      const bool keep_held_cr = held_cr_ && !chunk.empty();
      const bool ends_with_cr = chunk.empty() ? held_cr_ : chunk.back() == '\r';
      if (!chunk.empty() && ends_with_cr) chunk.remove_suffix(1);
      const std::size_t length = partial_.size() + (keep_held_cr ? 1 : 0) + chunk.size();
      if (length > max_) {
        partial_.clear();
        held_cr_ = false;
        if (nl == std::string_view::npos) {
          discarding_ = true;
          return;
        }
        on_line(std::string_view{}, true);
      } else {
        if (keep_held_cr) partial_ += '\r';
        if (nl == std::string_view::npos) {
          partial_.append(chunk);
          held_cr_ = ends_with_cr;
          return;
        }
        held_cr_ = false;
        if (partial_.empty()) {
          on_line(chunk, false);
        } else {
          partial_.append(chunk);
          on_line(std::string_view(partial_), false);
          partial_.clear();
        }
      }
    }
    bytes.remove_prefix(nl + 1);
  }
}

}  // namespace chat::irc
