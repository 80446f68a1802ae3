// The IRC protocol library alone (samples/chat/irc/protocol.hpp): parsing,
// building lines, tags, line splitting, names, UTF-8 and time stamps.

#include "irc/protocol.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using namespace chat::irc;
using namespace std::string_literals;
using namespace std::string_view_literals;

namespace {

message parsed(std::string_view text) {
  parse_error why{};
  auto m = parse(text, &why);
  INFO("line: ", std::string(text), " error: ", std::string(to_string(why)));
  REQUIRE(m.has_value());
  return *m;
}

parse_error refusal(std::string_view text) {
  parse_error why{};
  const auto m = parse(text, &why);
  INFO("line: ", std::string(text));
  REQUIRE_FALSE(m.has_value());
  return why;
}

using strings = std::vector<std::string>;

// A built line as parse() takes it: without its CR LF.
std::string_view without_crlf(const std::string& built) {
  REQUIRE(built.ends_with("\r\n"));
  return std::string_view(built).substr(0, built.size() - 2);
}

// What a splitter hands out: each line, or "<too long>".
struct collected_lines {
  strings lines;
  void operator()(std::string_view line, bool too_long) {
    lines.push_back(too_long ? "<too long>"s : std::string(line));
  }
};

strings split_in_pieces(std::string_view input, std::size_t piece, std::size_t max) {
  line_splitter splitter(max);
  collected_lines out;
  for (std::size_t at = 0; at < input.size(); at += piece) {
    splitter.feed(input.substr(at, piece), std::ref(out));
    REQUIRE(splitter.buffered() <= max);
  }
  return out.lines;
}

constexpr std::string_view replacement = "\xEF\xBF\xBD";

}  // namespace

// -- parse -------------------------------------------------------------------

TEST_CASE("a line parses into its prefix, upper-cased command and parameters, the trailing one last") {
  const message m = parsed(":alice!a@example.org privmsg #weft :hello there, world");
  CHECK(m.tags.empty());
  CHECK(m.prefix == "alice!a@example.org");
  CHECK(m.command == "PRIVMSG");
  CHECK(m.params == strings{"#weft", "hello there, world"});
}

TEST_CASE("parse tolerates runs of spaces, spaces around the line and a stray CR at its end") {
  const message m = parsed("   NICK    alice   extra  \r");
  CHECK(m.prefix.empty());
  CHECK(m.command == "NICK");
  CHECK(m.params == strings{"alice", "extra"});
  CHECK(parsed("PING").params.empty());
}

TEST_CASE("a numeric command is kept as sent and a trailing parameter keeps its spaces and colons") {
  const message m = parsed(":irc.example 001 alice ::Welcome  to  weft: ");
  CHECK(m.command == "001");
  CHECK(m.params == strings{"alice", ":Welcome  to  weft: "});
  CHECK(parsed("PRIVMSG #a :").params == strings{"#a", ""});
  CHECK(parsed("USER a 0 * :Real Name").params == strings{"a", "0", "*", "Real Name"});
}

TEST_CASE("fifteen parameters parse and a sixteenth is too_many_params, with or without its colon") {
  std::string fifteen = "CMD";
  for (int i = 1; i <= 14; ++i)
    fifteen += " p" + std::to_string(i);
  CHECK(parsed(fifteen + " :last one").params.size() == 15);
  CHECK(parsed(fifteen + " last").params.size() == 15);
  CHECK(refusal(fifteen + " p15 p16") == parse_error::too_many_params);
  CHECK(refusal(fifteen + " p15 :sixteenth") == parse_error::too_many_params);
}

