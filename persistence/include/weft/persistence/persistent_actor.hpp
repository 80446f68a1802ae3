#pragma once

// Event-sourced persistent actors: state that is rebuilt from a journal of
// events (and snapshots) every time the actor starts.
//
//   user code                                 runtime
//   ---------                                 -------
//                                             start: claim the persistence id
//                                               (one live writer per journal),
//                                               load the newest snapshot,
//   on_event(state, event) <----------------- replay the later events, in order
//   on_command(state, cmd) <----------------- a Command arrives (send or ask)
//     return persist(events).then_reply(f) -> give the events sequence numbers,
//                                               apply them with on_event, then
//                                               take the commands queued behind
//                                               this one into the same batch;
//                                             append the batch to the journal
//                                               and wait until it is on disk
//                                               (later messages wait, in order)
//   f(state after this command's events) ---> the reply, sent once durable:
//                                               outcome<Reply>{value}
//     return reject("why") -----------------> outcome<Reply>{command_error
//                                               {rejected, "why"}}, nothing kept
//     return none().then_reply(f) ----------> a reply without events
//                                             every snapshot_every events (and
//                                               on save_snapshot): snapshot
//   write fails (disk full, I/O error) <----- every command of the batch gets
//                                               command_error{write_failed,
//                                               text}; the actor stops with
//                                               exit_reason::error(text)
//
// Callback contract:
//   * on_command must not change anything outside its return value: it may
//     see state that includes events of earlier commands of the same batch
//     which are not durable yet. That is safe because every reply waits for
//     the batch to be durable and a failed write stops the actor, discarding
//     the state: nothing that was not durable is ever observed outside.
//   * on_event must be deterministic and free of side effects: recovery
//     calls it again for every stored event, in order.
//   * An exception from on_command or on_event stops the actor with that
//     error (the askers of its batch learn actor_down); an exception during
//     recovery, of any type, stops it with "recovery of persistence id ...
//     failed: ..." (one not derived from std::exception is named as such,
//     with the callback and event number).
//
// The actor answers every Command that came as a request with
// outcome<Reply>; ask for that type: `rt.ask<counter::reply>(p, cmd, 1s)`.
// It also answers get_state (State), get_persistence_info and save_snapshot
// (outcome<std::uint64_t>, the snapshot's sequence number). These are taken
// in mailbox order with the commands. Send exactly the Command type: with a
// std::variant Command, send the variant, not an alternative.
//
// Durability: a reply is sent only after the journal reported the events
// durable (fdatasync returned); every acknowledged event survives kill -9.
//
// Hazards:
//   * The journal and snapshot store must outlive the actor.
//   * The journal's completion wakes the actor with a plain message; if the
//     mailbox is full it is refused (and counted as a dead letter) and the
//     actor notices the write within write_poll_interval (2 ms) instead.
//   * Destroy the runtime only after its persistent actors' writes have
//     completed (close the journal first, or wait for the replies): a
//     completion running later would post into a destroyed runtime.
//   * A batch holds up to max_batch commands; a write in flight pins the
//     actor's fiber (as any blocking handler does).

#include <weft/persistence/codec.hpp>
#include <weft/persistence/event.hpp>
#include <weft/persistence/journal.hpp>
#include <weft/persistence/snapshot_store.hpp>
#include <weft/persistence/status.hpp>
#include <weft/runtime/behavior.hpp>
#include <weft/runtime/context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace weft::persistence {

// The reply of a command that has nothing to say but "done, durably".
struct done {
  friend bool operator==(done, done) = default;
};

// Why a command had no effect.
struct command_error {
  enum class kind : std::uint8_t {
    rejected,      // the command handler refused it: nothing was written
    write_failed,  // its events could not be made durable; the actor stops
  };
  kind code = kind::rejected;
  std::string message;
};

// What a command's asker receives: the Reply, or why there is none.
template <class Reply>
class outcome {
 public:
  outcome(Reply value) : v_(std::in_place_index<0>, std::move(value)) {}          // NOLINT(google-explicit-constructor)
  outcome(command_error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  Reply& value() & { return std::get<0>(v_); }
  const Reply& value() const& { return std::get<0>(v_); }
  Reply&& value() && { return std::get<0>(std::move(v_)); }
  const command_error& error() const { return std::get<1>(v_); }

 private:
  std::variant<Reply, command_error> v_;
};

// What a command handler decided: events to persist (maybe none) and the
// reply, or a rejection.
template <class State, class Event, class Reply>
class effect {
 public:
  static effect persist(Event event) {
    effect e;
    e.events_.push_back(std::move(event));
    return e;
  }
  static effect persist(std::vector<Event> events) {
    effect e;
    e.events_ = std::move(events);
    return e;
  }
  static effect none() { return effect(); }
  static effect reject(std::string message) {
    effect e;
    e.rejected_ = true;
    e.rejection_ = std::move(message);
    return e;
  }

  // The reply, computed from the state after this command's events were
  // applied and sent once they are durable. Without it the reply is Reply{}.
  effect then_reply(std::function<Reply(const State&)> make_reply) && {
    reply_ = std::move(make_reply);
    return std::move(*this);
  }

  // -- read by the runtime --
  std::vector<Event>& events() noexcept { return events_; }
  bool rejected() const noexcept { return rejected_; }
  const std::string& rejection() const noexcept { return rejection_; }
  Reply reply(const State& state) const {
    if (reply_) return reply_(state);
    if constexpr (std::is_default_constructible_v<Reply>) {
      return Reply{};
    } else {
      throw std::logic_error("persistent actor: a command effect has no then_reply and its Reply type has no default");
    }
  }

