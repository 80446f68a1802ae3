#pragma once
// weft::actors::sticky — per-key workers: every message carries a key;
// the messages of one key are handled in order by one actor (an "entity",
// started on first use), different keys by different actors in parallel,
// and an entity idle for idle_timeout is stopped ("passivated") until its
// key comes back. Akka's cluster-sharding entities on one node; Erlang's
// one-process-per-key registry pattern with idle shutdown.
//
//   struct deposit { std::string account; long cents; };
//   struct balance { std::string account; };
//   using accounts = weft::protocol<void(deposit), long(balance)>;
//
//   weft::ref<weft::actors::sticky_protocol<accounts>> s = rt.spawn(weft::actors::sticky<accounts>(
//       [](const auto& m) { return m.account; },               // the key of each message
//       [](const std::string& id) { return account_actor(id); },  // an entity's definition
//       {.idle_timeout = std::chrono::minutes(10)}));
//   self.send(s, deposit{"acc-1", 500});
//   auto cents = self.ask(s, balance{"acc-1"});   // answered by acc-1's entity
//
// What user code does and what the sticky actor (the "shard") does:
//
//   user code / an entity             the shard
//   ---------------------             ---------
//   a message of P, key k ----------> k has no entity: spawns one (linked)
//                                     from make_entity(k). Then the envelope
//                                     moves on to k's entity unchanged (no
//                                     copy); a request is answered by it
//   every check_interval -----------> an entity that got nothing for
//                                     idle_timeout AND has nothing queued is
//                                     passivated: sent exit(shutdown); k is
//                                     now "stopping"
//   a message for a stopping k -----> held at the shard (per key, bounded),
//                                     in arrival order
//   the entity has exited ----------> nothing held: k is forgotten. Held
//                                     messages: a new entity for k is spawned
//                                     and they are handed to it, first, in
//                                     order (ahead of anything newer)
//   it ignores the shutdown for
//   stop_timeout (traps exits) -----> exit(kill)
//   an entity exits by itself or
//   crashes ------------------------> k is forgotten (what its mailbox held
//                                     is lost, as for any actor); the next
//                                     message for k starts a new one
//   ask get_sticky_stats{} ---------> counts (sticky_stats)
//
// Why nothing is lost or reordered across passivation: the shard is the
// only sender to its entities, it passivates only an entity with an empty
// mailbox (its queued-message counter, read after the shard's own sends),
// and from that moment holds the key's messages itself until the entity
// has exited; the old entity therefore handled every message it was given,
// and the new one gets the held ones before anything newer.
//
// Options and defaults (sticky_options):
//
//   idle_timeout      2 min    zero: never passivate
//   check_interval    idle/2   how often idleness is checked, so an entity
//                              goes between idle_timeout and idle_timeout +
//                              check_interval after its last message
//   stop_timeout      5 s      how long a passivated entity may take to stop
//   buffer_capacity   1000     messages held per stopping key; past it a
//                              request is answered delivery_errc::stash_full
//                              and a plain message is a dead letter
//   entity            {}       spawn options of each entity
//
// Idleness is measured on the runtime clock (a manual_clock in tests).
//
// Hazards: one shard is one actor: every message passes through it (one
// hop, no copy). The key function runs for every message, in the shard:
// keep it cheap. Entities are the shard's linked children: if the shard
// exits they do too. An entity's own timers (send_after to itself) do not
// keep it alive. Keys need std::hash and ==; make_entity is called in the
// shard, so it must not block.
//
// Differences from Akka: no entity-initiated passivation message (an
// entity that stops itself simply stops; messages the shard sent it after
// that point are dead letters); a stop is an exit signal (shutdown), not
// a user-chosen stop message; no remember-entities.

#include <weft/actors/detail/forward.hpp>
#include <weft/actors/stash.hpp>
#include <weft/runtime/actor.hpp>
#include <weft/runtime/behavior.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/exit_reason.hpp>
#include <weft/runtime/messages.hpp>
#include <weft/runtime/options.hpp>
#include <weft/runtime/pid.hpp>
#include <weft/runtime/protocol.hpp>
#include <weft/runtime/runtime.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>
#include <unordered_map>
#include <utility>

