// The shutdown protocol: how a supervisor stops its children.
//
// For each child of a batch (stop_batch):
//   1. Monitor it. The `down` arrives whatever happens: also when the child
//      unlinked itself from the supervisor (so it cannot hang the stop) and
//      when it was already dead (reason `noproc`).
//   2. Send it exit(shutdown) — or exit(kill) for brutal_kill. The link
//      stays: a child that does not trap exits stops at once.
//   3. Wait for its `down` until its deadline (the start of the stop plus
//      its shutdown timeout; none for infinity). A child still alive at its
//      deadline (it traps exits and ignores the signal, or is slow) gets
//      exit(kill), which it cannot trap; then wait for the `down` again.
//   4. Take its link's exit_msg out of the mailbox. A dying actor signals
//      its links before its monitors, so that message is already queued
//      once the `down` is here. Left there it would later look like a crash
//      of a child that no longer exists (it would be ignored: its pid is no
//      child's any more); taking it keeps the mailbox clean and recovers
//      the real exit reason when the monitor came too late to see it.
// A batch signals every member first and then waits, so it takes as long
// as its slowest member (dynamic supervisors stop children in parallel);
// ordered stops are batches of one, in reverse start order. Other messages
// (exits of other children, requests) stay queued meanwhile and are
// handled after the stop, against the new state.

#include "supervisor_core.hpp"

#include <weft/runtime/runtime.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <optional>

namespace weft::sup::detail {

void supervisor_core::stop_batch(context& self, const std::vector<child*>& batch) {
  struct waiting {
    child* c;
    pid who;
    monitor_ref ref;
    std::chrono::steady_clock::time_point deadline;
    bool has_deadline;
    bool killed;
    bool done;
  };
  std::vector<waiting> list;
  std::unordered_map<std::uint64_t, std::size_t> by_ref;
  list.reserve(batch.size());
  // Real time, not spec_.clock: these are the children's real grace periods.
  const auto begin = std::chrono::steady_clock::now();
  for (child* c : batch) {
    if (!c->current) continue;
    waiting w{c, c->current, self.monitor(c->current), {}, false, false, false};
    const shutdown_spec how = c->spec->effective_shutdown();
    if (how.how() == shutdown_spec::mode::brutal_kill) {
      self.exit(w.who, exit_reason::kill());
      w.killed = true;
    } else {
      self.exit(w.who, exit_reason::shutdown());
      if (how.how() == shutdown_spec::mode::timeout) {
        w.has_deadline = true;
        w.deadline = begin + how.grace();
      }
    }
    by_ref.emplace(w.ref.value, list.size());
    list.push_back(std::move(w));
  }
  std::size_t left = list.size();
  while (left > 0) {
    std::optional<std::chrono::steady_clock::time_point> next;
    for (const waiting& w : list) {
      if (!w.done && !w.killed && w.has_deadline && (!next || w.deadline < *next)) next = w.deadline;
    }
    std::chrono::nanoseconds timeout = weft::detail::no_timeout;
    if (next) timeout = std::max(std::chrono::nanoseconds::zero(), *next - std::chrono::steady_clock::now());
    std::optional<down_msg> down =
        self.receive_if<down_msg>([&](const down_msg& d) { return by_ref.count(d.ref.value) != 0; }, timeout);
    if (down) {
      auto at = by_ref.find(down->ref.value);
      waiting& w = list[at->second];
      by_ref.erase(at);
      w.done = true;
      --left;
      exit_reason reason = down->reason;
      std::optional<exit_msg> linked = self.receive_if<exit_msg>([&](const exit_msg& m) { return m.from == w.who; },
                                                                 std::chrono::nanoseconds::zero());
      if (linked && reason.code() == exit_reason::kind::noproc) reason = linked->reason;
      by_pid_.erase(w.who);
      w.c->current = pid();
      report(self, event_kind::child_stopped, w.who,
             fmt::format("supervisor '{}': child {} {} stopped: {}{}", spec_.id, label(*w.c), w.who.to_string(),
                         reason.to_string(), w.killed && w.has_deadline ? " (killed at its shutdown deadline)" : ""));
      continue;
    }
    const auto t = std::chrono::steady_clock::now();
    for (waiting& w : list) {
      if (!w.done && !w.killed && w.has_deadline && w.deadline <= t) {
        self.exit(w.who, exit_reason::kill());
        w.killed = true;
      }
    }
  }
}

void supervisor_core::stop_one(context& self, child& c) {
  stop_batch(self, {&c});
}

void supervisor_core::stop_all(context& self) {
  if (dynamic()) {
    std::vector<child*> running;
    for (auto& c : children_) {
      if (c->current) running.push_back(c.get());
    }
    stop_batch(self, running);
    return;
  }
  for (std::size_t i = children_.size(); i-- > 0;) {
    if (children_[i]->current) stop_one(self, *children_[i]);
  }
}

}  // namespace weft::sup::detail
