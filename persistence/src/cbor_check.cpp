// Checking that bytes are exactly one well-formed CBOR item (RFC 8949),
// iteratively and with a depth bound, so that decoding hostile or damaged
// payloads (journal records, snapshots, weft-journal-dump input) can be
// refused before a recursive parser sees them.

#include <weft/persistence/json_codec.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace weft::persistence::detail {
namespace {

unsigned byte_at(std::span<const std::byte> data, std::size_t i) { return std::to_integer<unsigned>(data[i]); }

// May throw std::bad_alloc (the stack); cbor_well_formed turns it into "no".
bool check(std::span<const std::byte> data, std::size_t max_depth, bool require_container) {
  // RFC 8949 section 3 and appendix C, without recursion: a stack of the
  // containers still open (a tag counts as a container of one item).
  struct open_item {
    std::uint64_t remaining = 0;  // items still expected (definite length)
    bool indefinite = false;      // ends with a break (0xff) instead
    int string_major = -1;        // 2 or 3: chunks of an indefinite string
    bool map = false;
    std::uint64_t count = 0;  // items so far (indefinite length)
  };
  if (data.empty()) return false;
  const unsigned top = byte_at(data, 0) >> 5;
  if (require_container && top != 4 && top != 5) return false;
  // One entry per open container, at most max_depth: deeper is refused.
  std::vector<open_item> open;
  std::size_t pos = 0;
  const std::size_t size = data.size();
  for (;;) {
    if (pos >= size) return false;
    const unsigned initial = byte_at(data, pos++);
    const unsigned major = initial >> 5;
    const unsigned info = initial & 31;
    if (initial == 0xff) {
      if (open.empty() || !open.back().indefinite) return false;
      if (open.back().map && open.back().count % 2 != 0) return false;
      open.pop_back();
    } else {
      if (!open.empty() && open.back().string_major >= 0 &&
          (static_cast<int>(major) != open.back().string_major || info == 31)) {
        return false;  // an indefinite string holds definite strings of its own type
      }
      std::uint64_t argument = info;
      if (info >= 24 && info <= 27) {
        const std::size_t width = std::size_t{1} << (info - 24);
        if (size - pos < width) return false;
        argument = 0;
        for (std::size_t i = 0; i < width; ++i)
          argument = (argument << 8) | byte_at(data, pos + i);
        pos += width;
      } else if (info >= 28 && info <= 30) {
        return false;
      } else if (info == 31) {
        if (major < 2 || major > 5) return false;
        if (open.size() >= max_depth) return false;
        open.push_back({0, true, major <= 3 ? static_cast<int>(major) : -1, major == 5, 0});
        continue;
      }
      bool complete = true;
      switch (major) {
        case 2:
        case 3:
          if (argument > size - pos) return false;
          pos += static_cast<std::size_t>(argument);
          break;
        case 4:
        case 5: {
          // Every item takes at least a byte: a count beyond what is left
          // is malformed, and checking it first bounds the loop.
          std::uint64_t items = argument;
          if (items > (size - pos) / (major == 5 ? 2 : 1)) return false;
          if (major == 5) items *= 2;
          if (items > 0) {
            if (open.size() >= max_depth) return false;
            open.push_back({items, false, -1, major == 5, 0});
            complete = false;
          }
          break;
        }
        case 6:
          if (open.size() >= max_depth) return false;
          open.push_back({1, false, -1, false, 0});
          complete = false;
          break;
        case 7:
          if (info == 24 && argument < 32) return false;
          break;
        default:
          break;
      }
      if (!complete) continue;
    }
    // An item is complete: count it in the containers it closes.
    for (;;) {
      if (open.empty()) return pos == size;
      open_item& parent = open.back();
      if (parent.indefinite) {
        ++parent.count;
        break;
      }
      if (--parent.remaining > 0) break;
      open.pop_back();
    }
  }
}

}  // namespace

bool cbor_well_formed(std::span<const std::byte> data, std::size_t max_depth, bool require_container) noexcept {
  try {
    return check(data, max_depth, require_container);
  } catch (...) {
    return false;
  }
}

}  // namespace weft::persistence::detail
