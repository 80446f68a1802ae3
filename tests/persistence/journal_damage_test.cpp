// Damage handling of the segment-file journal: torn and garbled tails,
// damage in the middle, and a full disk.

#include <weft/persistence/file_journal.hpp>

#include "segment_end.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

using namespace weft::persistence;
using weft::persistence::test::payload_text;
using weft::persistence::test::segment_end;
using weft::persistence::test::temp_dir;
using weft::persistence::test::text_event;
using weft::persistence::test::text_events;

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_file(const std::filesystem::path& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

journal_options quiet(bool truncate) {
  journal_options options;
  options.truncate_corrupt_tail = truncate;
  options.on_warning = [](std::string_view) {};
  return options;
}

std::string open_error(const std::filesystem::path& dir, bool truncate) {
  try {
    open_file_journal(dir, quiet(truncate));
  } catch (const storage_error& e) {
    CHECK(e.code() == storage_errc::corrupt);
    return e.what();
  }
  return {};
}

// Three events of order-17 in one segment; returns the segment's bytes up
// to the end of its last record (without the zero-filled space after it)
// and the offset where the last record starts.
std::pair<std::string, std::size_t> three_events(const std::filesystem::path& dir) {
  std::size_t before_last;
  std::size_t end;
  {
    auto j = open_file_journal(dir);
    j->append("order-17", text_events(1, 2));
    before_last = segment_end(dir / "00000001.log");
    j->append("order-17", text_event(3, "the last one"));
    end = segment_end(dir / "00000001.log");
  }
  return {read_file(dir / "00000001.log").substr(0, end), before_last};
}

// The zero-filled space a torn write leaves after the record it cut.
const std::string zero_space(8192, '\0');

}  // namespace

TEST_CASE("a segment cut inside its last record is refused by default and truncated on request") {
  temp_dir dir;
  auto [pristine, last] = three_events(dir.path());
  const auto segment = dir / "00000001.log";
  // Cut at the end of the file (a segment that grows with each write), or
  // followed by zero-filled space (a preallocated one).
  for (const std::string& after : {std::string(), zero_space})
  for (std::size_t cut = last + 1; cut < pristine.size(); ++cut) {
    CAPTURE(after.size());
    CAPTURE(cut);
    write_file(segment, pristine.substr(0, cut) + after);
    std::string error = open_error(dir.path(), false);
    CHECK(error.find(" at offset " + std::to_string(last)) != std::string::npos);
    CHECK(error.find("journal segment 00000001.log: ") == 0);
    CHECK(error.find("truncate_corrupt_tail") != std::string::npos);
    if (after.empty()) CHECK(error.find("incomplete record (torn write)") != std::string::npos);
    CHECK(std::filesystem::file_size(segment) == cut + after.size());  // refusing changes nothing

    auto j = open_file_journal(dir.path(), quiet(true));
    CHECK(j->highest_sequence_nr("order-17") == 2);
    CHECK(j->read_all("order-17") == text_events(1, 2));
    j->append("order-17", text_event(3, "rewritten"));
    CHECK(payload_text(j->read_all("order-17", 3).at(0)) == "rewritten");
  }
}

TEST_CASE("every garbled byte of the last record is detected") {
  temp_dir dir;
  auto [pristine, last] = three_events(dir.path());
  const auto segment = dir / "00000001.log";
  for (std::size_t at = last; at < pristine.size(); ++at) {
    CAPTURE(at);
    std::string damaged = pristine;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x40);
    write_file(segment, damaged + zero_space);
    std::string error = open_error(dir.path(), false);
    CHECK(error.find("at offset " + std::to_string(last)) != std::string::npos);
    auto j = open_file_journal(dir.path(), quiet(true));
    CHECK(j->read_all("order-17") == text_events(1, 2));
  }
}

TEST_CASE("a checksum mismatch names the file, offset and persistence id") {
  temp_dir dir;
  auto [pristine, last] = three_events(dir.path());
  std::string damaged = pristine;
  damaged.back() = static_cast<char>(damaged.back() ^ 1);  // inside the payload
  write_file(dir / "00000001.log", damaged);
  CHECK(open_error(dir.path(), false) ==
        "journal segment 00000001.log: checksum mismatch at offset " + std::to_string(last) +
            " (persistence id order-17, unverified); refusing to recover; open with "
            "journal_options::truncate_corrupt_tail to drop the damaged tail (" +
            std::to_string(pristine.size() - last) + " bytes)");
}

TEST_CASE("damage followed by a valid record is refused even with truncate_corrupt_tail") {
  temp_dir dir;
  auto [pristine, last] = three_events(dir.path());
  std::string damaged = pristine;
  damaged[16 + 30] = static_cast<char>(damaged[16 + 30] ^ 0xFF);  // first record's body
  write_file(dir / "00000001.log", damaged);
  std::string error = open_error(dir.path(), true);
  CHECK(error.find("at offset 16") != std::string::npos);
  CHECK(error.find("a valid record follows") != std::string::npos);
  CHECK(read_file(dir / "00000001.log") == damaged);  // nothing was truncated
}

