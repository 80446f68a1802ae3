#pragma once
// Finds cycles of senders blocked on full mailboxes (runtime_options::
// on_send_deadlock): A waits for room in B's mailbox while B waits for
// room in A's, so neither reads and neither ever gets room.
//
// The wait-for graph holds only senders that have been blocked for
// runtime_options::deadlock_check_after: a send that waits shorter never
// touches it, so back-pressure that moves costs nothing here. An untimed
// blocking send that is still waiting when its check time comes (cell::
// deliver in mailbox.cpp) calls watch(), which adds the edge sender ->
// target and follows the edges from the target. Each actor waits on one
// send at a time, so every node has at most one outgoing edge and the walk
// is a list: it ends at an actor that is not blocked (no deadlock) or
// comes back to the sender (a cycle through it).
//
// Why a cycle seen under the mutex is a real deadlock, not a snapshot torn
// by concurrent changes: an edge is added while its sender waits, and
// removed (unwatch) under the same mutex before the sender stops waiting.
// While the walk holds the mutex no edge appears or disappears. An edge's
// waiter may be woken (its target read a message) while the edge is still
// there; the walk reads the waiter's `woken` flag, which only goes from
// false to true while the edge exists. So if every waiter of the cycle reads
// "not woken", each was waiting from before the walk took the mutex until
// the moment it was read, and at the first of those moments all of them
// were waiting at once, each for a mailbox whose owner was itself waiting:
// from then on only an outside event (an exit signal, a shutdown) frees
// any of them. Timed sends (send_for) are never watched: they end by
// themselves.
//
// The sender that closes a cycle is the last of its members to be watched,
// so it is the one that sees it: each cycle is reported once.

#include <weft/runtime/pid.hpp>

#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace weft::detail {

class cell;
class runtime_impl;
struct space_waiter;

class deadlock_watch {
 public:
  explicit deadlock_watch(runtime_impl* rt) : rt_(rt) {}

  // -- a blocked sender (cell::deliver) --
  // `sender` has waited deadlock_check_after for room in `target`'s full
  // mailbox. Adds the edge (until unwatch) and reports a cycle through it.
  // True if a cycle was found and the options say to fail the send.
  bool watch(cell* sender, cell* target, const space_waiter* waiter);
  // The sender stops waiting (woken, timed out, failed, or unwound). Must
  // come before its waiter is destroyed.
  void unwatch(cell* sender);

  // -- any thread (introspection) --
  // The actor `sender` has been blocked sending to for longer than
  // deadlock_check_after, or an empty pid.
  pid blocked_on(const cell* sender) const;

 private:
  struct edge {
    cell* target;
    const space_waiter* waiter;
  };
  // Called with mutex_ held: the report's text for `cycle`.
  std::string describe(const std::vector<cell*>& cycle) const;

  runtime_impl* rt_;
  mutable std::mutex mutex_;
  std::unordered_map<const cell*, edge> edges_;  // under mutex_
};

}  // namespace weft::detail