namespace weft::actors {

struct sticky_options {
  std::chrono::nanoseconds idle_timeout = std::chrono::minutes(2);
  std::chrono::nanoseconds check_interval = std::chrono::nanoseconds::zero();  // zero: idle_timeout / 2
  std::chrono::nanoseconds stop_timeout = std::chrono::seconds(5);
  std::size_t buffer_capacity = 1000;
  spawn_options entity{};
};

// Throws std::invalid_argument naming the first bad option.
void validate(const sticky_options& options);

struct sticky_stats {
  std::size_t entities = 0;     // keys with an entity, stopping ones included
  std::size_t stopping = 0;     // of which passivated and not yet exited
  std::size_t held = 0;         // messages held for stopping keys
  std::uint64_t started = 0;    // entities ever spawned
  std::uint64_t passivated = 0; // entities ever passivated for idleness
  std::uint64_t held_total = 0; // messages ever held (they came while their key was stopping)
};
struct get_sticky_stats {};

namespace detail {

struct sticky_sweep {};
// The stop deadline of one passivation (stale ones are ignored).
struct sticky_stop_due {
  pid entity;
  std::uint64_t generation;
};

// The key type KeyFn returns for the message of signature S.
template <class KeyFn, class S>
using key_of_t =
    std::decay_t<std::invoke_result_t<const KeyFn&, const typename weft::detail::signature_traits<S>::message&>>;

template <class K, class KeyFn, class List>
struct keys_agree;
template <class K, class KeyFn, class... S>
struct keys_agree<K, KeyFn, weft::detail::type_list<S...>> {
  static constexpr bool value = (std::is_same_v<K, key_of_t<KeyFn, S>> && ...);
};

template <class KeyFn, class List>
struct first_key;
template <class KeyFn, class S, class... Rest>
struct first_key<KeyFn, weft::detail::type_list<S, Rest...>> {
  using type = key_of_t<KeyFn, S>;
};

}  // namespace detail

template <class P>
struct sticky_protocol
    : extend<P, sticky_stats(get_sticky_stats), void(detail::sticky_sweep), void(detail::sticky_stop_due)> {};

namespace detail {

template <class P, class K, class KeyFn, class Factory>
class sticky_core {
 public:
  sticky_core(KeyFn key_of, Factory make_entity, sticky_options options)
      : key_of_(std::move(key_of)), make_entity_(std::move(make_entity)), options_(std::move(options)) {}

  // -- the shard actor only -------------------------------------------------

  template <class M>
  void route(context& self, const M& message) {
    K key = std::invoke(key_of_, message);
    auto it = entities_.find(key);
    if (it == entities_.end()) {
      it = entities_.try_emplace(std::move(key), options_.buffer_capacity).first;
      if (!spawn(self, it)) {
        entities_.erase(it);
        refuse_current(self, error(ask_errc::stopping, "sticky " + self.self().to_string() +
                                                           ": could not start an entity (is the runtime stopping?)"));
        return;
      }
    } else if (it->second.stopping) {
      if (auto held = it->second.held.stash(self); !held) {
        refuse_current(self, held.error());
      } else {
        ++held_total_;
      }
      return;
    }
    it->second.last = self.system().clock().now();
    forward_current(self, it->second.who);
  }

  void sweep(context& self) {
    const auto now = self.system().clock().now();
    for (auto& [key, e] : entities_) {
      if (e.stopping) {
        // The stop timer's message may have been refused by a full mailbox:
        // the sweep is the backstop.
        if (!e.killed && now >= e.stop_deadline) kill(self, e);
        continue;
      }
      if (now - e.last < options_.idle_timeout) continue;
      // Still working through what it was given: not idle.
      if (queued_messages(e.who) != 0) continue;
      e.stopping = true;
      e.generation = ++generation_;
      e.stop_deadline = now + options_.stop_timeout;
      self.exit(e.who, exit_reason::shutdown());
      e.stop_timer = self.send_after(options_.stop_timeout, self.self(), sticky_stop_due{e.who, e.generation});
      ++passivated_;
    }
  }

  void on_stop_due(context& self, const sticky_stop_due& due) {
    auto k = keys_.find(due.entity);
    if (k == keys_.end()) return;
    entity& e = entities_.find(k->second)->second;
    if (e.stopping && !e.killed && e.generation == due.generation) kill(self, e);
  }

