// The consistent-hashing ring (consistent_hash.hpp).

#include <weft/actors/consistent_hash.hpp>

#include <algorithm>
#include <stdexcept>

namespace weft::actors {

std::uint64_t hash_key(std::uint64_t key) noexcept {
  // splitmix64's output function (Steele, Lea, Flood: "Fast splittable
  // pseudorandom number generators", OOPSLA 2014): a bijection whose
  // every output bit depends on every input bit.
  std::uint64_t z = key + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::uint64_t hash_key(std::string_view key) noexcept {
  std::uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a 64 offset basis
  for (const char c : key) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001B3ull;  // FNV 64 prime
  }
  // FNV's high bits mix slowly for short keys; the ring orders by them.
  return hash_key(h);
}

namespace {

// Where the `replica`-th virtual node of `node` sits: two rounds of the
// mix, so that consecutive replicas and consecutive node ids both scatter.
std::uint64_t position_of(std::uint64_t node, std::uint64_t replica) noexcept {
  return hash_key(hash_key(node) ^ (replica * 0xD6E8FEB86659FD93ull));
}

}  // namespace

hash_ring::hash_ring(std::size_t virtual_nodes) : virtual_nodes_(virtual_nodes) {
  if (virtual_nodes == 0) {
    throw std::invalid_argument("hash_ring: virtual_nodes must be at least 1 (the default is 100)");
  }
}

bool hash_ring::contains(std::uint64_t node) const noexcept {
  // The node's first position is where it must be if it is on the ring.
  const std::uint64_t at = position_of(node, 0);
  auto it = std::lower_bound(positions_.begin(), positions_.end(), at,
                             [](const position& p, std::uint64_t v) { return p.at < v; });
  for (; it != positions_.end() && it->at == at; ++it) {
    if (it->node == node) return true;
  }
  return false;
}

bool hash_ring::add(std::uint64_t node) {
  if (contains(node)) return false;
  const std::size_t old_size = positions_.size();
  positions_.reserve(old_size + virtual_nodes_);
  for (std::size_t i = 0; i < virtual_nodes_; ++i) positions_.push_back({position_of(node, i), node});
  const auto by_position = [](const position& a, const position& b) {
    return a.at != b.at ? a.at < b.at : a.node < b.node;
  };
  std::sort(positions_.begin() + static_cast<std::ptrdiff_t>(old_size), positions_.end(), by_position);
  std::inplace_merge(positions_.begin(), positions_.begin() + static_cast<std::ptrdiff_t>(old_size), positions_.end(),
                     by_position);
  ++nodes_;
  return true;
}

bool hash_ring::remove(std::uint64_t node) {
  if (!contains(node)) return false;
  std::erase_if(positions_, [node](const position& p) { return p.node == node; });
  --nodes_;
  return true;
}

std::optional<std::uint64_t> hash_ring::owner(std::uint64_t key_hash) const noexcept {
  if (positions_.empty()) return std::nullopt;
  auto it = std::lower_bound(positions_.begin(), positions_.end(), key_hash,
                             [](const position& p, std::uint64_t v) { return p.at < v; });
  if (it == positions_.end()) it = positions_.begin();  // past the last position: round to the first
  return it->node;
}

}  // namespace weft::actors
