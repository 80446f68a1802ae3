// NATS subject rules (subject.hpp), checked by hand on the corner cases
// and against a brute-force matcher on 100,000 random pairs.

#include <weft/actors/subject.hpp>

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

using weft::actors::subject_matches;
using weft::actors::valid_pattern;
using weft::actors::valid_subject;

TEST_CASE("subjects and patterns: what is valid") {
  CHECK(valid_subject("a"));
  CHECK(valid_subject("orders.eu.created"));
  CHECK_FALSE(valid_subject(""));
  CHECK_FALSE(valid_subject("a..b"));
  CHECK_FALSE(valid_subject(".a"));
  CHECK_FALSE(valid_subject("a."));
  CHECK_FALSE(valid_subject("a.*"));
  CHECK_FALSE(valid_subject("a.>"));
  CHECK_FALSE(valid_subject("a b"));
  CHECK(valid_pattern("a.*.c"));
  CHECK(valid_pattern(">"));
  CHECK(valid_pattern("*"));
  CHECK(valid_pattern("a.>"));
  CHECK_FALSE(valid_pattern("a.>.c"));
  CHECK_FALSE(valid_pattern("a.b*"));
  CHECK_FALSE(valid_pattern("a.>>"));
  CHECK_FALSE(valid_pattern(""));
}

TEST_CASE("subject matching: NATS semantics") {
  CHECK(subject_matches("a.b", "a.b"));
  CHECK_FALSE(subject_matches("a.b", "a.b.c"));
  CHECK_FALSE(subject_matches("a.b.c", "a.b"));
  CHECK(subject_matches("a.*", "a.b"));
  CHECK_FALSE(subject_matches("a.*", "a"));
  CHECK_FALSE(subject_matches("a.*", "a.b.c"));
  CHECK(subject_matches("a.>", "a.b"));
  CHECK(subject_matches("a.>", "a.b.c.d"));
  CHECK_FALSE(subject_matches("a.>", "a"));  // '>' needs at least one token
  CHECK(subject_matches(">", "a"));
  CHECK(subject_matches("*.*", "x.y"));
  CHECK(subject_matches("*.b.>", "a.b.c"));
  CHECK_FALSE(subject_matches("*.b.>", "a.c.c"));
  CHECK_FALSE(subject_matches("a.b", "a.*"));  // a subject never has wildcards
}

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == '.') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

// Independent of subject.cpp: token lists and recursion, the definition
// read literally.
bool brute(const std::vector<std::string>& p, std::size_t i, const std::vector<std::string>& s, std::size_t j) {
  if (i == p.size()) return j == s.size();
  if (p[i] == ">") return j < s.size();  // rest, at least one
  if (j == s.size()) return false;
  if (p[i] != "*" && p[i] != s[j]) return false;
  return brute(p, i + 1, s, j + 1);
}

}  // namespace

TEST_CASE("subject matching agrees with a brute-force matcher on 100,000 random pairs") {
  std::mt19937 rng(20261202);
  const std::vector<std::string> alphabet = {"a", "b", "c", "orders", "eu", "x1"};
  auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
  int matched = 0;
  for (int round = 0; round < 100000; ++round) {
    std::string subject;
    const std::size_t subject_len = 1 + pick(5);
    for (std::size_t t = 0; t < subject_len; ++t) subject += (t ? "." : "") + alphabet[pick(alphabet.size())];
    std::string pattern;
    const std::size_t pattern_len = 1 + pick(5);
    for (std::size_t t = 0; t < pattern_len; ++t) {
      const std::size_t r = pick(10);
      std::string token = r < 3 ? "*" : (r == 3 && t + 1 == pattern_len) ? ">" : alphabet[pick(alphabet.size())];
      pattern += (t ? "." : "") + token;
    }
    const bool expected = brute(split(pattern), 0, split(subject), 0);
    matched += expected ? 1 : 0;
    REQUIRE_MESSAGE(subject_matches(pattern, subject) == expected, pattern, " vs ", subject);
  }
  CHECK(matched > 1000);  // the generator exercises both outcomes
}
