// router routees=8 n=1000000 [rounds=3] (weft's own workload, with CAF's
// actor_pool as the peer): what a round-robin router in front of the
// routees costs against sending to them directly.
//
// One sender actor, `routees` counting actors. Each phase the sender sends
// n 8-byte messages, either through a weft::actors::router with the
// round_robin strategy (routed), or round robin over the routees itself
// (direct); every routee gets n / routees of them and tells the driver
// when it has its share. The run alternates `rounds` direct and routed
// phases over the same routees (so a drifting machine hits both alike)
// and reports rate = n / the median routed phase, direct_rate likewise,
// and overhead_pct = direct_rate / rate - 1, in percent (target < 10).
// Mailboxes are the runtime's default (bounded, blocking), the router's
// too: what a user gets without tuning.

#include "harness.hpp"

#if defined(WEFT_BENCH_HAVE_ACTORS_ROUTER)
#include <weft/actors/router.hpp>

#include <optional>
#include <vector>
#endif

namespace weft_bench {

#if defined(WEFT_BENCH_HAVE_ACTORS_ROUTER)
namespace {

struct go {
  bool routed;
};

using work = weft::protocol<void(std::int64_t)>;

class routee final {
 public:
  routee(std::int64_t share, weft::pid driver) : share_(share), driver_(std::move(driver)) {}

  weft::behavior_of<work> make_behavior(weft::context& self) {
    return {
        [this, &self](std::int64_t) {
          if (++received_ == share_) {
            received_ = 0;
            self.send(driver_, finished{});
          }
        },
    };
  }

 private:
  std::int64_t share_;
  weft::pid driver_;  // a scoped_actor: untyped
  std::int64_t received_ = 0;
};

void check(weft::send_status status) {
  if (status != weft::send_status::ok) fail("router", "send returned {}", weft::to_string(status));
}

}  // namespace
#endif

void router(weft::runtime& rt, const arguments& args, json_line& out) {
  args.allow({"routees", "n", "rounds"});
#if defined(WEFT_BENCH_HAVE_ACTORS_ROUTER)
  const std::int64_t count = args.get_at_least("routees", 8, 1);
  const std::int64_t rounds = args.get_at_least("rounds", 3, 1);
  std::int64_t n = args.get_at_least("n", 1'000'000, count);
  n -= n % count;  // every routee gets the same share, whichever it starts with
  weft::scoped_actor driver(rt);
  const std::size_t baseline = rt.live_actors();

  std::vector<weft::ref<work>> routees;
  for (std::int64_t i = 0; i < count; ++i) routees.push_back(rt.spawn_actor<routee>(n / count, driver.self()));
  const weft::ref<weft::actors::routed<work>> routed = rt.spawn(weft::actors::router(routees));
  const weft::pid sender = rt.spawn([n, routees, via = weft::ref<work>(routed)](weft::context& self) {
    const std::size_t size = routees.size();
    for (;;) {
      const std::optional<go> phase = self.receive_for<go>(std::chrono::hours(1));
      if (!phase) return;
      if (phase->routed) {
        for (std::int64_t i = 0; i < n; ++i) check(self.send(via, i));
      } else {
        for (std::int64_t i = 0; i < n; ++i) check(self.send(routees[static_cast<std::size_t>(i) % size], i));
      }
    }
  });
  rt.wait_quiescent(std::chrono::seconds(10));

  std::vector<double> direct_seconds, routed_seconds;
  for (std::int64_t round = 0; round < rounds; ++round) {
    for (const bool via_router : {false, true}) {
      const auto t0 = clock_type::now();
      driver.send(sender, go{via_router});
      for (std::int64_t i = 0; i < count; ++i) driver.receive<finished>();
      (via_router ? routed_seconds : direct_seconds).push_back(seconds_since(t0));
    }
  }

  driver.exit(sender, weft::exit_reason::shutdown());
  driver.exit(routed, weft::exit_reason::shutdown());
  for (const auto& r : routees) driver.exit(r, weft::exit_reason::shutdown());
  routees.clear();
  await_baseline(rt, baseline, "router");

  const double routed_median = median(routed_seconds);
  const double direct_rate = static_cast<double>(n) / median(direct_seconds);
  const double routed_rate = static_cast<double>(n) / routed_median;
  add_rate(out, n, routed_median, "msgs/s");
  out.add("direct_rate", direct_rate, 1).add("overhead_pct", (direct_rate / routed_rate - 1.0) * 100.0, 2);
#else
  throw skipped("weft::actors::router (actors/include/weft/actors/router.hpp) is not in this build");
#endif
}

}  // namespace weft_bench
