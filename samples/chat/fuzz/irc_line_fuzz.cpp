// libFuzzer target for the IRC protocol library (scripts/fuzz-chat.sh):
// arbitrary bytes from a client, through exactly the code the server runs
// on them (irc/protocol.hpp).
//
//   input --> line_splitter (default limit, and a limit of 64 fed in
//             |               reads cut where the input says)
//             v
//           each line --> parse --> tags_prefix + line() --> parse again
//                    \--> to_valid_utf8, escape/unescape, names, time
//
// The first input byte picks the read size for the second splitter
// (1 to 256 bytes); the rest is the byte stream.
//
// What must hold, whatever the bytes (each violation aborts):
//   - both splitters hold at most their limit between reads, hand out
//     lines without '\n' and within the limit, and agree with each other
//     on every line that fits the smaller limit;
//   - a parsed line rebuilt with tags_prefix() + line() is one line:
//     CR LF at the end only, no NUL, at most 512 bytes after the tags; it
//     parses again with the same command; when nothing in it needed
//     repair (no CR inside, tags within the client limit), it parses to
//     exactly the same message;
//   - to_valid_utf8 gives valid UTF-8, and gives valid input back as it is;
//   - unescape_tag_value(escape_tag_value(x)) == x;
//   - line() and tags_prefix() given anything (a prefix, parameters and
//     tags that break their rules) make one line that parses, with as
//     many parameters (up to 15) when nothing had to be cut;
//   - valid nicks and channels are valid UTF-8, casefold keeps them valid;
//   - a time parse_time accepts is written back by format_time as a time
//     that parses to the same instant.

#include "irc/protocol.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

using namespace chat::irc;

