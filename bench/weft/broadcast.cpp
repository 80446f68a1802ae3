// 11. broadcast subs=10000 msgs=100: one publisher, subs subscriber actors
// on one topic; every message reaches every subscriber; done when every
// subscriber has all of them.
//
// weft has no topic/group module (yet), so the topic is the publisher's
// plain list of subscriber refs and publishing is one send per subscriber:
// subs * msgs envelopes, each allocated and enqueued on its own (CAF's
// group does the same fan-out internally; Erlang's peer sends to each pid
// too). Subscribers are typed class-style actors that count (and check the
// order of) what they get; each finished subscriber decrements a shared
// countdown and the last one tells the driver, which keeps subs `done`
// messages to a thread-blocking driver out of the measured section.
// Measured: from the driver's `go` to that `finished`.

#include "harness.hpp"

#include <atomic>
#include <vector>

namespace weft_bench {
namespace {

struct go {};

// A subscriber takes the published integers, in order.
using subscriber_protocol = weft::protocol<void(std::int64_t)>;

class subscriber final {
 public:
  subscriber(std::int64_t msgs, std::atomic<std::int64_t>* unfinished, weft::pid driver)
      : msgs_(msgs), unfinished_(unfinished), driver_(std::move(driver)) {}

  weft::behavior_of<subscriber_protocol> make_behavior(weft::context& self) {
    return {
        [this, &self](std::int64_t message) {
          if (message != received_)
            fail("broadcast", "a subscriber got message {} when {} was due", message, received_);
          if (++received_ == msgs_) {
            // acq_rel: the last subscriber's `finished` is sent after every
            // other subscriber has counted all its messages.
            if (unfinished_->fetch_sub(1, std::memory_order_acq_rel) == 1) self.send(driver_, finished{});
            self.exit();
          }
        },
    };
  }

 private:
  std::int64_t msgs_;
  std::atomic<std::int64_t>* unfinished_;
  weft::pid driver_;  // a scoped_actor: untyped
  std::int64_t received_ = 0;
};

}  // namespace

void broadcast(weft::runtime& rt, const arguments& args, json_line& out) {
  args.allow({"subs", "msgs"});
  const std::int64_t subs = args.get_at_least("subs", 10'000, 1);
  const std::int64_t msgs = args.get_at_least("msgs", 100, 1);
  weft::scoped_actor driver(rt);
  const std::size_t baseline = rt.live_actors();

  std::atomic<std::int64_t> unfinished{subs};
  std::vector<weft::ref<subscriber_protocol>> topic;
  topic.reserve(static_cast<std::size_t>(subs));
  for (std::int64_t i = 0; i < subs; ++i) {
    topic.push_back(rt.spawn_actor<subscriber>(msgs, &unfinished, driver.self()));
  }
  const weft::pid publisher = rt.spawn([msgs, topic = std::move(topic)](weft::context& self) {
    self.receive<go>();
    for (std::int64_t i = 0; i < msgs; ++i) {
      for (const weft::ref<subscriber_protocol>& sub : topic) {
        const weft::send_status status = self.send(sub, i);
        if (status != weft::send_status::ok) fail("broadcast", "publishing: send returned {}", weft::to_string(status));
      }
    }
  });
  rt.wait_quiescent(std::chrono::seconds(10));

  const auto t0 = clock_type::now();
  driver.send(publisher, go{});
  driver.receive<finished>();
  const double seconds = seconds_since(t0);

  await_baseline(rt, baseline, "broadcast");
  add_rate(out, subs * msgs, seconds, "deliveries/s");
}

}  // namespace weft_bench
