#include "answer.hpp"

#include "escape.hpp"

#include <fmt/format.h>

#include <cmath>

namespace weft_shell {

namespace {

// A path of more steps than this keeps its first and last few: a
// 20,000-level tree must not make a 400 KB error message. A step is a key
// and the indices after it: "children[3]".
constexpr std::size_t path_head = 4;
constexpr std::size_t path_tail = 6;

// Long strings are cut in messages: what matters is their type and start.
constexpr std::size_t described_string_bytes = 40;

}  // namespace

std::string describe(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return value.get<bool>() ? "true" : "false";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return value.dump();  // a scalar: dump() does not recurse
    case json::value_t::string: {
      const auto& s = value.get_ref<const std::string&>();
      if (s.size() <= described_string_bytes) return "a string (\"" + printable(s) + "\")";
      return "a string (\"" + printable(std::string_view(s).substr(0, described_string_bytes)) + "\"..., " +
             grouped(s.size()) + " bytes)";
    }
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array of " + grouped(value.size());
    default:
      return "a binary value";
  }
}

std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// -- answer --

answer::answer(const std::string& line, std::string command) : command_(std::move(command)) {
  try {
    document_ = json::parse(line);
  } catch (const json::parse_error& e) {
    fail(fmt::format("it is not JSON (syntax error at byte {} of {})", e.byte, grouped(line.size())));
  } catch (const json::exception&) {
    fail("it holds a number too large to represent");
  }
  if (!document_.is_object()) fail("the answer is " + describe(document_) + ", expected an object");
  const auto ok = document_.find("ok");
  if (ok == document_.end()) fail("ok is missing");
  if (!ok->is_boolean()) fail("ok is " + describe(*ok) + ", expected true or false");
  ok_ = ok->get<bool>();
  const char* needed = ok_ ? "result" : "error";
  const auto part = document_.find(needed);
  if (part == document_.end()) fail(fmt::format("ok is {} but {} is missing", ok_, needed));
  if (!part->is_object()) fail(fmt::format("{} is {}, expected an object", needed, describe(*part)));
}

field answer::result() const {
  if (!ok_) fail("result asked of an error answer");
  segments_.push_back({nullptr, "result", 0});
  return field(*this, document_["result"], &segments_.back());
}

field answer::error() const {
  if (ok_) fail("error asked of an ok answer");
  segments_.push_back({nullptr, "error", 0});
  return field(*this, document_["error"], &segments_.back());
}

void answer::fail(std::string_view problem) const {
  throw bad_answer(fmt::format("malformed answer to '{}': {}", printable(command_), problem));
}

// -- field: where it is --

std::string field::path() const {
  std::vector<const answer_segment*> chain;
  for (const answer_segment* s = where_; s != nullptr; s = s->parent)
    chain.push_back(s);
  std::vector<std::string> steps;
  for (auto s = chain.rbegin(); s != chain.rend(); ++s) {
    if ((*s)->key.empty() && !steps.empty()) {
      steps.back() += fmt::format("[{}]", (*s)->index);
    } else {
      steps.push_back(printable((*s)->key));
    }
  }
  const std::size_t n = steps.size();
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    if (n > path_head + path_tail + 1 && i == path_head) {
      out += fmt::format("...({} more)...", grouped(n - path_head - path_tail));
      i = n - path_tail - 1;
      continue;
    }
    if (!out.empty() && !out.ends_with("...")) out += '.';
    out += steps[i];
  }
  return out;
}

void field::fail(std::string_view problem) const {
  owner_->fail(path() + " " + std::string(problem));
}

void field::fail_member(std::string_view key, const json& found, std::string_view expected) const {
  owner_->fail(fmt::format("{}.{} is {}, expected {}", path(), printable(key), describe(found), expected));
}

field field::child(const json& value, std::string_view key) const {
  owner_->segments_.push_back({where_, std::string(key), 0});
  return field(*owner_, value, &owner_->segments_.back());
}

