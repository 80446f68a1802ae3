// 16. saga n=100000 inflight=1000: n three-step sagas (weft/persistence/
// saga.hpp) on the default embedded journal, at most `inflight` running at
// once (saga_options::max_running), each step an ask to one of three
// participant actors: persistent ledgers keyed by idempotency key, so every
// step's effect is itself a durable event. A saga journals each intent
// before its call and each outcome, so no step starts before the previous
// one's outcome is on disk.
// Reported: sagas/s (n completed sagas over the measured section), p50/p99
// of one saga from its first journal write to its last (not counting the
// wait for a running slot), and fsync_floor_us: the median of 200
// write+fdatasync calls of 4 KiB on a file beside the journal, measured in
// the same run, the latency no durable step can beat.
//
// Steps:
//   1. untimed: open the journal, spawn the participants and ask each for
//      its state (recovered, holding its id), spawn the host;
//   2. measured: from the first start to await_sagas' answer; the starts
//      are plain sends, so the host registers them in big group commits;
//   3. untimed: check that all n completed and each participant applied n
//      keys, stop everything, close the journal, remove the directory.

#include "harness.hpp"

#if defined(WEFT_BENCH_HAVE_PERSISTENT_ACTOR) && __has_include(<weft/persistence/saga.hpp>)
#define WEFT_BENCH_HAVE_SAGA 1
#include <weft/persistence/file_journal.hpp>
#include <weft/persistence/persistent_actor.hpp>
#include <weft/persistence/saga.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>
#endif

namespace weft_bench {

#if defined(WEFT_BENCH_HAVE_SAGA)
namespace {

namespace wp = weft::persistence;

struct trip {
  std::int64_t number = 0;
  WEFT_FIELDS(number)
};

struct apply_key {
  std::string key;
};
struct applied_key {
  std::string key;
  WEFT_FIELDS(key)
};
using ledger_protocol = weft::protocol<void(apply_key)>;
using ledger = std::map<std::string, bool>;

// A participant: applies each key once.
struct participant : wp::event_sourced<ledger_protocol, ledger, applied_key> {
  effect<void> on_command(const ledger& s, const apply_key& c) const {
    if (s.contains(c.key)) return none();
    return persist(applied_key{c.key});
  }
  void on_event(ledger& s, const applied_key& e) const { s[e.key] = true; }
};
using participant_ref = weft::ref<wp::persistent_protocol<ledger_protocol, ledger>>;

constexpr auto call_timeout = std::chrono::seconds(30);

// The median latency of write + fdatasync of 4 KiB, in microseconds.
double fsync_floor_us(const std::filesystem::path& dir) {
  const std::string path = (dir / "fsync-floor").string();
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
  if (fd < 0) fail("saga", "cannot create {}", path);
  std::vector<char> block(4096, 'x');
  std::vector<std::int64_t> ns;
  for (int i = 0; i < 200; ++i) {
    const auto t0 = clock_type::now();
    if (::pwrite(fd, block.data(), block.size(), static_cast<off_t>(i) * 4096) != 4096 || ::fdatasync(fd) != 0) {
      ::close(fd);
      fail("saga", "writing {} failed", path);
    }
    ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - t0).count());
  }
  ::close(fd);
  ::unlink(path.c_str());
  std::sort(ns.begin(), ns.end());
  return percentile_us(ns, 0.5);
}

}  // namespace
#endif

