// 6. parked n=100000: like idle, but every actor is suspended inside a
// handler, in a blocking receive with a timeout of one hour, so its fiber
// stack (runtime default size) is live and a timer is armed. Each actor is
// handler style and sends itself `park` as it starts; the `park` handler
// does the blocking receive and returns when `stop` arrives. See
// resident.hpp for what is measured.

#include "resident.hpp"

namespace weft_bench {
namespace {

struct park {};

std::atomic<std::int64_t> waiting{0};

}  // namespace

void parked(weft::runtime& rt, const arguments& args, json_line& out) {
  args.allow({"n"});
  const std::int64_t n = args.get_at_least("n", 100'000, 1);
  run_resident(
      rt, "parked", n, waiting,
      [&rt] {
        return rt.spawn([](weft::context& self) -> weft::behavior {
          self.send(self.self(), park{});
          return {[&self](park) {
            // Relaxed: a progress count; see run_resident.
            waiting.fetch_add(1, std::memory_order_relaxed);
            if (!self.receive_for(std::chrono::hours(1), [](stop) {})) {
              fail("parked", "an actor waited an hour without being stopped");
            }
            self.exit(weft::exit_reason::normal());
          }};
        });
      },
      out);
}

}  // namespace weft_bench