namespace {

void check(bool holds, const char* what) {
  if (holds) return;
  std::fprintf(stderr, "irc_line_fuzz: invariant broken: %s\n", what);
  std::abort();
}

bool has_cr(std::string_view s) {
  return s.find('\r') != std::string_view::npos;
}

void check_rebuilt(const message& m) {
  const std::string tags = tags_prefix(m.tags);
  std::vector<std::string_view> params(m.params.begin(), m.params.end());
  const std::string built = line(m.prefix, m.command, params);
  check(built.size() <= max_line_bytes, "a built line is at most 512 bytes");
  check(built.size() >= 2 && built.ends_with("\r\n"), "a built line ends with CR LF");
  const std::string whole = tags + built;
  const std::string_view content = std::string_view(whole).substr(0, whole.size() - 2);
  check(content.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos,
        "a built line has no CR, LF or NUL before its end");

  const bool tags_fit = tags.size() <= max_client_tag_bytes + 2;  // '@' and ' '
  parse_error why{};
  const auto again = parse(content, &why);
  if (!tags_fit) {
    check(again.has_value() || why == parse_error::tags_too_long, "only over-long tags stop a rebuilt line");
    return;
  }
  check(again.has_value(), "a rebuilt line parses");
  check(again->command == m.command, "a rebuilt line keeps its command");
  bool repaired = has_cr(m.prefix);
  for (const std::string& p : m.params)
    repaired = repaired || has_cr(p);
  if (!repaired) check(*again == m, "a rebuilt line parses to the same message");
}

void check_text(std::string_view text) {
  const std::string repaired = to_valid_utf8(text);
  check(valid_utf8(repaired), "to_valid_utf8 gives valid UTF-8");
  if (valid_utf8(text)) check(repaired == text, "to_valid_utf8 keeps valid UTF-8 as it is");
  check(unescape_tag_value(escape_tag_value(text)) == text, "unescape(escape(x)) == x");
  if (valid_nick(text)) check(valid_utf8(text) && valid_nick(casefold(text)), "a valid nick folds to a valid nick");
  if (valid_channel(text)) {
    check(is_channel(text) && valid_channel(casefold(text)), "a valid channel folds to a valid channel");
  }
  if (const auto ms = parse_time(text)) check(parse_time(format_time(*ms)) == ms, "a parsed time formats back");
}

// line() and tags_prefix() given what a buggy caller might pass: the
// line's words split at every space (so empty ones and ones starting with
// ':' too) as a prefix and parameters, and as tags.
void check_built_from_words(std::string_view text) {
  std::vector<std::string_view> words;
  for (std::size_t at = 0;;) {
    const std::size_t space = text.find(' ', at);
    words.push_back(text.substr(at, space == std::string_view::npos ? std::string_view::npos : space - at));
    if (space == std::string_view::npos) break;
    at = space + 1;
  }
  const std::vector<std::string_view> params(words.begin() + 1, words.end());
  const std::string built = line(words[0], "CMD", params);
  check(built.size() <= max_line_bytes && built.ends_with("\r\n"), "a line from any words is at most 512 bytes");
  const std::string_view content = std::string_view(built).substr(0, built.size() - 2);
  check(content.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos,
        "a line from any words has no CR, LF or NUL before its end");
  const auto m = parse(content);
  check(m.has_value() && m->command == "CMD", "a line from any words parses");
  // Room for ":", " CMD", a ':' before the last and a '*' for each empty
  // word: nothing was cut, so every parameter is there.
  if (2 * text.size() + 8 <= max_line_bytes - 2) {
    check(m->params.size() == std::min(params.size(), max_params), "a line from any words keeps their number");
    const std::string_view last = params.empty() ? std::string_view{} : params.back();
    if (params.size() <= max_params && last.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos) {
      check(m->params.empty() || m->params.back() == last, "a line from any words keeps the last as it is");
    }
  }

  std::vector<tag> tags;
  for (std::size_t i = 0; i + 1 < words.size(); i += 2)
    tags.push_back({std::string(words[i]), std::string(words[i + 1])});
  const std::string prefix = tags_prefix(tags);
  check(prefix.empty() || (prefix.front() == '@' && prefix.back() == ' '), "tags_prefix is '@...' and a space");
  if (prefix.size() > max_client_tag_bytes + 2) return;
  const auto tagged = parse(prefix + "PING");
  check(tagged.has_value(), "a line with tags_prefix parses");
  check(tagged->tags.size() <= tags.size(), "tags_prefix adds no tag");
}

void check_line(std::string_view text) {
  check(text.find('\n') == std::string_view::npos, "a split line has no LF");
  check_text(text);
  check_built_from_words(text);
  parse_error why{};
  const auto m = parse(text, &why);
  if (!m) {
    check(!to_string(why).empty(), "every parse_error has a description");
    return;
  }
  // Where nicks, channels and times really come from.
  for (const std::string& p : m->params)
    check_text(p);
  for (const tag& t : m->tags)
    check_text(t.value);
  check_rebuilt(*m);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t read_size = std::size_t{data[0]} + 1;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  // Every line of the default splitter, or nullopt for one too long.
  line_splitter whole;
  std::vector<std::optional<std::string>> lines;
  whole.feed(input, [&](std::string_view text, bool too_long) {
    if (too_long) {
      lines.emplace_back();
      return;
    }
    check(text.size() <= max_client_tag_bytes + 2 + max_line_bytes, "a line within the default limit");
    check_line(text);
    lines.emplace_back(text);
  });
  check(whole.buffered() <= max_client_tag_bytes + 2 + max_line_bytes, "the default splitter holds its limit");

  constexpr std::size_t small_limit = 64;
  line_splitter small(small_limit);
  std::size_t index = 0;
  for (std::size_t at = 0; at < input.size(); at += read_size) {
    small.feed(input.substr(at, read_size), [&](std::string_view text, bool too_long) {
      check(index < lines.size(), "both splitters see the same number of lines");
      const auto& same_line = lines[index++];
      if (too_long) {
        check(!same_line || same_line->size() > small_limit, "only a line over the small limit is too long for it");
      } else {
        check(text.size() <= small_limit, "a line within the small limit");
        check(same_line && text == *same_line, "both splitters agree on a line that fits both");
      }
    });
    check(small.buffered() <= small_limit, "the small splitter holds its limit");
  }
  check(index == lines.size(), "both splitters see the same number of lines");
  return 0;
}