TEST_CASE("every parse_error is reported for the line that deserves it") {
  CHECK(refusal("") == parse_error::empty);
  CHECK(refusal("    ") == parse_error::empty);
  CHECK(refusal("\r") == parse_error::empty);
  CHECK(refusal("PRIVMSG #a :nul\0inside"sv) == parse_error::nul_byte);
  CHECK(refusal("\0"sv) == parse_error::nul_byte);
  CHECK(refusal("@") == parse_error::bad_tags);
  CHECK(refusal("@ PING") == parse_error::bad_tags);
  CHECK(refusal("@;; PING") == parse_error::bad_tags);
  CHECK(refusal("@time=now") == parse_error::bad_tags);
  CHECK(refusal(":prefix") == parse_error::no_command);
  CHECK(refusal(":prefix   ") == parse_error::no_command);
  CHECK(refusal("@a=b ") == parse_error::no_command);
  CHECK(refusal("12 a") == parse_error::no_command);
  CHECK(refusal("1234") == parse_error::no_command);
  CHECK(refusal("PRIV1 a") == parse_error::no_command);
  CHECK(refusal("P!NG") == parse_error::no_command);
  CHECK(refusal(":") == parse_error::no_command);
  std::string cmd = "A 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16";
  CHECK(refusal(cmd) == parse_error::too_many_params);
}

TEST_CASE("the part after the tags may be 510 bytes and not 511, however long the tags") {
  const std::string head = "PRIVMSG #a :";
  const std::string fits = head + std::string(510 - head.size(), 'x');
  CHECK(parsed(fits).params[1].size() == 510 - head.size());
  CHECK(parsed("@" + std::string(4000, 'k') + " " + fits).tags.size() == 1);
  CHECK(refusal(fits + "x") == parse_error::too_long);
  CHECK(refusal("@a " + fits + "x") == parse_error::too_long);
  CHECK(parsed(fits + "\r").params[1].size() == 510 - head.size());
}

TEST_CASE("tags may be 4094 bytes and not 4095") {
  const std::string tags = "a=" + std::string(max_client_tag_bytes - 2, 'v');
  CHECK(parsed("@" + tags + " PING").tags[0].value.size() == max_client_tag_bytes - 2);
  CHECK(refusal("@" + tags + "v PING") == parse_error::tags_too_long);
}

TEST_CASE("each parse_error has its own description") {
  const std::array all{parse_error::empty,          parse_error::nul_byte, parse_error::too_long,
                       parse_error::tags_too_long,  parse_error::bad_tags, parse_error::no_command,
                       parse_error::too_many_params};
  std::vector<std::string_view> seen;
  for (parse_error e : all) {
    CHECK_FALSE(to_string(e).empty());
    CHECK(std::find(seen.begin(), seen.end(), to_string(e)) == seen.end());
    seen.push_back(to_string(e));
  }
}

// -- tags --------------------------------------------------------------------

TEST_CASE("tags are unescaped, a tag without '=' is empty, a trailing backslash drops and \\x is x") {
  const message m = parsed(
      R"(@time=2026-12-02T17:20:13.123Z;+draft/typing;account=;esc=a\:b\sc\\d\re\nf;odd=\x\;end=z\ :n TAGMSG #a)");
  REQUIRE(m.tags.size() == 6);
  CHECK(m.tags[0] == tag{"time", "2026-12-02T17:20:13.123Z"});
  CHECK(m.tags[1] == tag{"+draft/typing", ""});
  CHECK(m.tags[2] == tag{"account", ""});
  CHECK(m.tags[3] == tag{"esc", "a;b c\\d\re\nf"});
  CHECK(m.tags[4] == tag{"odd", "x"});
  CHECK(m.tags[5] == tag{"end", "z"});
  CHECK(m.command == "TAGMSG");
}

TEST_CASE("a key sent twice keeps its first place and its last value") {
  const message m = parsed("@a=1;b=2;a=3;c;a=4;b PING");
  CHECK(m.tags == std::vector<tag>{{"a", "4"}, {"b", ""}, {"c", ""}});
}

TEST_CASE("a tag whose key breaks the IRCv3 grammar is skipped, not the line") {
  const message m = parsed("@=v;good=1;bad!key=2;+/x=3;vendor.example/ok=4;a/b/c=5;+c=6 PING");
  CHECK(m.tags == std::vector<tag>{{"good", "1"}, {"vendor.example/ok", "4"}, {"+c", "6"}});
}

