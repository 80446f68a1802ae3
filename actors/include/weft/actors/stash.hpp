#pragma once
// weft::actors::stash_buffer — a bounded stash: an actor sets aside the
// message it is handling now, to handle it later (Akka Typed's StashBuffer;
// what an Erlang gen_statem does with `postpone`).
//
// The usual shape: while initializing (or waiting for a resource) stash
// what cannot be handled yet; once ready, unstash everything and carry on:
//
//   struct loading {
//     weft::actors::stash_buffer stash{100};
//     bool ready = false;
//   };
//   ... [&self, st](const get& g) -> void {
//         if (!st->ready) {
//           if (auto ok = st->stash.stash(self); !ok) self.reply(ok.error());
//           return;
//         }
//         self.reply(lookup(g));
//       },
//       [&self, st](const loaded&) { st->ready = true; st->stash.unstash_all(self); }
//
// What user code does and what happens:
//
//   user code                           the stash / the runtime
//   ---------                           -----------------------
//   stash.stash(self) in a handler ---> the message being handled (its
//                                       envelope, not a copy) moves into the
//                                       stash; a request keeps its asker and
//                                       is NOT answered when the handler
//                                       returns. Full: an error
//                                       (delivery_errc::stash_full), and the
//                                       message stays the handler's
//   stash.unstash_all(self) ----------> every stashed message goes back to
//                                       the head of the actor's own queue,
//                                       oldest first, AHEAD of every message
//                                       that arrived meanwhile; after the
//                                       current handler returns (and a
//                                       become() takes effect) they are
//                                       handled one by one as if they had
//                                       just arrived
//   the stash is destroyed -----------> (the actor exited) stashed requests
//                                       are answered ask_errc::actor_down;
//                                       plain messages are dropped
//
// How "ahead of newer messages" works: the runtime's own queue has a front
// part that is always consumed before the mailbox proper (where a
// selective receive leaves what it skipped); unstash_all splices the
// stashed envelopes in at the very front of it (a hook of the runtime,
// internal::requeue_front). There is no copy and no second pass over the
// mailbox. A message stashed again while being re-handled goes to the
// back of the (now empty) stash, in order with any others stashed again.
//
// Capacity: stashed messages do not hold mailbox slots (senders are not
// blocked by what an actor stashed); unstashing takes the slots back, over
// the mailbox's capacity if need be. Use weft::unbounded for no limit.
//
// Owner: the actor whose handler stashes; every member is owner-only (keep
// the stash in the actor's state). Not copyable; movable.

#include <weft/actors/delivery_error.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/expected.hpp>

#include <cstddef>

namespace weft::detail {
struct envelope;
}

namespace weft::actors {

class stash_buffer {
 public:
  // capacity: how many messages it holds, at least 1 (0 throws
  // std::invalid_argument); weft::unbounded for no limit.
  explicit stash_buffer(std::size_t capacity);
  ~stash_buffer();
  stash_buffer(stash_buffer&& other) noexcept;
  stash_buffer& operator=(stash_buffer&& other) noexcept;
  stash_buffer(const stash_buffer&) = delete;
  stash_buffer& operator=(const stash_buffer&) = delete;

  // -- the owning actor only ------------------------------------------------

  // Stashes the message `self` is handling now. Errors:
  // delivery_errc::stash_full (the message stays the handler's: answer or
  // drop it), delivery_errc::no_message (called outside a handler, or the
  // message was already stashed or forwarded).
  [[nodiscard]] expected<void> stash(context& self);

  // Puts every stashed message back at the head of `self`'s queue, oldest
  // first, ahead of everything queued; returns how many. `self` must be the
  // actor that stashed them.
  std::size_t unstash_all(context& self) noexcept;

  // Drops every stashed message: requests are answered with `why`, plain
  // messages are counted as dead letters.
  void clear(context& self, const error& why);

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  bool full() const noexcept { return size_ >= capacity_; }
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  void release_all() noexcept;

  // The stashed envelopes, oldest first, linked through their own `next`
  // field (no allocation per message).
  weft::detail::envelope* head_ = nullptr;
  weft::detail::envelope* tail_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_;
};

}  // namespace weft::actors
