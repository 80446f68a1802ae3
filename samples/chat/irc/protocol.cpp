// The IRC protocol alone (protocol.hpp): parsing what clients send,
// building what the server sends, and the names and text rules between.
//
// Liberal in what comes in, exact in what goes out:
//
//   parse() accepts                     line() and tags_prefix() produce
//   - any number of spaces between      - one space between words, none at
//     words, and before and after the     the end
//     line                              - a ':' before the last parameter
//   - "privmsg" for "PRIVMSG"             only when it needs one
//   - a stray '\r' at the end           - exactly one CR LF, at the end
//   - empty tags ("@a;;b"), a tag       - a tag with an empty value as the
//     without '=' (empty value),          bare key, every value escaped
//     invalid escapes ("\x" is "x"),    - at most 512 bytes after the tags,
//     a lone '\' at the end (dropped),    cut on a UTF-8 boundary
//     the same key twice (the last
//     value wins, in the first place)
//   - a tag whose key breaks the
//     IRCv3 grammar is skipped, not
//     the whole line
//
// What line() does with a caller's bug. The server validates names before
// they reach a line, so these never happen in a correct server; if they
// do, the line stays one well-formed line with the same number of
// parameters rather than becoming two lines or shifting the parameters a
// client reads (which would let one user's text inject commands):
//   - in the prefix and the parameters but the last: ' ', CR, LF and NUL
//     become '_'; an empty parameter becomes "*" (IRC's "no name here")
//     and a parameter's leading ':' becomes '_'.
//   - in the last parameter: CR, LF and NUL become ' ' (the text stays
//     readable, and a ':' is then added as for any space).
//   - more than max_params parameters: the extra ones are joined to the
//     15th with spaces, which is how RFC 2812 reads a 15th parameter.
//   - a prefix too long to leave room for the command is cut.
//   The command is the server's own constant and is not checked.
//
// Not done here: deciding what invalid UTF-8 in a parameter means (the
// server calls to_valid_utf8 before relaying text to a web client).

#include "irc/protocol.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace chat::irc {