TEST_CASE("escaping a tag value uses all five escapes and unescaping gives the value back") {
  const std::string value = "a;b c\\d\re\nf";
  CHECK(escape_tag_value(value) == R"(a\:b\sc\\d\re\nf)");
  CHECK(unescape_tag_value(escape_tag_value(value)) == value);
  std::string every_byte;
  for (int b = 0; b < 256; ++b)
    every_byte += static_cast<char>(b);
  CHECK(unescape_tag_value(escape_tag_value(every_byte)) == every_byte);
  CHECK(unescape_tag_value(R"(\)") == "");
  CHECK(unescape_tag_value(R"(\\\)") == "\\");
}

TEST_CASE("tags_prefix writes escaped values, bare keys for empty ones, and parses back to the same tags") {
  const std::vector<tag> tags{{"time", "2026-12-02T17:20:13.123Z"}, {"+typing", ""}, {"msgid", "a b;c\\"}};
  const std::string prefix = tags_prefix(tags);
  CHECK(prefix == R"(@time=2026-12-02T17:20:13.123Z;+typing;msgid=a\sb\:c\\ )");
  CHECK(parsed(without_crlf(prefix + line("n!u@h", "PRIVMSG", {"#a", "hi"}))).tags == tags);
  CHECK(tags_prefix({}).empty());
  CHECK(tags_prefix({{"bad key", "x"}, {"ok", "nul\0byte"s}}) == "@ok=nulbyte ");
}

// -- building lines -----------------------------------------------------------

TEST_CASE("line writes a colon before the last parameter only when it needs one") {
  CHECK(line("irc.example", "PRIVMSG", {"#a", "hi there"}) == ":irc.example PRIVMSG #a :hi there\r\n");
  CHECK(line("", "PING", {"token"}) == "PING token\r\n");
  CHECK(line("", "PRIVMSG", {"#a", ""}) == "PRIVMSG #a :\r\n");
  CHECK(line("", "PRIVMSG", {"#a", ":)"}) == "PRIVMSG #a ::)\r\n");
  CHECK(line("s", "001", std::vector<std::string_view>{"alice", "Welcome"}) == ":s 001 alice Welcome\r\n");
  CHECK(line("s", "QUIT", {}) == ":s QUIT\r\n");
}

TEST_CASE("line keeps a caller's bad parameters one line with as many parameters") {
  CHECK(line("", "KICK", {"#a b", "", ":x", "why\r\nQUIT :injected"}) == "KICK #a_b * _x :why  QUIT :injected\r\n");
  CHECK(line("bad prefix\n", "PING", {"x"}) == ":bad_prefix_ PING x\r\n");
  CHECK(line(":odd", "PING", {"x"}) == "::odd PING x\r\n");
  CHECK(parsed("::odd PING x").prefix == ":odd");
  std::vector<std::string_view> seventeen;
  for (int i = 0; i < 17; ++i)
    seventeen.push_back("p");
  const message m = parsed(without_crlf(line("", "CMD", seventeen)));
  CHECK(m.params.size() == 15);
  CHECK(m.params.back() == "p p p");
}

TEST_CASE("line cuts at 512 bytes with CR LF on a UTF-8 character boundary") {
  std::string two_byte;
  for (int i = 0; i < 300; ++i)
    two_byte += "\xC3\xA9";  // é
  const std::string cut = line("xy", "PRIVMSG", {"#a", " " + two_byte});
  // ":xy PRIVMSG #a : " is 17 bytes; 493 more do not fit a whole number of é.
  CHECK(cut.size() == 17 + 492 + 2);
  CHECK(cut.ends_with("\xC3\xA9\r\n"));
  CHECK(valid_utf8(cut));
  std::string four_byte;
  for (int i = 0; i < 200; ++i)
    four_byte += "\xF0\x9F\x98\x80";  // 😀
  for (std::size_t shift = 0; shift < 4; ++shift) {
    const std::string out = line(std::string(shift + 1, 'p'), "PRIVMSG", {"#a", " " + four_byte});
    CAPTURE(shift);
    CHECK(out.size() <= max_line_bytes);
    CHECK(out.size() > max_line_bytes - 4);
    CHECK(out.ends_with("\xF0\x9F\x98\x80\r\n"));
    CHECK(valid_utf8(out));
  }
  const std::string exact = line("", "PRIVMSG", {"#a", "x " + std::string(510 - 12 - 2, 'x')});
  CHECK(exact.size() == max_line_bytes);
  CHECK(exact.ends_with("x\r\n"));
}

