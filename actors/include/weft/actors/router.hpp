#pragma once
// weft::actors::router — an actor that speaks protocol P by handing each
// message to one of its routees (or all of them), chosen by a strategy.
//
//   using work = weft::protocol<int(job)>;
//   std::vector<weft::ref<work>> workers = ...;
//   weft::ref<weft::actors::routed<work>> r =
//       rt.spawn(weft::actors::router(workers, weft::actors::round_robin{}));
//   weft::ref<work> as_work = r;             // a router for P is a ref<P>
//   weft::expected<int> n = self.ask(as_work, job{7});  // a routee answers
//
// What user code does and what the router does:
//
//   user code                          the router actor
//   ---------                          ----------------
//   send / ask a message of P -------> strategy picks a routee; the message's
//                                      envelope moves on to it unchanged (no
//                                      copy), so a request is answered by the
//                                      routee straight to the asker
//   no routee left ------------------> a request is answered with
//                                      delivery_errc::no_routee; a plain
//                                      message becomes a dead letter
//   add_routee<P>{r} / remove_routee --> the routee joins (monitored) / leaves
//   a routee exits ------------------> its down_msg removes it
//   ask get_routees{} ----------------> the current routees, in order
//
// Strategies (the Strategy template argument; each one a small value type):
//
//   round_robin          routees in turn
//   random_routing       uniformly at random (seedable, for tests)
//   smallest_mailbox     the routee with the fewest queued messages, read
//                        from the runtime's per-actor counter (one relaxed
//                        load per routee per message, no lock); ties go
//                        round robin
//   broadcast            every routee gets the message (copies; the first
//                        routee gets the original, and answers a request)
//   consistent_hashing   by a key your function extracts from each message,
//                        on a hash ring with virtual nodes (consistent_hash.hpp):
//                        one key always goes to the same routee while the
//                        routee set stays, and a change moves ~1/n of keys
//
// A strategy of your own is a type with
//   std::size_t select(const M& message, std::span<const routee> routees)
//       for each message type M of P (routees is never empty; return an index)
//   void routees_changed(std::span<const routee> routees)   after any change
//   and, to send every message to all routees, static constexpr bool sends_to_all = true;
//
// Cost: one hop through the router's mailbox, the strategy's choice, and
// a send of the same envelope; the message is never copied (but for
// broadcast). A request costs one pid copy more (to answer the asker if the
// routee turns out dead).
//
// Hazards: the router is one actor, so its mailbox is a funnel; give it a
// larger mailbox (spawn_options) if many senders go through it. A routee
// that dies between the router's choice and its down_msg loses what it was
// given, like any dead actor (requests are answered no_actor). Ordering:
// messages from one sender to one routee stay in order; round robin spreads
// one sender's messages over routees, so they may be handled out of order
// (consistent hashing keeps one key's messages in order).
//
// For Akka users: a group router (Routers.group) with the routees given
// as refs rather than found through the receptionist; a pool router is
// pool.hpp. For Erlang users: what poolboy / gproc-style dispatch does by
// hand, as one actor.

#include <weft/actors/consistent_hash.hpp>
#include <weft/actors/delivery_error.hpp>
#include <weft/actors/detail/forward.hpp>
#include <weft/runtime/behavior.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/messages.hpp>
#include <weft/runtime/pid.hpp>
#include <weft/runtime/protocol.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace weft::actors {

// One routee as strategies see it: its pid and its node id on a hash ring
// (the pid's id for a router; a stable slot number for a pool, so that a
// restarted worker takes back exactly its keys).
struct routee {
  pid who{};
  std::uint64_t node = 0;
};

// -- control messages (in every router's protocol) -----------------------

template <class P>
struct add_routee {
  ref<P> routee{};
};
template <class P>
struct remove_routee {
  ref<P> routee{};
};
// Answered with the current routees, std::vector<ref<P>>.
struct get_routees {};

// The protocol of a router for P: P, plus its control messages. A
// ref<routed<P>> converts to ref<P>.
template <class P>
struct routed : extend<P, void(add_routee<P>), void(remove_routee<P>), std::vector<ref<P>>(get_routees)> {};

