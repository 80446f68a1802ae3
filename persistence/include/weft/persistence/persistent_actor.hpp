#pragma once

// Event-sourced persistent actors: state that is rebuilt from a journal of
// events (and snapshots) every time the actor starts.
//
// A persistent actor is a definition: its protocol (the commands and what
// each answers), its state, its events, a command handler per command and
// one event handler.
//
//   struct deposit { std::int64_t amount; };           // commands
//   struct balance {};
//   using account_protocol = weft::protocol<std::int64_t(deposit), std::int64_t(balance)>;
//   struct deposited { std::int64_t amount; };         // an event (storable: codec.hpp)
//
//   struct account : wp::event_sourced<account_protocol, std::int64_t, deposited> {
//     effect<std::int64_t> on_command(const std::int64_t&, const deposit& d) const {
//       if (d.amount <= 0) return reject("deposits are positive");
//       return persist(deposited{d.amount}).then_reply([](const std::int64_t& total) { return total; });
//     }
//     effect<std::int64_t> on_command(const std::int64_t& total, const balance&) const { return reply(total); }
//     void on_event(std::int64_t& total, const deposited& e) const { total += e.amount; }
//   };
//
//   auto acct = rt.spawn(wp::persistent<account>({.persistence_id = "acct-1", .journal = &journal}));
//   weft::expected<std::int64_t> r = self.ask(acct, deposit{5});   // 5, once durable
//
//   user code                                 the persistent actor
//   ---------                                 --------------------
//                                             start: claim the persistence id
//                                               (one live writer per journal),
//                                               load the newest snapshot,
//   on_event(state, event) <----------------- replay the later events, in order
//   on_command(state, cmd) <----------------- a command arrives (send or ask)
//     return persist(events).then_reply(f) -> number the events, apply them
//                                               with on_event, then take the
//                                               commands queued behind this
//                                               one into the same batch;
//                                             append the batch to the journal
//                                               and wait until it is on disk
//                                               (later messages wait, in order)
//   f(state after this command's events) ---> the reply, sent once durable
//     return reject("why") -----------------> error command_errc::rejected
//                                               "why"; nothing kept
//     return reply(value) ------------------> a reply without events
//                                             every snapshot_every events (and
//                                               on save_snapshot): snapshot
//   write fails (disk full, I/O error) <----- every command of the batch gets
//                                               command_errc::write_failed;
//                                               the actor stops with
//                                               exit_reason::error(text)
//
// What an asker gets is one level: weft::expected<R>, R the protocol's reply
// for the command; its error is a command error (rejected, write_failed) or
// an ask error (timeout, actor_down, ...).
//
// Callback contract:
//   * on_command (one overload per command of the protocol, const State&
//     and const Command&) must not change anything outside its return
//     value: it may see state that includes events of earlier commands of
//     the same batch which are not durable yet. That is safe because every
//     reply waits for the batch to be durable and a failed write stops the
//     actor, discarding the state: nothing that was not durable is ever
//     observed outside.
//   * on_event(State&, const Event&) (or, for a std::variant Event, one
//     overload per alternative) must be deterministic and free of side
//     effects: recovery calls it again for every stored event, in order.
//   * The definition object is copied into each incarnation; its members
//     (configuration) are read-only there.
//   * An exception from on_command or on_event stops the actor with that
//     error (the askers of its batch learn actor_down); an exception during
//     recovery stops it with "recovery of persistence id '<id>' failed: ...".
//
// Besides its commands every persistent actor answers get_state (State),
// get_persistence_info (persistence_info) and save_snapshot (the snapshot's
// sequence number), in mailbox order with the commands: spawning gives a
// ref<persistent_protocol<P, State>>, which converts to a ref<P>.
//
// Durability: a reply is sent only after the journal reported the events
// durable (fdatasync returned); every acknowledged event survives kill -9.
//
// Hazards:
//   * The journal and snapshot store must outlive the actor.
//   * A batch holds up to max_batch commands; a write in flight pins the
//     actor's fiber (as any blocking handler does).

#include <weft/persistence/codec.hpp>
#include <weft/persistence/detail/persistent_engine.hpp>
#include <weft/persistence/event.hpp>
#include <weft/persistence/journal.hpp>
#include <weft/persistence/snapshot_store.hpp>
#include <weft/persistence/status.hpp>
#include <weft/runtime/actor.hpp>
#include <weft/runtime/behavior.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/error.hpp>
#include <weft/runtime/expected.hpp>
#include <weft/runtime/protocol.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace weft::persistence {

