// 7. restart k=100000: a one-for-one supervisor with one permanent child
// registered under a name; the driver makes the child throw, waits for the
// name to resolve to the restarted child and pings it until it answers; k
// cycles. The supervisor allows k restarts per second so it never gives up
// during the run (as the Erlang peer does).

#include "harness.hpp"

#if defined(WEFT_BENCH_HAVE_SUPERVISOR)
#include <weft/supervisor/supervisor.hpp>

#include <stdexcept>
#endif

namespace weft_bench {

#if defined(WEFT_BENCH_HAVE_SUPERVISOR)
namespace {
struct crash {};
struct ping {};
struct report {
  std::int64_t failed_pings;
};
}  // namespace
#endif

void restart(weft::runtime& rt, const arguments& args, json_line& out) {
  args.allow({"k"});
#if defined(WEFT_BENCH_HAVE_SUPERVISOR)
  namespace sup = weft::sup;
  const std::int64_t k = args.get_at_least("k", 100'000, 1);
  weft::scoped_actor driver(rt);
  const std::size_t baseline = rt.live_actors();
  auto body = [](weft::context&) -> weft::behavior {
    return {[](ping) { return 1; }, [](crash) -> int { throw std::runtime_error("crash requested"); }};
  };
  auto started = sup::start(rt, {.id = "bench",
                                 .max_restarts = static_cast<std::uint32_t>(k),
                                 .max_window = std::chrono::seconds(1),
                                 .children = {sup::worker("child", body, {.name = "child"})}});
  if (!started) throw std::runtime_error("restart: the supervisor did not start");
  const auto t0 = clock_type::now();
  rt.spawn([k, d = driver.self()](weft::context& self) {
    auto& system = self.system();
    std::int64_t failed = 0;
    for (std::int64_t i = 0; i < k; ++i) {
      weft::pid old = system.whereis("child");
      self.send(old, crash{});
      weft::pid now;
      while (!(now = system.whereis("child")) || now == old) self.yield();
      while (!self.ask<int>(now, ping{}, std::chrono::seconds(1))) ++failed;
    }
    self.send(d, report{failed});
  });
  const report r = driver->receive<report>();
  const double seconds = seconds_since(t0);
  (void)r;
  rt.exit(started.supervisor, weft::exit_reason::shutdown());
  await_baseline(rt, baseline, "restart");
  add_rate(out, k, seconds, "restarts/s");
#else
  (void)rt;
  (void)out;
  throw skipped("supervisor module not built");
#endif
}

}  // namespace weft_bench