namespace {
// The message of the corrupt error that reading all of `id` must fail with.
std::string read_error(journal& j, const std::string& id) {
  try {
    (void)j.read_all(id);
  } catch (const storage_error& e) {
    CHECK(e.code() == storage_errc::corrupt);
    return e.what();
  }
  FAIL("damaged records were read");
  return {};
}

// Events a:1..4 and b:1 in 64-byte segments (so several), then the last
// byte of segment 1's last record (event a:2's payload) flipped.
journal_options small_segments_with_damage(const std::filesystem::path& dir) {
  journal_options options = quiet(false);
  options.segment_size = 64;
  {
    auto j = open_file_journal(dir, options);
    for (std::uint64_t seq = 1; seq <= 4; ++seq) j->append("a", text_event(seq, "x"));
    j->append("b", text_event(1, "elsewhere"));
  }
  REQUIRE(std::filesystem::exists(dir / "00000001.sum"));
  std::string first = read_file(dir / "00000001.log");
  const std::size_t last_byte = segment_end(dir / "00000001.log") - 1;
  first[last_byte] = static_cast<char>(first[last_byte] ^ 1);
  write_file(dir / "00000001.log", first);
  return options;
}
}  // namespace

TEST_CASE("damage in a segment that is not the newest is refused") {
  temp_dir dir;
  small_segments_with_damage(dir.path());
  // Without its summary the segment is scanned at open, and refused there.
  std::filesystem::remove(dir / "00000001.sum");
  std::string error = open_error(dir.path(), true);
  CHECK(error.find("journal segment 00000001.log: checksum mismatch") == 0);
  CHECK(error.find("later segments follow") != std::string::npos);
}

TEST_CASE("damage in a summarized segment is refused when its events are read, and never applied") {
  temp_dir dir;
  const journal_options options = small_segments_with_damage(dir.path());
  auto j = open_file_journal(dir.path(), options);  // the summary stands in for the scan
  CHECK(j->highest_sequence_nr("a") == 4);
  CHECK(j->read_all("b").size() == 1);             // its segment is whole
  CHECK(j->read_all("a", 3).size() == 2);           // nor is that of events 3 and 4
  CHECK(read_error(*j, "a").find("journal segment 00000001.log: checksum mismatch") == 0);
}

TEST_CASE("a summarized segment with a damaged header is refused when its events are read") {
  temp_dir dir;
  journal_options options = quiet(false);
  options.segment_size = 64;
  {
    auto j = open_file_journal(dir.path(), options);
    for (std::uint64_t seq = 1; seq <= 4; ++seq) j->append("a", text_event(seq, "x"));
  }
  std::string first = read_file(dir / "00000001.log");
  first[3] = 'x';  // in the magic
  write_file(dir / "00000001.log", first);
  auto j = open_file_journal(dir.path(), options);
  CHECK(read_error(*j, "a").find("journal segment 00000001.log: invalid segment header") == 0);
}

TEST_CASE("a segment with a damaged header is refused") {
  temp_dir dir;
  auto [pristine, last] = three_events(dir.path());
  std::string damaged = pristine;
  damaged[3] = 'x';
  write_file(dir / "00000001.log", damaged);
  CHECK(open_error(dir.path(), true).find("invalid segment header") != std::string::npos);
}

TEST_CASE("a full disk fails the append cleanly and leaves no garbage") {
  temp_dir dir;
  auto j = open_file_journal(dir.path(), quiet(false));
  j->append("a", text_events(1, 3));
  const auto segment = dir / "00000001.log";
  const auto good_size = segment_end(segment);
  REQUIRE(std::filesystem::file_size(segment) > good_size);  // zero-filled ahead

  // The file size limit makes write() fail with EFBIG after a partial
  // write, the same path as ENOSPC; SIGXFSZ would otherwise kill us.
  auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  rlimit limited = saved;
  limited.rlim_cur = good_size + 40;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &limited) == 0);
  std::optional<storage_errc> code;  // none: no error
  try {
    j->append("a", text_event(4, std::string(500, 'z')));
  } catch (const storage_error& e) {
    code = e.code();
  }
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &saved) == 0);
  std::signal(SIGXFSZ, previous_handler);

  CHECK(code == storage_errc::disk_full);
  CHECK(std::filesystem::file_size(segment) == good_size);  // the records' end: nothing torn left
  CHECK(j->highest_sequence_nr("a") == 3);
  j->append("a", text_event(4, "after the disk was freed"));
  j.reset();

  auto reopened = open_file_journal(dir.path(), quiet(false));
  auto events = reopened->read_all("a");
  REQUIRE(events.size() == 4);
  CHECK(payload_text(events[3]) == "after the disk was freed");
}