namespace {

constexpr bool is_letter(unsigned char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
constexpr bool is_digit(unsigned char c) noexcept {
  return c >= '0' && c <= '9';
}
constexpr bool is_continuation(unsigned char c) noexcept {
  return (c & 0xC0) == 0x80;
}

std::string_view skip_spaces(std::string_view s) noexcept {
  const std::size_t first = s.find_first_not_of(' ');
  return first == std::string_view::npos ? std::string_view{} : s.substr(first);
}

// A word up to the next space (or the end); `s` keeps what follows it.
std::string_view take_word(std::string_view& s) noexcept {
  const std::size_t space = s.find(' ');
  const std::string_view word = s.substr(0, space);
  s.remove_prefix(space == std::string_view::npos ? s.size() : space);
  return word;
}

// -- tags --------------------------------------------------------------------

// IRCv3: key = ['+'] [vendor '/'] key_name; vendor a host name (letters,
// digits, '-', '.'); key_name letters, digits and '-', never empty.
bool valid_tag_key(std::string_view key) noexcept {
  if (!key.empty() && key.front() == '+') key.remove_prefix(1);
  const std::size_t slash = key.find('/');
  if (slash != std::string_view::npos) {
    const std::string_view vendor = key.substr(0, slash);
    if (vendor.empty()) return false;
    for (unsigned char c : vendor) {
      if (!is_letter(c) && !is_digit(c) && c != '-' && c != '.') return false;
    }
    key.remove_prefix(slash + 1);
  }
  if (key.empty()) return false;
  for (unsigned char c : key) {
    if (!is_letter(c) && !is_digit(c) && c != '-') return false;
  }
  return true;
}

void add_tag(std::vector<tag>& tags, std::string_view raw) {
  const std::size_t equals = raw.find('=');
  const std::string_view key = raw.substr(0, equals);
  if (!valid_tag_key(key)) return;
  tags.push_back(tag{std::string(key),
                     equals == std::string_view::npos ? std::string{} : unescape_tag_value(raw.substr(equals + 1))});
}

// A key sent twice keeps its first place and its last value. Sorting
// (not a scan per tag) keeps a line of two thousand distinct tiny tags
// from costing millions of comparisons.
void merge_duplicate_keys(std::vector<tag>& tags) {
  if (tags.size() < 2) return;
  std::vector<std::size_t> by_key(tags.size());
  for (std::size_t i = 0; i < by_key.size(); ++i)
    by_key[i] = i;
  std::stable_sort(by_key.begin(), by_key.end(),
                   [&](std::size_t a, std::size_t b) { return tags[a].key < tags[b].key; });
  std::vector<bool> dropped(tags.size(), false);
  for (std::size_t first = 0, last = 0; first < by_key.size(); first = last + 1) {
    last = first;
    while (last + 1 < by_key.size() && tags[by_key[last + 1]].key == tags[by_key[first]].key)
      ++last;
    if (last == first) continue;
    tags[by_key[first]].value = std::move(tags[by_key[last]].value);
    for (std::size_t i = first + 1; i <= last; ++i)
      dropped[by_key[i]] = true;
  }
  std::size_t kept = 0;
  for (std::size_t i = 0; i < tags.size(); ++i) {
    if (dropped[i]) continue;
    if (kept != i) tags[kept] = std::move(tags[i]);
    ++kept;
  }
  tags.resize(kept);
}

// -- building ------------------------------------------------------------------

// A word that must stay one word: the prefix or a parameter but the last
// (which, unlike the prefix, cannot start with ':').
void append_word(std::string& out, std::string_view word, bool is_param = true) {
  if (word.empty()) {
    out += '*';
    return;
  }
  const std::size_t start = out.size();
  out += word;
  for (std::size_t i = start; i < out.size(); ++i) {
    if (out[i] == ' ' || out[i] == '\r' || out[i] == '\n' || out[i] == '\0') out[i] = '_';
  }
  if (is_param && out[start] == ':') out[start] = '_';
}

// How many bytes of `s` fit in `limit` without cutting a UTF-8 sequence.
// Invalid sequences are not repaired: a cut never splits more than the
// three continuation bytes a character can have.
std::size_t utf8_cut(std::string_view s, std::size_t limit) noexcept {
  if (s.size() <= limit) return s.size();
  std::size_t cut = limit;
  for (int back = 0; back < 3 && cut > 0 && is_continuation(static_cast<unsigned char>(s[cut])); ++back)
    --cut;
  return is_continuation(static_cast<unsigned char>(s[cut])) ? limit : cut;
}

std::string build_line(std::string_view prefix, std::string_view command, const std::string_view* params,
                       std::size_t count) {
  constexpr std::size_t content_limit = max_line_bytes - 2;  // CR LF
  std::string out;
  out.reserve(max_line_bytes);
  if (!prefix.empty()) {
    // Room for ':', the prefix, a space and the command.
    const std::size_t room = content_limit > command.size() + 2 ? content_limit - command.size() - 2 : 0;
    const std::string_view kept = prefix.substr(0, utf8_cut(prefix, room));
    if (!kept.empty()) {
      out += ':';
      append_word(out, kept, false);
      out += ' ';
    }
  }
  out += command;
  // Where the last parameter's text starts: a cut before it may leave a
  // space at the end, which would not be exact.
  std::size_t last_text_at = std::string::npos;
  for (std::size_t i = 0; i < count; ++i) {
    out += ' ';
    if (i + 1 < count && i + 1 < max_params) {
      append_word(out, params[i]);
      continue;
    }
    std::string last(params[i]);
    for (std::size_t extra = i + 1; extra < count; ++extra) {
      last += ' ';
      last += params[extra];
    }
    std::replace_if(
        last.begin(), last.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; }, ' ');
    if (last.empty() || last.front() == ':' || last.find(' ') != std::string::npos) out += ':';
    last_text_at = out.size();
    out += last;
    break;
  }
  if (out.size() > content_limit) {
    out.resize(utf8_cut(out, content_limit));
    if (out.size() < last_text_at) {
      while (!out.empty() && out.back() == ' ')
        out.pop_back();
    }
  }
  out += "\r\n";
  return out;
}

// -- time ----------------------------------------------------------------------
// Proleptic Gregorian calendar from a day count and back, after Howard
// Hinnant, "chrono-Compatible Low-Level Date Algorithms" (days_from_civil
// and civil_from_days): years are counted from March so that the leap
// day is the last of its 400-year era's year, which makes both directions
// a few divisions with no tables and no locale.

struct civil_date {
  std::int64_t year;
  unsigned month;  // 1..12
  unsigned day;    // 1..31
};

constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

constexpr std::int64_t days_from_civil(civil_date d) noexcept {
  const std::int64_t y = d.year - (d.month <= 2 ? 1 : 0);
  const std::int64_t era = floor_div(y, 400);
  const std::int64_t year_of_era = y - era * 400;                                 // [0, 399]
  const std::int64_t month_from_march = d.month > 2 ? d.month - 3 : d.month + 9;  // [0, 11]
  const std::int64_t day_of_year = (153 * month_from_march + 2) / 5 + d.day - 1;  // [0, 365]
  const std::int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;  // 719468: days from 0000-03-01 to 1970-01-01
}

constexpr civil_date civil_from_days(std::int64_t days) noexcept {
  days += 719468;
  const std::int64_t era = floor_div(days, 146097);
  const std::int64_t day_of_era = days - era * 146097;  // [0, 146096]
  const std::int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;  // [0, 399]
  const std::int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const std::int64_t month_from_march = (5 * day_of_year + 2) / 153;
  const auto day = static_cast<unsigned>(day_of_year - (153 * month_from_march + 2) / 5 + 1);
  const auto month = static_cast<unsigned>(month_from_march < 10 ? month_from_march + 3 : month_from_march - 9);
  return {year_of_era + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

constexpr bool is_leap_year(std::int64_t y) noexcept {
  return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

constexpr unsigned days_in_month(std::int64_t year, unsigned month) noexcept {
  constexpr std::array<unsigned, 12> days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap_year(year) ? 29 : days[month - 1];
}

constexpr std::int64_t ms_per_day = 86'400'000;
// The four-digit years: what format_time writes and parse_time reads.
constexpr std::int64_t earliest_ms = days_from_civil({0, 1, 1}) * ms_per_day;
constexpr std::int64_t latest_ms = (days_from_civil({9999, 12, 31}) + 1) * ms_per_day - 1;

static_assert(days_from_civil({1970, 1, 1}) == 0);
static_assert(days_from_civil({2000, 3, 1}) == 11017);
static_assert(civil_from_days(-1).year == 1969 && civil_from_days(-1).month == 12 && civil_from_days(-1).day == 31);

// Reads exactly `n` digits from the front of `s`.
std::optional<unsigned> take_digits(std::string_view& s, std::size_t n) noexcept {
  if (s.size() < n) return std::nullopt;
  unsigned value = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!is_digit(static_cast<unsigned char>(s[i]))) return std::nullopt;
    value = value * 10 + static_cast<unsigned>(s[i] - '0');
  }
  s.remove_prefix(n);
  return value;
}

bool take_char(std::string_view& s, char c) noexcept {
  if (s.empty() || s.front() != c) return false;
  s.remove_prefix(1);
  return true;
}

// -- UTF-8 -----------------------------------------------------------------------
// The well-formed sequences (Unicode 15, table 3-7): the lead byte fixes
// the length and the range of the second byte, which is what rules out
// overlong forms (C0, C1, E0 80..9F, F0 80..8F), surrogates (ED A0..BF)
// and code points past U+10FFFF (F4 90.., F5..FF).

struct sequence_rule {
  std::size_t length;  // 0: the byte never starts a sequence
  unsigned char second_low;
  unsigned char second_high;
};

constexpr sequence_rule rule_for(unsigned char lead) noexcept {
  if (lead < 0x80) return {1, 0, 0};
  if (lead >= 0xC2 && lead <= 0xDF) return {2, 0x80, 0xBF};
  if (lead == 0xE0) return {3, 0xA0, 0xBF};
  if (lead == 0xED) return {3, 0x80, 0x9F};
  if (lead >= 0xE1 && lead <= 0xEF) return {3, 0x80, 0xBF};
  if (lead == 0xF0) return {4, 0x90, 0xBF};
  if (lead == 0xF4) return {4, 0x80, 0x8F};
  if (lead >= 0xF1 && lead <= 0xF3) return {4, 0x80, 0xBF};
  return {0, 0, 0};
}

// How many bytes from the front of `s` form one well-formed character
// (its length), or, when they do not, how many form the longest start of
// one (the "maximal subpart", at least 1), with `ok` false.
std::size_t scan_character(std::string_view s, bool& ok) noexcept {
  const sequence_rule rule = rule_for(static_cast<unsigned char>(s[0]));
  ok = false;
  if (rule.length == 0) return 1;
  if (rule.length == 1) {
    ok = true;
    return 1;
  }
  if (s.size() < 2) return 1;
  const auto second = static_cast<unsigned char>(s[1]);
  if (second < rule.second_low || second > rule.second_high) return 1;
  std::size_t i = 2;
  while (i < rule.length) {
    if (i >= s.size() || !is_continuation(static_cast<unsigned char>(s[i]))) return i;
    ++i;
  }
  ok = true;
  return rule.length;
}

}  // namespace

std::string_view to_string(parse_error e) noexcept {
  switch (e) {
    case parse_error::empty:
      return "empty line";
    case parse_error::nul_byte:
      return "NUL byte in the line";
    case parse_error::too_long:
      return "line too long (over 510 bytes after the tags)";
    case parse_error::tags_too_long:
      return "message tags too long (over 4094 bytes)";
    case parse_error::bad_tags:
      return "malformed message tags ('@' without tags, or no space after them)";
    case parse_error::no_command:
      return "no command (a command is letters or three digits)";
    case parse_error::too_many_params:
      return "too many parameters (at most 15)";
  }
  return "unknown parse error";
}

// The steps, each refusing with its own parse_error:
//   1. NUL anywhere: refused before anything is read (C strings downstream).
//   2. only spaces: empty.
//   3. '@': the tags run to the first space; none, or no space: bad_tags;
//      more than max_client_tag_bytes: tags_too_long.
//   4. the rest over max_line_bytes - 2: too_long (RFC 2812's 512 with CR LF).
//   5. ':' prefix, then the command: letters (upper-cased) or three digits.
//   6. parameters: words, until one starting with ':' takes the rest.
std::optional<message> parse(std::string_view line, parse_error* why) {
  const auto fail = [why](parse_error e) -> std::optional<message> {
    if (why != nullptr) *why = e;
    return std::nullopt;
  };
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.find('\0') != std::string_view::npos) return fail(parse_error::nul_byte);
  std::string_view rest = skip_spaces(line);
  if (rest.empty()) return fail(parse_error::empty);

