// Allocation failures on a journal's writer thread, injected at every
// allocation of a group in turn: each must end as an error status for the
// group (or a failed journal that reopens cleanly), never as
// std::terminate, and no acknowledged event may be lost. The test replaces
// the global operator new, so it is a binary of its own.

#include <weft/persistence/file_journal.hpp>
#include <weft/persistence/sqlite_journal.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace weft::persistence;
using weft::persistence::test::temp_dir;
using weft::persistence::test::text_event;

namespace {

// The thread whose allocations may fail, and how many more succeed before
// one throws (negative: none will).
std::atomic<std::thread::id> failing_thread{};
std::atomic<long> allocations_before_failure{-1};

void* allocate(std::size_t size) {
  if (std::this_thread::get_id() == failing_thread.load(std::memory_order_relaxed) &&
      allocations_before_failure.fetch_sub(1, std::memory_order_relaxed) == 0) {
    throw std::bad_alloc();
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}

}  // namespace

void* operator new(std::size_t size) {
  return allocate(size);
}
void* operator new[](std::size_t size) {
  return allocate(size);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

struct append_result {
  std::optional<storage_errc> code;  // none: acknowledged
  bool injected = false;             // an allocation was made to fail
};

// Appends one event with a completion that allocates nothing (so it cannot
// be the one to fail), letting `allocations` allocations of the writer
// thread succeed and failing the next.
append_result append_with_failure(journal& j, std::uint64_t seq, std::thread::id writer, long allocations) {
  auto event = text_event(seq, "payload-" + std::to_string(seq));
  std::atomic<bool> done{false};
  std::atomic<bool> acknowledged{false};
  std::atomic<storage_errc> code{};
  allocations_before_failure.store(allocations);
  failing_thread.store(writer);
  j.async_append("faulty", std::span(&event, 1), [&](const storage_status& status) {
    if (status) {
      acknowledged.store(true);
    } else {
      code.store(storage_code(status.error()));
    }
    done.store(true);
    done.notify_one();
  });
  done.wait(false);
  const bool injected = allocations_before_failure.load() < 0;
  failing_thread.store(std::thread::id{});
  allocations_before_failure.store(-1);
  return {acknowledged.load() ? std::nullopt : std::optional<storage_errc>(code.load()), injected};
}

// The journal's writer thread, found with a deletion of another id (which
// writes nothing and leaves "faulty"'s state in the journal untouched).
std::thread::id writer_of(journal& j) {
  std::atomic<bool> done{false};
  std::atomic<std::thread::id> writer{};
  j.async_delete_up_to("probe", 1, [&](const storage_status&) {
    writer.store(std::this_thread::get_id());
    done.store(true);
    done.notify_one();
  });
  done.wait(false);
  return writer.load();
}

// Appends "faulty" 1, 2, ... failing the k-th allocation of the writer
// thread for k = 0, 1, 2, ... until a group gets through with no failure
// injected (so every allocation point of a group was failed once), with a
// fresh journal each time if reopen_each_time (a backend that caches per
// id allocates less once warm). Returns the statuses seen.
std::vector<std::optional<storage_errc>> fail_every_allocation(const std::function<std::unique_ptr<journal>()>& open,
                                                               bool reopen_each_time) {
  std::unique_ptr<journal> j = open();
  std::uint64_t acknowledged = 0;
  std::vector<std::optional<storage_errc>> seen;
  for (long k = 0; k < 10'000; ++k) {
    CAPTURE(k);
    if (reopen_each_time && k > 0) {
      j.reset();
      j = open();
    }
    const append_result result = append_with_failure(*j, acknowledged + 1, writer_of(*j), k);
    seen.push_back(result.code);
    if (!result.code) {
      ++acknowledged;
    } else if (result.code == storage_errc::journal_failed) {
      // The event may be durable: reopening recovers whatever is on disk.
      j.reset();
      j = open();
      REQUIRE(j->highest_sequence_nr("faulty") >= acknowledged);
      acknowledged = j->highest_sequence_nr("faulty");
    } else {
      // An error that says "not stored" must mean it.
      REQUIRE(result.injected);
      REQUIRE(j->highest_sequence_nr("faulty") == acknowledged);
    }
    // Every acknowledged event is readable, in order, right now.
    auto events = j->read_all("faulty");
    REQUIRE(events.size() == acknowledged);
    for (std::uint64_t i = 0; i < events.size(); ++i)
      REQUIRE(events[i].sequence_nr == i + 1);
    if (!result.injected) break;
  }
  j.reset();
  CHECK(open()->read_all("faulty").size() == acknowledged);
  return seen;
}

std::string describe(const std::vector<std::optional<storage_errc>>& codes) {
  std::string text;
  for (const std::optional<storage_errc>& code : codes)
    text += std::string(text.empty() ? "" : ", ") + std::string(code ? to_string(*code) : "ok");
  return text;
}

}  // namespace

TEST_CASE("an allocation failure anywhere in a file journal group fails the group or the journal, never the process") {
  temp_dir dir;
  journal_options options;
  options.on_warning = [](std::string_view) {};
  const std::vector<std::optional<storage_errc>> seen =
      fail_every_allocation([&] { return open_file_journal(dir.path(), options); }, false);
  MESSAGE((seen.size() - 1), " allocation points of a group were failed in turn: ", describe(seen));
  CHECK(seen.size() > 3);
  CHECK(std::count(seen.begin(), seen.end(), storage_errc::io_error) > 0);  // failures before the write
  CHECK(seen.back() == std::nullopt);                                       // the last group got through
}

TEST_CASE("an allocation failure anywhere in a SQLite journal group rolls the group back and the journal goes on") {
  temp_dir dir;
  const std::vector<std::optional<storage_errc>> seen =
      fail_every_allocation([&] { return open_sqlite_journal(dir / "journal.db"); }, true);
  MESSAGE((seen.size() - 1), " allocation points of a group were failed in turn: ", describe(seen));
  // Its writer thread allocates little (the rest is SQLite's malloc), but
  // at least once: the id's cache entry in a fresh journal.
  CHECK(seen.size() >= 2);
  CHECK(std::count(seen.begin(), seen.end(), storage_errc::journal_failed) == 0);  // rolled back, still usable
  CHECK(seen.front() == storage_errc::io_error);
  CHECK(seen.back() == std::nullopt);  // the last group got through
}