// Why a command had no effect (error_category::command).
enum class command_errc : std::uint8_t {
  rejected = 1,  // the command handler refused it: nothing was written
  write_failed,  // its events could not be made durable; the actor stops
};
std::string_view to_string(command_errc e) noexcept;

namespace detail {
std::string_view command_errc_name(int code) noexcept;
inline constexpr error_domain command_domain{error_category::command, &command_errc_name};
}  // namespace detail

}  // namespace weft::persistence

template <>
struct weft::error_code_traits<weft::persistence::command_errc> {
  static constexpr const error_domain* domain = &weft::persistence::detail::command_domain;
};

namespace weft::persistence {

// -- effects: what a command handler decides ----------------------------------

namespace detail {

template <class Event, class F>
struct persisted_then;

// persist(...) and none(): events, no reply yet.
template <class Event>
struct persisted {
  std::vector<Event> events;
  // The reply, computed from the state after this command's events were
  // applied, and sent once they are durable.
  template <class F>
  auto then_reply(F make_reply) && {
    return persisted_then<Event, F>{std::move(events), std::move(make_reply)};
  }
};
template <class Event, class F>
struct persisted_then {
  std::vector<Event> events;
  F make_reply;
};
template <class V>
struct immediate_reply {
  V value;
};
struct rejection {
  weft::error why;
};

}  // namespace detail

template <class State, class Event, class Reply>
class effect {
 public:
  // Events and no reply: only for commands that answer nothing (void).
  effect(detail::persisted<Event> p)  // NOLINT(google-explicit-constructor): built by persist()/none()
    requires std::is_void_v<Reply>
      : events_(std::move(p.events)) {}
  template <class F>
    requires(std::is_void_v<Reply> || std::is_convertible_v<std::invoke_result_t<F&, const State&>, Reply>)
  effect(detail::persisted_then<Event, F> p)  // NOLINT(google-explicit-constructor)
      : events_(std::move(p.events)) {
    if constexpr (!std::is_void_v<Reply>) reply_ = std::move(p.make_reply);
  }
  template <class V>
    requires(!std::is_void_v<Reply> && std::is_convertible_v<V, Reply>)
  effect(detail::immediate_reply<V> r)  // NOLINT(google-explicit-constructor)
      : value_(Reply(std::move(r.value))) {}
  effect(detail::rejection r) : rejection_(std::move(r.why)) {}  // NOLINT(google-explicit-constructor)

  // -- read by the persistent actor --
  std::vector<Event>& events() noexcept { return events_; }
  bool rejected() const noexcept { return rejection_.has_value(); }
  const weft::error& rejection() const noexcept { return *rejection_; }
  // The reply from the state after this command's events (Reply not void).
  Reply reply(const State& state) {
    if (value_) return std::move(*value_);
    return reply_(state);
  }

 private:
  std::vector<Event> events_;
  std::function<Reply(const State&)> reply_;
  std::optional<std::conditional_t<std::is_void_v<Reply>, char, Reply>> value_;
  std::optional<weft::error> rejection_;
};

// The base of a persistent actor's definition: its types, and the effect
// builders its command handlers return.
template <class Protocol, class State, class Event>
struct event_sourced {
  using protocol_type = Protocol;
  using state_type = State;
  using event_type = Event;
  template <class Reply>
  using effect = persistence::effect<State, Event, Reply>;

  // Persist these events (then_reply(f) adds the reply, f(state after them)).
  static detail::persisted<Event> persist(Event event) { return {{std::move(event)}}; }
  static detail::persisted<Event> persist(std::vector<Event> events) { return {std::move(events)}; }
  // Persist nothing (then_reply(f) to answer from the state).
  static detail::persisted<Event> none() { return {}; }
  // Persist nothing and answer this.
  template <class V>
  static detail::immediate_reply<std::decay_t<V>> reply(V&& value) {
    return {std::forward<V>(value)};
  }
  // Refuse the command: nothing is written; the asker gets the error.
  static detail::rejection reject(std::string why) { return {weft::error(command_errc::rejected, std::move(why))}; }
  static detail::rejection reject(weft::error why) { return {std::move(why)}; }
};

template <class State, class Event>
struct persistent_options {
  // Names the actor's event stream in the journal. Required. At most one
  // live actor per (journal, persistence id); a second one stops at start.
  std::string persistence_id{};