  message m;
  if (rest.front() == '@') {
    rest.remove_prefix(1);
    const std::size_t space = rest.find(' ');
    if (space == std::string_view::npos) return fail(parse_error::bad_tags);
    std::string_view tags = rest.substr(0, space);
    if (tags.size() > max_client_tag_bytes) return fail(parse_error::tags_too_long);
    if (tags.find_first_not_of(';') == std::string_view::npos) return fail(parse_error::bad_tags);
    m.tags.reserve(static_cast<std::size_t>(std::count(tags.begin(), tags.end(), ';')) + 1);
    while (!tags.empty()) {
      const std::size_t semicolon = tags.find(';');
      if (semicolon != 0) add_tag(m.tags, tags.substr(0, semicolon));
      tags.remove_prefix(semicolon == std::string_view::npos ? tags.size() : semicolon + 1);
    }
    merge_duplicate_keys(m.tags);
    rest = skip_spaces(rest.substr(space));
  }
  if (rest.size() > max_line_bytes - 2) return fail(parse_error::too_long);

  if (!rest.empty() && rest.front() == ':') {
    rest.remove_prefix(1);
    m.prefix = take_word(rest);
    rest = skip_spaces(rest);
  }
  const std::string_view command = take_word(rest);
  const bool letters = !command.empty() && std::all_of(command.begin(), command.end(),
                                                       [](char c) { return is_letter(static_cast<unsigned char>(c)); });
  const bool numeric = command.size() == 3 && std::all_of(command.begin(), command.end(), [](char c) {
                         return is_digit(static_cast<unsigned char>(c));
                       });
  if (!letters && !numeric) return fail(parse_error::no_command);
  m.command.assign(command);
  for (char& c : m.command) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }

  for (rest = skip_spaces(rest); !rest.empty(); rest = skip_spaces(rest)) {
    if (m.params.size() == max_params) return fail(parse_error::too_many_params);
    if (rest.front() == ':') {
      m.params.emplace_back(rest.substr(1));
      break;
    }
    m.params.emplace_back(take_word(rest));
  }
  return m;
}

