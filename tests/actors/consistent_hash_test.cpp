// The consistent-hashing ring alone (consistent_hash.hpp): no actors.

#include <weft/actors/consistent_hash.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

using weft::actors::hash_key;
using weft::actors::hash_ring;

namespace {

constexpr int keys = 100000;

std::vector<std::uint64_t> owners(const hash_ring& ring) {
  std::vector<std::uint64_t> out;
  out.reserve(keys);
  for (int k = 0; k < keys; ++k) out.push_back(*ring.owner(hash_key("key-" + std::to_string(k))));
  return out;
}

hash_ring ring_of(std::uint64_t first, std::uint64_t count, std::size_t virtual_nodes) {
  hash_ring ring(virtual_nodes);
  for (std::uint64_t n = first; n < first + count; ++n) REQUIRE(ring.add(n));
  return ring;
}

}  // namespace

TEST_CASE("adding an eleventh node to ten moves about 1/11 of 100,000 keys, all of them to the new node") {
  hash_ring ring = ring_of(1, 10, hash_ring::default_virtual_nodes);
  const std::vector<std::uint64_t> before = owners(ring);
  REQUIRE(ring.add(11));
  const std::vector<std::uint64_t> after = owners(ring);
  int moved = 0;
  int moved_elsewhere = 0;
  for (int k = 0; k < keys; ++k) {
    if (before[k] == after[k]) continue;
    ++moved;
    if (after[k] != 11) ++moved_elsewhere;
  }
  const double fraction = static_cast<double>(moved) / keys;
  MESSAGE("10 -> 11 nodes, 100 virtual nodes each: " << moved << " of " << keys << " keys moved ("
                                                      << fraction * 100 << " %; ideal 9.09 %)");
  CHECK(moved_elsewhere == 0);
  CHECK(fraction <= 0.15);
  CHECK(fraction >= 0.04);
}

TEST_CASE("removing a node moves only that node's keys, and adding it back restores every key") {
  hash_ring ring = ring_of(1, 10, hash_ring::default_virtual_nodes);
  const std::vector<std::uint64_t> before = owners(ring);
  REQUIRE(ring.remove(4));
  CHECK_FALSE(ring.contains(4));
  const std::vector<std::uint64_t> without = owners(ring);
  for (int k = 0; k < keys; ++k) {
    if (before[k] != 4) REQUIRE(without[k] == before[k]);
    REQUIRE(without[k] != 4);
  }
  REQUIRE(ring.add(4));
  CHECK(owners(ring) == before);
}

TEST_CASE("with enough virtual nodes every node owns a fair share of the keys") {
  hash_ring ring = ring_of(100, 10, hash_ring::default_virtual_nodes);
  std::map<std::uint64_t, int> share;
  for (std::uint64_t owner : owners(ring)) ++share[owner];
  REQUIRE(share.size() == 10);
  for (const auto& [node, count] : share) {
    // Ideal 10,000 each; with 100 virtual nodes each lands within +-15 %
    // (measured: 8,942 to 11,293).
    CHECK(count > 8500);
    CHECK(count < 11500);
  }
}

TEST_CASE("a ring with one virtual node per node still answers, only less evenly") {
  hash_ring ring = ring_of(1, 3, 1);
  std::map<std::uint64_t, int> share;
  for (std::uint64_t owner : owners(ring)) ++share[owner];
  CHECK(share.size() <= 3);
  int total = 0;
  for (const auto& [node, count] : share) total += count;
  CHECK(total == keys);
}

TEST_CASE("the ring refuses zero virtual nodes, and duplicate or unknown nodes") {
  CHECK_THROWS_AS(hash_ring(0), std::invalid_argument);
  hash_ring ring;
  CHECK_FALSE(ring.owner(42).has_value());
  CHECK(ring.add(7));
  CHECK_FALSE(ring.add(7));
  CHECK(ring.size() == 1);
  CHECK(ring.owner(42) == std::optional<std::uint64_t>(7));
  CHECK_FALSE(ring.remove(8));
  CHECK(ring.remove(7));
  CHECK(ring.empty());
}

TEST_CASE("key hashes are stable values, not std::hash's") {
  // Fixed expectations: a ring must place keys identically across runs,
  // builds and platforms.
  CHECK(hash_key(std::uint64_t{0}) == 0xE220A8397B1DCDAFull);
  CHECK(hash_key(std::string_view("")) == hash_key(std::uint64_t{0xCBF29CE484222325ull}));
  CHECK(hash_key(std::string_view("a")) != hash_key(std::string_view("b")));
  CHECK(weft::actors::key_hash(std::string("order-1")) == hash_key(std::string_view("order-1")));
  CHECK(weft::actors::key_hash(17) == hash_key(std::uint64_t{17}));
}
