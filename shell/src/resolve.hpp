#pragma once
// Finding an actor from what a person typed: a pid ("<0.42.0>", "0.42.0"
// or "42") or a registered name, and the suggestion when it is neither.
// The runtime has no pid-from-string lookup, so a pid is found by scanning
// runtime::actors(): linear, which is fine for a debug tool.

#include <weft/runtime/runtime.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace weft::shell::detail {

// The actor number in "<0.42.0>", "0.42.0" or "42"; nullopt if it is not
// a pid spelling (then it is a name).
std::optional<std::uint64_t> parse_pid(std::string_view text);

// Levenshtein distance, for suggestions.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The closest candidate within a distance that still looks like a typo
// (at most 2, and less than half the word), or empty.
std::string closest(std::string_view word, const std::vector<std::string>& candidates);

struct resolved {
  pid who;            // empty if not found
  std::string error;  // what to tell the person when not found
};

resolved resolve(runtime& rt, std::string_view target);

}  // namespace weft::shell::detail