  void on_exit(context& self, const exit_msg& m) {
    auto k = keys_.find(m.from);
    if (k == keys_.end()) {
      // Not an entity: obey it as an actor that does not trap exits would.
      if (!m.reason.is_normal()) self.exit(m.reason);
      return;
    }
    auto it = entities_.find(k->second);
    keys_.erase(k);
    entity& e = it->second;
    if (e.stop_timer) self.cancel_timer(e.stop_timer);
    if (e.held.empty()) {
      entities_.erase(it);
      return;
    }
    // Messages came for the key while its entity stopped: a new one takes
    // them, before anything newer (they go back to the head of this actor's
    // queue and route() sends them on).
    if (!spawn(self, it)) {
      e.held.clear(self, error(ask_errc::stopping, "sticky " + self.self().to_string() +
                                                      ": could not restart an entity (is the runtime stopping?)"));
      entities_.erase(it);
      return;
    }
    e.held.unstash_all(self);
  }

  sticky_stats stats() const {
    sticky_stats s;
    s.entities = entities_.size();
    for (const auto& [key, e] : entities_) {
      if (e.stopping) ++s.stopping;
      s.held += e.held.size();
    }
    s.started = started_;
    s.passivated = passivated_;
    s.held_total = held_total_;
    return s;
  }

 private:
  struct entity {
    explicit entity(std::size_t capacity) : held(capacity) {}
    pid who;
    std::chrono::steady_clock::time_point last{};
    bool stopping = false;
    bool killed = false;
    std::uint64_t generation = 0;
    std::chrono::steady_clock::time_point stop_deadline{};
    timer_ref stop_timer;
    stash_buffer held;  // messages for the key while `stopping`
  };
  using entity_map = std::unordered_map<K, entity>;

  bool spawn(context& self, typename entity_map::iterator it) {
    entity& e = it->second;
    e.who = self.spawn_link(make_entity_(it->first), options_.entity);
    e.stopping = false;
    e.killed = false;
    e.stop_timer = {};
    e.last = self.system().clock().now();
    if (!e.who) return false;
    keys_.emplace(e.who, it->first);
    ++started_;
    return true;
  }

  void kill(context& self, entity& e) {
    e.killed = true;
    self.exit(e.who, exit_reason::kill());
  }

  KeyFn key_of_;
  Factory make_entity_;
  sticky_options options_;
  entity_map entities_;
  std::unordered_map<pid, K> keys_;  // entity -> its key
  std::uint64_t generation_ = 0;
  std::uint64_t started_ = 0;
  std::uint64_t passivated_ = 0;
  std::uint64_t held_total_ = 0;
};

}  // namespace detail

// A sticky shard for protocol P, as a definition for spawn: spawning it
// gives ref<sticky_protocol<P>>, which converts to ref<P>. key_of is called
// with each message type of P (const M&) and must return the same key type
// K for all; make_entity(const K&) returns the definition of k's entity (a
// typed definition whose protocol includes P). Bad options throw
// std::invalid_argument here, not in the actor.
template <class P, class KeyFn, class Factory>
auto sticky(KeyFn key_of, Factory make_entity, sticky_options options = {}) {
  using signatures = weft::detail::signatures_of<P>;
  using key_type = typename detail::first_key<KeyFn, signatures>::type;
  static_assert(detail::keys_agree<key_type, KeyFn, signatures>::value,
                "sticky: the key function must return the same key type for every message type of the protocol");
  using entity_definition = std::invoke_result_t<Factory&, const key_type&>;
  using entity_protocol = weft::detail::definition_protocol<entity_definition>;
  static_assert(weft::detail::includes_list<entity_protocol, signatures>::value,
                "sticky<P>: make_entity must return a typed definition whose protocol includes every message of P");
  validate(options);
  if (options.check_interval == std::chrono::nanoseconds::zero()) options.check_interval = options.idle_timeout / 2;
  return [key_of = std::move(key_of), make_entity = std::move(make_entity),
          options = std::move(options)](context& self) -> behavior_of<sticky_protocol<P>> {
    auto core = std::make_shared<detail::sticky_core<P, key_type, KeyFn, Factory>>(key_of, make_entity, options);
    self.trap_exit(true);
    if (options.idle_timeout > std::chrono::nanoseconds::zero()) {
      self.send_interval(options.check_interval, self.self(), detail::sticky_sweep{});
    }
    return detail::forwarding_behavior<sticky_protocol<P>>(
        self, core, signatures{}, [core](get_sticky_stats) { return core->stats(); },
        [&self, core](detail::sticky_sweep) { core->sweep(self); },
        [&self, core](const detail::sticky_stop_due& due) { core->on_stop_due(self, due); },
        [&self, core](const exit_msg& m) { core->on_exit(self, m); });
  };
}

}  // namespace weft::actors
