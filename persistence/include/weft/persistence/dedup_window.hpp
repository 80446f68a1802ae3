#pragma once

// Idempotent consumers: remember the ids of the last `capacity` distinct
// messages handled, so a redelivered command is recognised and not applied
// twice. O(1) per message: a hash set for lookup and a ring buffer that
// says which id to forget when the window is full.
//
// Keep it in a persistent actor's State and change it only from the event
// handler; it is then rebuilt by recovery (and stored in snapshots: it has a
// codec), so duplicates are still caught after a restart:
//
//   effect on_command(const state& s, const command& c) {
//     if (s.seen.contains(c.message_id)) return none();   // already applied
//     return persist(applied{c.message_id, ...});
//   }
//   void on_event(state& s, const applied& e) { s.seen.insert(e.message_id); ... }
//
// Hazard: an id older than the window (more than `capacity` distinct ids
// ago) is forgotten and would be applied again; size the window to cover
// the longest redelivery delay. 100,000 ids cost about 3 MB of memory and
// 0.8 MB per snapshot.

#include <weft/persistence/codec.hpp>

#include <cstddef>
#include <cstdint>
#include <unordered_set>
#include <vector>

namespace weft::persistence {

class dedup_window {
 public:
  static constexpr std::size_t default_capacity = 100'000;

  dedup_window() : dedup_window(default_capacity) {}
  explicit dedup_window(std::size_t capacity);

  // -- owner only (not thread-safe) --
  bool contains(std::uint64_t id) const { return ids_.contains(id); }
  // Remembers id, forgetting the oldest once full. False if already known
  // (nothing changes then).
  bool insert(std::uint64_t id);

  std::size_t size() const noexcept { return ids_.size(); }
  std::size_t capacity() const noexcept { return ring_.size(); }
  // Oldest first.
  std::vector<std::uint64_t> ids_in_order() const;

 private:
  std::vector<std::uint64_t> ring_;  // slot next_ holds the oldest once full
  std::size_t next_ = 0;
  std::unordered_set<std::uint64_t> ids_;
};

// Stored as capacity, count, then the ids oldest first.
template <>
struct codec<dedup_window> {
  static void encode(const dedup_window& window, byte_writer& out);
  static dedup_window decode(byte_reader& in);
};

}  // namespace weft::persistence
