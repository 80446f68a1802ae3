#include <weft/actors/subject.hpp>

namespace weft::actors {

namespace {

// Splits off the first token of `rest` (up to the next '.'), advancing
// `rest` past it and its dot. `more` tells whether a dot followed.
std::string_view next_token(std::string_view& rest, bool& more) noexcept {
  const auto dot = rest.find('.');
  std::string_view token = rest.substr(0, dot);
  more = dot != std::string_view::npos;
  rest = more ? rest.substr(dot + 1) : std::string_view();
  return token;
}

bool token_chars_ok(std::string_view token) noexcept {
  if (token.empty()) return false;
  for (char c : token) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

// wildcards: whether '*' and '>' tokens are allowed.
bool valid(std::string_view s, bool wildcards) noexcept {
  if (s.empty()) return false;
  bool more = true;
  while (more) {
    const std::string_view token = next_token(s, more);
    if (!token_chars_ok(token)) return false;
    const bool has_wild = token.find_first_of("*>") != std::string_view::npos;
    if (!has_wild) continue;
    if (!wildcards || token.size() != 1) return false;
    if (token == ">" && more) return false;  // '>' only last
  }
  return true;
}

}  // namespace

bool valid_subject(std::string_view subject) noexcept { return valid(subject, false); }
bool valid_pattern(std::string_view pattern) noexcept { return valid(pattern, true); }

bool subject_matches(std::string_view pattern, std::string_view subject) noexcept {
  if (!valid_pattern(pattern) || !valid_subject(subject)) return false;
  bool pattern_more = true;
  bool subject_more = true;
  while (pattern_more) {
    const std::string_view p = next_token(pattern, pattern_more);
    if (p == ">") return subject_more;  // one or more tokens left
    if (!subject_more) return false;
    const std::string_view s = next_token(subject, subject_more);
    if (p != "*" && p != s) return false;
    if (pattern_more && !subject_more) return false;  // pattern longer than the subject
  }
  return !subject_more;
}

}  // namespace weft::actors
