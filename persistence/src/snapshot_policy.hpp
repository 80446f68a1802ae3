#pragma once
// When a persistent actor tries an automatic snapshot again after failures
// (a small pure policy, tested alone).

#include <cstdint>

namespace weft::persistence::detail {

// Automatic snapshots back off after failures, in events rather than time:
// what a missing snapshot costs is the events the next start replays, and
// events need no timer. After `failures_in_row` failed attempts the next
// one waits this many events: snapshot_every, doubled per failure, capped
// at 65,536 (or snapshot_every if larger), so a store that comes back is
// used again within one recovery batch's worth of events.
std::uint64_t snapshot_retry_gap(std::uint64_t snapshot_every, std::uint64_t failures_in_row) noexcept;

}  // namespace weft::persistence::detail
