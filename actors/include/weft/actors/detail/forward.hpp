#pragma once
// How weft's actors hand a message on without copying it (routers, pools,
// sticky workers, the backoff buffer): the envelope the runtime delivered
// moves on to the next actor as it is, and a request keeps its asker, so
// the actor that finally handles it answers the asker directly. The
// message is never copied or moved; its handler in the forwarding actor
// takes it by const reference and must not touch it after handing it on.
//
//   asker ──ask(m)──> router ──same envelope──> routee
//     ^                                            │
//     └──────────────── reply ─────────────────────┘
//
// Every function here is owner-only: call it from a handler of the actor
// `self`, about the message that handler is handling now.

#include <weft/runtime/behavior.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/error.hpp>
#include <weft/runtime/messages.hpp>
#include <weft/runtime/pid.hpp>
#include <weft/runtime/protocol.hpp>

#include <cstddef>
#include <memory>
#include <utility>

namespace weft::actors::detail {

// Hands the message being handled to `to`, as self.send would (a full
// block-policy mailbox suspends the caller). When it cannot be delivered
// (`to` is dead or empty, or its mailbox refused it), a request is
// answered at once with the reason and a plain message is counted as a
// dead letter by the runtime, as any failed send is.
send_status forward_current(context& self, const pid& to);

// Refuses the message being handled: a request is answered with `why`, a
// plain message is counted as a dead letter (cause dead_actor: it had no
// actor to go to).
void refuse_current(context& self, const error& why);

// The user messages queued for `who`, the one it is handling included
// (0 for an empty pid): one relaxed atomic load, no lock, so a hint that may
// lag behind the actor's progress (never behind the caller's own sends).
// Any thread.
std::size_t queued_messages(const pid& who) noexcept;

// A behavior for protocol Proto (P plus the forwarding actor's own
// messages): one handler per message type of P, calling
// core->route(self, message), followed by the `extra` handlers. Each
// handler takes its message by const reference, so the payload stays in
// the envelope that moves on.
template <class Proto, class Core, class... S, class... Extra>
behavior_of<Proto> forwarding_behavior(context& self, std::shared_ptr<Core> core, weft::detail::type_list<S...>,
                                       Extra&&... extra) {
  return behavior_of<Proto>(
      [&self, core](const typename weft::detail::signature_traits<S>::message& message) {
        core->route(self, message);
      }...,
      std::forward<Extra>(extra)...);
}

}  // namespace weft::actors::detail