  // The journal, or a function that opens it, called at every start on a
  // blocking-call thread: its exception (say a torn tail the journal
  // refuses) becomes the actor's stop reason, so a supervisor sees it and
  // a fixed journal is picked up by the next restart.
  persistence::journal* journal = nullptr;
  std::function<persistence::journal&()> open_journal{};

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
  std::function<Event(const event_view&)> upcaster{};
  std::string snapshot_manifest = "state";
  std::uint32_t snapshot_schema_version = 1;
  std::function<State(const snapshot&)> snapshot_upcaster{};

  // Most commands persisted by one journal write (commands queued behind
  // the first join its batch).
  std::size_t max_batch = 256;
  // Events read per blocking-call round trip during recovery.
  std::uint64_t recovery_batch = 65536;
};

// -- messages every persistent actor answers ----------------------------------

// State: a copy of the state (including every acknowledged command).
struct get_state {};
// std::uint64_t: save a snapshot now; the reply is its sequence number, or
// command_errc::write_failed if there is no store or saving failed.
struct save_snapshot {};
// persistence_info.
struct get_persistence_info {};

struct persistence_info {
  std::string persistence_id{};
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
  std::string last_snapshot_error{};
};

// What a persistent actor with commands P and state S answers.
template <class P, class State>
using persistent_protocol =
    weft::extend<P, State(get_state), persistence_info(get_persistence_info), std::uint64_t(save_snapshot)>;

// -- the typed half of the engine ---------------------------------------------

namespace detail {

template <class Command, class Definition>
struct persistent_command_without_handler {
  static constexpr bool value = false;
};
template <class Command, class ProtocolReply, class HandlerReturns>
struct persistent_handler_returns_wrong_effect {
  static constexpr bool value = false;
};
template <class Definition, class Event>
struct persistent_definition_without_on_event {
  static constexpr bool value = false;
};

template <class Def, class M>
concept handles_command = requires(const Def& d, const typename Def::state_type& s, const M& m) {
  d.on_command(s, m);
};

template <class Def, class Signature>
constexpr void require_command_handler() {
  using M = typename weft::detail::signature_traits<Signature>::message;
  using R = typename weft::detail::signature_traits<Signature>::reply;
  using effect_type = effect<typename Def::state_type, typename Def::event_type, R>;
  if constexpr (!handles_command<Def, M>) {
    static_assert(persistent_command_without_handler<M, Def>::value,
                  "weft: the persistent actor has no on_command(const State&, const Command&) const for a command "
                  "of its protocol: see 'persistent_command_without_handler<Command, Definition>' below");
  } else {
    using returned = decltype(std::declval<const Def&>().on_command(std::declval<const typename Def::state_type&>(),
                                                                    std::declval<const M&>()));
    if constexpr (!std::is_convertible_v<returned, effect_type>) {
      static_assert(persistent_handler_returns_wrong_effect<M, R, returned>::value,
                    "weft: an on_command returns what is not an effect with the protocol's reply type: see "
                    "'persistent_handler_returns_wrong_effect<Command, ProtocolReply, HandlerReturns>' below");
    }
  }
}

template <class T>
struct is_variant : std::false_type {};
template <class... Ts>
struct is_variant<std::variant<Ts...>> : std::true_type {};

// on_event(State&, const Event&), or, for a std::variant Event, one
// on_event(State&, const Alternative&) per alternative.
template <class Def, class S, class E>
concept applies_events = requires(const Def& d, S& s, const E& e) { d.on_event(s, e); };
template <class Def, class S, class E>
struct applies_each : std::false_type {};
template <class Def, class S, class... Ts>
struct applies_each<Def, S, std::variant<Ts...>> : std::bool_constant<(applies_events<Def, S, Ts> && ...)> {};
template <class Def, class S, class E>
concept applies_alternatives = applies_each<Def, S, E>::value;

template <class Def, class S, class E>
void apply_event(const Def& def, S& state, const E& event) {
  if constexpr (applies_events<Def, S, E>) {
    def.on_event(state, event);
  } else {
    std::visit([&](const auto& alternative) { def.on_event(state, alternative); }, event);
  }
}

template <class Def>
constexpr bool check_definition() {
  using S = typename Def::state_type;
  using E = typename Def::event_type;
  []<class... Sig>(weft::detail::type_list<Sig...>) { (require_command_handler<Def, Sig>(), ...); }(
      weft::detail::signatures_of<typename Def::protocol_type>{});
  if constexpr (!applies_events<Def, S, E> && !applies_alternatives<Def, S, E>) {
    static_assert(persistent_definition_without_on_event<Def, E>::value,
                  "weft: the persistent actor has no on_event(State&, const Event&) const (nor, for a variant "
                  "Event, one per alternative): see "
                  "'persistent_definition_without_on_event<Definition, Event>' below");
  }
  static_assert(storable<E>, "weft: a persistent actor's Event type needs a codec (codec.hpp; json_codec.hpp)");
  return true;
}

template <class Def>
class model final : public persistent_model {
 public:
  using State = typename Def::state_type;
  using Event = typename Def::event_type;
  using options_type = persistent_options<State, Event>;

