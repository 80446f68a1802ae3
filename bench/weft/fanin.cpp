// 2. fanin p=8 m=500000: p producers each send m 8-byte messages to one
// consumer, which counts them; done when the count reaches p*m. The
// consumer's mailbox holds 1024 messages under overflow_policy::block, so
// a producer that finds it full is suspended until there is room: nothing
// is dropped, and memory stays bounded (peak_rss_kb).
//
// Producers are Erlang-style actors (a send loop) holding the consumer's
// ref; the consumer is a typed class-style actor. Measured: from spawning
// the producers to the consumer's `finished`.

#include "harness.hpp"

namespace weft_bench {
namespace {

// The consumer takes the producers' 8-byte messages and nothing else.
using sink_protocol = weft::protocol<void(std::int64_t)>;

class consumer final {
 public:
  consumer(std::int64_t total, weft::pid driver) : total_(total), driver_(std::move(driver)) {}

  weft::behavior_of<sink_protocol> make_behavior(weft::context& self) {
    return {
        [this, &self](std::int64_t) {
          if (++received_ == total_) {
            self.send(driver_, finished{});
            self.exit();
          }
        },
    };
  }

 private:
  std::int64_t total_;
  weft::pid driver_;  // a scoped_actor: untyped
  std::int64_t received_ = 0;
};

}  // namespace

void fanin(weft::runtime& rt, const arguments& args, json_line& out) {
  args.allow({"p", "m"});
  const std::int64_t p = args.get_at_least("p", 8, 1);
  const std::int64_t m = args.get_at_least("m", 500'000, 1);
  weft::scoped_actor driver(rt);
  const std::size_t baseline = rt.live_actors();

  weft::spawn_options bounded;
  bounded.mailbox_capacity = 1024;
  bounded.overflow = weft::overflow_policy::block;
  const weft::ref<sink_protocol> sink = rt.spawn_actor<consumer>(p * m, driver.self(), bounded);

  const auto t0 = clock_type::now();
  for (std::int64_t i = 0; i < p; ++i) {
    rt.spawn([sink, m](weft::context& self) {
      for (std::int64_t k = 0; k < m; ++k) {
        const weft::send_status status = self.send(sink, k);
        if (status != weft::send_status::ok) fail("fanin", "a producer's send returned {}", weft::to_string(status));
      }
    });
  }
  driver.receive<finished>();
  const double seconds = seconds_since(t0);

  await_baseline(rt, baseline, "fanin");
  add_rate(out, p * m, seconds, "msgs/s");
}

}  // namespace weft_bench
