// 10. recover e=1000000 snapshot_every=0|10000: one persistent counter
// whose journal already holds e events; measured: the recovery of its state
// from a cold start, without snapshots (snapshot_every=0: every event is
// replayed) or with a snapshot every snapshot_every events (only the events
// after the newest one are). Reported: events/s = e (the events the
// recovered state covers, replayed or through the snapshot) / seconds.
//
// Steps:
//   1. untimed: in a fresh directory under the working directory, append
//      the e events for one persistence id straight to a file journal, in
//      synced batches of 10,000 (the stored records are the ones the
//      counter writes, without the cost of e commands), and with
//      snapshot_every > 0 save the counter's state to a file snapshot store
//      after every snapshot_every events, as the actor would have; then
//      close the journal, so nothing of it stays in this process;
//   2. measured: open the snapshot store, spawn the counter with a journal
//      it opens itself (open_journal), so the journal's open, which
//      rebuilds its index from the segment files, is part of the cold
//      start, and ask it for its persistence_info, which it answers once it
//      has recovered;
//   3. untimed: check that the state is e and that the replay started at
//      the newest snapshot, stop the counter, wait for the live count to
//      come back to the baseline, close the journal, remove the directory.
//
// Cold here means a runtime and a journal object that have never seen the
// events. The segment files are still in the kernel's page cache (dropping
// it needs root), so this measures the CPU cost of recovery, not disk reads.

#include "harness.hpp"

#if defined(WEFT_BENCH_HAVE_PERSISTENT_ACTOR)
#include <weft/persistence/file_journal.hpp>
#include <weft/persistence/persistent_actor.hpp>

#include <weft/persistence/snapshot_store.hpp>
#include "counter.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>
#endif

namespace weft_bench {

#if defined(WEFT_BENCH_HAVE_PERSISTENT_ACTOR)
namespace {

namespace wp = weft::persistence;

constexpr char persistence_id[] = "recovered-counter";
constexpr char event_manifest[] = "counter.incremented";
constexpr char snapshot_manifest[] = "counter.total";

constexpr std::uint64_t append_batch = 10'000;
constexpr auto recovery_timeout = std::chrono::seconds(120);

std::int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Step 1: e increments of 1, and the counter's total (= the sequence
// number) saved at every multiple of snapshot_every.
void write_history(const std::filesystem::path& journal_dir, const std::filesystem::path& snapshot_dir, std::uint64_t e,
                   std::uint64_t snapshot_every) {
  const std::unique_ptr<wp::journal> journal = wp::open_file_journal(journal_dir);
  const std::unique_ptr<wp::snapshot_store> snapshots =
      snapshot_every != 0 ? wp::open_file_snapshot_store(snapshot_dir) : nullptr;
  std::vector<wp::persistent_event> batch;
  batch.reserve(append_batch);
  for (std::uint64_t seq = 1; seq <= e; ++seq) {
    batch.push_back(wp::make_event(seq, incremented_by{1}, event_manifest));
    const bool snapshot_due = snapshot_every != 0 && seq % snapshot_every == 0;
    // A snapshot must not cover events the journal does not hold yet.
    if (batch.size() == append_batch || snapshot_due || seq == e) {
      journal->append(persistence_id, batch);
      batch.clear();
    }
    if (snapshot_due) {
      snapshots->save(wp::snapshot{persistence_id, seq, snapshot_manifest, 1, wall_clock_ms(),
                                   wp::encode(static_cast<std::int64_t>(seq))});
    }
  }
}

}  // namespace
#endif

void recover(weft::runtime& rt, const arguments& args, json_line& out) {
  args.allow({"e", "snapshot_every"});
#if defined(WEFT_BENCH_HAVE_PERSISTENT_ACTOR)
  const auto e = static_cast<std::uint64_t>(args.get_at_least("e", 1'000'000, 1));
  const auto snapshot_every = static_cast<std::uint64_t>(args.get_at_least("snapshot_every", 0, 0));
  weft::scoped_actor driver(rt);
  const std::size_t baseline = rt.live_actors();

  // Declared in this order so that the journal and snapshot store close
  // after the counter is gone and before their directory is removed.
  const scratch_directory dir("recover");
  const std::filesystem::path journal_dir = dir.path() / "journal";
  const std::filesystem::path snapshot_dir = dir.path() / "snapshots";
  write_history(journal_dir, snapshot_dir, e, snapshot_every);
  std::unique_ptr<wp::snapshot_store> snapshots;
  std::unique_ptr<wp::journal> journal;  // opened by the counter, on a blocking-call thread

  wp::persistent_options<std::int64_t, incremented_by> options;
  options.persistence_id = persistence_id;
  options.open_journal = [&journal, &journal_dir]() -> wp::journal& {
    journal = wp::open_file_journal(journal_dir);
    return *journal;
  };
  options.event_manifest = event_manifest;
  options.snapshot_manifest = snapshot_manifest;

  const auto t0 = clock_type::now();
  if (snapshot_every != 0) {
    snapshots = wp::open_file_snapshot_store(snapshot_dir);
    options.snapshots = snapshots.get();
    options.snapshot_every = snapshot_every;
  }
  const auto recovered = rt.spawn(wp::persistent<counter>(std::move(options)));
  const weft::expected<wp::persistence_info> info =
      driver.ask(recovered, wp::get_persistence_info{}, recovery_timeout);
  const double seconds = seconds_since(t0);

  // The actor answers get_persistence_info only after recovering, so a
  // missing answer means it stopped (its exit reason names why) or hung.
  std::string problem;
  const std::uint64_t from_snapshot = snapshot_every != 0 ? e / snapshot_every * snapshot_every : 0;
  if (!info) {
    problem = fmt::format("the counter did not answer after recovery: {}", info.error());
  } else if (info->sequence_nr != e || info->recovered_from_snapshot != from_snapshot ||
             info->replayed_events != e - from_snapshot) {
    problem = fmt::format(
        "the counter recovered to event {} from the snapshot at {}, replaying {} events; expected event {} from {}, "
        "replaying {}",
        info->sequence_nr, info->recovered_from_snapshot, info->replayed_events, e, from_snapshot, e - from_snapshot);
  } else if (const weft::expected<std::int64_t> total =
                 driver.ask(recovered, wp::get_state{}, recovery_timeout);
             !total) {
    problem = fmt::format("the counter did not tell its state: {}", total.error());
  } else if (*total != static_cast<std::int64_t>(e)) {
    problem = fmt::format("the recovered total is {}, expected {}", *total, e);
  }
  driver.exit(recovered, weft::exit_reason::shutdown());
  await_baseline(rt, baseline, "recover");
  if (!problem.empty()) throw std::runtime_error(problem);

  add_rate(out, static_cast<std::int64_t>(e), seconds, "events/s");
#else
  (void)rt;
  (void)out;
  throw skipped("persistent actor not built yet");
#endif
}

}  // namespace weft_bench
