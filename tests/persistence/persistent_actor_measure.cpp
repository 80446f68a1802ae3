// Not a test: measures the SPEC workloads `persist` and `recover`
// (/work/shared/bench/SPEC.md) through the persistent-actor API, and prints
// the numbers quoted in docs/guide/persistence.md.
//
//   persistence-actor-measure [dir] [actors=100] [commands=1000] [events=1000000]

#include <weft/persistence/file_journal.hpp>
#include <weft/persistence/persistent_actor.hpp>
#include <weft/persistence/snapshot_store.hpp>

#include "counter_support.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

using namespace weft::persistence;
using namespace weft::persistence::test;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

struct driver_done {
  std::vector<double> latencies_us;
};

void measure_persist(const std::filesystem::path& dir, int actors, int commands) {
  auto j = open_file_journal(dir / "persist-journal");
  weft::runtime rt;
  weft::scoped_actor self(rt);
  std::vector<counter_ref> counters;
  for (int a = 0; a < actors; ++a) {
    counters.push_back(rt.spawn(persistent<counter>(counter_options("c" + std::to_string(a), j.get()))));
  }
  for (auto& p : counters)
    (void)self.ask(p, get_state{}, 60s);  // recovered
  const weft::pid collector = self.self();
  const auto started = clock_type::now();
  for (auto& p : counters) {
    rt.spawn([p, collector, commands](weft::context& ctx) {
      driver_done done;
      done.latencies_us.reserve(static_cast<std::size_t>(commands));
      for (int i = 0; i < commands; ++i) {
        const auto t0 = clock_type::now();
        auto r = ctx.ask(p, increment{1}, 60s);
        if (!r) std::abort();
        done.latencies_us.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
      }
      ctx.send(collector, std::move(done));
    });
  }
  std::vector<double> all;
  for (int a = 0; a < actors; ++a) {
    auto d = self.receive<driver_done>();
    all.insert(all.end(), d.latencies_us.begin(), d.latencies_us.end());
  }
  const double seconds = std::chrono::duration<double>(clock_type::now() - started).count();
  std::sort(all.begin(), all.end());
  auto pct = [&](double q) { return all[static_cast<std::size_t>(q * static_cast<double>(all.size() - 1))]; };
  fmt::print("persist a={} c={}: {:.0f} events/s, p50 {:.0f} us, p99 {:.0f} us, p99.9 {:.0f} us\n", actors, commands,
             static_cast<double>(all.size()) / seconds, pct(0.5), pct(0.99), pct(0.999));
  for (auto& p : counters)
    self.exit(p, weft::exit_reason::kill());
}

void measure_recover(const std::filesystem::path& dir, std::uint64_t events, std::uint64_t snapshot_every) {
  const auto path = dir / ("recover-" + std::to_string(snapshot_every));
  auto j = open_file_journal(path / "journal");
  auto snaps = open_file_snapshot_store(path / "snapshots");
  std::vector<persistent_event> batch;
  for (std::uint64_t seq = 1; seq <= events; ++seq) {
    batch.push_back(make_event(seq, incremented{1}, "counter.incremented"));
    if (batch.size() == 10000 || seq == events) {
      j->append("r", batch);
      batch.clear();
    }
    if (snapshot_every != 0 && seq % snapshot_every == 0 && seq == events / snapshot_every * snapshot_every) {
      snaps->save(snapshot{"r", seq, "counter.total", 1, 0, encode(static_cast<std::int64_t>(seq))});
    }
  }
  j.reset();  // cold start: reopen (index rebuild) inside the timed part
  weft::runtime rt;
  weft::scoped_actor self(rt);
  const auto started = clock_type::now();
  std::unique_ptr<journal> reopened;
  auto o = counter_options("r", nullptr, snaps.get(), snapshot_every);
  o.open_journal = [&]() -> journal& {
    reopened = open_file_journal(path / "journal");
    return *reopened;
  };
  auto p = rt.spawn(persistent<counter>(o));
  auto info = self.ask(p, get_persistence_info{}, 120s);
  const double seconds = std::chrono::duration<double>(clock_type::now() - started).count();
  if (!info || info->sequence_nr != events) std::abort();
  fmt::print(
      "recover e={} snapshot_every={}: {:.2f} M events/s ({:.1f} ms incl. journal open; replayed {} events in "
      "{:.1f} ms of actor recovery)\n",
      events, snapshot_every, static_cast<double>(events) / seconds / 1e6, seconds * 1e3, info->replayed_events,
      std::chrono::duration<double, std::milli>(info->recovery_time).count());
  self.exit(p, weft::exit_reason::kill());
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path dir = argc > 1 ? argv[1] : std::filesystem::temp_directory_path();
  dir /= "weft-actor-measure-" + std::to_string(::getpid());
  const int actors = argc > 2 ? std::atoi(argv[2]) : 100;
  const int commands = argc > 3 ? std::atoi(argv[3]) : 1000;
  const std::uint64_t events = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 1'000'000;
  std::filesystem::create_directories(dir);
  measure_persist(dir, actors, commands);
  measure_recover(dir, events, 0);
  measure_recover(dir, events, 10000);
  std::filesystem::remove_all(dir);
}