  model(const Def& def, const options_type& options) : def_(def), options_(options), state_(options.initial_state) {}

  void load_snapshot(const snapshot& stored) override {
    if constexpr (storable<State>) {
      if (stored.manifest == options_.snapshot_manifest &&
          stored.schema_version == options_.snapshot_schema_version) {
        state_ = decode<State>(stored.payload);
      } else if (options_.snapshot_upcaster) {
        state_ = options_.snapshot_upcaster(stored);
      } else {
        throw_decode_mismatch("snapshot", stored.sequence_nr, stored.manifest, stored.schema_version,
                              options_.snapshot_manifest, options_.snapshot_schema_version,
                              "persistent_options::snapshot_upcaster");
      }
    } else {
      (void)stored;
      throw storage_error(storage_errc::invalid_argument, "the State type has no codec (codec.hpp)");
    }
  }

  void apply_stored(const event_view& stored) override {
    if (stored.manifest == options_.event_manifest && stored.schema_version == options_.event_schema_version) {
      apply_event(def_, state_, decode<Event>(stored.payload));
    } else if (options_.upcaster) {
      apply_event(def_, state_, options_.upcaster(stored));
    } else {
      throw_decode_mismatch("event", stored.sequence_nr, stored.manifest, stored.schema_version,
                            options_.event_manifest, options_.event_schema_version, "persistent_options::upcaster");
    }
  }

  bool state_storable() const noexcept override { return storable<State>; }
  bytes encode_state() const override {
    if constexpr (storable<State>) {
      return encode(state_);
    } else {
      throw storage_error(storage_errc::invalid_argument, "the State type has no codec (codec.hpp)");
    }
  }

  bool is_command(const weft::detail::envelope& message) const noexcept override {
    return []<class... Sig>(const weft::detail::envelope& e, weft::detail::type_list<Sig...>) {
      return (weft::detail::holds<typename weft::detail::signature_traits<Sig>::message>(e) || ...);
    }(message, weft::detail::signatures_of<typename Def::protocol_type>{});
  }

  weft::detail::envelope* run_command(weft::detail::envelope& message, std::uint64_t next_number,
                                      std::vector<persistent_event>& events, bool& rejected) override {
    weft::detail::envelope* reply = nullptr;
    []<class... Sig>(model& self, weft::detail::envelope& e, std::uint64_t n, std::vector<persistent_event>& out,
                     bool& refused, weft::detail::envelope*& answer, weft::detail::type_list<Sig...>) {
      ((weft::detail::holds<typename weft::detail::signature_traits<Sig>::message>(e)
            ? (answer = self.template run<typename weft::detail::signature_traits<Sig>::message,
                                          typename weft::detail::signature_traits<Sig>::reply>(e, n, out, refused),
               true)
            : false) ||
       ...);
    }(*this, message, next_number, events, rejected, reply, weft::detail::signatures_of<typename Def::protocol_type>{});
    return reply;
  }

  weft::detail::envelope* state_reply() const override {
    return weft::detail::make_envelope(State(state_), weft::detail::envelope_kind::reply);
  }

