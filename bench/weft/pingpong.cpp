// 1. pingpong n=1000000: two actors, exactly one message in flight. The
// pinger sends 0, the ponger replies with the same integer, the pinger
// sends x+1, until n round trips. Both are handler-style actors; a weft
// message carries no implicit sender, so each holds the other's pid.
//
// Measured: from the driver's `start` to the pinger's `finished` (both
// actors are spawned and introduced before).

#include "harness.hpp"

namespace weft_bench {
namespace {

struct start {};
struct partner_is {
  weft::pid partner;
};

class ponger final {
 public:
  weft::behavior make_behavior(weft::context& self) {
    return {
        [this](partner_is p) { pinger_ = std::move(p.partner); },
        [this, &self](std::int64_t x) { self.send(pinger_, x); },
    };
  }

 private:
  weft::pid pinger_;
};

class pinger final {
 public:
  pinger(weft::pid ponger, std::int64_t n, weft::pid driver)
      : ponger_(std::move(ponger)), n_(n), driver_(std::move(driver)) {}

  weft::behavior make_behavior(weft::context& self) {
    return {
        [this, &self](start) { self.send(ponger_, std::int64_t{0}); },
        [this, &self](std::int64_t x) {
          if (x != sent_) fail("pingpong", "the ponger answered {} to {}", x, sent_);
          if (x + 1 >= n_) {
            self.send(driver_, finished{});
            self.exit(weft::exit_reason::normal());
          }
          self.send(ponger_, ++sent_);
        },
    };
  }

 private:
  weft::pid ponger_;
  std::int64_t n_;
  weft::pid driver_;
  std::int64_t sent_ = 0;
};

}  // namespace

void pingpong(weft::runtime& rt, const arguments& args, json_line& out) {
  args.allow({"n"});
  const std::int64_t n = args.get_at_least("n", 1'000'000, 1);
  weft::scoped_actor driver(rt);
  const std::size_t baseline = rt.live_actors();

  const weft::pid pong = rt.spawn_actor<ponger>();
  const weft::pid ping = rt.spawn_actor<pinger>(pong, n, driver.self());
  rt.send(pong, partner_is{ping});

  const auto t0 = clock_type::now();
  rt.send(ping, start{});
  driver->receive<finished>();
  const double seconds = seconds_since(t0);

  rt.exit(pong, weft::exit_reason::shutdown());
  await_baseline(rt, baseline, "pingpong");
  add_rate(out, n, seconds, "roundtrips/s");
}

}  // namespace weft_bench
