// weft-journal-dump <dir> [persistence-id]
// Prints every record of a file journal, in file order, for people: it
// reads the segments directly (no lock, no recovery), so it also works on a
// journal that refuses to open, and it reports damage instead of stopping
// at it silently.

#include "posix_file.hpp"
#include "record_format.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

using namespace weft::persistence;
using namespace weft::persistence::detail;

namespace {

std::string render_payload(std::span<const std::byte> payload) {
  auto raw = reinterpret_cast<const std::uint8_t*>(payload.data());
  if (!payload.empty()) {
    nlohmann::json j = nlohmann::json::from_cbor(raw, raw + payload.size(), true, false);
    if (!j.is_discarded() && (j.is_object() || j.is_array())) return "cbor " + j.dump();
  }
  constexpr std::size_t shown = 64;
  std::string hex = "hex ";
  for (std::size_t i = 0; i < std::min(payload.size(), shown); ++i) {
    hex += fmt::format("{:02x}", std::to_integer<unsigned>(payload[i]));
  }
  if (payload.size() > shown) hex += "...";
  return hex;
}

// Returns false if damage was found.
bool dump_segment(const std::filesystem::path& path, const std::string& only_id) {
  unique_fd fd = open_file(path, O_RDONLY);
  std::uint64_t size = file_size(fd.get(), path);
  std::array<std::byte, segment_header_size> header{};
  if (size < segment_header_size || read_at(fd.get(), header, 0, path) != header.size() ||
      !segment_header_valid(header)) {
    fmt::print("{}: invalid segment header\n", path.filename().string());
    return false;
  }
  fmt::print("# segment {} ({} bytes)\n", path.filename().string(), size);
  record_scanner scanner(
      [&](std::uint64_t offset, std::span<std::byte> out) {
        return read_at(fd.get(), out, offset, path);
      },
      size, segment_header_size);
  for (;;) {
    decode_outcome outcome = scanner.next();
    if (outcome != decode_outcome::ok) {
      if (scanner.at_end()) return true;
      auto rest = scanner.bytes_at_offset(size);
      std::size_t found = 0;
      bool more = valid_record_after(rest, &found);
      fmt::print(
          "{} offset {}: DAMAGED: {} ({} bytes to end of file{})\n", path.filename().string(),
          scanner.offset(), describe(outcome), size - scanner.offset(),
          more ? fmt::format("; a valid record follows at offset {}", scanner.offset() + found)
               : "; nothing valid follows: a torn tail");
      return false;
    }
    const decoded_record& r = scanner.record();
    if (!only_id.empty() && r.persistence_id != only_id) continue;
    if (r.kind == record_kind::deletion) {
      fmt::print("offset {} pid={} DELETE up to seq={}\n", scanner.offset(), r.persistence_id,
                 r.sequence_nr);
    } else {
      fmt::print("offset {} seq={} pid={} manifest={} schema={} size={} {}\n", scanner.offset(),
                 r.sequence_nr, r.persistence_id, r.manifest, r.schema_version, r.payload.size(),
                 render_payload(r.payload));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: weft-journal-dump <journal-directory> [persistence-id]\n");
    return 2;
  }
  try {
    std::filesystem::path dir = argv[1];
    std::string only_id = argc == 3 ? argv[2] : "";
    std::vector<std::filesystem::path> segments;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().extension() == ".log") segments.push_back(entry.path());
    }
    std::sort(segments.begin(), segments.end());
    bool clean = true;
    for (const auto& segment : segments) clean = dump_segment(segment, only_id) && clean;
    return clean ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weft-journal-dump: %s\n", e.what());
    return 2;
  }
}