// -- strategies -------------------------------------------------------------

class round_robin {
 public:
  template <class M>
  std::size_t select(const M&, std::span<const routee> routees) noexcept {
    return next_++ % routees.size();
  }
  void routees_changed(std::span<const routee>) noexcept {}

 private:
  std::size_t next_ = 0;
};

class random_routing {
 public:
  // seed 0: a different sequence per router (from the router's address).
  explicit random_routing(std::uint64_t seed = 0) noexcept : state_(seed) {}
  template <class M>
  std::size_t select(const M&, std::span<const routee> routees) noexcept {
    if (state_ == 0) state_ = reinterpret_cast<std::uintptr_t>(this) | 1u;
    // The top 32 bits of the draw scaled onto [0, size) (Lemire's
    // multiply-shift in 64-bit arithmetic): a bias of at most size / 2^32,
    // none worth a rejection loop for routee counts far below 2^32.
    return static_cast<std::size_t>(((next() >> 32) * static_cast<std::uint64_t>(routees.size())) >> 32);
  }
  void routees_changed(std::span<const routee>) noexcept {}

 private:
  std::uint64_t next() noexcept { return hash_key(state_++); }
  std::uint64_t state_;
};

namespace detail {
// The index of the routee with the fewest queued messages, scanning from
// `start` (so ties rotate); stops early at an empty mailbox.
std::size_t least_loaded(std::span<const routee> routees, std::size_t start) noexcept;
}  // namespace detail

class smallest_mailbox {
 public:
  template <class M>
  std::size_t select(const M&, std::span<const routee> routees) noexcept {
    return detail::least_loaded(routees, next_++ % routees.size());
  }
  void routees_changed(std::span<const routee>) noexcept {}

 private:
  std::size_t next_ = 0;
};

struct broadcast {
  static constexpr bool sends_to_all = true;
  template <class M>
  std::size_t select(const M&, std::span<const routee>) noexcept {
    return 0;
  }
  void routees_changed(std::span<const routee>) noexcept {}
};

// KeyFn: called with each message type of P (const M&), returns the key:
// an integer, a string, or anything with std::hash (consistent_hash.hpp's
// key_hash). A generic lambda, [](const auto& m) { return m.customer; },
// serves every type that has the field.
template <class KeyFn>
class consistent_hashing {
 public:
  explicit consistent_hashing(KeyFn key_of, std::size_t virtual_nodes = hash_ring::default_virtual_nodes)
      : key_of_(std::move(key_of)), ring_(virtual_nodes) {}

  template <class M>
  std::size_t select(const M& message, std::span<const routee> routees) {
    static_assert(std::is_invocable_v<const KeyFn&, const M&>,
                  "consistent_hashing: the key function must accept every message type of the protocol (const M&)");
    const std::uint64_t node = *ring_.owner(key_hash(std::invoke(key_of_, message)));
    // Few routees, and a changed set rebuilds the ring anyway: a scan is
    // cheaper than keeping a map from node to index in step.
    for (std::size_t i = 0; i < routees.size(); ++i) {
      if (routees[i].node == node) return i;
    }
    return 0;  // unreachable while the ring mirrors `routees`
  }
  void routees_changed(std::span<const routee> routees) {
    ring_ = hash_ring(ring_.virtual_nodes());
    for (const routee& r : routees) ring_.add(r.node);
  }
  const hash_ring& ring() const noexcept { return ring_; }

 private:
  KeyFn key_of_;
  hash_ring ring_;
};

namespace detail {

template <class Strategy>
inline constexpr bool sends_to_all_v = requires { requires Strategy::sends_to_all; };

template <class P, class Strategy>
class router_core {
 public:
  explicit router_core(Strategy strategy) : strategy_(std::move(strategy)) {}

  // -- the owning actor only ----------------------------------------------

