// Persistent actors when user code or the snapshot store fails: an
// exception of any type during recovery keeps the promised "recovery of
// persistence id ... failed" reason, an exit signal during recovery still
// stops the actor with its own reason, and a failing snapshot store is
// retried with backoff instead of after every write.

#include <weft/persistence/file_journal.hpp>
#include <weft/persistence/persistent_actor.hpp>
#include <weft/persistence/snapshot_store.hpp>

#include "counter_support.hpp"
#include "snapshot_policy.hpp"
#include "test_support.hpp"
#include "weft_test.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <bit>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

using namespace weft::persistence;
using namespace weft::persistence::test;
using namespace std::chrono_literals;

namespace {

template <class Ref>
persistence_info ask_info(weft::scoped_actor& self, const Ref& p) {
  auto r = self.ask(p, get_persistence_info{}, 20s);
  REQUIRE(r.has_value());
  return *r;
}

// Increments of 1, in windows of 512 and an ask so the mailbox never fills
// (see persistent_actor_test.cpp).
void flood(weft::scoped_actor& self, const counter_ref& p, std::int64_t count) {
  for (std::int64_t i = 0; i < count; ++i) {
    REQUIRE(self.send(p, increment{1}) == weft::send_status::ok);
    if (i % 512 == 511) REQUIRE(self.ask(p, get_persistence_info{}, 20s).has_value());
  }
  REQUIRE(self.ask(p, get_persistence_info{}, 20s).has_value());
}

struct not_a_std_exception {
  int code = 0;
};

// A journal holding counter events 1..3 with amounts 1, 13, 1.
std::unique_ptr<journal> three_increments(const std::filesystem::path& dir) {
  auto j = open_file_journal(dir);
  for (std::uint64_t seq = 1; seq <= 3; ++seq) {
    j->append("thrower", make_event(seq, incremented{seq == 2 ? 13 : 1}, "counter.incremented"));
  }
  return j;
}

template <class Ref>
std::string stop_reason(watched<Ref>& w) {
  auto reason = w.exit_reason();
  REQUIRE(reason.has_value());
  return std::string(reason->text());
}

// A store that fails every save while `broken`, and counts the attempts.
class flaky_snapshot_store final : public snapshot_store {
 public:
  std::atomic<bool> broken{true};
  std::atomic<std::uint64_t> saves{0};

  void save(const snapshot&) override {
    ++saves;
    if (broken) throw storage_error(storage_errc::disk_full, "snapshot store: no space left on device");
  }
  std::optional<snapshot> load_latest(std::string_view, std::uint64_t) override { return std::nullopt; }
  void delete_older_than(std::string_view, std::uint64_t) override {}
};

// A store whose load throws something that is no std::exception.
class foreign_throwing_store final : public snapshot_store {
 public:
  void save(const snapshot&) override {}
  std::optional<snapshot> load_latest(std::string_view, std::uint64_t) override { throw not_a_std_exception{5}; }
  void delete_older_than(std::string_view, std::uint64_t) override {}
};

// The counter, with event handlers that fail at the event of 13.
struct foreign_thrower : counter {
  void on_event(std::int64_t& total, const incremented& e) const {
    if (e.by == 13) throw not_a_std_exception{13};
    total += e.by;
  }
};
struct std_thrower : counter {
  void on_event(std::int64_t& total, const incremented& e) const {
    if (e.by == 13) throw std::domain_error("13 is unlucky");
    total += e.by;
  }
};
// Parks recovery inside on_event until released.
struct parking_counter : counter {
  std::atomic<bool>* entered = nullptr;
  std::atomic<bool>* released = nullptr;
  void on_event(std::int64_t& total, const incremented& e) const {
    entered->store(true);
    released->wait(false);  // on the blocking-call thread, while the actor waits for it
    total += e.by;
  }
};

}  // namespace

TEST_CASE("an on_event throwing a non-std exception during recovery stops the actor naming the id and the event") {
  temp_dir dir;
  auto j = three_increments(dir.path());
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  watched w(self, persistent<foreign_thrower>(counter_options("thrower", j.get())));
  CHECK(stop_reason(w) ==
        "recovery of persistence id 'thrower' failed: on_event (or the event codec or upcaster) at event 2 threw an "
        "exception not derived from std::exception");
}

TEST_CASE("a std::exception from on_event during recovery keeps its own text") {
  temp_dir dir;
  auto j = three_increments(dir.path());
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  watched w(self, persistent<std_thrower>(counter_options("thrower", j.get())));
  CHECK(stop_reason(w) == "recovery of persistence id 'thrower' failed: 13 is unlucky");
}

TEST_CASE("a snapshot store throwing a non-std exception at recovery stops the actor with the recovery wording") {
  temp_dir dir;
  auto j = open_file_journal(dir.path());
  foreign_throwing_store store;
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  watched w(self, persistent<counter>(counter_options("snapped", j.get(), &store, 10)));
  CHECK(stop_reason(w) ==
        "recovery of persistence id 'snapped' failed: the snapshot store's load_latest threw an exception not derived "
        "from std::exception");
}

TEST_CASE("an open_journal throwing a non-std exception stops the actor saying it cannot open its journal") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto o = counter_options("unopened", nullptr);
  o.open_journal = []() -> journal& { throw not_a_std_exception{1}; };
  watched w(self, persistent<counter>(o));
  CHECK(stop_reason(w) ==
        "persistent actor 'unopened': cannot open its journal: open_journal threw an exception not derived from "
        "std::exception");
}

