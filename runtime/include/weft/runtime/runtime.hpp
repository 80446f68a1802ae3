#pragma once
// weft::runtime — one actor system: its scheduler threads, its actors,
// names, timers and dead letters. Several runtimes may live in one process;
// nothing in weft is a process-wide singleton (but for the SIGSEGV handler
// that reports fiber stack overflows, which chains to any previous one).
//
// Every member is callable from any thread, including actors of this
// runtime. The waiting calls (send into a full block-policy mailbox, ask)
// block the calling thread; from inside an actor use context instead,
// which suspends only the actor.

#include <weft/runtime/clock.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/detail/backend.hpp>
#include <weft/runtime/event_log.hpp>
#include <weft/runtime/introspection.hpp>
#include <weft/runtime/messages.hpp>
#include <weft/runtime/options.hpp>
#include <weft/runtime/pid.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace weft {

namespace internal {
struct runtime_access;
}

enum class shutdown_mode : std::uint8_t {
  // Stop taking messages and spawns from outside, let actors finish what
  // is queued, then stop the remaining actors children-first.
  drain,
  // Kill every actor now.
  abort,
};

struct dead_letter_stats {
  std::array<std::uint64_t, static_cast<std::size_t>(dead_letter_cause::count_)> by_cause{};
  std::uint64_t operator[](dead_letter_cause c) const { return by_cause[static_cast<std::size_t>(c)]; }
  std::uint64_t total() const {
    std::uint64_t sum = 0;
    for (auto n : by_cause) sum += n;
    return sum;
  }
};

struct worker_stats {
  std::size_t run_queue_length = 0;
  std::uint64_t activations = 0;
  std::uint64_t steals = 0;
  std::uint64_t fiber_switches = 0;
  std::uint64_t parks = 0;
  bool parked = false;
};

struct runtime_stats {
  std::size_t live_actors = 0;
  std::uint64_t spawned = 0;
  // User timers (send_after, send_interval) plus the wake timers of timed
  // waits. An actor keeps its last wait's wake timer filed after the wait
  // ends, for the next timed wait to reuse, until it fires or the actor
  // exits: so an actor now idle in an untimed receive may still count here.
  std::size_t timers_pending = 0;
  std::size_t global_queue_length = 0;
  // Fibers that exist right now: each worker's carrier (plus a spare),
  // and one per actor blocked inside a receive, ask, send or blocking().
  std::size_t fibers_in_use = 0;
  std::vector<worker_stats> workers{};
  dead_letter_stats dead_letters{};
};

class runtime {
 public:
  explicit runtime(runtime_options options = {});
  // Shuts down (drain, 10 s, then abort) if nobody did.
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  // -- any thread ----------------------------------------------------------

  // Spawns `definition` (actor.hpp: an actor function, weft::stateful(...),
  // weft::make_actor<A>(...)) as a top-level actor: a pid, or a ref<P>
  // for a typed actor. Empty once the runtime is shutting down.
  template <class D>
  detail::spawned_t<D> spawn(D&& definition, spawn_options options = {}) {
    return detail::spawn_definition(impl_.get(), nullptr, std::forward<D>(definition), std::move(options), false);
  }
  // A class-style actor: spawn_actor<A>(constructor args..., [spawn_options]).
  template <class A, class... Args>
  auto spawn_actor(Args&&... args) {
    return detail::spawn_class<A>(
        [this](auto&& definition, spawn_options options) { return spawn(std::move(definition), std::move(options)); },
        std::forward<Args>(args)...);
  }


  // Names: one actor per name; a name is released when its actor exits.
  bool register_name(std::string name, const pid& who);
  bool unregister_name(std::string_view name);
  pid whereis(std::string_view name) const;
  std::vector<std::string> registered_names() const;

  // Dead letters: counts by cause, and an optional actor that receives a
  // weft::dead_letter for each (none about itself, to avoid loops).
  dead_letter_stats dead_letters() const;
  void subscribe_dead_letters(const pid& subscriber);

  std::size_t live_actors() const;
  runtime_stats stats() const;
  // Notable events (supervisor reports, ...): see event_log.hpp.
  event_log& events() noexcept;
  // True once shutdown has begun stopping actors: supervisors stop
  // restarting children from then on.
  bool is_stopping() const noexcept;

  // Introspection (introspection.hpp): snapshots never block senders.
  std::vector<actor_info> actors() const;
  std::optional<actor_info> info(const pid& who) const;
  // Asks the actor itself to render its state (context::set_describe),
  // answered from inside it; nullopt if it is dead or does not answer in
  // time (it is stuck: a CPU loop or a blocking call on a worker).
  std::optional<std::string> describe(const pid& who, std::chrono::nanoseconds timeout);
  // Records up to `count` messages into and out of `who`, until `timeout`.
  std::vector<trace_event> trace(const pid& who, std::size_t count, std::chrono::nanoseconds timeout);
  const runtime_options& options() const;
  // The clock timers run on (clock.hpp): real time unless the options gave one.
  weft::clock& clock() const noexcept;

  // Blocks until no actor is runnable and no message is in flight, or the
  // timeout passes; true if the runtime went quiet.
  bool wait_quiescent(std::chrono::nanoseconds timeout);

  // Stops the runtime: all actors, then the workers. Idempotent; callable
  // from any thread (from an actor it only starts the shutdown and
  // returns). Drain that does not finish within `timeout` turns into an
  // abort. Returns true if the drain completed in time.
  bool shutdown(shutdown_mode mode = shutdown_mode::drain,
                std::chrono::nanoseconds timeout = std::chrono::seconds(10));
  // Blocks until every actor has exited (shutdown, or they all finished).
  bool wait_all_exited(std::chrono::nanoseconds timeout);

 private:
  friend struct internal::runtime_access;
  friend class scoped_actor;
  std::unique_ptr<detail::runtime_impl, detail::runtime_release> impl_;
};

// An actor identity for a thread that is not an actor (main, a test, a
// callback thread of some library): it has a pid and a mailbox, and it is
// a context, so everything an actor can do to others it can do too —
// send, ask, link, monitor, spawn, receive — blocking the thread where an
// actor would suspend its fiber. Owner: the thread that created it; one
// scoped_actor per thread that talks to actors.
//
//   weft::scoped_actor self(rt);
//   self.send(counter, add{2});
//   weft::expected<int> n = self.ask(counter, get{});
//
// It traps exits (a linked actor's exit arrives as an exit_msg, never
// kills the thread). It may outlive its runtime: sends then answer
// `stopping`.
class scoped_actor : public context {
 public:
  explicit scoped_actor(runtime& rt, spawn_options options = {});
  ~scoped_actor();
  scoped_actor(const scoped_actor&) = delete;
  scoped_actor& operator=(const scoped_actor&) = delete;
};

}  // namespace weft
