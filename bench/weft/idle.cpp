// 5. idle n=1000000: n typed handler-style actors waiting for their first
// message between messages, in their normal event loop: no handler
// running, so (weft's claim) no fiber stack. See resident.hpp for what is
// measured.

#include "resident.hpp"

namespace weft_bench {
namespace {

// An idle actor takes one message: the driver's `stop`.
using idler = weft::protocol<void(stop)>;

std::atomic<std::int64_t> waiting{0};

}  // namespace

void idle(weft::runtime& rt, const arguments& args, json_line& out) {
  args.allow({"n"});
  const std::int64_t n = args.get_at_least("n", 1'000'000, 1);
  run_resident(
      rt, "idle", n, waiting,
      [&rt] {
        return rt.spawn([](weft::context& self) -> weft::behavior_of<idler> {
          // Relaxed: a progress count; see run_resident.
          waiting.fetch_add(1, std::memory_order_relaxed);
          return {[&self](stop) { self.exit(); }};
        });
      },
      out);
}

}  // namespace weft_bench
