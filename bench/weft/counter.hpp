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
using counter = weft::persistence::persistent_behavior<std::int64_t, increment, incremented_by, std::int64_t>;

inline counter counter_behavior() {
  counter b;
  b.on_command = [](const std::int64_t&, const increment& c) {
    return counter::persist(c.by).then_reply([](const std::int64_t& total) { return total; });
  };
  b.on_event = [](std::int64_t& total, const incremented_by& by) { total += by; };
  return b;
}

}  // namespace weft_bench
