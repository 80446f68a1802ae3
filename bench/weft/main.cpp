// weft-bench: the workloads of bench/SPEC.md on weft.
//
//   weft-bench <workload> [key=value ...] [workers=N]
//
// workers=N is the runtime's scheduler thread count (default: hardware
// threads). Prints exactly one JSON line on stdout; everything else goes
// to stderr. Exit status 1 (and no JSON line) if the run failed or leaked
// actors.

#include "harness.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace {

struct workload_entry {
  std::string_view name;
  weft_bench::workload_fn run;
};

constexpr std::array workloads{
    workload_entry{"pingpong", weft_bench::pingpong}, workload_entry{"fanin", weft_bench::fanin},
    workload_entry{"spawn", weft_bench::spawn},       workload_entry{"ring", weft_bench::ring},
    workload_entry{"idle", weft_bench::idle},         workload_entry{"parked", weft_bench::parked},
    workload_entry{"restart", weft_bench::restart},   workload_entry{"ask", weft_bench::ask},
    workload_entry{"persist", weft_bench::persist},   workload_entry{"recover", weft_bench::recover},
    workload_entry{"broadcast", weft_bench::broadcast}, workload_entry{"server", weft_bench::server},
    workload_entry{"statem", weft_bench::statem},       workload_entry{"pubsub", weft_bench::pubsub},
    workload_entry{"router", weft_bench::router},       workload_entry{"ask_backlog", weft_bench::ask_backlog},
    workload_entry{"saga", weft_bench::saga},
};

[[noreturn]] void usage(const char* problem) {
  std::fprintf(stderr, "weft-bench: %s\nusage: weft-bench <workload> [key=value ...] [workers=N]\nworkloads:", problem);
  for (const auto& w : workloads) std::fprintf(stderr, " %.*s", static_cast<int>(w.name.size()), w.name.data());
  std::fprintf(stderr, "\n(parameters and semantics: bench/SPEC.md)\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage("no workload given");
  const std::string_view name(argv[1]);
  const workload_entry* entry = nullptr;
  for (const auto& w : workloads) {
    if (w.name == name) entry = &w;
  }
  if (entry == nullptr) usage("unknown workload");

  const weft_bench::arguments args(name, argc, argv, 2);
  const std::int64_t hardware = std::max(1u, std::thread::hardware_concurrency());
  const auto workers = static_cast<unsigned>(args.get_at_least("workers", hardware, 1));

  weft_bench::json_line out;
  out.add("bench", name).add("impl", WEFT_BENCH_IMPL).add("workers", static_cast<std::int64_t>(workers));
  weft::runtime rt({.workers = workers});
  try {
    entry->run(rt, args, out);
  } catch (const weft_bench::skipped& why) {
    out.add("skipped", why.what());
  } catch (const std::exception& e) {
    weft_bench::fail(name, "{}", e.what());
  }
  std::printf("%s\n", out.str().c_str());
  std::fflush(stdout);
  // Where a w=2 figure falls below w=1, these show whether the work moved
  // between workers (steals) and how often a worker slept (parks).
  if (std::getenv("WEFT_BENCH_STATS") != nullptr) {
    for (const weft::worker_stats& w : rt.stats().workers) {
      std::fprintf(stderr, "worker: activations %llu steals %llu switches %llu parks %llu\n",
                   static_cast<unsigned long long>(w.activations), static_cast<unsigned long long>(w.steals),
                   static_cast<unsigned long long>(w.fiber_switches), static_cast<unsigned long long>(w.parks));
    }
  }
  rt.shutdown();
  return 0;
}
