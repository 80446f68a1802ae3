#pragma once

// The persistent counter of the message-passing exercises, shared by the
// persistent-actor tests and the measurement program: Increment(n)
// commands, an `incremented` event, the running total as state.

#include <weft/persistence/persistent_actor.hpp>
#include <weft/runtime/weft.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

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

// State: the total. Reply: the total after the command.
using counter = persistent_behavior<std::int64_t, increment, incremented, std::int64_t>;

inline counter counter_behavior() {
  counter b;
  b.on_command = [](const std::int64_t&, const increment& c) -> counter::effect_type {
    if (c.by < 0) return counter::reject("increment by " + std::to_string(c.by) + ": counters only go up");
    return counter::persist(incremented{c.by}).then_reply([](const std::int64_t& total) { return total; });
  };
  b.on_event = [](std::int64_t& total, const incremented& e) { total += e.by; };
  return b;
}

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

// Spawns `fn` linked to a scoped actor (which traps exits), so the exit
// reason cannot be missed however early the actor stops.
class watched {
 public:
  template <class F>
  watched(weft::runtime& rt, F&& fn) : self_(rt) {
    pid_ = self_->spawn_link(std::forward<F>(fn));
  }
  const weft::pid& pid() const { return pid_; }
  // The exit reason, or nullopt if it did not exit within the timeout.
  std::optional<weft::exit_reason> exit_reason(std::chrono::nanoseconds timeout = std::chrono::seconds(20)) {
    auto msg = self_->receive_if<weft::exit_msg>([&](const weft::exit_msg& m) { return m.from == pid_; }, timeout);
    if (!msg) return std::nullopt;
    return msg->reason;
  }

 private:
  weft::scoped_actor self_;
  weft::pid pid_;
};

}  // namespace weft::persistence::test
