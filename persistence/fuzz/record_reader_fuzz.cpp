// libFuzzer target for the journal's record reader (scripts/fuzz-journal.sh).
// Arbitrary bytes as a segment body must never crash the scanner, and every
// record it accepts must carry a checksum that verifies when recomputed
// independently here, and lie inside the input.
//
// When the first input byte is odd the rest gets its CRC fields rewritten
// (fix_checksums.hpp), so the fuzzer also explores checksum-valid records
// with garbage fields (bad_format, lengths that disagree).

#include "crc32c.hpp"

#include "fix_checksums.hpp"
#include "record_format.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

using namespace weft::persistence;
using namespace weft::persistence::detail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::byte> fixed;
  auto input = std::as_bytes(std::span(data, size));
  if (size > 0 && (data[0] & 1) != 0) {
    fixed.assign(input.begin() + 1, input.end());
    fuzz::fix_checksums(fixed);
    input = fixed;
  }
  record_scanner scanner(
      [&](std::uint64_t offset, std::span<std::byte> out) -> std::size_t {
        if (offset >= input.size()) return 0;
        std::size_t n = std::min<std::size_t>(out.size(), input.size() - offset);
        std::memcpy(out.data(), input.data() + offset, n);
        return n;
      },
      input.size(), 0);
  while (scanner.next() == decode_outcome::ok) {
    const decoded_record& r = scanner.record();
    std::uint64_t offset = scanner.offset();
    if (offset + r.size > input.size() || r.size < record_header_size) std::abort();
    const std::byte* raw = input.data() + offset;
    std::uint32_t body_length = 0;
    std::uint32_t stored_crc = 0;
    for (int i = 3; i >= 0; --i) {
      body_length = (body_length << 8) | std::to_integer<std::uint32_t>(raw[i]);
      stored_crc = (stored_crc << 8) | std::to_integer<std::uint32_t>(raw[4 + i]);
    }
    if (body_length + record_prefix_size != r.size) std::abort();
    std::uint32_t crc = crc32c_extend(crc32c(raw, 4), raw + 8, body_length);
    if (mask_crc(crc) != stored_crc) std::abort();
    if (crc32c_extend(detail::crc32c_extend_portable(0, raw, 4), raw + 8, body_length) != crc) {
      std::abort();  // the hardware and table implementations disagree
    }
    if (r.persistence_id.size() + r.manifest.size() + r.payload.size() + record_header_size !=
        r.size) {
      std::abort();
    }
  }
  // The middle-damage search must be just as safe on the same bytes.
  std::size_t found = 0;
  if (valid_record_after(input, &found) && found >= input.size()) std::abort();
  return 0;
}
