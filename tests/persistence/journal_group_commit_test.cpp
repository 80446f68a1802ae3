// Many writers at once: group commit must acknowledge every append, keep
// each persistence id's events in order, and run clean under TSan. And an
// exception on the writer thread (from a completion, the commit, or the
// warning sink) is answered or reported, never the end of the process.

#include <weft/persistence/file_journal.hpp>
#include <weft/persistence/sqlite_journal.hpp>

#include "group_commit.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <new>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace weft::persistence;
using weft::persistence::detail::group_commit_queue;
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
      completed.push_back(status.has_value() ? seq : 0);
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
                      if (!status) ++errors;
                      if (seq == length || !status) {
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

namespace {

// Collects on_warning reports; the writer thread calls it.
struct warnings {
  std::mutex mutex;
  std::vector<std::string> texts;
  journal_options options() {
    journal_options o;
    o.on_warning = [this](std::string_view w) {
      std::lock_guard lock(mutex);
      texts.emplace_back(w);
    };
    return o;
  }
  std::vector<std::string> seen() {
    std::lock_guard lock(mutex);
    return texts;
  }
};

// Appends one event whose completion throws `thrown` (after noting that it ran).
template <class Thrown>
void append_then_throw(journal& j, std::uint64_t seq, Thrown thrown, std::atomic<int>& ran) {
  auto event = text_event(seq, "e");
  j.async_append("thrower", std::span(&event, 1), [thrown, &ran](const storage_status& status) {
    if (status) ++ran;
    throw thrown;
  });
}

}  // namespace

TEST_CASE("a completion that throws is reported, and the writer thread runs the other completions and later groups") {
  temp_dir dir;
  warnings reported;
  auto j = open_file_journal(dir.path(), reported.options());
  std::atomic<int> ran{0};
  append_then_throw(*j, 1, std::runtime_error("boom"), ran);
  append_then_throw(*j, 2, 42, ran);  // not a std::exception
  append_then_throw(*j, 3, std::bad_alloc(), ran);
  // Completions run in submission order, so once this returns the three
  // above have run and been reported.
  j->append("thrower", text_event(4, "after"));
  CHECK(ran == 3);
  CHECK(j->highest_sequence_nr("thrower") == 4);
  const std::vector<std::string> texts = reported.seen();
  REQUIRE(texts.size() == 3);
  CHECK(texts[0] ==
        "a journal completion callback threw (boom); completions must not throw. The writer thread goes on with the "
        "next one");
  CHECK(texts[1].starts_with("a journal completion callback threw (an exception not derived from std::exception)"));
  CHECK(texts[2].starts_with("a journal completion callback threw (std::bad_alloc)"));
  j.reset();
  CHECK(open_file_journal(dir.path())->read_all("thrower").size() == 4);
}

TEST_CASE("an on_warning that throws does not stop the writer thread either") {
  temp_dir dir;
  journal_options options;
  std::atomic<int> warned{0};
  options.on_warning = [&](std::string_view) {
    ++warned;
    throw std::runtime_error("the warning sink is broken");
  };
  auto j = open_file_journal(dir.path(), options);
  std::atomic<int> ran{0};
  append_then_throw(*j, 1, std::runtime_error("boom"), ran);
  j->append("thrower", text_event(2, "after"));
  CHECK(ran == 1);
  CHECK(warned == 1);  // then its text went to stderr
  CHECK(j->highest_sequence_nr("thrower") == 2);
}

TEST_CASE("a throwing completion on the SQLite journal's writer thread leaves the journal working") {
  temp_dir dir;
  auto j = open_sqlite_journal(dir / "journal.db");
  std::atomic<int> ran{0};
  append_then_throw(*j, 1, std::runtime_error("boom"), ran);
  append_then_throw(*j, 2, 42, ran);
  j->append("thrower", text_event(3, "after"));
  CHECK(ran == 2);
  CHECK(j->read_all("thrower").size() == 3);
}

namespace {

struct fake_request {
  int id = 0;
  completion done;
  std::size_t byte_size() const { return 1; }
};

// Submits a request to `queue` and waits for its status.
storage_status submit_and_wait(group_commit_queue<fake_request>& queue, int id) {
  std::mutex mutex;
  std::condition_variable finished;
  std::optional<storage_status> result;
  fake_request request{id, [&](const storage_status& status) {
                         std::lock_guard lock(mutex);
                         result = status;
                         finished.notify_one();
                       }};
  REQUIRE(queue.submit(request));
  std::unique_lock lock(mutex);
  finished.wait(lock, [&] { return result.has_value(); });
  return *result;
}

}  // namespace

TEST_CASE("a commit function that throws fails its group and every later request with journal_failed") {
  for (bool standard : {true, false}) {
    CAPTURE(standard);
    std::atomic<int> commits{0};
    group_commit_queue<fake_request> queue(100, [&](std::span<fake_request>, std::span<storage_status>) {
      ++commits;
      if (standard) throw std::bad_alloc();
      throw 7;
    });
    const storage_status first = submit_and_wait(queue, 1);
    REQUIRE_FALSE(first.has_value());
    CHECK(storage_code(first.error()) == storage_errc::journal_failed);
    CHECK(first.error().detail() ==
          std::string("the journal's writer thread caught an exception from the commit of a group (") +
              (standard ? "std::bad_alloc" : "an exception not derived from std::exception") +
              "); the outcome of that group is unknown, so the journal fails every request from now on: close it and "
              "reopen it to recover");
    const storage_status later = submit_and_wait(queue, 2);
    REQUIRE_FALSE(later.has_value());
    CHECK(storage_code(later.error()) == storage_errc::journal_failed);
    CHECK(later.error().detail() == first.error().detail());
    CHECK(commits == 1);  // the backend, in an unknown state, is not called again
    queue.close();
  }
}

TEST_CASE("a queue whose report function throws still delivers every status") {
  std::atomic<int> reports{0};
  group_commit_queue<fake_request> queue(
      100, [](std::span<fake_request>, std::span<storage_status>) {},
      [&](std::string_view) {
        ++reports;
        throw 1;
      });
  fake_request thrower{1, [](const storage_status&) { throw std::logic_error("completion"); }};
  REQUIRE(queue.submit(thrower));
  CHECK(submit_and_wait(queue, 2).has_value());
  CHECK(reports == 1);
}
