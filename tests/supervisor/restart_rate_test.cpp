// bench/SPEC.md workload 7 (`restart`), measured: a one_for_one supervisor
// with one permanent child registered under a name; a driver makes the
// child throw, waits until the name resolves to the restarted child and
// pings it until it answers; k cycles on 2 workers. Prints the rate (the
// official figure comes from weft-bench); asserts only what must hold.

#include "sup_test.hpp"

#include <atomic>
#include <cstdlib>

using namespace sup_test;

TEST_CASE("the restart workload restarts a named child k times and the name always leads to a live child") {
  const int k = 20000 * weft_test::stress_factor();
  const unsigned workers =
      std::getenv("SUP_RATE_WORKERS") ? static_cast<unsigned>(std::atoi(std::getenv("SUP_RATE_WORKERS"))) : 2;
  weft::runtime rt(weft_test::small_runtime(workers));
  auto s = sup::start(rt, {.id = "bench",
                           .max_restarts = static_cast<std::uint32_t>(k),
                           .max_window = 1s,
                           .children = {worker("child", {.name = "child"})}});
  REQUIRE(s);
  std::atomic<int> done{-1};
  std::atomic<std::int64_t> ns{0};
  rt.spawn([&](weft::context& self) {
    auto& system = self.system();
    int failed_pings = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < k; ++i) {
      weft::pid old = system.whereis("child");
      self.send(old, crash{});
      weft::pid now;
      while (!(now = system.whereis("child")) || now == old)
        self.yield();
      while (!self.ask<std::uint64_t>(now, ping{}, 1s))
        ++failed_pings;
    }
    ns = (std::chrono::steady_clock::now() - t0).count();
    done = failed_pings;
  });
  REQUIRE(weft_test::eventually([&] { return done.load() >= 0; }, std::chrono::minutes(4)));
  const double seconds = static_cast<double>(ns.load()) / 1e9;
  MESSAGE("restart workload: k=" << k << " workers=" << workers << ": " << static_cast<long>(k / seconds)
                                 << " restarts/s (" << seconds << " s)");
  CHECK(done.load() == 0);
  weft::scoped_actor self(rt);
  auto cs = children(self, *s);
  REQUIRE(cs.size() == 1);
  CHECK(cs[0].restarts == static_cast<std::uint32_t>(k));
  // The driver is still finishing, and the last crashed child may still be
  // between sending its down signal and leaving the live set, when `done`
  // is seen; once nothing runs, only the supervisor and its child remain.
  REQUIRE(rt.wait_quiescent(10s));
  CHECK(rt.live_actors() == 2);
}