field field::child(const json& value, std::size_t index) const {
  owner_->segments_.push_back({where_, std::string(), index});
  return field(*owner_, value, &owner_->segments_.back());
}

// -- field: members of an object --

const json* field::member_if_present(std::string_view key) const {
  if (!value_->is_object()) fail("is " + describe(*value_) + ", expected an object");
  const auto it = value_->find(key);
  return it == value_->end() ? nullptr : &*it;
}

const json& field::member(std::string_view key) const {
  const json* found = member_if_present(key);
  if (found == nullptr) owner_->fail(fmt::format("{}.{} is missing", path(), printable(key)));
  return *found;
}

field field::object(std::string_view key) const {
  const json& v = member(key);
  if (!v.is_object()) fail_member(key, v, "an object");
  return child(v, key);
}

field field::array(std::string_view key) const {
  const json& v = member(key);
  if (!v.is_array()) fail_member(key, v, "an array");
  return child(v, key);
}

std::string field::text(std::string_view key) const {
  const json& v = member(key);
  if (!v.is_string()) fail_member(key, v, "a string");
  return v.get<std::string>();
}

std::optional<std::string> field::text_or_null(std::string_view key) const {
  const json& v = member(key);
  if (v.is_null()) return std::nullopt;
  if (!v.is_string()) fail_member(key, v, "a string or null");
  return v.get<std::string>();
}

std::optional<std::string> field::text_if_present(std::string_view key) const {
  if (member_if_present(key) == nullptr) return std::nullopt;
  return text_or_null(key);
}

namespace {

std::optional<std::uint64_t> as_count(const json& v) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(v.get<std::int64_t>());
  return std::nullopt;
}

}  // namespace

std::uint64_t field::count(std::string_view key) const {
  const json& v = member(key);
  const auto n = as_count(v);
  if (!n) fail_member(key, v, "an integer >= 0");
  return *n;
}

std::optional<std::uint64_t> field::count_or_null(std::string_view key) const {
  const json& v = member(key);
  if (v.is_null()) return std::nullopt;
  const auto n = as_count(v);
  if (!n) fail_member(key, v, "an integer >= 0 or null");
  return n;
}

std::optional<std::uint64_t> field::count_if_present(std::string_view key) const {
  const json* v = member_if_present(key);
  if (v == nullptr) return std::nullopt;
  const auto n = as_count(*v);
  if (!n) fail_member(key, *v, "an integer >= 0");
  return n;
}

double field::rate(std::string_view key) const {
  const json& v = member(key);
  if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0) fail_member(key, v, "a number >= 0");
  return v.get<double>();
}

bool field::flag(std::string_view key) const {
  const json& v = member(key);
  if (!v.is_boolean()) fail_member(key, v, "true or false");
  return v.get<bool>();
}

std::vector<std::pair<std::string, std::uint64_t>> field::counts() const {
  if (!value_->is_object()) fail("is " + describe(*value_) + ", expected an object");
  std::vector<std::pair<std::string, std::uint64_t>> out;
  for (const auto& [key, v] : value_->items()) {
    const auto n = as_count(v);
    if (!n) fail_member(key, v, "an integer >= 0");
    out.emplace_back(key, *n);
  }
  return out;
}

// -- field: elements of an array --

std::size_t field::size() const {
  if (!value_->is_array()) fail("is " + describe(*value_) + ", expected an array");
  return value_->size();
}

field field::element(std::size_t index) const {
  if (index >= size()) fail(fmt::format("has no element {}", index));
  const json& v = (*value_)[index];
  if (!v.is_object()) owner_->fail(fmt::format("{}[{}] is {}, expected an object", path(), index, describe(v)));
  return child(v, index);
}

std::string field::text_at(std::size_t index) const {
  if (index >= size()) fail(fmt::format("has no element {}", index));
  const json& v = (*value_)[index];
  if (!v.is_string()) owner_->fail(fmt::format("{}[{}] is {}, expected a string", path(), index, describe(v)));
  return v.get<std::string>();
}

}  // namespace weft_shell