TEST_CASE("a cut before the last parameter leaves no space at the end and a prefix never crowds out the command") {
  const std::string many = line("", "CMD", {std::string(507, 'a'), "b", "c d"});
  CHECK(many == "CMD " + std::string(506, 'a') + "\r\n");
  const std::string spaced = line("", "CMD", {std::string(505, 'a'), "last words"});
  CHECK(spaced == "CMD " + std::string(505, 'a') + "\r\n");
  const std::string huge_prefix = line(std::string(600, 'p'), "NOTICE", {"*", "hi"});
  CHECK(huge_prefix.size() == max_line_bytes);
  CHECK(parsed(without_crlf(huge_prefix)).command == "NOTICE");
}

// Parameters a correct caller may pass: middle ones without spaces, the
// last anything but NUL, CR and LF; all within the 510 bytes.
TEST_CASE("parse gives back the command and parameters of 100000 random lines") {
  std::mt19937_64 random(20261202);
  const auto below = [&](std::uint64_t n) { return static_cast<std::size_t>(random() % n); };
  const auto random_bytes = [&](std::size_t length, bool middle) {
    std::string s;
    while (s.size() < length) {
      auto c = static_cast<char>(below(256));
      if (c == '\0' || c == '\r' || c == '\n' || (middle && c == ' ')) continue;
      if (middle && s.empty() && c == ':') continue;
      s += c;
    }
    return s;
  };
  for (int n = 0; n < 100'000; ++n) {
    const std::string prefix = below(3) == 0 ? std::string{} : random_bytes(1 + below(40), true);
    std::string command;
    if (below(2) == 0) {
      for (std::size_t i = 0; i < 3; ++i)
        command += static_cast<char>('0' + below(10));
    } else {
      for (std::size_t i = 1 + below(10); i > 0; --i)
        command += static_cast<char>('A' + below(26));
    }
    strings params(below(max_params + 1));
    for (std::size_t i = 0; i < params.size(); ++i) {
      const bool last = i + 1 == params.size();
      params[i] = random_bytes(last ? below(120) : 1 + below(20), !last);
    }
    const std::vector<std::string_view> views(params.begin(), params.end());
    const std::string out = line(prefix, command, views);
    CAPTURE(out);
    REQUIRE(out.size() <= max_line_bytes);
    const message back = parsed(without_crlf(out));
    REQUIRE(back.prefix == prefix);
    REQUIRE(back.command == command);
    REQUIRE(back.params == params);
  }
}

// -- line_splitter ------------------------------------------------------------

TEST_CASE("100 MB without a newline keep the splitter within its limit and count as one line too long") {
  line_splitter splitter;
  const std::size_t max = max_client_tag_bytes + 2 + max_line_bytes;
  const std::string block(64 * 1024, 'a');
  collected_lines out;
  for (int i = 0; i < 1600; ++i) {  // 1600 * 64 KiB = 100 MiB
    splitter.feed(block, std::ref(out));
    REQUIRE(splitter.buffered() <= max);
  }
  CHECK(splitter.discarding());
  CHECK(out.lines.empty());
  splitter.feed("aaa\r\nPING x\r\n", std::ref(out));
  CHECK(out.lines == strings{"<too long>", "PING x"});
  CHECK_FALSE(splitter.discarding());
  CHECK(splitter.buffered() == 0);
}

TEST_CASE("an over-long line fed a byte at a time never holds more than the limit") {
  const std::string input = "123456789\r\n12345678\r\n1234567\r\r\n12345678\rx\n";
  for (std::size_t piece : {1, 2, 3, 5, 100}) {
    CAPTURE(piece);
    CHECK(split_in_pieces(input, piece, 8) == strings{"<too long>", "12345678", "1234567\r", "<too long>"});
  }
}

