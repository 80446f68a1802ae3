#pragma once
// Reading an endpoint's answer without trusting it. The program at the
// other end of the socket may be a different version, buggy, or not a
// weft program at all, so weft-shell reads every field it needs through
// these checks: a missing field, a field of the wrong type, a negative or
// fractional count are each a bad_answer that names the command, where in
// the answer the field is, and what was found there:
//
//   malformed answer to 'ps': result.actors[3].mailbox.length is a string ("7"), expected an integer >= 0
//
// Everything here reads a parsed JSON document and nothing recurses over
// it, so an answer nested 100,000 levels deep is as safe as a flat one.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weft_shell {

using json = nlohmann::json;

// An answer that is not what the protocol says: not JSON, a field missing
// or of the wrong type or range, or (from the client) longer than the cap.
// what() is "malformed answer to '<command>': <what was wrong>".
struct bad_answer : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class answer;

// Where a field is: its key (or, for an array element, index) under its
// parent. Only answer and field use it.
struct answer_segment {
  const answer_segment* parent;
  std::string key;  // empty for an array element
  std::size_t index;
};

// One value inside an answer, and where it is for error messages. Only an
// answer makes them; valid while that answer lives. Strings are returned
// as sent: print them through printable() (escape.hpp).
class field {
 public:
  // -- members of this object (every accessor throws bad_answer) --
  field object(std::string_view key) const;  // an object
  field array(std::string_view key) const;   // an array
  std::string text(std::string_view key) const;
  std::optional<std::string> text_or_null(std::string_view key) const;
  std::optional<std::string> text_if_present(std::string_view key) const;  // absent or null: nullopt
  std::uint64_t count(std::string_view key) const;  // an integer >= 0
  std::optional<std::uint64_t> count_or_null(std::string_view key) const;
  std::optional<std::uint64_t> count_if_present(std::string_view key) const;  // absent: nullopt
  double rate(std::string_view key) const;                                    // a number >= 0
  bool flag(std::string_view key) const;
  // Each member as (key, count), for objects keyed by data (stats'
  // dead_letters), in the answer's order.
  std::vector<std::pair<std::string, std::uint64_t>> counts() const;

  // -- elements of this array --
  std::size_t size() const;
  field element(std::size_t index) const;  // an object
  std::string text_at(std::size_t index) const;

  const json& value() const noexcept { return *value_; }
  // "result.roots[0].children[2]"; the middle of a very deep path elided.
  std::string path() const;
  // Throws bad_answer: "<path> <problem>".
  [[noreturn]] void fail(std::string_view problem) const;

 private:
  friend class answer;
  field(const answer& owner, const json& value, const answer_segment* where) noexcept
      : owner_(&owner), value_(&value), where_(where) {}
  const json& member(std::string_view key) const;  // present, else throws
  const json* member_if_present(std::string_view key) const;
  [[noreturn]] void fail_member(std::string_view key, const json& found, std::string_view expected) const;
  field child(const json& value, std::string_view key) const;
  field child(const json& value, std::size_t index) const;

  const answer* owner_;
  const json* value_;
  const answer_segment* where_;
};

// One answer line, parsed and its envelope checked. Neither copied nor
// moved: fields point into it.
class answer {
 public:
  // Throws bad_answer unless `line` is a JSON object with a boolean `ok`,
  // an object `result` if ok, an object `error` if not. `command` names
  // the command in messages.
  answer(const std::string& line, std::string command);
  answer(const answer&) = delete;
  answer& operator=(const answer&) = delete;

  bool ok() const noexcept { return ok_; }
  field result() const;  // ok answers
  field error() const;   // error answers
  const std::string& command() const noexcept { return command_; }
  [[noreturn]] void fail(std::string_view problem) const;

 private:
  friend class field;
  json document_;
  std::string command_;
  bool ok_ = false;
  // Where each field handed out is, linked to its parent; a deque so that
  // growing it never moves a segment a field points to.
  mutable std::deque<answer_segment> segments_;
};

// What a value is, for "... is <this>, expected ...": `null`, `-3`,
// `a string ("abc")`, `an object`, `an array of 2`.
std::string describe(const json& value);

// 19899 -> "19,899".
std::string grouped(std::uint64_t n);

}  // namespace weft_shell
