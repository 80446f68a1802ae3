#pragma once

// Shared by the fuzz targets: random bytes almost never carry a valid CRC,
// so a target may first rewrite the CRC field of each record the length
// fields chain to (starting at offset 0). The fuzzer then also explores
// checksum-valid records with garbage fields.

#include "crc32c.hpp"

#include "record_format.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace weft::persistence::fuzz {

inline void fix_checksums(std::vector<std::byte>& data) {
  using namespace weft::persistence::detail;
  std::size_t offset = 0;
  while (offset + record_prefix_size <= data.size()) {
    std::uint32_t body_length = 0;
    for (int i = 3; i >= 0; --i) {
      body_length = (body_length << 8) | std::to_integer<std::uint32_t>(data[offset + i]);
    }
    if (body_length > data.size() - offset - record_prefix_size) return;
    std::uint32_t crc = mask_crc(crc32c_extend(crc32c(data.data() + offset, 4), data.data() + offset + 8, body_length));
    for (int i = 0; i < 4; ++i)
      data[offset + 4 + i] = static_cast<std::byte>(crc >> (8 * i));
    offset += record_prefix_size + body_length;
  }
}

}  // namespace weft::persistence::fuzz