  template <class M, class R>
  weft::detail::envelope* run(weft::detail::envelope& e, std::uint64_t next_number,
                              std::vector<persistent_event>& out, bool& rejected) {
    effect<State, Event, R> decided = def_.on_command(std::as_const(state_), weft::detail::payload<M>(e));
    if (decided.rejected()) {
      rejected = true;
      return weft::detail::make_envelope(weft::detail::reply_error{decided.rejection()},
                                         weft::detail::envelope_kind::reply);
    }
    for (Event& event : decided.events()) {
      out.push_back(make_event(next_number++, event, options_.event_manifest, options_.event_schema_version));
      apply_event(def_, state_, event);
    }
    if constexpr (std::is_void_v<R>) {
      return weft::detail::make_envelope(weft::detail::ack_reply{}, weft::detail::envelope_kind::reply);
    } else {
      return weft::detail::make_envelope(decided.reply(state_), weft::detail::envelope_kind::reply);
    }
  }

 private:
  Def def_;
  const options_type& options_;
  State state_;
};

engine_config config_of(std::string persistence_id, persistence::journal* journal,
                        std::function<persistence::journal&()> open_journal, persistence::snapshot_store* snapshots,
                        std::uint64_t snapshot_every, bool delete_events_on_snapshot, std::string snapshot_manifest,
                        std::uint32_t snapshot_schema_version, std::size_t max_batch, std::uint64_t recovery_batch);

template <class Def>
class persistent_body final : public weft::detail::actor_body {
 public:
  using State = typename Def::state_type;
  using Event = typename Def::event_type;
  using protocol_type = persistent_protocol<typename Def::protocol_type, State>;

  persistent_body(Def def, persistent_options<State, Event> options)
      : def_(std::move(def)), options_(std::move(options)) {}

  bool handler_style() const noexcept override { return true; }
  const weft::detail::protocol_info* protocol() const noexcept override {
    return &weft::detail::protocol_info_of<protocol_type>;
  }

  weft::behavior init(context& self) override {
    engine_ = persistent_engine::create(
        std::make_unique<model<Def>>(def_, options_),
        config_of(options_.persistence_id, options_.journal, options_.open_journal, options_.snapshots,
                  options_.snapshot_every, options_.delete_events_on_snapshot, options_.snapshot_manifest,
                  options_.snapshot_schema_version, options_.max_batch, options_.recovery_batch));
    engine_->recover(self);
    persistent_engine* engine = engine_.get();
    return [&]<class... Sig>(weft::detail::type_list<Sig...>) {
      return weft::behavior{
          [engine, &self](const typename weft::detail::signature_traits<Sig>::message&) {
            engine->handle_commands(self);
          }...,
          [engine, &self](get_state) { engine->answer_query(self, query::state); },
          [engine, &self](get_persistence_info) { engine->answer_query(self, query::info); },
          [engine, &self](save_snapshot) { engine->answer_query(self, query::snapshot); },
          [](const write_completed&) {},  // a late one: its wait already ended
      };
    }(weft::detail::signatures_of<typename Def::protocol_type>{});
  }

 private:
  Def def_;
  persistent_options<State, Event> options_;
  std::unique_ptr<persistent_engine> engine_;  // dropped (and the claim with it) when the actor exits
};

template <class Def>
struct persistent_definition {
  using protocol_type = persistent_protocol<typename Def::protocol_type, typename Def::state_type>;
  Def def;
  persistent_options<typename Def::state_type, typename Def::event_type> options;

  std::unique_ptr<weft::detail::actor_body> make_body() const& {
    return std::make_unique<persistent_body<Def>>(def, options);
  }
  std::unique_ptr<weft::detail::actor_body> make_body() && {
    return std::make_unique<persistent_body<Def>>(std::move(def), std::move(options));
  }
};

}  // namespace detail

// The spawnable persistent actor of definition Def (see the top of this
// file): pass it to spawn, spawn_link or a supervisor's worker(). Each
// start (each restart) recovers from the journal. Spawning gives a
// ref<persistent_protocol<Def::protocol_type, Def::state_type>>.
template <class Def>
auto persistent(persistent_options<typename Def::state_type, typename Def::event_type> options, Def def = Def{}) {
  static_assert(detail::check_definition<Def>());
  return detail::persistent_definition<Def>{std::move(def), std::move(options)};
}

}  // namespace weft::persistence
