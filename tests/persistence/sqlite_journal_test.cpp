// The SQLite backend honours the same journal contract as the file journal.

#include <weft/persistence/sqlite_journal.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

using namespace weft::persistence;
using weft::persistence::test::payload_text;
using weft::persistence::test::temp_dir;
using weft::persistence::test::text_event;
using weft::persistence::test::text_events;

TEST_CASE("the sqlite journal appends, reads ranges, deletes and keeps the highest number") {
  temp_dir dir;
  auto j = open_sqlite_journal(dir / "journal.db");
  auto events = text_events(1, 5);
  events[2].schema_version = 4;
  j->append("a", events);
  CHECK(j->read_all("a") == events);
  CHECK(j->read_all("a", 2, 3).size() == 2);
  CHECK(j->highest_sequence_nr("a") == 5);
  CHECK_THROWS_AS(j->append("a", text_event(7, "gap")), storage_error);
  j->delete_up_to("a", 3);
  CHECK(j->read_all("a").front().sequence_nr == 4);
  j->delete_up_to("a", max_sequence_nr);
  CHECK(j->read_all("a").empty());
  CHECK(j->highest_sequence_nr("a") == 5);
}

TEST_CASE("the sqlite journal keeps everything across reopen") {
  temp_dir dir;
  {
    auto j = open_sqlite_journal(dir / "journal.db");
    j->append("a", text_events(1, 3));
    j->delete_up_to("a", 1);
  }
  auto j = open_sqlite_journal(dir / "journal.db");
  CHECK(j->highest_sequence_nr("a") == 3);
  auto events = j->read_all("a");
  REQUIRE(events.size() == 2);
  CHECK(payload_text(events[0]) == "payload-2");
  j->append("a", text_event(4, "four"));
}

TEST_CASE("concurrent writers on the sqlite journal are all acknowledged in order") {
  temp_dir dir;
  auto j = open_sqlite_journal(dir / "journal.db");
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int w = 0; w < 8; ++w) {
    threads.emplace_back([&, w] {
      std::string id = "w" + std::to_string(w);
      for (std::uint64_t seq = 1; seq <= 50; ++seq) {
        try {
          j->append(id, text_event(seq, id + std::to_string(seq)));
        } catch (const storage_error&) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  for (int w = 0; w < 8; ++w) {
    std::string id = "w" + std::to_string(w);
    auto events = j->read_all(id);
    REQUIRE(events.size() == 50);
    CHECK(payload_text(events[49]) == id + "50");
  }
}
