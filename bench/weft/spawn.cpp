// 3. spawn n=1000000: the parent, an actor, spawns n children one after
// another; each child (Erlang style) sends one message to the parent and
// terminates; done when the parent has n messages.
//
// The parent collects only after spawning all n, so up to n replies queue
// in its mailbox: it is unbounded (as the peers' are), or the children
// would be suspended on a full mailbox and the workload would measure that
// instead. Measured: from spawning the parent to its `finished`.

#include "harness.hpp"

namespace weft_bench {
namespace {

struct child_done {};

}  // namespace

void spawn(weft::runtime& rt, const arguments& args, json_line& out) {
  args.allow({"n"});
  const std::int64_t n = args.get_at_least("n", 1'000'000, 1);
  weft::scoped_actor driver(rt);
  const std::size_t baseline = rt.live_actors();

  weft::spawn_options unbounded;
  unbounded.mailbox_capacity = weft::unbounded;
  const auto t0 = clock_type::now();
  rt.spawn(
      [n, driver = driver.self()](weft::context& self) {
        const weft::pid parent = self.self();
        for (std::int64_t i = 0; i < n; ++i) {
          const weft::pid child = self.spawn([parent](weft::context& me) { me.send(parent, child_done{}); });
          if (!child) fail("spawn", "spawning child {} failed (the runtime is stopping?)", i);
        }
        for (std::int64_t i = 0; i < n; ++i)
          self.receive<child_done>();
        self.send(driver, finished{});
      },
      unbounded);
  driver.receive<finished>();
  const double seconds = seconds_since(t0);

  await_baseline(rt, baseline, "spawn");
  add_rate(out, n, seconds, "actors/s");
}

}  // namespace weft_bench
