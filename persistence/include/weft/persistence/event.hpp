#pragma once

// What the journal stores: one event of one persistence id. The manifest
// names the event's type and schema_version its layout, so that an upcaster
// can map events written by an older program to today's types.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace weft::persistence {

using bytes = std::vector<std::byte>;

// An event to append, owned by the caller.
struct persistent_event {
  std::uint64_t sequence_nr = 0;
  std::string manifest{};
  std::uint32_t schema_version = 1;
  bytes payload{};

  friend bool operator==(const persistent_event&, const persistent_event&) = default;
};

// A stored event as a read hands it to its visitor. The views point into the
// reader's buffer and are valid only during the visitor call.
struct event_view {
  std::string_view persistence_id{};
  std::uint64_t sequence_nr = 0;
  std::string_view manifest{};
  std::uint32_t schema_version = 1;
  std::span<const std::byte> payload{};

  persistent_event to_event() const {
    return {sequence_nr, std::string(manifest), schema_version,
            bytes(payload.begin(), payload.end())};
  }
};

inline std::span<const std::byte> as_bytes(std::string_view text) noexcept {
  return std::as_bytes(std::span(text.data(), text.size()));
}

inline std::string_view as_string_view(std::span<const std::byte> data) noexcept {
  return {reinterpret_cast<const char*>(data.data()), data.size()};
}

}  // namespace weft::persistence