TEST_CASE("zero-filled space after the last record is a clean end; appends continue at the last record") {
  temp_dir dir;
  const auto segment = dir / "00000001.log";
  std::uint64_t physical = 0;
  {
    auto j = open_file_journal(dir.path(), quiet(false));
    j->append("a", text_events(1, 3));
    physical = std::filesystem::file_size(segment);
    CHECK(physical >= journal_options{}.preallocate_bytes);
    CHECK(segment_end(segment) < physical);
  }
  for (std::uint64_t round = 0; round < 3; ++round) {
    std::vector<std::string> warnings;
    journal_options options;
    options.on_warning = [&](std::string_view w) { warnings.emplace_back(w); };
    auto j = open_file_journal(dir.path(), options);
    CHECK(warnings.empty());
    CHECK(j->read_all("a") == text_events(1, 3 + round));
    j->append("a", text_event(4 + round, "payload-" + std::to_string(4 + round)));
  }
  // The records went into the zeros: the file did not grow.
  CHECK(std::filesystem::file_size(segment) == physical);
  auto j = open_file_journal(dir.path(), quiet(false));
  CHECK(j->read_all("a") == text_events(1, 6));
}

TEST_CASE(
    "a non-zero byte in the zero-filled space is reported at its own offset, and truncation cuts at the last record") {
  temp_dir dir;
  auto [pristine, last] = three_events(dir.path());
  const std::size_t stray = pristine.size() + 5000;
  std::string damaged = pristine + zero_space;
  damaged[stray] = '\x01';
  write_file(dir / "00000001.log", damaged);
  CHECK(open_error(dir.path(), false) ==
        "journal segment 00000001.log: non-zero byte in the zero-filled space after the last record at offset " +
            std::to_string(stray) + " (the last record ends at offset " + std::to_string(pristine.size()) +
            "); refusing to recover; open with journal_options::truncate_corrupt_tail to drop the damaged tail (" +
            std::to_string(zero_space.size()) + " bytes from offset " + std::to_string(pristine.size()) + ")");

  std::vector<std::string> warnings;
  journal_options repair = quiet(true);
  repair.on_warning = [&](std::string_view w) { warnings.emplace_back(w); };
  auto j = open_file_journal(dir.path(), repair);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("at offset " + std::to_string(stray) + " (the last record ends") != std::string::npos);
  CHECK(j->read_all("order-17").size() == 3);
  CHECK(std::filesystem::file_size(dir / "00000001.log") == pristine.size());
}

TEST_CASE("a stray byte right after the last record is reported at that offset") {
  temp_dir dir;
  auto [pristine, last] = three_events(dir.path());
  // The length field of the would-be next record is zero but its fifth
  // byte is not: the stray byte is 4 past the records' end.
  std::string damaged = pristine + zero_space;
  damaged[pristine.size() + 4] = '\x7f';
  write_file(dir / "00000001.log", damaged);
  CHECK(open_error(dir.path(), false)
            .starts_with("journal segment 00000001.log: non-zero byte in the zero-filled space after the last record "
                         "at offset " +
                         std::to_string(pristine.size() + 4) + " (the last record ends at offset " +
                         std::to_string(pristine.size()) + ")"));
}

TEST_CASE("a second journal on an open directory is refused with already_open, and opens once the first is closed") {
  temp_dir dir;
  auto first = open_file_journal(dir.path());
  first->append("a", text_event(1, "one"));
  std::optional<storage_errc> code;  // none: no error
  std::string message;
  try {
    open_file_journal(dir.path());
  } catch (const storage_error& e) {
    code = e.code();
    message = e.what();
  }
  REQUIRE(code == storage_errc::already_open);
  CHECK(to_string(*code) == "already open");
  CHECK(message == "journal " + dir.path().string() + ": already open: another journal, in this process or another, " +
                       "holds the lock on " + (dir / "LOCK").string() +
                       "; close that one first, or open a different directory");
  first->append("a", text_event(2, "the refusal changed nothing"));
  first.reset();
  auto second = open_file_journal(dir.path());
  CHECK(second->read_all("a") ==
        std::vector<persistent_event>{text_event(1, "one"), text_event(2, "the refusal changed nothing")});
}

TEST_CASE("with preallocation off the segment is exactly its records") {
  temp_dir dir;
  journal_options options = quiet(false);
  options.preallocate_bytes = 0;
  auto j = open_file_journal(dir.path(), options);
  j->append("a", text_events(1, 3));
  CHECK(std::filesystem::file_size(dir / "00000001.log") == segment_end(dir / "00000001.log"));
}
