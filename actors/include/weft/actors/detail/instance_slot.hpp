#pragma once
// Which actor currently runs a restartable service (a pg scope, a
// registry, a pub/sub broker), shared by all of that service's handles.
//
// A handle is made before its actor runs and outlives restarts: a
// supervisor's restart spawns a new actor for the same handle, and every
// copy of the handle then talks to the new one. The slot records which
// actor is current:
//
//   1. start (start / start_link / a child_spec's start function) checks,
//      under the slot's mutex, that no recorded instance is alive, spawns,
//      and records the new pid, all before any other start can look: two
//      racing starts cannot both spawn.
//   2. The actor clears the slot when its state is destroyed (that happens
//      also after `kill`, which skips on_exit hooks), and only if the slot
//      still names it: a late destructor never erases its successor.
//   3. A crash between the spawn and step 1's record leaves a dead pid
//      recorded; calls through the handle then fail as for any dead actor
//      (ask_errc::no_actor), and the next start replaces it.
//
// Thread safety: every member may be called from any thread.

#include <weft/runtime/pid.hpp>
#include <weft/runtime/runtime.hpp>

#include <mutex>
#include <utility>

namespace weft::actors::detail {

class instance_slot {
 public:
  pid current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }

  // Spawns with `spawn()` (returning the new pid, empty on failure) unless
  // a recorded instance is still alive in `rt`. Returns the new pid, or
  // an empty pid and sets `already` if one runs.
  template <class Spawn>
  pid start(runtime& rt, Spawn&& spawn, bool& already) {
    std::lock_guard lock(mutex_);
    if (current_) {
      const auto info = rt.info(current_);
      already = info.has_value() && info->status != actor_status::dead;
    } else {
      already = false;
    }
    if (already) return {};
    current_ = spawn();
    return current_;
  }

  void clear_if(const pid& who) {
    std::lock_guard lock(mutex_);
    if (current_ == who) current_ = pid();
  }

 private:
  mutable std::mutex mutex_;
  pid current_;
};

}  // namespace weft::actors::detail
