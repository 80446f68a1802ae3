#pragma once
// weft::actors::pool — a router over workers it starts itself from one
// definition, under a supervisor (weft::sup) that restarts a worker that
// crashes, and that grows and shrinks between min and max workers with the
// backlog in their mailboxes.
//
//   weft::ref<weft::actors::pooled<resize>> p =
//       rt.spawn(weft::actors::pool(resizer(), {.min_workers = 2, .max_workers = 16}));
//   auto thumb = self.ask(p, resize_request{...});   // one worker answers
//
// What user code does and what the pool does:
//
//   user code / a worker            the pool actor
//   --------------------            --------------
//   (spawn) ----------------------> starts a dynamic supervisor (linked) and
//                                   min_workers workers under it; files a
//                                   periodic check (runtime clock)
//   a message of P ---------------> routed as by router.hpp (the strategy,
//                                   round robin by default); the envelope
//                                   moves on unchanged
//   a worker crashes -------------> it leaves the routees (down_msg); the
//                                   supervisor restarts it in the same slot,
//                                   and the new worker rejoins
//   every check_interval ---------> average backlog per worker (queued
//                                   messages, the one in hand included) above
//                                   scale_up_backlog: one worker more (up to
//                                   max_workers). No backlog at all for
//                                   scale_down_after: one idle worker less
//                                   (down to min_workers), and the idle clock
//                                   starts again
//   ask get_routees{} ------------> the live workers
//   too many crashes -------------> the supervisor gives up (its intensity,
//                                   max_restarts in max_window) and exits;
//                                   the pool, linked to it, exits too
//
// Options and defaults (pool_options):
//
//   min_workers        1      always running (restarted when they crash)
//   max_workers        8      never more
//   scale_up_backlog   4.0    average queued messages per worker that adds one
//   check_interval     1 s    how often the backlog is read
//   scale_down_after   30 s   continuous idleness (no message queued at any
//                             worker at each check) that removes one worker
//   max_restarts, max_window   5 in 10 s   the supervisor's restart intensity
//   backoff            none   delayed restarts (weft/supervisor/backoff.hpp)
//   worker             {}     spawn options of each worker (mailbox...)
//
// Scaling reads each worker's queued-message counter (one relaxed atomic
// load per worker per check, no lock), not a snapshot through the
// introspection API: cheap enough to check often. One worker is added or
// removed per check, so a burst grows the pool by one worker per
// check_interval; pick the interval by how fast load arrives.
//
// A worker removed by scaling down has nothing queued when it is chosen
// and leaves the routees before it is stopped, so no message is lost by
// shrinking. With consistent hashing, each worker's slot number is its
// place on the ring: a restarted worker takes back exactly its keys;
// growing or shrinking moves ~1/n of the keys.
//
// Hazards: a pool's workers are its children; stopping the pool stops
// them (the supervisor is linked to it). Messages in a crashed worker's
// mailbox are lost, as for any actor.
//
// For Akka users: a pool router (Routers.pool) with a resizer (the
// classic DefaultResizer's pressure threshold and backoff, simplified to
// one step per check); supervision is weft::sup's dynamic supervisor. For
// Erlang users: poolboy's overflow workers, driven by mailbox depth.

#include <weft/actors/detail/forward.hpp>
#include <weft/actors/router.hpp>
#include <weft/runtime/actor.hpp>
#include <weft/runtime/behavior.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/messages.hpp>
#include <weft/runtime/options.hpp>
#include <weft/runtime/pid.hpp>
#include <weft/runtime/protocol.hpp>
#include <weft/runtime/runtime.hpp>
#include <weft/supervisor/backoff.hpp>
#include <weft/supervisor/child_spec.hpp>
#include <weft/supervisor/supervisor.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace weft::actors {

struct pool_options {
  std::size_t min_workers = 1;
  std::size_t max_workers = 8;
  double scale_up_backlog = 4.0;
  std::chrono::nanoseconds check_interval = std::chrono::seconds(1);
  std::chrono::nanoseconds scale_down_after = std::chrono::seconds(30);
  std::uint32_t max_restarts = 5;
  std::chrono::nanoseconds max_window = std::chrono::seconds(10);
  std::optional<sup::backoff_policy> backoff{};
  spawn_options worker{};
};

// Throws std::invalid_argument naming the first bad option.
void validate(const pool_options& options);

namespace detail {

// The periodic check (runtime clock).
struct pool_check {};
// A worker started (first start or restart) in `slot`; sent by the start
// function, which runs in the supervisor.
template <class P>
struct pool_worker_up {
  std::uint64_t slot;
  ref<P> worker;
};

// Whether one check grows the pool, shrinks it, or leaves it: the policy
// alone (tested in pool_test.cpp). `idle_since` is the time of the first of
// an unbroken run of checks that saw no backlog (nullopt: the last check
// saw some); the function updates it.
enum class pool_step : std::uint8_t { none, grow, shrink };
pool_step pool_decision(const pool_options& options, std::size_t workers, std::size_t queued_total,
                        std::chrono::steady_clock::time_point now,
                        std::optional<std::chrono::steady_clock::time_point>& idle_since) noexcept;

}  // namespace detail

template <class P>
struct pooled
    : extend<P, std::vector<ref<P>>(get_routees), void(detail::pool_check), void(detail::pool_worker_up<P>)> {};

namespace detail {

template <class P, class D, class Strategy>
class pool_core {
 public:
  pool_core(pool_options options, Strategy strategy) : options_(std::move(options)), routing_(std::move(strategy)) {}

  // -- the pool actor only --------------------------------------------------

