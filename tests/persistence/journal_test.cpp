#include <weft/persistence/file_journal.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

using namespace weft::persistence;
using weft::persistence::test::payload_text;
using weft::persistence::test::temp_dir;
using weft::persistence::test::text_event;
using weft::persistence::test::text_events;

TEST_CASE("appended events are read back in order with their manifest and schema version") {
  temp_dir dir;
  auto j = open_file_journal(dir.path());
  auto events = text_events(1, 3);
  events[1].manifest = "order-placed";
  events[1].schema_version = 7;
  j->append("order-17", events);
  CHECK(j->read_all("order-17") == events);
  CHECK(j->highest_sequence_nr("order-17") == 3);
  CHECK(j->highest_sequence_nr("order-18") == 0);
  CHECK(j->read_all("order-18").empty());
}

TEST_CASE("a read honours from, to and max_count") {
  temp_dir dir;
  auto j = open_file_journal(dir.path());
  j->append("a", text_events(1, 10));
  auto middle = j->read_all("a", 4, 6);
  REQUIRE(middle.size() == 3);
  CHECK(middle.front().sequence_nr == 4);
  CHECK(middle.back().sequence_nr == 6);
  std::vector<std::uint64_t> seen;
  j->read("a", 2, max_sequence_nr, 4, [&](const event_view& e) { seen.push_back(e.sequence_nr); });
  CHECK(seen == std::vector<std::uint64_t>{2, 3, 4, 5});
}

TEST_CASE("an append that does not continue the sequence fails with sequence_conflict") {
  temp_dir dir;
  auto j = open_file_journal(dir.path());
  j->append("a", text_events(1, 2));
  try {
    j->append("a", text_event(4, "gap"));
    FAIL("expected a sequence conflict");
  } catch (const storage_error& e) {
    CHECK(e.code() == storage_errc::sequence_conflict);
  }
  CHECK_THROWS_AS(j->append("a", text_event(2, "duplicate")), storage_error);
  j->append("a", text_event(3, "next"));
  CHECK(j->highest_sequence_nr("a") == 3);
}

TEST_CASE("a batch with non-consecutive numbers is rejected as invalid_argument") {
  temp_dir dir;
  auto j = open_file_journal(dir.path());
  std::vector<persistent_event> events{text_event(1, "x"), text_event(3, "y")};
  try {
    j->append("a", events);
    FAIL("expected invalid_argument");
  } catch (const storage_error& e) {
    CHECK(e.code() == storage_errc::invalid_argument);
  }
  CHECK(j->highest_sequence_nr("a") == 0);
}

TEST_CASE("deleting up to a number hides those events and keeps the highest number") {
  temp_dir dir;
  auto j = open_file_journal(dir.path());
  j->append("a", text_events(1, 5));
  j->delete_up_to("a", 3);
  auto rest = j->read_all("a");
  REQUIRE(rest.size() == 2);
  CHECK(rest[0].sequence_nr == 4);
  j->delete_up_to("a", max_sequence_nr);
  CHECK(j->read_all("a").empty());
  CHECK(j->highest_sequence_nr("a") == 5);
  j->append("a", text_event(6, "after delete"));
  CHECK(j->read_all("a").size() == 1);
}

TEST_CASE("a reopened journal has every event, deletion and highest number") {
  temp_dir dir;
  {
    auto j = open_file_journal(dir.path());
    j->append("a", text_events(1, 4));
    j->append("b", text_events(1, 2));
    j->delete_up_to("a", 2);
  }
  auto j = open_file_journal(dir.path());
  CHECK(j->highest_sequence_nr("a") == 4);
  CHECK(j->highest_sequence_nr("b") == 2);
  auto a = j->read_all("a");
  REQUIRE(a.size() == 2);
  CHECK(payload_text(a[0]) == "payload-3");
  j->append("a", text_event(5, "five"));
  CHECK(j->read_all("a").size() == 3);
}

TEST_CASE("a second journal on the same directory is refused while the first is open") {
  temp_dir dir;
  auto j = open_file_journal(dir.path());
  CHECK_THROWS_AS(open_file_journal(dir.path()), storage_error);
}

TEST_CASE("small segments rotate and fully deleted segments are removed") {
  temp_dir dir;
  journal_options options;
  options.segment_size = 256;
  {
    auto j = open_file_journal(dir.path(), options);
    for (std::uint64_t seq = 1; seq <= 40; ++seq) {
      j->append("a", text_event(seq, std::string(40, 'x')));
    }
    j->append("b", text_event(1, "b survives"));
    auto count_segments = [&] {
      std::size_t n = 0;
      for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
        n += e.path().extension() == ".log";
      }
      return n;
    };
    std::size_t before = count_segments();
    CHECK(before > 5);
    j->delete_up_to("a", 40);
    CHECK(count_segments() < before);
    CHECK(j->read_all("a").empty());
  }
  auto j = open_file_journal(dir.path(), options);
  CHECK(j->highest_sequence_nr("a") == 40);
  CHECK(j->read_all("a").empty());
  CHECK(j->read_all("b").size() == 1);
  j->append("a", text_event(41, "again"));
}

