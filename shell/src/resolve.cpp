#include "resolve.hpp"

#include <algorithm>
#include <charconv>

namespace weft::shell::detail {

std::optional<std::uint64_t> parse_pid(std::string_view text) {
  if (text.size() >= 2 && text.front() == '<' && text.back() == '>') text = text.substr(1, text.size() - 2);
  if (text.starts_with("0.")) {
    text.remove_prefix(2);
    if (!text.ends_with(".0")) return std::nullopt;
    text.remove_suffix(2);
  }
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string closest(std::string_view word, const std::vector<std::string>& candidates) {
  const std::size_t limit = std::min<std::size_t>(2, (word.size() + 1) / 2);
  std::string best;
  std::size_t best_distance = limit + 1;
  for (const std::string& c : candidates) {
    // The distance is at least the difference in length: skip those that
    // cannot be close, so a 60 KB word costs nothing (it cost seconds).
    if (c.size() > word.size() + limit || word.size() > c.size() + limit) continue;
    const std::size_t d = edit_distance(word, c);
    if (d < best_distance || (d == best_distance && c < best)) {
      best = c;
      best_distance = d;
    }
  }
  return best_distance <= limit ? best : std::string();
}

resolved resolve(runtime& rt, std::string_view target) {
  if (target.empty()) return {{}, "no actor given: name a pid like <0.42.0> or a registered name"};
  if (const auto number = parse_pid(target)) {
    for (const actor_info& a : rt.actors()) {
      if (a.self.id() == *number) return {a.self, {}};
    }
    return {{}, "no live actor <0." + std::to_string(*number) + ".0> (it has exited, or never existed)"};
  }
  if (pid who = rt.whereis(target)) return {who, {}};
  std::string error = "no actor named '" + std::string(target) + "'";
  const std::string suggestion = closest(target, rt.registered_names());
  if (!suggestion.empty()) error += " (did you mean '" + suggestion + "'?)";
  return {{}, error};
}

}  // namespace weft::shell::detail
