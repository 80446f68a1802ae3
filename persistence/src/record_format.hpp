#pragma once

// The byte layout of journal segments (docs/persistence.md has the table).
// All integers little-endian.
//
// Segment header, 16 bytes:
//   0  char[8] magic "WEFTJRNL"
//   8  u32     format version (1)
//   12 u32     masked CRC32C of bytes 0..11
// Record, 8 + body_length bytes:
//   0  u32     body_length (20 + id length + manifest length + payload length)
//   4  u32     masked CRC32C of bytes 0..3 and the body
//   8  u64     sequence number (event) or deleted-up-to number (deletion)
//   16 u32     schema version
//   20 u16     persistence id length
//   22 u16     manifest length
//   24 u8      kind: 1 event, 2 deletion
//   25 u8[3]   zero
//   28 ...     persistence id, manifest, payload

#include <weft/persistence/event.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace weft::persistence::detail {

inline constexpr std::array<char, 8> segment_magic{'W', 'E', 'F', 'T', 'J', 'R', 'N', 'L'};
inline constexpr std::uint32_t segment_format_version = 1;
inline constexpr std::size_t segment_header_size = 16;
inline constexpr std::size_t record_prefix_size = 8;
inline constexpr std::size_t record_fixed_body_size = 20;
inline constexpr std::size_t record_header_size = record_prefix_size + record_fixed_body_size;
inline constexpr std::size_t max_record_body_size = 64u << 20;
inline constexpr std::size_t max_persistence_id_size = 0xFFFF;
inline constexpr std::size_t max_manifest_size = 0xFFFF;

// Little-endian fields, for this format and the segment summaries.
inline void put_u16(std::byte* p, std::uint16_t v) {
  for (int i = 0; i < 2; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
inline void put_u32(std::byte* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
inline void put_u64(std::byte* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
inline std::uint16_t get_u16(const std::byte* p) {
  return static_cast<std::uint16_t>(std::to_integer<unsigned>(p[0]) | (std::to_integer<unsigned>(p[1]) << 8));
}
inline std::uint32_t get_u32(const std::byte* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint32_t>(p[i]);
  return v;
}
inline std::uint64_t get_u64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
  return v;
}

enum class record_kind : std::uint8_t { event = 1, deletion = 2 };

struct decoded_record {
  record_kind kind = record_kind::event;
  std::uint64_t sequence_nr = 0;
  std::uint32_t schema_version = 0;
  std::string_view persistence_id;
  std::string_view manifest;
  std::span<const std::byte> payload;
  std::size_t size = 0;  // whole record, prefix included

  event_view as_event() const {
    return {persistence_id, sequence_nr, manifest, schema_version, payload};
  }
};

enum class decode_outcome {
  ok,
  incomplete,    // the data ends inside the record (a torn write)
  bad_length,    // the length field is impossible
  bad_checksum,  // the CRC does not match the bytes
  bad_format,    // checksum fine but fields inconsistent (never written by us)
  stray_bytes,   // zero-filled space after the last record holds a non-zero byte
};

std::string_view describe(decode_outcome outcome);

// LevelDB's masking: a CRC stored next to the data it covers, inside data
// that is itself checksummed (a journal stored in a journal), would make
// the outer CRC degenerate; rotating and offsetting avoids that.
constexpr std::uint32_t mask_crc(std::uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::array<std::byte, segment_header_size> encode_segment_header();
bool segment_header_valid(std::span<const std::byte> header);

std::size_t encoded_record_size(std::size_t persistence_id_size, std::size_t manifest_size,
                                std::size_t payload_size);

// Appends one encoded record to out. Sizes must be within the limits above.
void append_record(bytes& out, record_kind kind, std::string_view persistence_id,
                   std::uint64_t sequence_nr, std::string_view manifest,
                   std::uint32_t schema_version, std::span<const std::byte> payload);

// Decodes the record at the start of data. On ok, out's views point into
// data; on anything else out is unspecified.
decode_outcome decode_record(std::span<const std::byte> data, decoded_record& out);

// Best-effort, unverified persistence id of a damaged record, for messages.
std::string guess_persistence_id(std::span<const std::byte> data);

// Whether some offset in (0, data.size()) starts a record that decodes ok:
// tells damage in the middle (valid records follow) from a torn tail.
bool valid_record_after(std::span<const std::byte> data, std::size_t* found_offset = nullptr);

// Streams records out of one segment without holding it all in memory.
// read(offset, out) fills out from the file and returns the byte count.
class record_scanner {
 public:
  using read_function = std::function<std::size_t(std::uint64_t offset, std::span<std::byte> out)>;

  record_scanner(read_function read, std::uint64_t file_size, std::uint64_t start_offset);

  // ok: record() and offset() describe the next record. Anything else: the
  // scan stopped at offset(); a clean end is ok == false with at_end().
  // The end is clean at the end of the file, and also where only zero bytes
  // are left: the journal zero-fills segments ahead of its writes (see
  // journal_options::preallocate_bytes), and no record starts with a zero
  // length. offset() is then the end of the last record, not the file's.
  // A zero length followed by a non-zero byte somewhere later is
  // stray_bytes: offset() is still the end of the last record (where a
  // truncation would cut) and damage_offset() is that byte's.
  decode_outcome next();
  bool at_end() const { return offset_ == file_size_ || zero_tail_; }
  const decoded_record& record() const { return record_; }
  std::uint64_t offset() const { return record_offset_; }
  // Where the damage the last next() reported is, for messages: offset()
  // except for stray_bytes.
  std::uint64_t damage_offset() const { return damage_offset_; }
  // The bytes from offset() to at most `limit` further, for diagnostics.
  std::span<const std::byte> bytes_at_offset(std::size_t limit);

 private:
  bool fill(std::uint64_t offset, std::size_t size);
  // The first byte from offset on that is not zero, or file_size_ if every
  // one is (file_size_ is lowered if the file shrinks under the scan).
  std::uint64_t first_non_zero(std::uint64_t offset);

  read_function read_;
  std::uint64_t file_size_;
  std::uint64_t offset_;         // where the next record starts
  std::uint64_t record_offset_;  // start of the record last returned (or damage)
  std::uint64_t damage_offset_;  // see damage_offset()
  bytes buffer_;
  std::uint64_t buffer_offset_ = 0;  // file offset of buffer_[0]
  std::size_t buffer_size_ = 0;      // valid bytes in buffer_
  bool zero_tail_ = false;           // the scan stopped at zero-filled space
  decoded_record record_;
};

}  // namespace weft::persistence::detail
