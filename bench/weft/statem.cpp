// 13. statem n=10000000: a weft::actors::state_machine of four states,
// one -> two -> three -> four -> one, each left on the event `advance`.
// Entering a state sets a state timeout (on_enter); the next event's
// transition cancels it: every transition is one timer cancelled and one
// filed on the runtime's clock. The timeout (60 s) never falls due in a
// run; if it does, the run fails. unit: transitions/s.
//
// A feeder actor sends the n events as casts, and every sync_every of them
// calls the machine for its transition count (which must match what it
// sent): that keeps the queue between them bounded, and each
// implementation (bench/peers/) does the same. The call is handled in
// every state without a transition, so it leaves the state timeout alone.
// Measured: from the driver's `go` to the feeder's `finished`.

#include "harness.hpp"

#if defined(WEFT_BENCH_HAVE_ACTORS_STATE_MACHINE)
#include <weft/actors/server.hpp>
#include <weft/actors/state_machine.hpp>

#include <algorithm>
#include <variant>
#endif

namespace weft_bench {

#if defined(WEFT_BENCH_HAVE_ACTORS_STATE_MACHINE)
namespace {

struct go {};
struct advance {};
struct transitions_made {};
struct expired {};  // the state timeout's event

using machine_protocol = weft::protocol<void(advance), std::int64_t(transitions_made)>;

constexpr auto state_timeout = std::chrono::seconds(60);
constexpr std::int64_t sync_every = 1000;
constexpr auto call_timeout = std::chrono::seconds(5);

struct one {};
struct two {};
struct three {};
struct four {};

class cycle {
 public:
  using protocol_type = machine_protocol;
  using state_type = std::variant<one, two, three, four>;
  using sm_type = weft::actors::state_machine_context<cycle>;

  state_type init(sm_type&) { return one{}; }

  template <class State>
  void on_enter(sm_type& sm, State&) {
    sm.state_timeout(state_timeout, expired{});
  }

  void handle_event(sm_type& sm, one&, const advance&) { step(sm, two{}); }
  void handle_event(sm_type& sm, two&, const advance&) { step(sm, three{}); }
  void handle_event(sm_type& sm, three&, const advance&) { step(sm, four{}); }
  void handle_event(sm_type& sm, four&, const advance&) { step(sm, one{}); }

  template <class State>
  std::int64_t handle_event(sm_type&, State&, const transitions_made&) {
    return transitions_;
  }
  template <class State>
  void handle_event(sm_type&, State&, const expired&) {
    fail("statem", "a state timeout fell due during the run (after {} transitions)", transitions_);
  }

 private:
  template <class Next>
  void step(sm_type& sm, Next next) {
    ++transitions_;
    sm.transition(next);
  }

  std::int64_t transitions_ = 0;
};

}  // namespace
#endif

void statem(weft::runtime& rt, const arguments& args, json_line& out) {
  args.allow({"n"});
#if defined(WEFT_BENCH_HAVE_ACTORS_STATE_MACHINE)
  namespace actors = weft::actors;
  const std::int64_t n = args.get_at_least("n", 10'000'000, 1);
  weft::scoped_actor driver(rt);
  const std::size_t baseline = rt.live_actors();

  const weft::ref<machine_protocol> machine = rt.spawn(actors::state_machine<cycle>());
  const weft::pid feeder = rt.spawn([machine, n, driver = driver.self()](weft::context& self) {
    self.receive<go>();
    for (std::int64_t sent = 0; sent < n;) {
      const std::int64_t batch = std::min(sync_every, n - sent);
      for (std::int64_t i = 0; i < batch; ++i) {
        const weft::send_status status = actors::cast(self, machine, advance{});
        if (status != weft::send_status::ok) fail("statem", "cast returned {}", weft::to_string(status));
      }
      sent += batch;
      const weft::expected<std::int64_t> made = actors::call(self, machine, transitions_made{}, call_timeout);
      if (!made) fail("statem", "the sync call failed: {}", made.error());
      if (*made != sent) fail("statem", "the machine made {} transitions, {} events were sent", *made, sent);
    }
    self.send(driver, finished{});
  });
  rt.wait_quiescent(std::chrono::seconds(10));

  const auto t0 = clock_type::now();
  driver.send(feeder, go{});
  driver.receive<finished>();
  const double seconds = seconds_since(t0);

  driver.exit(machine, weft::exit_reason::shutdown());
  await_baseline(rt, baseline, "statem");
  add_rate(out, n, seconds, "transitions/s");
#else
  throw skipped("weft::actors::state_machine (actors/include/weft/actors/state_machine.hpp) is not in this build");
#endif
}

}  // namespace weft_bench
