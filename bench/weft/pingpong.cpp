// 1. pingpong n=1000000: two actors, exactly one message in flight. The
// pinger sends 0, the ponger replies with the same integer, the pinger
// sends x+1, until n round trips. Both are typed class-style actors; a weft
// message carries no implicit sender, so each holds the other's ref.
//
// Measured: from the driver's `start` to the pinger's `finished` (both
// actors are spawned and introduced before).

#include "harness.hpp"

namespace weft_bench {
namespace {

struct start {};

// The pinger takes `start` from the driver and each returned integer.
using pinger_protocol = weft::protocol<void(start), void(std::int64_t)>;

struct partner_is {
  weft::ref<pinger_protocol> partner;
};
// The ponger learns its partner once, then echoes integers.
using ponger_protocol = weft::protocol<void(partner_is), void(std::int64_t)>;

class ponger final {
 public:
  weft::behavior_of<ponger_protocol> make_behavior(weft::context& self) {
    return {
        [this](partner_is p) { pinger_ = std::move(p.partner); },
        [this, &self](std::int64_t x) { self.send(pinger_, x); },
    };
  }

 private:
  weft::ref<pinger_protocol> pinger_;
};

class pinger final {
 public:
  pinger(weft::ref<ponger_protocol> ponger, std::int64_t n, weft::pid driver)
      : ponger_(std::move(ponger)), n_(n), driver_(std::move(driver)) {}

  weft::behavior_of<pinger_protocol> make_behavior(weft::context& self) {
    return {
        [this, &self](start) { self.send(ponger_, std::int64_t{0}); },
        [this, &self](std::int64_t x) {
          if (x != sent_) fail("pingpong", "the ponger answered {} to {}", x, sent_);
          if (x + 1 >= n_) {
            self.send(driver_, finished{});
            self.exit();
          }
          self.send(ponger_, ++sent_);
        },
    };
  }

 private:
  weft::ref<ponger_protocol> ponger_;
  std::int64_t n_;
  weft::pid driver_;  // a scoped_actor: untyped
  std::int64_t sent_ = 0;
};

}  // namespace

void pingpong(weft::runtime& rt, const arguments& args, json_line& out) {
  args.allow({"n"});
  const std::int64_t n = args.get_at_least("n", 1'000'000, 1);
  weft::scoped_actor driver(rt);
  const std::size_t baseline = rt.live_actors();

  const weft::ref<ponger_protocol> pong = rt.spawn_actor<ponger>();
  const weft::ref<pinger_protocol> ping = rt.spawn_actor<pinger>(pong, n, driver.self());
  driver.send(pong, partner_is{ping});

  const auto t0 = clock_type::now();
  driver.send(ping, start{});
  driver.receive<finished>();
  const double seconds = seconds_since(t0);

  driver.exit(pong, weft::exit_reason::shutdown());
  await_baseline(rt, baseline, "pingpong");
  add_rate(out, n, seconds, "roundtrips/s");
}

}  // namespace weft_bench
