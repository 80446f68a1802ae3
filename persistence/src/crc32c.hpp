#pragma once

// CRC32C (Castagnoli polynomial 0x1EDC6F41, reflected 0x82F63B78), the
// checksum of iSCSI, ext4 metadata and LevelDB. Uses the SSE4.2 crc32
// instruction when the CPU has it, otherwise slicing-by-8 tables.

#include <cstddef>
#include <cstdint>
#include <span>

namespace weft::persistence {

// Continues a checksum: crc32c_extend(crc32c(a), b) == crc32c(a + b).
std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t size) noexcept;

inline std::uint32_t crc32c(const void* data, std::size_t size) noexcept {
  return crc32c_extend(0, data, size);
}

inline std::uint32_t crc32c(std::span<const std::byte> data) noexcept {
  return crc32c(data.data(), data.size());
}

namespace detail {
// Both implementations, exposed so tests can check them against each other.
std::uint32_t crc32c_extend_portable(std::uint32_t crc, const void* data,
                                     std::size_t size) noexcept;
bool crc32c_hardware_available() noexcept;
}  // namespace detail

}  // namespace weft::persistence