// -- names -------------------------------------------------------------------

namespace {
constexpr bool is_nick_special(unsigned char c) noexcept {
  return c == '[' || c == ']' || c == '\\' || c == '`' || c == '_' || c == '^' || c == '{' || c == '|' || c == '}';
}
}  // namespace

bool valid_nick(std::string_view nick) noexcept {
  if (nick.empty() || nick.size() > max_nick_length) return false;
  const auto first = static_cast<unsigned char>(nick.front());
  if (!is_letter(first) && !is_nick_special(first)) return false;
  return std::all_of(nick.begin() + 1, nick.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return is_letter(c) || is_digit(c) || is_nick_special(c) || c == '-';
  });
}

bool valid_channel(std::string_view name) noexcept {
  if (name.size() < 2 || name.size() > max_channel_length || !is_channel(name)) return false;
  const std::string_view rest = name.substr(1);
  return rest.find_first_of(std::string_view(" ,\x07\0\r\n:", 7)) == std::string_view::npos && valid_utf8(rest);
}

bool is_channel(std::string_view target) noexcept {
  return !target.empty() && (target.front() == '#' || target.front() == '&');
}

std::string casefold(std::string_view name) {
  std::string folded(name);
  for (char& c : folded) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return folded;
}

// -- text --------------------------------------------------------------------

