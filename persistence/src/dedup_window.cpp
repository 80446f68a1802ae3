#include <weft/persistence/dedup_window.hpp>

#include <algorithm>
#include <string>

namespace weft::persistence {

dedup_window::dedup_window(std::size_t capacity) : ring_(std::max<std::size_t>(capacity, 1)) {
  ids_.reserve(ring_.size());
}

bool dedup_window::insert(std::uint64_t id) {
  if (!ids_.insert(id).second) return false;
  if (ids_.size() > ring_.size()) ids_.erase(ring_[next_]);
  ring_[next_] = id;
  next_ = (next_ + 1) % ring_.size();
  return true;
}

std::vector<std::uint64_t> dedup_window::ids_in_order() const {
  std::vector<std::uint64_t> out;
  out.reserve(ids_.size());
  const std::size_t count = ids_.size();
  // The newest `count` slots end just before next_.
  std::size_t slot = (next_ + ring_.size() - count) % ring_.size();
  for (std::size_t i = 0; i < count; ++i, slot = (slot + 1) % ring_.size())
    out.push_back(ring_[slot]);
  return out;
}

void codec<dedup_window>::encode(const dedup_window& window, byte_writer& out) {
  out.write_varint(window.capacity());
  std::vector<std::uint64_t> ids = window.ids_in_order();
  out.write_varint(ids.size());
  for (std::uint64_t id : ids)
    out.write(id);
}

dedup_window codec<dedup_window>::decode(byte_reader& in) {
  const std::uint64_t capacity = in.read_varint();
  const std::size_t count = in.read_count(sizeof(std::uint64_t));
  if (capacity == 0 || count > capacity) {
    throw storage_error(storage_errc::corrupt, "codec: a dedup_window holds " + std::to_string(count) +
                                                   " ids but has capacity " + std::to_string(capacity));
  }
  dedup_window window(static_cast<std::size_t>(capacity));
  for (std::size_t i = 0; i < count; ++i)
    window.insert(in.read<std::uint64_t>());
  return window;
}

}  // namespace weft::persistence
