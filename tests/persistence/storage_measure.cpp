// Measures the journals for docs/persistence.md (not part of ctest):
//   persistence-storage-measure [dir] [seconds]
// 1. 100 writers, one outstanding append of one 64-byte event each, as
//    blocking threads and as completion-driven chains (the shape a
//    persistent actor has): durable events/s and append-to-ack p50/p99.
// 2. Replay: 1,000,000 events of one id, cold open (index rebuild) and
//    read of all events: events/s.
// Both for the file journal and the SQLite journal.

#include <weft/persistence/file_journal.hpp>
#include <weft/persistence/sqlite_journal.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

using namespace weft::persistence;
using clock_type = std::chrono::steady_clock;

namespace {

using opener = std::function<std::unique_ptr<journal>(const std::filesystem::path&)>;

persistent_event event_of(std::uint64_t seq) {
  return {seq, "counter-incremented", 1, bytes(64, std::byte{0x2a})};
}

struct latency_result {
  double events_per_second;
  double p50_us;
  double p90_us;
  double p99_us;
  double p999_us;
};

latency_result summarize(std::vector<double>& latencies, double seconds) {
  std::sort(latencies.begin(), latencies.end());
  auto at = [&](double q) {
    return latencies[static_cast<std::size_t>(q * (latencies.size() - 1))];
  };
  return {static_cast<double>(latencies.size()) / seconds, at(0.5), at(0.9), at(0.99), at(0.999)};
}

latency_result threaded_writers(journal& j, int writers, double seconds) {
  std::vector<std::vector<double>> per_writer(static_cast<std::size_t>(writers));
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  auto start = clock_type::now();
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      std::string id = "threaded-" + std::to_string(w);
      auto& out = per_writer[static_cast<std::size_t>(w)];
      out.reserve(1u << 16);  // no reallocation pauses inside the measurement
      for (std::uint64_t seq = 1; !stop.load(std::memory_order_relaxed); ++seq) {
        auto t0 = clock_type::now();
        j.append(id, event_of(seq));
        out.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
  std::vector<double> all;
  for (auto& v : per_writer) all.insert(all.end(), v.begin(), v.end());
  return summarize(all, elapsed);
}

latency_result chained_writers(journal& j, int writers, double seconds) {
  std::mutex mutex;
  std::vector<double> latencies;
  latencies.reserve(static_cast<std::size_t>(seconds * 2e6));
  std::atomic<bool> stop{false};
  std::atomic<int> running{writers};
  std::function<void(int, std::uint64_t)> submit = [&](int w, std::uint64_t seq) {
    auto e = event_of(seq);
    auto t0 = clock_type::now();
    j.async_append("chained-" + std::to_string(w), std::span(&e, 1),
                   [&, w, seq, t0](const storage_status& status) {
                     double us =
                         std::chrono::duration<double, std::micro>(clock_type::now() - t0).count();
                     {
                       std::lock_guard lock(mutex);
                       latencies.push_back(us);
                     }
                     if (!status || stop.load()) {
                       running.fetch_sub(1);
                       running.notify_one();
                     } else {
                       submit(w, seq + 1);
                     }
                   });
  };
  auto start = clock_type::now();
  for (int w = 0; w < writers; ++w) submit(w, 1);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (int left = running.load(); left > 0; left = running.load()) running.wait(left);
  double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
  return summarize(latencies, elapsed);
}

void replay(const opener& open, const std::filesystem::path& where, std::uint64_t count) {
  {
    auto j = open(where);
    std::vector<persistent_event> batch;
    for (std::uint64_t seq = 1; seq <= count; seq += batch.size()) {
      batch.clear();
      for (std::uint64_t k = 0; k < 1000 && seq + k <= count; ++k)
        batch.push_back(event_of(seq + k));
      j->append("replayed", batch);
    }
  }
  auto t0 = clock_type::now();
  auto j = open(where);
  auto t1 = clock_type::now();
  std::uint64_t seen = 0;
  std::uint64_t checksum = 0;
  j->read("replayed", 1, max_sequence_nr, max_sequence_nr, [&](const event_view& e) {
    ++seen;
    checksum += e.payload.size();
  });
  auto t2 = clock_type::now();
  double open_s = std::chrono::duration<double>(t1 - t0).count();
  double read_s = std::chrono::duration<double>(t2 - t1).count();
  fmt::print(
      "  replay {} events: open {:.3f} s, read {:.3f} s -> read {:.0f} events/s, "
      "open+read {:.0f} events/s (checksum {})\n",
      seen, open_s, read_s, seen / read_s, seen / (open_s + read_s), checksum);
}

void measure(const char* name, const opener& open, const std::filesystem::path& dir,
             double seconds) {
  fmt::print("{}:\n", name);
  for (bool chained : {false, true}) {
    std::filesystem::remove_all(dir);
    auto j = open(dir / "writers");
    auto r = chained ? chained_writers(*j, 100, seconds) : threaded_writers(*j, 100, seconds);
    fmt::print(
        "  100 {} writers: {:.0f} events/s, p50 {:.0f} us, p90 {:.0f} us, p99 {:.0f} us, "
        "p99.9 {:.0f} us\n",
        chained ? "completion-chained" : "thread", r.events_per_second, r.p50_us, r.p90_us,
        r.p99_us, r.p999_us);
  }
  std::filesystem::remove_all(dir);
  replay(open, dir / "replay", 1'000'000);
  std::filesystem::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path dir = argc > 1 ? argv[1] : "weft-storage-measure";
  double seconds = argc > 2 ? std::stod(argv[2]) : 3.0;
  bool no_sync = argc > 3 && std::string(argv[3]) == "--no-sync";  // CPU cost alone
  measure(
      "file journal",
      [no_sync](const auto& p) {
        journal_options options;
        options.unsafe_no_sync = no_sync;
        return open_file_journal(p, options);
      },
      dir / "file", seconds);
  if (no_sync) return 0;
  measure(
      "sqlite journal",
      [](const auto& p) {
        std::filesystem::create_directories(p);
        return open_sqlite_journal(p / "journal.db");
      },
      dir / "sqlite", seconds);
  std::filesystem::remove_all(dir);
}