TEST_CASE("a huge read that completes an over-long line reports it once and leaves nothing held") {
  line_splitter splitter(16);
  collected_lines out;
  splitter.feed("abc", std::ref(out));
  splitter.feed(std::string(1'000'000, 'x') + "\nok\n", std::ref(out));
  CHECK(out.lines == strings{"<too long>", "ok"});
  CHECK(splitter.buffered() == 0);
}

TEST_CASE("lines end at LF alone, CR LF or a CR arriving apart from its LF, and keep inner CRs and NULs") {
  const std::string input = "NICK a\nUSER b\r\n\nPI\0NG\r\nX\ry\r\nlast\r"s;
  for (std::size_t piece : {1, 2, 7, 1000}) {
    CAPTURE(piece);
    CHECK(split_in_pieces(input + "\n", piece, 100) == strings{"NICK a", "USER b", "", "PI\0NG"s, "X\ry", "last"});
  }
  CHECK(refusal("PI\0NG"sv) == parse_error::nul_byte);
}

TEST_CASE("how bytes are split into reads does not change the lines") {
  std::mt19937_64 random(14);
  std::string input;
  for (int i = 0; i < 2000; ++i) {
    const std::size_t length = random() % 40;
    for (std::size_t j = 0; j < length; ++j)
      input += "ab \r:\0"[random() % 6];
    input += random() % 2 == 0 ? "\r\n" : "\n";
  }
  const strings whole = split_in_pieces(input, input.size(), 30);
  for (std::size_t piece : {1, 2, 3, 29, 31, 64}) {
    CAPTURE(piece);
    CHECK(split_in_pieces(input, piece, 30) == whole);
  }
  CHECK(std::count(whole.begin(), whole.end(), "<too long>") > 0);
}

// -- names -------------------------------------------------------------------

TEST_CASE("valid_nick accepts exactly RFC 2812's bytes in each position") {
  const std::string specials = "[]\\`_^{|}";
  const auto may_start = [&](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || specials.find(static_cast<char>(c)) != std::string::npos;
  };
  const auto may_follow = [&](unsigned char c) { return may_start(c) || (c >= '0' && c <= '9') || c == '-'; };
  for (int b = 0; b < 256; ++b) {
    const auto c = static_cast<unsigned char>(b);
    const char ch = static_cast<char>(b);
    CAPTURE(b);
    CHECK(valid_nick(std::string(1, ch)) == may_start(c));
    CHECK(valid_nick("a"s + ch) == may_follow(c));
    CHECK(valid_nick("a"s + ch + "z") == may_follow(c));
    CHECK(valid_nick(std::string(max_nick_length - 1, 'n') + ch) == may_follow(c));
  }
  CHECK_FALSE(valid_nick(""));
  CHECK(valid_nick(std::string(max_nick_length, 'n')));
  CHECK_FALSE(valid_nick(std::string(max_nick_length + 1, 'n')));
}

TEST_CASE("valid_channel accepts exactly '#' or '&' first and then no space, comma, BEL, NUL, CR, LF or ':'") {
  const std::string forbidden(" ,\x07\0\r\n:", 7);
  for (int b = 0; b < 256; ++b) {
    const char ch = static_cast<char>(b);
    CAPTURE(b);
    CHECK(valid_channel(ch + "chan"s) == (ch == '#' || ch == '&'));
    CHECK(is_channel(ch + "chan"s) == (ch == '#' || ch == '&'));
    // A byte alone after the sigil: ASCII but the forbidden ones; a byte
    // of 0x80 and over is never a whole UTF-8 character by itself.
    const bool allowed = b < 0x80 && forbidden.find(ch) == std::string::npos;
    CHECK(valid_channel("#"s + ch) == allowed);
    CHECK(valid_channel("#a"s + ch + "z") == allowed);
    CHECK(valid_channel("&" + std::string(max_channel_length - 2, 'c') + ch) == allowed);
  }
  CHECK(valid_channel("#caf\xC3\xA9"));
  CHECK(valid_channel("##"));
  CHECK_FALSE(valid_channel("#"));
  CHECK_FALSE(valid_channel(""));
  CHECK_FALSE(is_channel(""));
  CHECK(valid_channel("#" + std::string(max_channel_length - 1, 'c')));
  CHECK_FALSE(valid_channel("#" + std::string(max_channel_length, 'c')));
  CHECK_FALSE(valid_channel("#caf\xC3"));
}

