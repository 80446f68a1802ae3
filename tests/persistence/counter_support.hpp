#pragma once

// The persistent counter of the message-passing exercises, shared by the
// persistent-actor tests and the measurement program: increment(n)
// commands, an `incremented` event, the running total as state; and
// `watched`, which spawns an actor linked to the test's scoped_actor so
// its exit reason cannot be missed.

#include <weft/persistence/persistent_actor.hpp>
#include <weft/runtime/weft.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace weft::persistence::test {

struct increment {
  std::int64_t by = 1;
};

struct incremented {
  std::int64_t by = 0;
};

}  // namespace weft::persistence::test

template <>
struct weft::persistence::codec<weft::persistence::test::incremented> {
  static void encode(const test::incremented& e, byte_writer& out) { out.write(e.by); }
  static test::incremented decode(byte_reader& in) { return {in.read<std::int64_t>()}; }
};

namespace weft::persistence::test {

// An increment answers the total after it.
using counter_protocol = weft::protocol<std::int64_t(increment)>;

// State: the total.
struct counter : event_sourced<counter_protocol, std::int64_t, incremented> {
  effect<std::int64_t> on_command(const std::int64_t&, const increment& c) const {
    if (c.by < 0) return reject("increment by " + std::to_string(c.by) + ": counters only go up");
    return persist(incremented{c.by}).then_reply([](const std::int64_t& total) { return total; });
  }
  void on_event(std::int64_t& total, const incremented& e) const { total += e.by; }
};

// What spawning persistent<counter> gives.
using counter_ref = weft::ref<persistent_protocol<counter_protocol, std::int64_t>>;

inline persistent_options<std::int64_t, incremented> counter_options(std::string id, journal* j,
                                                                     snapshot_store* snapshots = nullptr,
                                                                     std::uint64_t snapshot_every = 0) {
  persistent_options<std::int64_t, incremented> o;
  o.persistence_id = std::move(id);
  o.journal = j;
  o.snapshots = snapshots;
  o.snapshot_every = snapshot_every;
  o.event_manifest = "counter.incremented";
  o.snapshot_manifest = "counter.total";
  return o;
}

// Spawns a definition linked to `self` (a scoped_actor traps exits), so the
// exit reason cannot be missed however early the actor stops. Several may
// share one scoped_actor: each waits only for its own actor's exit.
template <class Ref>
class watched {
 public:
  template <class D>
  watched(weft::context& self, D&& definition) : self_(self), ref_(self.spawn_link(std::forward<D>(definition))) {}

  const Ref& ref() const { return ref_; }
  const weft::pid& pid() const { return ref_; }
  // The exit reason, or nullopt if it did not exit within the timeout.
  std::optional<weft::exit_reason> exit_reason(std::chrono::nanoseconds timeout = std::chrono::seconds(20)) {
    const weft::pid& me = ref_;
    auto msg = self_.receive_if<weft::exit_msg>([&](const weft::exit_msg& m) { return m.from == me; }, timeout);
    if (!msg) return std::nullopt;
    return msg->reason;
  }

 private:
  weft::context& self_;
  Ref ref_;
};

template <class D>
watched(weft::context&, D&&) -> watched<decltype(std::declval<weft::context&>().spawn_link(std::declval<D>()))>;

}  // namespace weft::persistence::test
