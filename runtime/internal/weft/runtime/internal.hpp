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
