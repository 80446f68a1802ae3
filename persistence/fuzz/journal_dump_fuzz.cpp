// libFuzzer target for weft-journal-dump's printing (journal_dump.cpp),
// run by scripts/fuzz-journal.sh with the record reader's corpus as seeds:
// the input is read as a segment body exactly as record_reader_fuzz.cpp
// reads it (an odd first byte: CRC fields rewritten, fix_checksums.hpp).
//
// What must hold for any bytes:
// - the dump neither crashes nor throws, and nothing fails to show
//   (unreadable stays 0: in memory nothing can fail to read);
// - it prints only printable ASCII and newlines (a journal is not allowed
//   to put control sequences on the user's terminal);
// - it shows at least every record before the first damage, one
//   "offset ..." line each, and reports damage exactly when the scan does
//   not end cleanly;
// - the same bytes taken as one payload render within the bounds the
//   dump promises (at most 16 hex lines unless --full).

#include "fix_checksums.hpp"
#include "journal_dump.hpp"
#include "record_format.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

using namespace weft::persistence;
using namespace weft::persistence::detail;

namespace {

void check_printable(std::string_view text) {
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c != '\n' && (u < 0x20 || u >= 0x7f)) std::abort();
  }
}

std::size_t count_lines_starting(std::string_view text, std::string_view prefix) {
  std::size_t count = 0;
  for (std::size_t at = 0; at < text.size();) {
    if (text.substr(at).starts_with(prefix)) ++count;
    const auto end = text.find('\n', at);
    if (end == std::string_view::npos) break;
    at = end + 1;
  }
  return count;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::byte> fixed;
  auto input = std::as_bytes(std::span(data, size));
  if (size > 0 && (data[0] & 1) != 0) {
    fixed.assign(input.begin() + 1, input.end());
    fuzz::fix_checksums(fixed);
    input = fixed;
  }
  auto read = [&](std::uint64_t offset, std::span<std::byte> out) -> std::size_t {
    if (offset >= input.size()) return 0;
    std::size_t n = std::min<std::size_t>(out.size(), input.size() - offset);
    std::memcpy(out.data(), input.data() + offset, n);
    return n;
  };

  // The records before the first damage, counted by the scanner alone.
  record_scanner scanner(read, input.size(), 0);
  std::uint64_t clean_records = 0;
  while (scanner.next() == decode_outcome::ok)
    ++clean_records;
  const bool clean_end = scanner.at_end();

  std::string output;
  dump_result result;
  dump_records(
      "fuzz.log", read, input.size(), 0, dump_options{}, [&](std::string_view text) { output += text; }, result);
  check_printable(output);
  if (result.unreadable != 0) std::abort();
  if (result.records < clean_records) std::abort();
  if (count_lines_starting(output, "offset ") != result.records) std::abort();
  if ((result.damaged == 0) != clean_end) std::abort();

  const std::string shown = render_payload(input, false);
  check_printable(shown);
  if (shown.starts_with("hex") &&
      static_cast<std::size_t>(std::count(shown.begin(), shown.end(), '\n')) > dump_hex_limit / 16 + 1) {
    std::abort();
  }
  check_printable(render_payload(input, true));
  return 0;
}
