// Many writers at once: group commit must acknowledge every append, keep
// each persistence id's events in order, and run clean under TSan.

#include <weft/persistence/file_journal.hpp>

#include "group_commit.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace weft::persistence;
using weft::persistence::detail::group_take_count;
using weft::persistence::test::payload_text;
using weft::persistence::test::temp_dir;
using weft::persistence::test::text_event;

TEST_CASE("a group takes queued requests up to the byte limit but always at least one") {
  std::vector<std::size_t> sizes{100, 200, 300, 400};
  CHECK(group_take_count(sizes, 1000) == 4);
  CHECK(group_take_count(sizes, 600) == 3);
  CHECK(group_take_count(sizes, 599) == 2);
  CHECK(group_take_count(std::vector<std::size_t>{5000, 1}, 1000) == 1);
  CHECK(group_take_count({}, 1000) == 0);
}

TEST_CASE("concurrent writers with random pauses all get acknowledged and read back in order") {
  temp_dir dir;
  constexpr int writers = 12;
#if WEFT_STRESS
  constexpr int appends_per_writer = 1000;
#else
  constexpr int appends_per_writer = 150;
#endif
  {
    auto j = open_file_journal(dir.path());
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int w = 0; w < writers; ++w) {
      threads.emplace_back([&, w] {
        std::mt19937 rng(static_cast<unsigned>(w));
        std::string id = "writer-" + std::to_string(w);
        std::uint64_t seq = 1;
        for (int i = 0; i < appends_per_writer; ++i) {
          std::vector<persistent_event> batch;
          int size = 1 + static_cast<int>(rng() % 3);
          for (int k = 0; k < size; ++k, ++seq) {
            batch.push_back(text_event(seq, id + ":" + std::to_string(seq)));
          }
          try {
            j->append(id, batch);
            if (j->highest_sequence_nr(id) != seq - 1) ++failures;
          } catch (const storage_error&) {
            ++failures;
          }
          if (rng() % 4 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
        }
      });
    }
    for (auto& t : threads) t.join();
    CHECK(failures == 0);
  }
  auto j = open_file_journal(dir.path());
  for (int w = 0; w < writers; ++w) {
    std::string id = "writer-" + std::to_string(w);
    auto events = j->read_all(id);
    REQUIRE(!events.empty());
    CHECK(events.size() == j->highest_sequence_nr(id));
    for (std::size_t i = 0; i < events.size(); ++i) {
      REQUIRE(events[i].sequence_nr == i + 1);
      REQUIRE(payload_text(events[i]) == id + ":" + std::to_string(i + 1));
    }
  }
}

TEST_CASE("many outstanding appends of one id complete in submission order") {
  temp_dir dir;
  auto j = open_file_journal(dir.path());
  constexpr std::uint64_t count = 500;
  std::mutex mutex;
  std::condition_variable all_done;
  std::vector<std::uint64_t> completed;
  for (std::uint64_t seq = 1; seq <= count; ++seq) {
    auto event = text_event(seq, "e");
    j->async_append("pipelined", std::span(&event, 1), [&, seq](const storage_status& status) {
      std::lock_guard lock(mutex);
      completed.push_back(status.ok() ? seq : 0);
      if (completed.size() == count) all_done.notify_one();
    });
  }
  std::unique_lock lock(mutex);
  all_done.wait(lock, [&] { return completed.size() == count; });
  for (std::uint64_t i = 0; i < count; ++i) REQUIRE(completed[i] == i + 1);
  CHECK(j->highest_sequence_nr("pipelined") == count);
}

TEST_CASE("completions may submit the next append from the writer thread") {
  temp_dir dir;
  auto j = open_file_journal(dir.path());
  constexpr int chains = 20;
  constexpr std::uint64_t length = 50;
  std::atomic<int> finished{0};
  std::atomic<int> errors{0};
  std::function<void(int, std::uint64_t)> step = [&](int chain, std::uint64_t seq) {
    auto event = text_event(seq, "c");
    j->async_append("chain-" + std::to_string(chain), std::span(&event, 1),
                    [&, chain, seq](const storage_status& status) {
                      if (!status.ok()) ++errors;
                      if (seq == length || !status.ok()) {
                        finished.fetch_add(1);
                        finished.notify_one();
                      } else {
                        step(chain, seq + 1);
                      }
                    });
  };
  for (int c = 0; c < chains; ++c) step(c, 1);
  for (int seen = finished.load(); seen < chains; seen = finished.load()) finished.wait(seen);
  CHECK(errors == 0);
  for (int c = 0; c < chains; ++c) {
    CHECK(j->highest_sequence_nr("chain-" + std::to_string(c)) == length);
  }
}

TEST_CASE("readers running during appends see only complete, ordered prefixes") {
  temp_dir dir;
  auto j = open_file_journal(dir.path());
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::thread reader([&] {
    while (!stop) {
      std::uint64_t expected = 1;
      j->read("r", 1, max_sequence_nr, max_sequence_nr, [&](const event_view& e) {
        if (e.sequence_nr != expected++ || as_string_view(e.payload) != "r") ++bad;
      });
    }
  });
  for (std::uint64_t seq = 1; seq <= 300; ++seq) j->append("r", text_event(seq, "r"));
  stop = true;
  reader.join();
  CHECK(bad == 0);
}
