// The memory workloads of bench/SPEC.md on CAF 0.17: idle and parked.
//
// Both spawn n actors, time the spawn calls, wait until every actor has
// reached its waiting state (counted with an atomic the actors bump just
// before they start waiting), then report
// bytes_per_actor = (VmRSS after - VmRSS before) / n, stop them all and
// check the running count is back to the baseline. The driver's vector of
// handles (8 bytes per actor) is part of the difference, as the handles are
// in the other implementations.
#include "bench_common.hpp"

#include <sys/resource.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <thread>
#include <vector>

using namespace caf;

namespace caf_bench {

namespace {

// Bumped by each actor just before it starts waiting; read by the driver.
std::atomic<int64_t> waiting_actors{0};

// An idle actor is an event-based actor between messages: its behavior is
// installed and it waits for the first message.
behavior idle_actor(event_based_actor* self) {
  waiting_actors.fetch_add(1, std::memory_order_relaxed);
  return {
    [=](stop_atom) { self->quit(); },
  };
}

// CAF 0.17 event-based actors cannot block inside a handler; the only actor
// that can is a blocking_actor, which CAF runs on its own OS thread.
void parked_actor(blocking_actor* self) {
  waiting_actors.fetch_add(1, std::memory_order_relaxed);
  self->receive([](stop_atom) {},
                after(std::chrono::seconds(3600)) >> [] {
                  std::fprintf(stderr, "caf-bench parked: an actor waited an "
                                       "hour without being stopped\n");
                });
}

int64_t read_proc_number(const char* path) {
  std::ifstream in{path};
  int64_t value = 0;
  in >> value;
  return value;
}

// One OS thread per parked actor: refuse (as `skipped`) a run the kernel's
// thread limits cannot hold, instead of failing half-way through.
void require_threads_for(int64_t n) {
  struct limit {
    const char* name;
    int64_t threads;
  };
  rlimit nproc{};
  getrlimit(RLIMIT_NPROC, &nproc);
  const limit limits[] = {
    {"kernel.pid_max", read_proc_number("/proc/sys/kernel/pid_max")},
    {"kernel.threads-max", read_proc_number("/proc/sys/kernel/threads-max")},
    // Each thread stack is a mapping plus a guard-page mapping.
    {"vm.max_map_count / 2",
     read_proc_number("/proc/sys/vm/max_map_count") / 2},
    {"ulimit -u", nproc.rlim_cur == RLIM_INFINITY
                    ? INT64_MAX
                    : static_cast<int64_t>(nproc.rlim_cur)},
  };
  constexpr int64_t headroom = 256; // the rest of the system's threads
  for (const auto& lim : limits)
    if (n + headroom > lim.threads)
      throw skipped("CAF 0.17 actors can only block inside a handler as "
                    "blocking_actors, one OS thread each; "
                    + std::to_string(n) + " threads exceed " + lim.name
                    + " (" + std::to_string(lim.threads)
                    + ") on this machine");
}

template <class Fun>
void resident(actor_system& system, int64_t n, Fun actor_fun, json_line& out,
              const char* workload) {
  scoped_actor driver{system};
  auto baseline = system.registry().running();
  waiting_actors.store(0);
  auto rss_before = status_kb("VmRSS");
  std::vector<actor> actors;
  actors.reserve(static_cast<size_t>(n));
  auto start = clock_type::now();
  for (int64_t i = 0; i < n; ++i)
    actors.push_back(system.spawn(actor_fun));
  auto seconds = seconds_since(start);
  while (waiting_actors.load(std::memory_order_relaxed) < n)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto rss_after = status_kb("VmRSS");
  for (auto& a : actors)
    anon_send(a, stop_atom::value);
  actors.clear();
  await_baseline(system, baseline, workload);
  add_rate(out, n, seconds, "actors/s");
  out.add("bytes_per_actor",
          static_cast<int64_t>(std::llround(
            static_cast<double>(rss_after - rss_before) * 1024.0
            / static_cast<double>(n))));
}

} // namespace

void idle(actor_system& system, const arguments& args, json_line& out) {
  resident(system, args.get("n", 1000000), idle_actor, out, "idle");
}

void parked(actor_system& system, const arguments& args, json_line& out) {
  auto n = args.get("n", 100000);
  require_threads_for(n);
  resident(system, n, parked_actor, out, "parked");
}

} // namespace caf_bench