void saga(weft::runtime& rt, const arguments& args, json_line& out) {
  args.allow({"n", "inflight"});
#if defined(WEFT_BENCH_HAVE_SAGA)
  const std::int64_t n = args.get_at_least("n", 100000, 1);
  const std::int64_t inflight = args.get_at_least("inflight", 1000, 1);
  weft::scoped_actor driver(rt);
  const std::size_t baseline = rt.live_actors();

  const scratch_directory dir("saga");
  const std::unique_ptr<wp::journal> journal = wp::open_file_journal(dir.path() / "journal");
  const double floor_us = fsync_floor_us(dir.path());

  std::vector<participant_ref> participants;
  for (const char* id : {"inventory", "payment", "delivery"}) {
    participants.push_back(
        rt.spawn(wp::persistent<participant>({.persistence_id = id, .journal = journal.get(), .event_manifest = "key"})));
    if (!driver.ask(participants.back(), wp::get_state{}, call_timeout)) fail("saga", "participant {} did not start", id);
  }

  wp::saga_definition<trip> def("trip");
  const char* names[] = {"reserve", "charge", "deliver"};
  for (std::size_t i = 0; i < 3; ++i) {
    def.step({.name = names[i],
              .action = [to = participants[i]](weft::context& self, const trip&, const wp::step_call& c) {
                return self.ask(to, apply_key{std::string(c.idempotency_key)}, c.timeout);
              },
              .timeout = call_timeout,
              .pivot = i == 1});
  }
  // Each saga's first and last journal write, by saga number (written by
  // the saga's own actor, read after await_sagas, whose answer follows the
  // saga's last report to the host).
  std::vector<std::int64_t> first(static_cast<std::size_t>(n), 0);
  std::vector<std::int64_t> last(static_cast<std::size_t>(n), 0);
  const auto epoch = clock_type::now();
  wp::saga_options options{.journal = journal.get(), .max_running = static_cast<std::size_t>(inflight)};
  options.on_write = [&first, &last, epoch](const wp::saga_written& s) {
    std::size_t i = 0;
    for (char ch : s.id.substr(s.id.find('-') + 1)) i = i * 10 + static_cast<std::size_t>(ch - '0');
    const std::int64_t t = std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - epoch).count();
    if (first[i] == 0) first[i] = t;
    last[i] = t;
  };
  auto host = rt.spawn(wp::saga_host(def, std::move(options)), {.mailbox_capacity = 1 << 20});
  if (!driver.ask(host, wp::count_sagas{}, call_timeout)) fail("saga", "the saga host did not start");
  rt.wait_quiescent(std::chrono::seconds(10));

  const auto t0 = clock_type::now();
  for (std::int64_t i = 0; i < n; ++i) driver.send(host, def.start(fmt::format("t-{}", i), trip{i}));
  const auto counts = driver.ask(host, wp::await_sagas{}, std::chrono::seconds(3600));
  const double seconds = seconds_since(t0);

  std::string problem;
  if (!counts) {
    problem = fmt::format("await_sagas failed: {}", counts.error());
  } else if (counts->completed != static_cast<std::uint64_t>(n)) {
    problem = fmt::format("{} of {} sagas completed ({} compensated, {} stuck)", counts->completed, n,
                          counts->compensated, counts->stuck);
  } else {
    for (const participant_ref& p : participants) {
      auto state = driver.ask(p, wp::get_state{}, call_timeout);
      if (!state || state->size() != static_cast<std::size_t>(n)) {
        problem = "a participant did not apply every key exactly once";
        break;
      }
    }
  }
  driver.exit(host, weft::exit_reason::shutdown());
  for (const participant_ref& p : participants) driver.exit(p, weft::exit_reason::shutdown());
  participants.clear();
  await_baseline(rt, baseline, "saga");
  if (!problem.empty()) throw std::runtime_error(problem);

  std::vector<std::int64_t> latencies;
  latencies.reserve(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < first.size(); ++i) latencies.push_back(last[i] - first[i]);
  std::sort(latencies.begin(), latencies.end());
  add_rate(out, n, seconds, "sagas/s");
  out.add("p50_us", percentile_us(latencies, 0.50), 3).add("p99_us", percentile_us(latencies, 0.99), 3);
  out.add("fsync_floor_us", floor_us, 1);
#else
  (void)rt;
  (void)out;
  throw skipped("sagas not built");
#endif
}

}  // namespace weft_bench
