// 9. persist a=100 c=1000: a persistent counter actors on the default
// embedded journal (segment files, fdatasync per group commit) in a fresh
// directory under the working directory. Each counter has a driver actor
// that asks it for c `increment` commands one after another, so at most one
// command per counter is outstanding while up to a of them wait for the
// disk together (the journal's group commit may cover them with one sync).
// A counter acknowledges a command only once its event is durable.
// Reported: events/s (a*c acknowledged events over the measured section)
// and p50/p99 of command-to-acknowledgement latency, taken around each
// driver's ask.
//
// Steps:
//   1. untimed: open the journal, spawn the counters and ask each for its
//      state, so every one has recovered (from nothing) and holds its
//      persistence id; spawn the drivers, which wait for `go`;
//   2. measured: from the drivers' `go` to the last driver's `finished`.
//      Each driver records its latencies into its own pre-sized vector
//      (read by the main thread only after that driver's `finished`, which
//      orders the writes before the reads) and checks that every reply is
//      the running total, so a lost or doubled event is caught;
//   3. untimed: check that the journal holds exactly c events per counter,
//      stop the counters, wait for the live count to come back to the
//      baseline, then close the journal (its writer thread may still be
//      finishing the last completion) and remove the directory.
//
// A driver that sees a failed or wrong reply stops, and the workload fails
// after cleaning up instead of reporting a rate.

#include "harness.hpp"

#if defined(WEFT_BENCH_HAVE_PERSISTENT_ACTOR)
#include <weft/persistence/file_journal.hpp>
#include <weft/persistence/persistent_actor.hpp>

#include "counter.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>
#endif

namespace weft_bench {

#if defined(WEFT_BENCH_HAVE_PERSISTENT_ACTOR)
namespace {

namespace wp = weft::persistence;

struct go {};

// One command's wait for the disk takes well under a second even on a
// loaded machine; a reply this late means the actor or journal is stuck.
constexpr auto command_timeout = std::chrono::seconds(30);

// What one driver leaves for the main thread.
struct driver_log {
  std::vector<std::int64_t> latencies_ns;
  std::string error;  // empty unless a command failed
};

std::string persistence_id(std::size_t counter_index) {
  return fmt::format("counter-{}", counter_index);
}

}  // namespace
#endif

void persist(weft::runtime& rt, const arguments& args, json_line& out) {
  args.allow({"a", "c"});
#if defined(WEFT_BENCH_HAVE_PERSISTENT_ACTOR)
  const std::int64_t a = args.get_at_least("a", 100, 1);
  const std::int64_t c = args.get_at_least("c", 1000, 1);
  weft::scoped_actor driver(rt);
  const std::size_t baseline = rt.live_actors();

  // Declared in this order so that the journal closes after every actor
  // using it is gone and before its directory is removed.
  const scratch_directory dir("persist");
  const std::unique_ptr<wp::journal> journal = wp::open_file_journal(dir.path() / "journal");

  using counter_ref = weft::ref<wp::persistent_protocol<counter_protocol, std::int64_t>>;
  std::vector<counter_ref> counters;
  for (std::size_t i = 0; i < static_cast<std::size_t>(a); ++i) {
    wp::persistent_options<std::int64_t, incremented_by> options;
    options.persistence_id = persistence_id(i);
    options.journal = journal.get();
    options.event_manifest = "counter.incremented";
    counters.push_back(rt.spawn(wp::persistent<counter>(std::move(options))));
  }
  for (const counter_ref& p : counters) {
    const weft::expected<std::int64_t> total = driver.ask(p, wp::get_state{}, command_timeout);
    // fail() rather than throw: unwinding would close the journal under
    // counters that may still be running.
    if (!total) fail("persist", "a counter did not start on an empty journal: {}", total.error());
    if (*total != 0) fail("persist", "a counter started on an empty journal with total {}", *total);
  }

  std::vector<driver_log> logs(static_cast<std::size_t>(a));
  std::vector<weft::pid> drivers;
  for (std::size_t i = 0; i < logs.size(); ++i) {
    driver_log& log = logs[i];
    log.latencies_ns.reserve(static_cast<std::size_t>(c));
    drivers.push_back(rt.spawn([target = counters[i], c, &log, main = driver.self()](weft::context& self) {
      self.receive<go>();
      for (std::int64_t expected = 1; expected <= c; ++expected) {
        const auto t0 = clock_type::now();
        const weft::expected<std::int64_t> reply = self.ask(target, increment{1}, command_timeout);
        const auto t1 = clock_type::now();
        if (!reply) {
          log.error = fmt::format("command {} got no reply: {}", expected, reply.error());
        } else if (*reply != expected) {
          log.error = fmt::format("command {} was acknowledged with total {}", expected, *reply);
        }
        if (!log.error.empty()) break;
        log.latencies_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
      }
      self.send(main, finished{});
    }));
  }
  rt.wait_quiescent(std::chrono::seconds(10));

  const auto t0 = clock_type::now();
  for (const weft::pid& d : drivers)
    driver.send(d, go{});
  for (std::int64_t i = 0; i < a; ++i)
    driver.receive<finished>();
  const double seconds = seconds_since(t0);

  std::string problem;
  for (std::size_t i = 0; i < logs.size() && problem.empty(); ++i) {
    if (!logs[i].error.empty()) {
      problem = fmt::format("{}: {}", persistence_id(i), logs[i].error);
    } else if (const std::uint64_t stored = journal->highest_sequence_nr(persistence_id(i));
               stored != static_cast<std::uint64_t>(c)) {
      problem =
          fmt::format("{}: {} commands acknowledged, but the journal holds {} events", persistence_id(i), c, stored);
    }
  }
  for (const counter_ref& p : counters)
    driver.exit(p, weft::exit_reason::shutdown());
  counters.clear();
  drivers.clear();
  await_baseline(rt, baseline, "persist");
  if (!problem.empty()) throw std::runtime_error(problem);

  std::vector<std::int64_t> all;
  all.reserve(static_cast<std::size_t>(a * c));
  for (const driver_log& log : logs)
    all.insert(all.end(), log.latencies_ns.begin(), log.latencies_ns.end());
  std::sort(all.begin(), all.end());
  add_rate(out, a * c, seconds, "events/s");
  out.add("p50_us", percentile_us(all, 0.50), 3).add("p99_us", percentile_us(all, 0.99), 3);
#else
  (void)rt;
  (void)out;
  throw skipped("persistent actor not built yet");
#endif
}

}  // namespace weft_bench