TEST_CASE("an exit signal that arrives while recovery runs on_event stops the actor with the signal's reason") {
  temp_dir dir;
  auto j = three_increments(dir.path());
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  std::atomic<bool> entered{false};
  std::atomic<bool> released{false};
  parking_counter parked;
  parked.entered = &entered;
  parked.released = &released;
  watched w(self, persistent<parking_counter>(counter_options("thrower", j.get()), parked));
  REQUIRE(weft_test::eventually([&] { return entered.load(); }));
  // Queued ahead of the blocking call's wake-up, so the actor takes it while
  // the call is still running, and the runtime unwinds it once the call
  // returns; that unwinding is no std::exception, and recovery must not
  // turn it into a recovery failure.
  self.exit(w.pid(), weft::exit_reason::error("operator stop"));
  released = true;
  released.notify_all();
  CHECK(stop_reason(w) == "operator stop");
}

TEST_CASE("the snapshot retry gap doubles per failure from snapshot_every and is capped") {
  CHECK(detail::snapshot_retry_gap(1, 1) == 1);
  CHECK(detail::snapshot_retry_gap(1, 2) == 2);
  CHECK(detail::snapshot_retry_gap(1, 17) == 65536);
  CHECK(detail::snapshot_retry_gap(1, 18) == 65536);
  CHECK(detail::snapshot_retry_gap(1, 1000) == 65536);
  CHECK(detail::snapshot_retry_gap(10'000, 1) == 10'000);
  CHECK(detail::snapshot_retry_gap(10'000, 3) == 40'000);
  CHECK(detail::snapshot_retry_gap(10'000, 4) == 65536);
  CHECK(detail::snapshot_retry_gap(100'000, 1) == 100'000);  // never below snapshot_every
  CHECK(detail::snapshot_retry_gap(100'000, 50) == 100'000);
}

TEST_CASE("a snapshot store that always fails is retried a logarithmic number of times, not after every write") {
  temp_dir dir;
  journal_options fast;
  fast.unsafe_no_sync = true;  // this test counts snapshot attempts, not durability
  auto j = open_file_journal(dir.path(), fast);
  flaky_snapshot_store store;
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto options = counter_options("snapped", j.get(), &store, 1);
  options.max_batch = 1;  // one write per command: a snapshot is due after each
  watched w(self, persistent<counter>(options));
  constexpr std::int64_t events = 4000;
  const auto started = std::chrono::steady_clock::now();
  flood(self, w.ref(), events);
  persistence_info info = ask_info(self, w.ref());
  REQUIRE(info.sequence_nr == events);
  CHECK(info.writes == static_cast<std::uint64_t>(events));
  MESSAGE(info.writes, " writes, ", info.failed_snapshots, " snapshot attempts, ", info.skipped_snapshot_retries,
          " skipped, in ",
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count(), " ms");
  // With snapshot_every 1 a snapshot is due after every write: each one
  // was either attempted (and failed) or skipped while backing off.
  CHECK(info.failed_snapshots + info.skipped_snapshot_retries == info.writes);
  CHECK(info.failed_snapshots == store.saves.load());
  CHECK(info.failed_snapshots >= 2);
  // The k-th attempt comes 2^(k-1) events after the one before it.
  CHECK(info.failed_snapshots <= static_cast<std::uint64_t>(std::bit_width(static_cast<std::uint64_t>(events))));
  CHECK(info.snapshot_sequence_nr == 0);
  CHECK(info.next_snapshot_retry > info.sequence_nr);
  CHECK(info.last_snapshot_error ==
        "persistent actor 'snapped': saving the snapshot at event " +
            std::to_string(info.next_snapshot_retry - detail::snapshot_retry_gap(1, info.failed_snapshots)) +
            " failed: snapshot store: no space left on device");

  // Once the store works again, the next due attempt succeeds and ends the backoff.
  store.broken = false;
  flood(self, w.ref(), static_cast<std::int64_t>(info.next_snapshot_retry - info.sequence_nr));
  persistence_info recovered = ask_info(self, w.ref());
  CHECK(recovered.snapshot_sequence_nr == recovered.sequence_nr);
  CHECK(recovered.next_snapshot_retry == 0);
  CHECK(recovered.failed_snapshots == info.failed_snapshots);
  flood(self, w.ref(), 10);
  CHECK(ask_info(self, w.ref()).snapshot_sequence_nr == recovered.sequence_nr + 10);  // every write again
}

TEST_CASE("a save_snapshot request is never held back by the backoff, and its success ends it") {
  temp_dir dir;
  auto j = open_file_journal(dir.path());
  flaky_snapshot_store store;
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  watched w(self, persistent<counter>(counter_options("asked", j.get(), &store, 1)));
  flood(self, w.ref(), 100);
  const persistence_info backing_off = ask_info(self, w.ref());
  REQUIRE(backing_off.next_snapshot_retry > backing_off.sequence_nr);
  const std::uint64_t saves = store.saves.load();
  auto refused = self.ask(w.ref(), save_snapshot{}, 20s);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error() == command_errc::write_failed);
  CHECK(refused.error().detail() ==
        "persistent actor 'asked': saving the snapshot at event 100 failed: snapshot store: no space left on device");
  CHECK(store.saves.load() == saves + 1);  // attempted despite the backoff
  store.broken = false;
  auto saved = self.ask(w.ref(), save_snapshot{}, 20s);
  REQUIRE(saved.has_value());
  CHECK(*saved == 100);
  CHECK(ask_info(self, w.ref()).next_snapshot_retry == 0);
}
