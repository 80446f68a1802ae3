#pragma once
// The persistent counter that the persist and recover workloads drive:
// state is the running total, an event is the amount added (8 bytes through
// the integer codec), the reply to `increment` is the total after it.

#include <weft/persistence/persistent_actor.hpp>

#include <cstdint>

namespace weft_bench {

struct increment {
  std::int64_t by = 1;
};

using incremented_by = std::int64_t;
using counter_protocol = weft::protocol<std::int64_t(increment)>;

struct counter : weft::persistence::event_sourced<counter_protocol, std::int64_t, incremented_by> {
  effect<std::int64_t> on_command(const std::int64_t&, const increment& c) const {
    return persist(c.by).then_reply([](const std::int64_t& total) { return total; });
  }
  void on_event(std::int64_t& total, const incremented_by& by) const { total += by; }
};

}  // namespace weft_bench
