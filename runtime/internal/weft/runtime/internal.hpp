#pragma once
// Hooks of the runtime for weft's own modules (supervisor, persistence,
// shell), not for users: this header is not installed, and only targets
// built with weft link `weft_runtime_internal`. What a user may call is in
// the public headers; what is here exists because a module needs a step
// of the runtime that no public operation should offer.

#include <weft/runtime/context.hpp>
#include <weft/runtime/runtime.hpp>
#include <weft/runtime/pid.hpp>

#include <cstdint>
#include <utility>

namespace weft::detail {
class cell;
class runtime_impl;
struct envelope;
}  // namespace weft::detail

namespace weft::internal {

// The control block behind a context (for the runtime's own sources and
// modules that need a step the public API does not offer).
struct context_access {
  static detail::cell* cell(context& self) noexcept { return self.cell_; }
  static detail::cell* cell(const context& self) noexcept { return self.cell_; }
};

// The message `self` is handling now (nullptr between messages): what a
// handler's arguments came from, for code that works on envelopes.
detail::envelope* current_message(context& self) noexcept;

// Takes the message `self` is handling now out of its handling, for code
// that hands messages on without copying them (weft/actors: routers,
// sticky workers, stashes). The caller then owns the envelope: send it
// with detail::send_envelope, keep it, or delete it. The runtime neither
// answers nor deletes it when the handler returns, and its mailbox slot is
// released now. A request keeps its asker (reply_to, request_id), so
// whoever handles it later answers the asker directly. nullptr between
// messages or if already taken. The handler must not touch its message
// argument afterwards (it lives in the envelope). Owner only.
detail::envelope* take_current(context& self) noexcept;

// Puts messages taken with take_current back at the head of `self`'s
// queue, ahead of everything queued (also of messages a selective receive
// skipped), oldest first: `first`..`last` linked through their `next`
// fields. They take mailbox slots again, over capacity if need be (nothing
// waits, nothing is dropped here). Owner only.
void requeue_front(context& self, detail::envelope* first, detail::envelope* last) noexcept;

// The user messages queued for `who` (the one being handled included),
// 0 for an empty pid: one relaxed load, no lock, so a hint that may lag
// (a load after the caller's own send to `who` sees that send). Any thread.
std::size_t mailbox_length(const pid& who) noexcept;

// The implementation behind a public runtime.
struct runtime_access {
  static detail::runtime_impl* impl(runtime& rt) noexcept;
};

// Service threads of weft's modules (the shell's endpoint) that act on
// actors without being one: no sender pid, never blocks, so a full
// mailbox answers at once. Any thread.
template <class T>
send_status try_send_anonymous(runtime& rt, const pid& to, T&& message) {
  return detail::send_envelope(runtime_access::impl(rt), nullptr, to, detail::make_envelope(std::forward<T>(message)),
                               detail::send_mode::try_once, detail::no_timeout);
}
// An exit signal from no actor (its `from` is an empty pid). Any thread.
void send_exit_signal(const pid& target, exit_reason reason);

// Supervisors: every actor `self` spawns while this scope lives starts with
// this restart count, set before the actor is visible to anyone (its name,
// introspection), so `info` never shows a restarted child with a stale
// count. Owner only: `self` is the calling actor.
class spawn_restarts_scope {
 public:
  spawn_restarts_scope(context& self, std::uint32_t restarts) noexcept;
  ~spawn_restarts_scope();
  spawn_restarts_scope(const spawn_restarts_scope&) = delete;
  spawn_restarts_scope& operator=(const spawn_restarts_scope&) = delete;

 private:
  context& self_;
  std::uint32_t previous_;
};

}  // namespace weft::internal