  // Starts the supervisor and the first min_workers workers. Throws (the
  // pool fails to start) if the supervisor does.
  void start(context& self, const D& definition) {
    sup::supervisor_spec spec;
    spec.id = "pool " + self.self().to_string();
    spec.strategy = sup::restart_strategy::dynamic;
    spec.max_restarts = options_.max_restarts;
    spec.max_window = options_.max_window;
    spec.children.push_back(worker_spec(self.self(), definition));
    auto started = sup::start_link(self, std::move(spec));
    if (!started) throw std::runtime_error("pool: its supervisor did not start: " + started.error().to_string());
    supervisor_ = *started;
    for (std::size_t i = 0; i < options_.min_workers; ++i) grow(self);
  }

  template <class M>
  void route(context& self, const M& message) {
    routing_.route(self, message);
  }

  void on_worker_up(context& self, const pool_worker_up<P>& up) {
    // A slot retired by shrinking stays retired; a worker already known
    // (the start_child answer came first) is not added twice.
    auto slot = std::find(slots_.begin(), slots_.end(), up.slot);
    if (slot == slots_.end()) return;
    // The worker it replaces is dead or dying, even if its down_msg is
    // still on the way.
    routing_.replace_node(self, up.slot, up.worker);
    routing_.add(self, up.worker, up.slot);
  }

  void on_down(const down_msg& down) { routing_.on_down(down); }

  void on_check(context& self) {
    std::size_t queued = 0;
    for (const routee& r : routing_.routees()) queued += queued_messages(r.who);
    const auto now = self.system().clock().now();
    switch (pool_decision(options_, slots_.size(), queued, now, idle_since_)) {
      case pool_step::grow:
        grow(self);
        break;
      case pool_step::shrink:
        shrink(self);
        break;
      case pool_step::none:
        break;
    }
  }

  std::vector<ref<P>> workers() const { return routing_.refs(); }

 private:
  sup::child_spec worker_spec(const pid& pool, const D& definition) const {
    spawn_options spawn = options_.worker;
    if (spawn.label.empty()) spawn.label = "pool worker";
    sup::child_spec spec;
    spec.id = "worker";
    spec.restart = sup::restart_type::permanent;
    spec.backoff = options_.backoff;
    // Runs in the supervisor at every start and restart of a slot's worker.
    spec.start = [pool, definition, spawn](sup::child_starter& s) -> sup::start_result {
      const auto* args = std::any_cast<std::tuple<std::uint64_t>>(&s.args());
      if (args == nullptr) return sup::start_result::error("pool worker: started without a slot number");
      ref<P> worker = s.self().spawn_link(definition, spawn);
      if (worker) s.self().send(pool, pool_worker_up<P>{std::get<0>(*args), worker});
      return worker.to_pid();
    };
    return spec;
  }

  void grow(context& self) {
    const std::uint64_t slot = next_slot_++;
    slots_.push_back(slot);
    auto started = supervisor_.start_child(self, sup::child_args(slot));
    if (!started || !*started) {
      // The supervisor refused (the runtime is stopping, or the start
      // failed): the slot is not used.
      slots_.pop_back();
      return;
    }
    auto worker = ref_cast<P>(*started);
    if (worker) routing_.add(self, *worker, slot);
  }

  void shrink(context& self) {
    // The newest worker with nothing queued: it gets nothing more once it
    // has left the routees (this actor is the only one routing to it).
    const auto routees = routing_.routees();
    for (std::size_t i = routees.size(); i-- > 0;) {
      if (queued_messages(routees[i].who) != 0) continue;
      const pid who = routees[i].who;
      const std::uint64_t slot = routees[i].node;
      routing_.remove(self, who);
      std::erase(slots_, slot);
      (void)supervisor_.terminate_child(self, who);
      return;
    }
  }

  pool_options options_;
  router_core<P, Strategy> routing_;
  sup::supervisor supervisor_;
  std::vector<std::uint64_t> slots_;  // slots in use (a worker running or restarting in each)
  std::uint64_t next_slot_ = 1;
  std::optional<std::chrono::steady_clock::time_point> idle_since_;
};

}  // namespace detail

// A pool of workers started from `definition` (a typed definition whose
// protocol includes P; P defaults to it), as a definition for spawn:
// spawning it gives ref<pooled<P>>, which converts to ref<P>. Bad options
// throw std::invalid_argument here, not in the actor.
template <class P = void, class D, class Strategy = round_robin>
auto pool(D definition, pool_options options = {}, Strategy strategy = {}) {
  using worker_protocol = weft::detail::definition_protocol<D>;
  using protocol = std::conditional_t<std::is_void_v<P>, worker_protocol, P>;
  static_assert(!std::is_same_v<worker_protocol, untyped>,
                "pool: the worker must be a typed actor (behavior_of<P>, stateful<P>, a typed class)");
  static_assert(weft::detail::includes_list<worker_protocol, weft::detail::signatures_of<protocol>>::value,
                "pool<P>: the worker's protocol must include every message of P");
  validate(options);
  return [definition = std::move(definition), options = std::move(options),
          strategy = std::move(strategy)](context& self) -> behavior_of<pooled<protocol>> {
    auto core = std::make_shared<detail::pool_core<protocol, D, Strategy>>(options, strategy);
    core->start(self, definition);
    self.send_interval(options.check_interval, self.self(), detail::pool_check{});
    return detail::forwarding_behavior<pooled<protocol>>(
        self, core, weft::detail::signatures_of<protocol>{}, [core](get_routees) { return core->workers(); },
        [&self, core](detail::pool_check) { core->on_check(self); },
        [&self, core](const detail::pool_worker_up<protocol>& up) { core->on_worker_up(self, up); },
        [core](const down_msg& down) { core->on_down(down); });
  };
}

}  // namespace weft::actors
