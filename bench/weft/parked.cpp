// 6. parked n=100000: like idle, but every actor is suspended inside a
// handler, in a blocking receive with a timeout of one hour, so its fiber
// stack (runtime default size) is live and a timer is armed. Each actor is
// a typed handler-style actor and sends itself `park` as it starts; the
// `park` handler does the blocking receive and returns when `stop`
// arrives. See resident.hpp for what is measured.

#include "resident.hpp"

namespace weft_bench {
namespace {

struct park {};

// A parked actor takes `park` (from itself) and `stop` (from the driver).
using parker = weft::protocol<void(park), void(stop)>;

std::atomic<std::int64_t> waiting{0};

}  // namespace

void parked(weft::runtime& rt, const arguments& args, json_line& out) {
  args.allow({"n"});
  const std::int64_t n = args.get_at_least("n", 100'000, 1);
  run_resident(
      rt, "parked", n, waiting,
      [&rt] {
        return rt.spawn([](weft::context& self) -> weft::behavior_of<parker> {
          self.send(self.self(), park{});
          return {
              [&self](park) {
                // Relaxed: a progress count; see run_resident.
                waiting.fetch_add(1, std::memory_order_relaxed);
                if (!self.receive_for(std::chrono::hours(1), [](stop) {})) {
                  fail("parked", "an actor waited an hour without being stopped");
                }
                self.exit();
              },
              // The driver sends `stop` only once every actor is parked, so the
              // receive above takes it; the protocol has it, so the behavior must
              // handle it too, and a `stop` found between messages stops alike.
              [&self](stop) { self.exit(); },
          };
        });
      },
      out);
}

}  // namespace weft_bench
