// Eight producers flood one consumer through every overflow policy and
// capacity, with randomized pauses on both sides. What must hold:
//   block        every message delivered exactly once, in per-sender order
//   reject /     what arrived is in per-sender order; what did not arrive is
//   drop_*       exactly what the counters (send results, dead letters) say
// Default: 8 x 20,000 messages per configuration; -DWEFT_STRESS=ON: 8 x 1M.

#include "weft_test.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <random>
#include <vector>

using namespace weft_test;

namespace {

struct item {
  int sender;
  int seq;
};
struct report {
  std::vector<long> received;  // per sender
  bool ordered = true;
  bool exact = true;  // each sender's seqs were 0, 1, 2, ... with no gap
};

void run(std::size_t capacity, weft::overflow_policy policy) {
  constexpr int producers = 8;
  const int per_producer = 20000 * (stress_factor() == 1 ? 1 : 50);
  weft::runtime rt(small_runtime(2));
  weft::scoped_actor me(rt);
  weft::pid main_pid = me.self();
  weft::pid consumer = rt.spawn(
      [main_pid](weft::context& self) {
        report r;
        r.received.assign(producers, 0);
        std::vector<int> last(producers, -1);
        std::minstd_rand rng(42);
        bool done = false;
        while (!done) {
          self.receive(
              [&](item m) {
                if (m.seq <= last[m.sender]) r.ordered = false;
                if (m.seq != last[m.sender] + 1) r.exact = false;
                last[m.sender] = m.seq;
                ++r.received[m.sender];
                if (rng() % 4096 == 0) self.sleep_for(std::chrono::microseconds(rng() % 200));
              },
              [&](const weft::exit_msg&) { done = true; });
        }
        self.send(main_pid, r);
      },
      {.mailbox_capacity = capacity, .overflow = policy, .trap_exit = true});

  for (int p = 0; p < producers; ++p) {
    rt.spawn([consumer, main_pid, p, per_producer](weft::context& self) {
      std::minstd_rand rng(static_cast<unsigned>(p) + 1);
      long ok = 0;
      for (int i = 0; i < per_producer; ++i) {
        if (self.send(consumer, item{p, i}) == weft::send_status::ok) ++ok;
        const auto r = rng() % 2048;
        if (r == 0) self.sleep_for(std::chrono::microseconds(rng() % 100));
        if (r == 1) self.yield();
      }
      self.send(main_pid, ok);
    });
  }
  long accepted = 0;
  for (int p = 0; p < producers; ++p) accepted += me.receive<long>();
  // Every producer's sends are in the consumer's mailbox before this
  // signal: it arrives after all of them (one FIFO inbox).
  me.exit(consumer, weft::exit_reason::shutdown());
  report r = me.receive<report>();

  long received = 0;
  for (long n : r.received) received += n;
  const long total = static_cast<long>(producers) * per_producer;
  const auto dead = rt.dead_letters();
  INFO("capacity " << capacity << ", policy " << weft::to_string(policy) << ": received " << received << " of "
                   << total);
  CHECK(r.ordered);
  switch (policy) {
    case weft::overflow_policy::block:
      CHECK(received == total);
      CHECK(accepted == total);
      CHECK(r.exact);
      CHECK(dead.total() == 0);
      break;
    case weft::overflow_policy::reject:
      CHECK(received == accepted);
      CHECK(dead[weft::dead_letter_cause::rejected] == static_cast<std::uint64_t>(total - accepted));
      break;
    case weft::overflow_policy::drop_newest:
      CHECK(received == accepted);
      CHECK(dead[weft::dead_letter_cause::dropped_newest] == static_cast<std::uint64_t>(total - accepted));
      break;
    case weft::overflow_policy::drop_oldest:
      // A drop_oldest send reports ok even when it pushed an older one
      // out (or `dropped` when nothing older was within reach).
      CHECK(static_cast<std::uint64_t>(received) + dead[weft::dead_letter_cause::dropped_oldest] +
                dead[weft::dead_letter_cause::dropped_newest] ==
            static_cast<std::uint64_t>(total));
      CHECK(dead[weft::dead_letter_cause::dropped_newest] == static_cast<std::uint64_t>(total - accepted));
      break;
  }
  CHECK(eventually([&] { return rt.live_actors() == 0; }));
}

}  // namespace

TEST_CASE("8 producers into a bounded mailbox under every overflow policy and capacity") {
  for (std::size_t capacity : {std::size_t{1}, std::size_t{8}, std::size_t{1024}}) {
    for (auto policy : {weft::overflow_policy::block, weft::overflow_policy::reject,
                        weft::overflow_policy::drop_newest, weft::overflow_policy::drop_oldest}) {
      run(capacity, policy);
    }
  }
}