namespace {
std::size_t count_files(const std::filesystem::path& dir, const std::string& extension) {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) n += e.path().extension() == extension;
  return n;
}
}  // namespace

TEST_CASE("sealed segments are summarized, and a reopened journal reads them only when asked, the same") {
  temp_dir dir;
  journal_options options;
  options.segment_size = 1024;
  std::vector<persistent_event> a, b;
  {
    auto j = open_file_journal(dir.path(), options);
    for (std::uint64_t seq = 1; seq <= 200; ++seq) {
      a.push_back(text_event(seq, "a-" + std::to_string(seq)));
      j->append("a", a.back());
      if (seq % 3 == 0) {
        b.push_back(text_event(b.size() + 1, "b-" + std::to_string(seq)));
        j->append("b", b.back());
      }
    }
  }
  const std::size_t segments = count_files(dir.path(), ".log");
  REQUIRE(segments > 10);
  CHECK(count_files(dir.path(), ".sum") == segments - 1);  // every one but the newest
  for (int round = 0; round < 2; ++round) {
    auto j = open_file_journal(dir.path(), options);
    CHECK(j->highest_sequence_nr("a") == 200);
    CHECK(j->highest_sequence_nr("b") == b.size());
    // The tail first (only the newest segments load), then everything.
    auto tail = j->read_all("a", 190);
    CHECK(tail == std::vector<persistent_event>(a.begin() + 189, a.end()));
    CHECK(j->read_all("a") == a);
    CHECK(j->read_all("b") == b);
  }
  {
    // Deleting through summarized segments, then reopening.
    auto j = open_file_journal(dir.path(), options);
    j->delete_up_to("a", 150);
    CHECK(j->read_all("a") == std::vector<persistent_event>(a.begin() + 150, a.end()));
    j->append("a", text_event(201, "after"));
  }
  auto j = open_file_journal(dir.path(), options);
  auto rest = j->read_all("a");
  REQUIRE(rest.size() == 51);
  CHECK(rest.front().sequence_nr == 151);
  CHECK(payload_text(rest.back()) == "after");
  CHECK(j->read_all("b") == b);
}

TEST_CASE("a missing or garbled summary only means a scan, and the summary is written again") {
  temp_dir dir;
  journal_options options;
  options.segment_size = 512;
  options.on_warning = [](std::string_view) {};
  {
    auto j = open_file_journal(dir.path(), options);
    for (std::uint64_t seq = 1; seq <= 60; ++seq) j->append("a", text_event(seq, std::string(30, 'y')));
  }
  REQUIRE(std::filesystem::exists(dir / "00000001.sum"));
  std::filesystem::remove(dir / "00000001.sum");
  {
    std::ofstream garbled(dir / "00000002.sum", std::ios::binary | std::ios::trunc);
    garbled << "not a summary";
  }
  {
    auto j = open_file_journal(dir.path(), options);
    CHECK(j->read_all("a").size() == 60);
  }
  CHECK(std::filesystem::exists(dir / "00000001.sum"));
  CHECK(std::filesystem::file_size(dir / "00000002.sum") > 13);
  auto j = open_file_journal(dir.path(), options);
  auto events = j->read_all("a");
  REQUIRE(events.size() == 60);
  CHECK(events.back().sequence_nr == 60);
}

TEST_CASE("concurrent readers load summarized segments while a writer appends and deletes") {
  temp_dir dir;
  journal_options options;
  options.segment_size = 2048;
  constexpr std::uint64_t events = 400;
  {
    auto j = open_file_journal(dir.path(), options);
    for (std::uint64_t seq = 1; seq <= events; ++seq) {
      j->append("a", text_event(seq, "a-" + std::to_string(seq)));
      j->append("d", text_event(seq, "d-" + std::to_string(seq)));
    }
  }
  auto j = open_file_journal(dir.path(), options);
  std::vector<std::thread> readers;
  std::atomic<int> wrong{0};
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&, r] {
      // Each starts somewhere else, so they race to load different segments.
      const std::uint64_t from = 1 + static_cast<std::uint64_t>(r) * 97;
      auto got = j->read_all("a", from);
      if (got.size() != events - from + 1 || got.front().sequence_nr != from ||
          payload_text(got.back()) != "a-" + std::to_string(events)) {
        ++wrong;
      }
    });
  }
  // Meanwhile: appends to another id, and deletions of "d" through the
  // segments the readers are loading.
  for (std::uint64_t seq = 1; seq <= 100; ++seq) j->append("w", text_event(seq, "w"));
  j->delete_up_to("d", 250);
  for (auto& t : readers) t.join();
  CHECK(wrong.load() == 0);
  auto d = j->read_all("d");
  REQUIRE(d.size() == events - 250);
  CHECK(d.front().sequence_nr == 251);
  CHECK(j->read_all("a").size() == events);
  CHECK(j->read_all("w").size() == 100);
}

TEST_CASE("requests after close complete with closed") {
  temp_dir dir;
  auto j = open_file_journal(dir.path());
  j->close();
  try {
    j->append("a", text_event(1, "late"));
    FAIL("expected closed");
  } catch (const storage_error& e) {
    CHECK(e.code() == storage_errc::closed);
  }
}
