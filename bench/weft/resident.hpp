#pragma once
// What idle and parked share: spawn n resident actors, wait until each has
// reached its waiting state, and report
//
//   bytes_per_actor = (VmRSS after - VmRSS before) / n
//
// then stop them all (one `stop` message each) and wait until all have
// exited. Steps:
//   1. baseline live-actor count, VmRSS before;
//   2. time the spawn loop alone (as the CAF and Erlang peers do);
//   3. wait, untimed, until every actor has bumped `waiting` just before it
//      starts to wait (so the memory of a started actor is what is counted,
//      not that of a queued spawn);
//   4. VmRSS after; the driver's vector of refs (8 bytes per actor, a
//      ref is a pid) is part of the difference, as the peers' handles are;
//   5. send each a `stop`, check the live count is back to the baseline.
//
// The driver (a scoped_actor, to send the stops) exists before step 1, so
// its memory is not counted.

#include "harness.hpp"

#include <atomic>
#include <thread>
#include <type_traits>
#include <vector>

namespace weft_bench {

struct stop {};

// spawn_one() spawns one actor and returns its weft::ref<P>; P must take
// `stop` (checked where the driver sends it).
template <class SpawnOne>
void run_resident(weft::runtime& rt, std::string_view workload, std::int64_t n, std::atomic<std::int64_t>& waiting,
                  SpawnOne spawn_one, json_line& out) {
  using handle = std::invoke_result_t<SpawnOne&>;
  static_assert(weft::is_ref_v<handle>, "run_resident: spawn_one must return the typed actor's weft::ref");
  weft::scoped_actor driver(rt);
  const std::size_t baseline = rt.live_actors();
  waiting.store(0, std::memory_order_relaxed);
  const std::int64_t rss_before_kb = status_kb("VmRSS");

  std::vector<handle> actors;
  actors.reserve(static_cast<std::size_t>(n));
  const auto t0 = clock_type::now();
  for (std::int64_t i = 0; i < n; ++i)
    actors.push_back(spawn_one());
  const double seconds = seconds_since(t0);
  for (const handle& p : actors) {
    if (!p) fail(workload, "a spawn returned an empty pid (the runtime is stopping?)");
  }

  const auto patience = clock_type::now() + std::chrono::seconds(60);
  // Relaxed: a counter read for progress only; the actors' memory is
  // measured through the kernel, not through this load.
  while (waiting.load(std::memory_order_relaxed) < n) {
    if (clock_type::now() > patience) {
      fail(workload, "only {} of {} actors reached their waiting state within 60 s", waiting.load(), n);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const std::int64_t rss_after_kb = status_kb("VmRSS");

  for (const handle& p : actors) {
    const weft::send_status status = driver.send(p, stop{});
    if (status != weft::send_status::ok) fail(workload, "stopping an actor: send returned {}", weft::to_string(status));
  }
  actors.clear();
  actors.shrink_to_fit();
  await_baseline(rt, baseline, workload, std::chrono::seconds(60));

  add_rate(out, n, seconds, "actors/s");
  out.add("bytes_per_actor", bytes_per_actor(rss_before_kb, rss_after_kb, n));
}

}  // namespace weft_bench
