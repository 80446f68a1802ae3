#include "record_format.hpp"

#include "crc32c.hpp"

#include <algorithm>
#include <cstring>

namespace weft::persistence::detail {
namespace {

// The checksum covers the length field and the body, so a garbled length
// that happens to point at a plausible range still fails verification.
std::uint32_t record_crc(const std::byte* record, std::size_t body_length) {
  std::uint32_t crc = crc32c(record, 4);
  return mask_crc(crc32c_extend(crc, record + record_prefix_size, body_length));
}

// Field checks that need no checksum; used to skip garbage quickly when
// searching for valid records after damage.
bool plausible_header(std::span<const std::byte> data, std::uint32_t& body_length) {
  if (data.size() < record_header_size) return false;
  body_length = get_u32(data.data());
  if (body_length < record_fixed_body_size || body_length > max_record_body_size) return false;
  if (data.size() - record_prefix_size < body_length) return false;
  const std::byte* body = data.data() + record_prefix_size;
  std::size_t ids = std::size_t{get_u16(body + 12)} + get_u16(body + 14);
  auto kind = std::to_integer<unsigned>(body[16]);
  return ids <= body_length - record_fixed_body_size && (kind == 1 || kind == 2) &&
         body[17] == std::byte{0} && body[18] == std::byte{0} && body[19] == std::byte{0};
}

}  // namespace

std::string_view describe(decode_outcome outcome) {
  switch (outcome) {
    case decode_outcome::ok:
      return "valid record";
    case decode_outcome::incomplete:
      return "incomplete record (torn write)";
    case decode_outcome::bad_length:
      return "impossible record length";
    case decode_outcome::bad_checksum:
      return "checksum mismatch";
    case decode_outcome::bad_format:
      return "malformed record";
    case decode_outcome::stray_bytes:
      return "non-zero byte in the zero-filled space after the last record";
  }
  return "unknown damage";
}

std::array<std::byte, segment_header_size> encode_segment_header() {
  std::array<std::byte, segment_header_size> h{};
  std::memcpy(h.data(), segment_magic.data(), segment_magic.size());
  put_u32(h.data() + 8, segment_format_version);
  put_u32(h.data() + 12, mask_crc(crc32c(h.data(), 12)));
  return h;
}

bool segment_header_valid(std::span<const std::byte> header) {
  return header.size() >= segment_header_size &&
         std::memcmp(header.data(), segment_magic.data(), segment_magic.size()) == 0 &&
         get_u32(header.data() + 8) == segment_format_version &&
         get_u32(header.data() + 12) == mask_crc(crc32c(header.data(), 12));
}

std::size_t encoded_record_size(std::size_t persistence_id_size, std::size_t manifest_size,
                                std::size_t payload_size) {
  return record_header_size + persistence_id_size + manifest_size + payload_size;
}

void append_record(bytes& out, record_kind kind, std::string_view persistence_id,
                   std::uint64_t sequence_nr, std::string_view manifest,
                   std::uint32_t schema_version, std::span<const std::byte> payload) {
  std::size_t size = encoded_record_size(persistence_id.size(), manifest.size(), payload.size());
  std::size_t start = out.size();
  out.resize(start + size);
  std::byte* p = out.data() + start;
  auto body_length = static_cast<std::uint32_t>(size - record_prefix_size);
  put_u32(p, body_length);
  std::byte* body = p + record_prefix_size;
  put_u64(body, sequence_nr);
  put_u32(body + 8, schema_version);
  put_u16(body + 12, static_cast<std::uint16_t>(persistence_id.size()));
  put_u16(body + 14, static_cast<std::uint16_t>(manifest.size()));
  body[16] = static_cast<std::byte>(kind);
  body[17] = body[18] = body[19] = std::byte{0};
  std::byte* q = body + record_fixed_body_size;
  if (!persistence_id.empty()) std::memcpy(q, persistence_id.data(), persistence_id.size());
  q += persistence_id.size();
  if (!manifest.empty()) std::memcpy(q, manifest.data(), manifest.size());
  q += manifest.size();
  if (!payload.empty()) std::memcpy(q, payload.data(), payload.size());
  put_u32(p + 4, record_crc(p, body_length));
}

decode_outcome decode_record(std::span<const std::byte> data, decoded_record& out) {
  if (data.size() < record_prefix_size) return decode_outcome::incomplete;
  std::uint32_t body_length = get_u32(data.data());
  if (body_length < record_fixed_body_size || body_length > max_record_body_size) {
    return decode_outcome::bad_length;
  }
  if (data.size() - record_prefix_size < body_length) return decode_outcome::incomplete;
  if (get_u32(data.data() + 4) != record_crc(data.data(), body_length)) {
    return decode_outcome::bad_checksum;
  }
  const std::byte* body = data.data() + record_prefix_size;
  std::size_t id_size = get_u16(body + 12);
  std::size_t manifest_size = get_u16(body + 14);
  auto kind = std::to_integer<unsigned>(body[16]);
  if (id_size + manifest_size > body_length - record_fixed_body_size || (kind != 1 && kind != 2) ||
      body[17] != std::byte{0} || body[18] != std::byte{0} || body[19] != std::byte{0}) {
    return decode_outcome::bad_format;
  }
  const char* text = reinterpret_cast<const char*>(body + record_fixed_body_size);
  out.kind = static_cast<record_kind>(kind);
  out.sequence_nr = get_u64(body);
  out.schema_version = get_u32(body + 8);
  out.persistence_id = {text, id_size};
  out.manifest = {text + id_size, manifest_size};
  std::size_t payload_offset = record_header_size + id_size + manifest_size;
  out.payload = data.subspan(payload_offset, record_prefix_size + body_length - payload_offset);
  out.size = record_prefix_size + body_length;
  return decode_outcome::ok;
}

std::string guess_persistence_id(std::span<const std::byte> data) {
  if (data.size() < record_header_size) return {};
  std::size_t id_size = get_u16(data.data() + 20);
  id_size = std::min({id_size, data.size() - record_header_size, std::size_t{80}});
  std::string id(reinterpret_cast<const char*>(data.data() + record_header_size), id_size);
  for (char& c : id) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return id;
}

bool valid_record_after(std::span<const std::byte> data, std::size_t* found_offset) {
  decoded_record ignored;
  for (std::size_t offset = 1; offset + record_header_size <= data.size(); ++offset) {
    std::uint32_t body_length = 0;
    auto rest = data.subspan(offset);
    if (plausible_header(rest, body_length) && decode_record(rest, ignored) == decode_outcome::ok) {
      if (found_offset) *found_offset = offset;
      return true;
    }
  }
  return false;
}

record_scanner::record_scanner(read_function read, std::uint64_t file_size, std::uint64_t start_offset)
    : read_(std::move(read)),
      file_size_(file_size),
      offset_(start_offset),
      record_offset_(start_offset),
      damage_offset_(start_offset),
      buffer_(static_cast<std::size_t>(
          std::min<std::uint64_t>(std::uint64_t{1} << 20, std::max<std::uint64_t>(file_size, 64)))) {}

bool record_scanner::fill(std::uint64_t offset, std::size_t size) {
  if (offset >= buffer_offset_ && offset + size <= buffer_offset_ + buffer_size_) return true;
  if (offset + size > file_size_) return false;
  // Keep what is still needed, then read the rest in large sequential steps.
  std::size_t keep = 0;
  if (offset >= buffer_offset_ && offset < buffer_offset_ + buffer_size_) {
    keep = static_cast<std::size_t>(buffer_offset_ + buffer_size_ - offset);
    std::memmove(buffer_.data(), buffer_.data() + (offset - buffer_offset_), keep);
  }
  if (buffer_.size() < size) buffer_.resize(size);
  buffer_offset_ = offset;
  buffer_size_ = keep;
  std::size_t want =
      static_cast<std::size_t>(std::min<std::uint64_t>(buffer_.size(), file_size_ - offset));
  while (buffer_size_ < want) {
    std::size_t got =
        read_(offset + buffer_size_, std::span(buffer_).subspan(buffer_size_, want - buffer_size_));
    if (got == 0) {
      file_size_ = offset + buffer_size_;  // the file shrank under us
      break;
    }
    buffer_size_ += got;
  }
  return buffer_size_ >= size;
}

decode_outcome record_scanner::next() {
  record_offset_ = offset_;
  damage_offset_ = offset_;
  if (offset_ >= file_size_) return decode_outcome::incomplete;  // at_end() tells clean end
  if (!fill(offset_, static_cast<std::size_t>(
                         std::min<std::uint64_t>(record_header_size, file_size_ - offset_)))) {
    return decode_outcome::incomplete;
  }
  auto available = std::span<const std::byte>(buffer_).subspan(
      static_cast<std::size_t>(offset_ - buffer_offset_),
      static_cast<std::size_t>(buffer_offset_ + buffer_size_ - offset_));
  if (available.size() >= record_prefix_size) {
    std::uint32_t body_length = get_u32(available.data());
    if (body_length >= record_fixed_body_size && body_length <= max_record_body_size &&
        offset_ + record_prefix_size + body_length <= file_size_) {
      if (!fill(offset_, record_prefix_size + body_length)) return decode_outcome::incomplete;
      available = std::span<const std::byte>(buffer_).subspan(
          static_cast<std::size_t>(offset_ - buffer_offset_), record_prefix_size + body_length);
    }
  }
  decode_outcome outcome = decode_record(available, record_);
  if (outcome == decode_outcome::ok) {
    offset_ += record_.size;
  } else {
    // A zero length field (or the zero start of one, at the very end) can
    // only be zero-filled space; everything after it must be zero too.
    auto length_bytes = available.first(std::min<std::size_t>(available.size(), 4));
    if (!length_bytes.empty() &&
        std::all_of(length_bytes.begin(), length_bytes.end(), [](std::byte b) { return b == std::byte{0}; })) {
      const std::uint64_t stray = first_non_zero(offset_);
      if (stray >= file_size_) {
        zero_tail_ = true;
      } else {
        damage_offset_ = stray;
        outcome = decode_outcome::stray_bytes;
      }
    }
  }
  return outcome;
}

std::uint64_t record_scanner::first_non_zero(std::uint64_t offset) {
  // In buffer-sized steps: the zero-filled tail of a segment is up to a few
  // MiB (journal_options::preallocate_bytes plus one group).
  while (offset < file_size_) {
    std::size_t step = static_cast<std::size_t>(std::min<std::uint64_t>(buffer_.size(), file_size_ - offset));
    // A file that shrank under the scan ends (file_size_) where fill stopped.
    if (!fill(offset, step)) step = static_cast<std::size_t>(buffer_offset_ + buffer_size_ - offset);
    auto window = std::span<const std::byte>(buffer_).subspan(static_cast<std::size_t>(offset - buffer_offset_), step);
    auto non_zero = std::find_if(window.begin(), window.end(), [](std::byte b) { return b != std::byte{0}; });
    if (non_zero != window.end()) return offset + static_cast<std::uint64_t>(non_zero - window.begin());
    offset += step;
  }
  return file_size_;
}

std::span<const std::byte> record_scanner::bytes_at_offset(std::size_t limit) {
  std::size_t size = static_cast<std::size_t>(
      std::min<std::uint64_t>(limit, file_size_ - std::min(file_size_, record_offset_)));
  if (!fill(record_offset_, size)) return {};
  return std::span<const std::byte>(buffer_).subspan(
      static_cast<std::size_t>(record_offset_ - buffer_offset_), size);
}

}  // namespace weft::persistence::detail
