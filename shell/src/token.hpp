#pragma once
// The TCP token check. A client that may time the endpoint's answers must
// learn nothing from them about the token: not how many of its leading
// characters it has right, and not its length.

#include <cstddef>
#include <string_view>

namespace weft::shell::detail {

struct token_comparison {
  bool equal = false;
  std::size_t bytes_compared = 0;  // always expected.size(): what the tests check
};

// Compares every byte of `expected` with the byte at the same position of
// `presented` (a zero byte past its end), whatever either holds, and folds
// the differences with OR: the work depends on the expected token's length
// only, never on where the first difference is or on the presented length.
// A length difference is folded in the same way instead of returning early.
// An empty expected token matches nothing (the endpoint never has one).
constexpr token_comparison compare_token(std::string_view presented, std::string_view expected) noexcept {
  unsigned difference = presented.size() == expected.size() ? 0u : 1u;
  std::size_t compared = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const unsigned char p = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
    difference |= static_cast<unsigned>(p ^ static_cast<unsigned char>(expected[i]));
    ++compared;
  }
  return {difference == 0 && !expected.empty(), compared};
}

constexpr bool token_matches(std::string_view presented, std::string_view expected) noexcept {
  return compare_token(presented, expected).equal;
}

}  // namespace weft::shell::detail
