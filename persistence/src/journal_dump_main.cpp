// weft-journal-dump [--full] <journal-directory | segment-file> [persistence-id]
//
// Prints every record of a file journal, in file order, for people: it
// reads the segments directly (no lock, no recovery), so it also works on a
// journal that refuses to open, and it reports damage (file and offset)
// and goes on after it instead of stopping there. What it prints is
// journal_dump.cpp's; this file finds and reads the files.
//
// Exit status: 0 every segment is whole; 1 damage was found (every record
// that verifies was still shown); 2 a usage error, or something could not
// be read or shown (named in the output).

#include "group_commit.hpp"  // current_exception_text
#include "journal_dump.hpp"
#include "posix_file.hpp"
#include "record_format.hpp"

#include <fmt/format.h>

#include <fcntl.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

using namespace weft::persistence;
using namespace weft::persistence::detail;

namespace {

constexpr const char* usage =
    "usage: weft-journal-dump [--full] <journal-directory | segment-file> [persistence-id]\n"
    "  Prints every record of a weft file journal and reports damage with its file and offset.\n"
    "  --full  whole payloads (by default the first 256 bytes as hex, 1024 characters as CBOR/JSON)\n"
    "  exit status: 0 whole, 1 damage found, 2 usage error or something could not be read\n";

void print(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
}

void dump_file(const std::filesystem::path& path, const dump_options& options, dump_result& result) {
  const std::string name = path.filename().string();
  try {
    unique_fd fd = open_file(path, O_RDONLY);
    const std::uint64_t size = file_size(fd.get(), path);
    std::array<std::byte, segment_header_size> header{};
    const std::size_t got = read_at(fd.get(), header, 0, path);
    dump_segment_header(name, size, std::span<const std::byte>(header).first(got), print, result);
    dump_records(
        name, [&](std::uint64_t offset, std::span<std::byte> out) { return read_at(fd.get(), out, offset, path); },
        size, std::min<std::uint64_t>(size, segment_header_size), options, print, result);
  } catch (...) {
    ++result.unreadable;
    print(fmt::format("{}: cannot read it ({})\n", name, current_exception_text()));
  }
}

}  // namespace

int main(int argc, char** argv) {
  dump_options options;
  std::vector<std::string> arguments;
  for (int i = 1; i < argc; ++i) {
    std::string_view argument = argv[i];
    if (argument == "--full") {
      options.full = true;
    } else if (argument == "--help" || argument == "-h") {
      std::fputs(usage, stdout);
      return 0;
    } else if (argument.starts_with("--")) {
      std::fprintf(stderr, "weft-journal-dump: unknown option %s\n%s", argv[i], usage);
      return 2;
    } else {
      arguments.emplace_back(argument);
    }
  }
  if (arguments.empty() || arguments.size() > 2) {
    std::fputs(usage, stderr);
    return 2;
  }
  if (arguments.size() == 2) options.only_id = arguments[1];
  const std::filesystem::path target = arguments[0];

  std::vector<std::filesystem::path> segments;
  try {
    if (std::filesystem::is_directory(target)) {
      for (const auto& entry : std::filesystem::directory_iterator(target)) {
        if (entry.path().extension() == ".log") segments.push_back(entry.path());
      }
      std::sort(segments.begin(), segments.end());
      if (segments.empty()) {
        std::fprintf(stderr, "weft-journal-dump: %s holds no segment files (*.log)\n", target.c_str());
        return 2;
      }
    } else if (std::filesystem::exists(target)) {
      segments.push_back(target);
    } else {
      std::fprintf(stderr, "weft-journal-dump: %s does not exist\n", target.c_str());
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weft-journal-dump: cannot list %s: %s\n", target.c_str(), e.what());
    return 2;
  }

  dump_result result;
  for (const auto& segment : segments)
    dump_file(segment, options, result);
  print(fmt::format("# {} segment{}, {} record{} shown, damage in {} place{}{}\n", segments.size(),
                    segments.size() == 1 ? "" : "s", result.records, result.records == 1 ? "" : "s", result.damaged,
                    result.damaged == 1 ? "" : "s",
                    result.unreadable == 0 ? std::string() : fmt::format(", {} not readable", result.unreadable)));
  std::fflush(stdout);
  if (result.unreadable != 0) return 2;
  return result.damaged != 0 ? 1 : 0;
}
