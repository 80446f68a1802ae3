#include "crc32c.hpp"

#include "record_format.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>

using namespace weft::persistence;
using namespace weft::persistence::detail;

TEST_CASE("crc32c matches the published check value in both implementations") {
  const std::string check = "123456789";
  CHECK(crc32c(check.data(), check.size()) == 0xE3069283u);
  CHECK(crc32c_extend_portable(0, check.data(), check.size()) == 0xE3069283u);
  CHECK(crc32c(nullptr, 0) == 0u);
}

TEST_CASE("crc32c gives the same result for any split and any alignment") {
  std::mt19937 rng(7);
  std::string data(1000, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  std::uint32_t whole = crc32c(data.data(), data.size());
  for (std::size_t split : {0u, 1u, 7u, 8u, 9u, 500u, 999u, 1000u}) {
    std::uint32_t crc = crc32c_extend(crc32c(data.data(), split), data.data() + split,
                                      data.size() - split);
    CHECK(crc == whole);
  }
  for (std::size_t offset = 0; offset < 16; ++offset) {
    CHECK(crc32c(data.data() + offset, 100) ==
          crc32c_extend_portable(0, data.data() + offset, 100));
  }
}

TEST_CASE("an encoded record decodes to the same fields and has the documented layout") {
  bytes out;
  std::string payload = "payload";
  append_record(out, record_kind::event, "order-17", 42, "order-placed", 3, as_bytes(payload));
  REQUIRE(out.size() == record_header_size + 8 + 12 + 7);
  CHECK(std::to_integer<int>(out[0]) == static_cast<int>(out.size() - record_prefix_size));
  CHECK(std::to_integer<int>(out[8]) == 42);        // sequence number, little-endian
  CHECK(std::to_integer<int>(out[24]) == 1);        // kind: event
  CHECK(std::memcmp(out.data() + 28, "order-17", 8) == 0);
  decoded_record record;
  REQUIRE(decode_record(out, record) == decode_outcome::ok);
  CHECK(record.persistence_id == "order-17");
  CHECK(record.sequence_nr == 42);
  CHECK(record.manifest == "order-placed");
  CHECK(record.schema_version == 3);
  CHECK(as_string_view(record.payload) == payload);
  CHECK(record.size == out.size());
}

TEST_CASE("decoding tells a short record, an impossible length and a bad checksum apart") {
  bytes out;
  append_record(out, record_kind::event, "a", 1, "m", 1, {});
  decoded_record record;
  CHECK(decode_record(std::span(out).first(5), record) == decode_outcome::incomplete);
  CHECK(decode_record(std::span(out).first(out.size() - 1), record) ==
        decode_outcome::incomplete);
  bytes zeros(64, std::byte{0});
  CHECK(decode_record(zeros, record) == decode_outcome::bad_length);
  bytes flipped = out;
  flipped.back() ^= std::byte{1};
  CHECK(decode_record(flipped, record) == decode_outcome::bad_checksum);
}

TEST_CASE("a valid record is found after garbage, and none in pure garbage") {
  bytes data(100, std::byte{0x5A});
  std::size_t found = 0;
  CHECK_FALSE(valid_record_after(data, &found));
  append_record(data, record_kind::event, "a", 1, "m", 1, {});
  CHECK(valid_record_after(data, &found));
  CHECK(found == 100);
}

namespace {
// A scanner over `data` taken as a segment body (no header).
record_scanner scanner_over(const bytes& data) {
  return record_scanner(
      [&data](std::uint64_t offset, std::span<std::byte> to) {
        std::size_t n = std::min<std::size_t>(to.size(), data.size() - static_cast<std::size_t>(offset));
        std::memcpy(to.data(), data.data() + offset, n);
        return n;
      },
      data.size(), 0);
}
decode_outcome scan_to_end(record_scanner& scanner) {
  decode_outcome outcome;
  while ((outcome = scanner.next()) == decode_outcome::ok) {
  }
  return outcome;
}
}  // namespace

TEST_CASE("the scanner reports a stray byte in zero-filled space at its own offset and stops at the records' end") {
  bytes data;
  append_record(data, record_kind::event, "a", 1, "m", 1, as_bytes(std::string("x")));
  const std::size_t end = data.size();
  data.resize(end + 3000);

  record_scanner clean = scanner_over(data);
  CHECK(scan_to_end(clean) != decode_outcome::stray_bytes);
  CHECK(clean.at_end());  // all zero: the clean end
  CHECK(clean.offset() == end);

  data[end + 2500] = std::byte{0x20};
  record_scanner damaged = scanner_over(data);
  CHECK(scan_to_end(damaged) == decode_outcome::stray_bytes);
  CHECK_FALSE(damaged.at_end());
  CHECK(damaged.offset() == end);
  CHECK(damaged.damage_offset() == end + 2500);
  CHECK(describe(decode_outcome::stray_bytes) == "non-zero byte in the zero-filled space after the last record");
}