  template <class M>
  void route(context& self, const M& message) {
    if (routees_.empty()) {
      refuse_current(self, error(delivery_errc::no_routee,
                                 self.self().to_string() + " routes to no live routee now: the " +
                                     std::string(weft::detail::type_name_of<M>()) + " was not delivered"));
      return;
    }
    if constexpr (sends_to_all_v<Strategy>) {
      static_assert(std::is_copy_constructible_v<M>,
                    "broadcast routing copies each message to every routee: the protocol's message types must be "
                    "copyable");
      // Copies first: the original's envelope leaves with the last step.
      for (std::size_t i = 1; i < routees_.size(); ++i) self.send(routees_[i].who, M(message));
      forward_current(self, routees_.front().who);
    } else {
      const std::size_t i = strategy_.select(message, std::span<const routee>(routees_));
      forward_current(self, routees_[i].who);
    }
  }

  // Adds a routee (monitored); false if it is there already or empty.
  bool add(context& self, const pid& who, std::uint64_t node) {
    if (!who || contains(who)) return false;
    routees_.push_back(routee{who, node});
    monitors_.push_back(self.monitor(who));
    strategy_.routees_changed(std::span<const routee>(routees_));
    return true;
  }
  // Removes a routee (and its monitor); false if it was not one.
  bool remove(context& self, const pid& who) {
    const std::size_t i = index_of(who);
    if (i == routees_.size()) return false;
    self.demonitor(monitors_[i]);
    erase(i);
    return true;
  }
  // Removes the routee on ring node `node` unless it is `keep`; false if
  // there was none (a pool's restarted worker replaces its predecessor).
  bool replace_node(context& self, std::uint64_t node, const pid& keep) {
    for (std::size_t i = 0; i < routees_.size(); ++i) {
      if (routees_[i].node == node && routees_[i].who != keep) {
        self.demonitor(monitors_[i]);
        erase(i);
        return true;
      }
    }
    return false;
  }
  // A routee's down_msg: removes it; false if the message was about
  // something else (the caller's own monitors).
  bool on_down(const down_msg& down) {
    for (std::size_t i = 0; i < monitors_.size(); ++i) {
      if (monitors_[i] == down.ref) {
        erase(i);
        return true;
      }
    }
    return false;
  }

  bool contains(const pid& who) const noexcept { return index_of(who) != routees_.size(); }
  std::span<const routee> routees() const noexcept { return routees_; }
  std::size_t size() const noexcept { return routees_.size(); }
  std::vector<ref<P>> refs() const {
    std::vector<ref<P>> out;
    out.reserve(routees_.size());
    // Only refs of P ever join (add_routee<P>, a pool's typed spawn).
    for (const routee& r : routees_) out.push_back(ref<P>::adopt_checked(r.who));
    return out;
  }
  Strategy& strategy() noexcept { return strategy_; }

 private:
  std::size_t index_of(const pid& who) const noexcept {
    std::size_t i = 0;
    while (i < routees_.size() && routees_[i].who != who) ++i;
    return i;
  }
  void erase(std::size_t i) {
    routees_.erase(routees_.begin() + static_cast<std::ptrdiff_t>(i));
    monitors_.erase(monitors_.begin() + static_cast<std::ptrdiff_t>(i));
    strategy_.routees_changed(std::span<const routee>(routees_));
  }

  std::vector<routee> routees_;
  std::vector<monitor_ref> monitors_;  // monitors_[i] watches routees_[i]
  Strategy strategy_;
};

}  // namespace detail

// A router for P over `routees`, as a definition for spawn (or a
// supervisor's worker): spawning it gives ref<routed<P>>. Routees given
// here must be alive (a dead one is dropped at once, by its down_msg).
template <class P, class Strategy = round_robin>
auto router(std::vector<ref<P>> routees, Strategy strategy = {}) {
  return [routees = std::move(routees), strategy = std::move(strategy)](context& self) -> behavior_of<routed<P>> {
    auto core = std::make_shared<detail::router_core<P, Strategy>>(strategy);
    for (const ref<P>& r : routees) core->add(self, r, r.id());
    return detail::forwarding_behavior<routed<P>>(
        self, core, weft::detail::signatures_of<P>{},
        [&self, core](const add_routee<P>& a) { core->add(self, a.routee, a.routee.id()); },
        [&self, core](const remove_routee<P>& r) { core->remove(self, r.routee); },
        [core](get_routees) { return core->refs(); },
        [core](const down_msg& down) { core->on_down(down); });
  };
}

}  // namespace weft::actors
