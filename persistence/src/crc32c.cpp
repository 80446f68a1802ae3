// CRC32C, two ways:
//  - slicing-by-8 (Kounavis & Berry, "A Systematic Approach to Building High
//    Performance Software-Based CRC Generators", 2005): eight 256-entry
//    tables let the loop consume 8 bytes per step;
//  - the SSE4.2 crc32 instruction, chosen at run time by CPUID, ~10x faster.

#include "crc32c.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define WEFT_CRC32C_X86 1
#endif

namespace weft::persistence {
namespace {

constexpr std::uint32_t reflected_polynomial = 0x82F63B78u;

using crc_tables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr crc_tables make_tables() {
  crc_tables t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 1) ? (crc >> 1) ^ reflected_polynomial : crc >> 1;
    }
    t[0][i] = crc;
  }
  for (std::uint32_t i = 0; i < 256; ++i) {
    for (std::size_t k = 1; k < 8; ++k) {
      t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
    }
  }
  return t;
}

constexpr crc_tables tables = make_tables();

std::uint64_t load_le64(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) {
    v = (v << 8) | p[i];
  }
  return v;
}

#ifdef WEFT_CRC32C_X86
__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(std::uint32_t crc, const void* data,
                                                             std::size_t size) noexcept {
  auto p = static_cast<const unsigned char*>(data);
  std::uint64_t c = ~crc;
  for (; size >= 8; size -= 8, p += 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);  // x86 is little-endian, as the CRC expects
    c = _mm_crc32_u64(c, word);
  }
  auto c32 = static_cast<std::uint32_t>(c);
  for (; size > 0; --size, ++p) {
    c32 = _mm_crc32_u8(c32, *p);
  }
  return ~c32;
}
#endif

using crc_function = std::uint32_t (*)(std::uint32_t, const void*, std::size_t) noexcept;

crc_function pick_implementation() {
#ifdef WEFT_CRC32C_X86
  if (__builtin_cpu_supports("sse4.2")) {
    return crc32c_sse42;
  }
#endif
  return detail::crc32c_extend_portable;
}

// Resolved on first use (a function-local static, so callers from other
// static initializers are safe); the guard check is one acquire load.
crc_function implementation() {
  static const crc_function chosen = pick_implementation();
  return chosen;
}

}  // namespace

namespace detail {

std::uint32_t crc32c_extend_portable(std::uint32_t crc, const void* data,
                                     std::size_t size) noexcept {
  auto p = static_cast<const unsigned char*>(data);
  std::uint32_t c = ~crc;
  for (; size >= 8; size -= 8, p += 8) {
    std::uint64_t v = load_le64(p) ^ c;
    c = tables[7][v & 0xFF] ^ tables[6][(v >> 8) & 0xFF] ^ tables[5][(v >> 16) & 0xFF] ^
        tables[4][(v >> 24) & 0xFF] ^ tables[3][(v >> 32) & 0xFF] ^ tables[2][(v >> 40) & 0xFF] ^
        tables[1][(v >> 48) & 0xFF] ^ tables[0][v >> 56];
  }
  for (; size > 0; --size, ++p) {
    c = (c >> 8) ^ tables[0][(c ^ *p) & 0xFF];
  }
  return ~c;
}

bool crc32c_hardware_available() noexcept {
  return implementation() != crc32c_extend_portable;
}

}  // namespace detail

std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t size) noexcept {
  return implementation()(crc, data, size);
}

}  // namespace weft::persistence