 private:
  effect() = default;
  std::vector<Event> events_;
  std::function<Reply(const State&)> reply_;
  std::string rejection_;
  bool rejected_ = false;
};

// The two callbacks of a persistent actor. Event must be storable (codec.hpp);
// State too if snapshots are used.
template <class State, class Command, class Event, class Reply = done>
struct persistent_behavior {
  using state_type = State;
  using command_type = Command;
  using event_type = Event;
  using reply_type = Reply;
  using effect_type = persistence::effect<State, Event, Reply>;
  // What askers of a command receive.
  using reply = outcome<Reply>;

  std::function<effect_type(const State&, const Command&)> on_command;
  std::function<void(State&, const Event&)> on_event;

  static effect_type persist(Event event) { return effect_type::persist(std::move(event)); }
  static effect_type persist(std::vector<Event> events) { return effect_type::persist(std::move(events)); }
  static effect_type none() { return effect_type::none(); }
  static effect_type reject(std::string message) { return effect_type::reject(std::move(message)); }
};

template <class State, class Event>
struct persistent_options {
  // Names the actor's event stream in the journal. Required. At most one
  // live actor per (journal, persistence id); a second one stops at start.
  std::string persistence_id;

  // The journal, or a function that opens it, called at every start on a
  // blocking-call thread: its exception (say a torn tail the journal
  // refuses) becomes the actor's stop reason, so a supervisor sees it and
  // a fixed journal is picked up by the next restart.
  persistence::journal* journal = nullptr;
  std::function<persistence::journal&()> open_journal;

  // Snapshots: none unless a store is given. Every snapshot_every events (0:
  // only on save_snapshot) the state is encoded and saved; saving blocks the
  // actor (on a blocking-call thread) for about one file sync. A failed
  // automatic snapshot is counted (persistence_info) and the actor goes on:
  // its events are durable, recovery just replays more. After a failure the
  // next attempt waits snapshot_every events, doubling with each failure in
  // a row up to 65,536 events (or snapshot_every if larger); a success, or
  // a save_snapshot request that succeeds, ends the backoff.
  persistence::snapshot_store* snapshots = nullptr;
  std::uint64_t snapshot_every = 0;
  // Retention: after each snapshot, delete the journal events and older
  // snapshots it covers. Off by default: the full history stays readable.
  bool delete_events_on_snapshot = false;

  State initial_state{};

  // Written with every event / snapshot. Change the version when the layout
  // changes, and convert older data with the upcasters: they are called for
  // every stored item whose manifest or version differs from these.
  std::string event_manifest = "event";
  std::uint32_t event_schema_version = 1;
  std::function<Event(const event_view&)> upcaster;
  std::string snapshot_manifest = "state";
  std::uint32_t snapshot_schema_version = 1;
  std::function<State(const snapshot&)> snapshot_upcaster;

  // Most commands persisted by one journal write (commands queued behind
  // the first join its batch).
  std::size_t max_batch = 256;
  // Events read per blocking-call round trip during recovery.
  std::uint64_t recovery_batch = 65536;
};

// -- messages every persistent actor answers ----------------------------------

// ask<State>: a copy of the state (including every acknowledged command).
struct get_state {};
// ask<outcome<std::uint64_t>>: save a snapshot now; the reply is its
// sequence number, or write_failed if there is no store or saving failed.
struct save_snapshot {};
// ask<persistence_info>.
struct get_persistence_info {};

struct persistence_info {
  std::string persistence_id;
  std::uint64_t sequence_nr = 0;              // highest durable event applied
  std::uint64_t snapshot_sequence_nr = 0;     // newest snapshot (0: none)
  std::uint64_t recovered_from_snapshot = 0;  // the snapshot recovery started from
  std::uint64_t replayed_events = 0;          // events replayed at start
  std::chrono::nanoseconds recovery_time{0};  // start of recovery until ready
  std::uint64_t writes = 0;                   // journal writes (batches)
  std::uint64_t failed_snapshots = 0;         // automatic snapshot attempts that failed
  // Automatic snapshots that were due but not attempted, backing off after
  // failures (persistent_options::snapshot_every), and the sequence number
  // from which the next attempt is made (0: not backing off).
  std::uint64_t skipped_snapshot_retries = 0;
  std::uint64_t next_snapshot_retry = 0;
  std::string last_snapshot_error;
};

}  // namespace weft::persistence

#include <weft/persistence/detail/persistent_engine.hpp>

namespace weft::persistence {

namespace detail {
template <class State, class Command, class Event, class Reply>
class persistent_engine;
}  // namespace detail

// The actor function: pass it to spawn, spawn_link or a supervisor's child
// spec. Each call of it (each start or restart) recovers from the journal.
//
//   using counter = persistent_behavior<long, increment, incremented, long>;
//   pid p = rt.spawn(persistent_actor(counter{on_cmd, on_evt}, options));
//   auto r = rt.ask<counter::reply>(p, increment{5}, 1s);  // r->value() == 5
template <class State, class Command, class Event, class Reply>
auto persistent_actor(persistent_behavior<State, Command, Event, Reply> behavior,
                      persistent_options<State, Event> options) {
  return [behavior = std::move(behavior), options = std::move(options)](weft::context& self) -> weft::behavior {
    auto engine = std::make_shared<detail::persistent_engine<State, Command, Event, Reply>>(behavior, options);
    return detail::persistent_engine<State, Command, Event, Reply>::start(engine, self);
  };
}

}  // namespace weft::persistence
