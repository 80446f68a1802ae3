// 7. restart k=100000: a one-for-one supervisor with one permanent child
// registered under a name; the driver makes the child throw, waits for the
// name to resolve to the restarted child and pings it until it answers; k
// cycles. The supervisor allows k restarts per second so it never gives up
// during the run (as the Erlang peer does).
//
// The child is a typed actor; a name resolves to a plain pid, which the
// driver turns back into the child's ref with a checked ref_cast (as any
// program finding a typed actor by name does) before it sends or asks.

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
// `ping` is answered with 1; `crash` makes the child throw.
using child_protocol = weft::protocol<int(ping), void(crash)>;

weft::behavior_of<child_protocol> child(weft::context&) {
  return {[](ping) { return 1; }, [](crash) { throw std::runtime_error("crash requested"); }};
}
}  // namespace
#endif

void restart(weft::runtime& rt, const arguments& args, json_line& out) {
  args.allow({"k"});
#if defined(WEFT_BENCH_HAVE_SUPERVISOR)
  namespace sup = weft::sup;
  const std::int64_t k = args.get_at_least("k", 100'000, 1);
  weft::scoped_actor driver(rt);
  const std::size_t baseline = rt.live_actors();
  auto started = sup::start(rt, {.id = "bench",
                                 .max_restarts = static_cast<std::uint32_t>(k),
                                 .max_window = std::chrono::seconds(1),
                                 .children = {sup::worker("child", child, {.name = "child"})}});
  if (!started) throw std::runtime_error(fmt::format("restart: the supervisor did not start: {}", started.error()));
  const auto t0 = clock_type::now();
  rt.spawn([k, d = driver.self()](weft::context& self) {
    auto& system = self.system();
    std::int64_t failed = 0;
    for (std::int64_t i = 0; i < k; ++i) {
      weft::pid old = system.whereis("child");
      // A child that has exited still has its protocol: the cast fails
      // only for an empty pid (no child registered), which is a bug here.
      weft::expected<weft::ref<child_protocol>> target = weft::ref_cast<child_protocol>(old);
      if (!target) fail("restart", "the child registered as 'child': {}", target.error());
      self.send(*target, crash{});
      weft::pid now;
      while (!(now = system.whereis("child")) || now == old)
        self.yield();
      target = weft::ref_cast<child_protocol>(now);
      if (!target) fail("restart", "the restarted child registered as 'child': {}", target.error());
      while (!self.ask(*target, ping{}, std::chrono::seconds(1)))
        ++failed;
    }
    self.send(d, report{failed});
  });
  const report r = driver.receive<report>();
  const double seconds = seconds_since(t0);
  (void)r;
  // stop, not an exit signal: a supervisor takes exit signals only from
  // its parent (or, sender-less, from outside), and a scoped_actor is
  // neither.
  if (const weft::expected<void> stopped = started->stop(driver); !stopped) {
    fail("restart", "stopping the supervisor: {}", stopped.error());
  }
  await_baseline(rt, baseline, "restart");
  add_rate(out, k, seconds, "restarts/s");
#else
  (void)rt;
  (void)out;
  throw skipped("supervisor module not built");
#endif
}

}  // namespace weft_bench