bool valid_utf8(std::string_view text) noexcept {
  while (!text.empty()) {
    bool ok = false;
    const std::size_t n = scan_character(text, ok);
    if (!ok) return false;
    text.remove_prefix(n);
  }
  return true;
}

std::string to_valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    bool ok = false;
    const std::size_t n = scan_character(text, ok);
    if (ok) {
      out.append(text.substr(0, n));
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD REPLACEMENT CHARACTER
    }
    text.remove_prefix(n);
  }
  return out;
}

std::string escape_tag_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case ';':
        out += "\\:";
        break;
      case ' ':
        out += "\\s";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string unescape_tag_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '\\') {
      out += value[i];
      continue;
    }
    if (++i == value.size()) break;  // a lone '\' at the end is dropped
    switch (value[i]) {
      case ':':
        out += ';';
        break;
      case 's':
        out += ' ';
        break;
      case 'r':
        out += '\r';
        break;
      case 'n':
        out += '\n';
        break;
      default:  // "\\" is '\', and an unknown "\x" is 'x'
        out += value[i];
    }
  }
  return out;
}

// Outside years 0000..9999 the time is clamped to their ends: ISO 8601's
// expanded years would need a sign that no client parses.
std::string format_time(std::int64_t unix_ms) {
  unix_ms = std::clamp(unix_ms, earliest_ms, latest_ms);
  const std::int64_t days = floor_div(unix_ms, ms_per_day);
  const std::int64_t ms_of_day = unix_ms - days * ms_per_day;
  const civil_date date = civil_from_days(days);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", date.year, date.month, date.day,
                     ms_of_day / 3'600'000, ms_of_day / 60'000 % 60, ms_of_day / 1000 % 60, ms_of_day % 1000);
}

// YYYY-MM-DDThh:mm:ss[.fraction]Z: the fraction has 1 to 9 digits, of
// which the milliseconds are kept; 'Z' is required (UTC only, as
// server-time and CHATHISTORY send it), and no leap second.
std::optional<std::int64_t> parse_time(std::string_view text) {
  const auto year = take_digits(text, 4);
  if (!year || !take_char(text, '-')) return std::nullopt;
  const auto month = take_digits(text, 2);
  if (!month || !take_char(text, '-')) return std::nullopt;
  const auto day = take_digits(text, 2);
  if (!day || !take_char(text, 'T')) return std::nullopt;
  const auto hour = take_digits(text, 2);
  if (!hour || !take_char(text, ':')) return std::nullopt;
  const auto minute = take_digits(text, 2);
  if (!minute || !take_char(text, ':')) return std::nullopt;
  const auto second = take_digits(text, 2);
  if (!second) return std::nullopt;
  std::int64_t ms = 0;
  if (take_char(text, '.')) {
    std::size_t digits = 0;
    std::int64_t scale = 100;
    while (!text.empty() && is_digit(static_cast<unsigned char>(text.front()))) {
      if (++digits > 9) return std::nullopt;
      ms += (text.front() - '0') * scale;
      scale /= 10;
      text.remove_prefix(1);
    }
    if (digits == 0) return std::nullopt;
  }
  if (!take_char(text, 'Z') || !text.empty()) return std::nullopt;
  if (*month < 1 || *month > 12 || *day < 1 || *day > days_in_month(*year, *month)) return std::nullopt;
  if (*hour > 23 || *minute > 59 || *second > 59) return std::nullopt;
  const std::int64_t days = days_from_civil({*year, *month, *day});
  return days * ms_per_day + ((*hour * 60 + *minute) * 60 + *second) * std::int64_t{1000} + ms;
}

// -- building lines -----------------------------------------------------------

std::string line(std::string_view prefix, std::string_view command, std::initializer_list<std::string_view> params) {
  return build_line(prefix, command, params.begin(), params.size());
}

std::string line(std::string_view prefix, std::string_view command, const std::vector<std::string_view>& params) {
  return build_line(prefix, command, params.data(), params.size());
}

// Tags with a key outside the IRCv3 grammar are left out, as parse()
// skips them; NUL bytes are dropped from values (no escape exists for
// them, and a NUL would make the whole line refused).
std::string tags_prefix(const std::vector<tag>& tags) {
  std::string out;
  for (const tag& t : tags) {
    if (!valid_tag_key(t.key)) continue;
    out += out.empty() ? '@' : ';';
    out += t.key;
    if (t.value.empty()) continue;
    out += '=';
    std::string value = escape_tag_value(t.value);
    value.erase(std::remove(value.begin(), value.end(), '\0'), value.end());
    out += value;
  }
  if (!out.empty()) out += ' ';
  return out;
}

}  // namespace chat::irc
