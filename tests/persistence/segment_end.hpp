#pragma once

// Where the records of a journal segment end. The journal zero-fills the
// space after its last record (journal_options::preallocate_bytes), so a
// test that damages "the end of the segment" must find that end with the
// journal's own scanner rather than take the file's length. Needs the
// private headers of persistence/src on the include path.

#include "posix_file.hpp"
#include "record_format.hpp"

#include <fcntl.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>

namespace weft::persistence::test {

inline std::uint64_t segment_end(const std::filesystem::path& segment) {
  using namespace weft::persistence::detail;
  unique_fd fd = open_file(segment, O_RDONLY);
  record_scanner scanner([&](std::uint64_t offset, std::span<std::byte> out) { return read_at(fd.get(), out, offset, segment); },
                         file_size(fd.get(), segment), segment_header_size);
  while (scanner.next() == decode_outcome::ok) {
  }
  if (!scanner.at_end()) throw std::runtime_error("segment_end: " + segment.string() + " is damaged");
  return scanner.offset();
}

}  // namespace weft::persistence::test