TEST_CASE("casefold lowers A to Z and leaves every other byte as it is") {
  for (int b = 0; b < 256; ++b) {
    const char ch = static_cast<char>(b);
    const char expected = b >= 'A' && b <= 'Z' ? static_cast<char>(b + 32) : ch;
    CAPTURE(b);
    CHECK(casefold(std::string(1, ch)) == std::string(1, expected));
  }
  CHECK(casefold("Alice[]\\~\xC3\x89"
                 "COLE") ==
        "alice[]\\~\xC3\x89"
        "cole");
}

// -- UTF-8 -------------------------------------------------------------------

namespace {
std::string encode(std::uint32_t cp, int length) {
  std::string out;
  if (length == 1) return std::string(1, static_cast<char>(cp));
  const unsigned char lead = length == 2 ? 0xC0 : length == 3 ? 0xE0 : 0xF0;
  out += static_cast<char>(lead | (cp >> (6 * (length - 1))));
  for (int i = length - 2; i >= 0; --i)
    out += static_cast<char>(0x80 | ((cp >> (6 * i)) & 0x3F));
  return out;
}
int shortest_length(std::uint32_t cp) {
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}
}  // namespace

TEST_CASE("valid_utf8 accepts every code point but surrogates in its shortest form and no overlong form") {
  for (std::uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    const int shortest = shortest_length(cp);
    const std::string text = encode(cp, shortest);
    if (valid_utf8(text) == surrogate) FAIL("code point ", cp);
    if (to_valid_utf8(text) !=
        (surrogate ? std::string(replacement) + std::string(replacement) + std::string(replacement) : text))
      FAIL("code point ", cp);
    for (int longer = shortest + 1; longer <= 4 && cp < 0x800; ++longer) {
      if (valid_utf8(encode(cp, longer))) FAIL("overlong code point ", cp, " in ", longer, " bytes");
    }
  }
}

TEST_CASE("ill-formed UTF-8 is refused and each maximal bad subpart becomes one U+FFFD") {
  const std::string r(replacement);
  const std::vector<std::pair<std::string, std::string>> cases{
      {"\xC0\x80", r + r},                  // overlong NUL
      {"\xC1\xBF", r + r},                  // overlong
      {"\xE0\x80\x80", r + r + r},          // overlong three bytes
      {"\xF0\x8F\xBF\xBF", r + r + r + r},  // overlong four bytes
      {"\xED\xA0\x80", r + r + r},          // a surrogate
      {"\xF4\x90\x80\x80", r + r + r + r},  // past U+10FFFF
      {"\xF5\x80", r + r},                  // never a lead byte
      {"\xFF", r},                          // never in UTF-8
      {"\xFE\xFF", r + r},                  // the UTF-16 byte order mark's bytes
      {"\x80", r},                          // a lone continuation
      {"\xC3", r},                          // truncated at the end
      {"\xE2\x82", r},                      // truncated three-byte
      {"\xF0\x9F\x98", r},                  // truncated four-byte
      {"a\xE2\x82"
       "b",
       "a" + r + "b"},                                   // truncated in the middle
      {"\xF0\x9F\x98\xE2\x82\xAC", r + "\xE2\x82\xAC"},  // truncated, then a whole €
  };
  for (const auto& [bad, repaired] : cases) {
    CAPTURE(bad);
    CHECK_FALSE(valid_utf8(bad));
    CHECK(to_valid_utf8(bad) == repaired);
    CHECK(valid_utf8(to_valid_utf8(bad)));
  }
  CHECK(valid_utf8(""));
  CHECK(to_valid_utf8("h\xC3\xA9llo \xF0\x9F\x98\x80") == "h\xC3\xA9llo \xF0\x9F\x98\x80");
}

TEST_CASE("to_valid_utf8 of random bytes is valid and leaves valid input alone") {
  std::mt19937_64 random(7);
  for (int n = 0; n < 20'000; ++n) {
    std::string bytes(random() % 12, '\0');
    for (char& c : bytes)
      c = static_cast<char>(random() % 8 == 0 ? random() % 256 : 0x80 + random() % 0x78);
    const std::string repaired = to_valid_utf8(bytes);
    CAPTURE(bytes);
    REQUIRE(valid_utf8(repaired));
    REQUIRE((repaired == bytes) == valid_utf8(bytes));
  }
}

// -- time --------------------------------------------------------------------

TEST_CASE("format_time writes UTC with milliseconds and parse_time reads it back") {
  const std::vector<std::pair<std::int64_t, std::string>> known{
      {0, "1970-01-01T00:00:00.000Z"},
      {-1, "1969-12-31T23:59:59.999Z"},
      {951'782'400'000, "2000-02-29T00:00:00.000Z"},
      {1'796'232'013'123, "2026-12-02T17:20:13.123Z"},
      {-11'670'951'537'997, "1600-02-29T13:01:02.003Z"},
      {-62'167'219'200'000, "0000-01-01T00:00:00.000Z"},
      {253'402'300'799'999, "9999-12-31T23:59:59.999Z"},
  };
  for (const auto& [ms, text] : known) {
    CHECK(format_time(ms) == text);
    CHECK(parse_time(text) == ms);
  }
  CHECK(format_time(std::numeric_limits<std::int64_t>::max()) == "9999-12-31T23:59:59.999Z");
  CHECK(format_time(std::numeric_limits<std::int64_t>::min()) == "0000-01-01T00:00:00.000Z");
}

TEST_CASE("every day from 1900 to 2200 and random instants survive format_time and parse_time") {
  const std::int64_t day = 86'400'000;
  for (std::int64_t d = -25'567; d < 84'006; ++d) {
    const std::int64_t ms = d * day + (d * 7'919) % day;
    if (parse_time(format_time(ms)) != ms) FAIL("day ", d);
  }
  std::mt19937_64 random(2026);
  for (int n = 0; n < 100'000; ++n) {
    const auto ms = static_cast<std::int64_t>(random() % 315'000'000'000'000ULL) - 62'000'000'000'000LL;
    if (parse_time(format_time(ms)) != ms) FAIL("instant ", ms);
  }
}

TEST_CASE("parse_time takes 1 to 9 fraction digits or none and refuses anything but a valid UTC instant") {
  CHECK(parse_time("2026-12-02T17:20:13Z") == 1'796'232'013'000);
  CHECK(parse_time("2026-12-02T17:20:13.1Z") == 1'796'232'013'100);
  CHECK(parse_time("2026-12-02T17:20:13.123456789Z") == 1'796'232'013'123);
  for (std::string_view bad : {"",
                               "2026-12-02",
                               "2026-12-02T17:20:13.123",
                               "2026-12-02T17:20:13.123+01:00",
                               "2026-12-02 17:20:13.123Z",
                               "2026-12-02T17:20:13.Z",
                               "2026-12-02T17:20:13.1234567890Z",
                               "2026-02-29T00:00:00Z",
                               "1900-02-29T00:00:00Z",
                               "2026-13-01T00:00:00Z",
                               "2026-00-01T00:00:00Z",
                               "2026-04-31T00:00:00Z",
                               "2026-12-00T00:00:00Z",
                               "2026-12-02T24:00:00Z",
                               "2026-12-02T23:60:00Z",
                               "2026-12-02T23:59:60Z",
                               "+2026-12-02T17:20:13Z",
                               "2026-1-02T17:20:13Z",
                               "2026-12-02T17:20:13.123Zx",
                               "2026-12-02t17:20:13Z",
                               "-001-12-02T17:20:13Z"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_time(bad).has_value());
  }
  CHECK(parse_time("2000-02-29T00:00:00Z").has_value());
}
