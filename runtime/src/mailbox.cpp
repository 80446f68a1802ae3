// The mailbox protocol: how senders and the owning actor share one cell.
//
// All shared state is one 64-bit word (cell.hpp: SCHEDULED, WAITERS,
// CLOSED, unread, queued) plus Vyukov's MPSC queue for the envelopes.
//
// Sending (any thread):
//   1. CAS the word: refuse if CLOSED; if the message counts against
//      capacity and `queued` has reached it, take the overflow path;
//      otherwise add one to `unread` (and to `queued` for user messages)
//      and set SCHEDULED. One RMW both reserves the slot and tells the
//      sender whether the actor was idle.
//   2. Push the envelope. (The reservation comes first, so the owner can
//      see unread > 0 before the envelope is reachable; it then treats
//      the actor as busy and retries shortly, see pull().)
//   3. If SCHEDULED was clear, the sender makes the actor runnable. Since
//      only the sender that flipped the bit does this, an actor is in at
//      most one run queue, and only one worker runs it at a time.
//
// Going idle (owner, try_idle): CAS SCHEDULED off only if every unread
// envelope has been pulled; the same CAS gives back the slots of the
// messages the handler loop handled in this activation (release_slots),
// unless WAITERS is set, when release_slots goes first to wake them. A
// concurrent sender's step 1 then either happened before (and the CAS
// fails: keep running) or after (and that sender sees SCHEDULED clear and
// schedules the actor). No lost wake-ups,
// without a separate "has work" flag or a fence pairing.
//
// Blocked senders (overflow_policy::block): a sender that finds the
// mailbox full registers itself under waiters_mutex_ and sets WAITERS
// with a CAS that re-checks the count, both under the mutex. The owner,
// releasing a slot with a fetch_sub that returns the old word, sees
// WAITERS and wakes every waiter once the mailbox has drained to half its
// capacity (fewer wake-ups under sustained pressure than one per slot).
// Either the owner's fetch_sub precedes the sender's CAS (which then sees
// room) or it follows it (and sees WAITERS): no sender sleeps on room.
//
// drop_oldest: the sender must remove someone else's message, which only
// the consumer may pop in Vyukov's queue; for this policy both sides take
// drop_lock_ around popping. Signals the dropper pops on the way go to
// `rescued_`, which the owner reads first, so the order is kept. Messages
// the owner has already pulled into its stash (selective receive) are out
// of a sender's reach: while there are some, a sender admits its message
// over capacity (up to twice it) and the owner drops its oldest stashed
// ones before it next matches (trim_stash).

#include "cell.hpp"
#include "runtime_impl.hpp"

#include <thread>

namespace weft::detail {

using namespace mailbox_bits;

namespace {

// A blocked actor: woken by a `wake` signal in its own mailbox.
struct actor_space_waiter final : space_waiter {
  explicit actor_space_waiter(cell* c) : owner(c) {}
  void wake() override {
    // Copy what we need first: once `woken` is set the waiter may return
    // and this object (on its stack) may be gone.
    pid target = pid_of(owner);
    woken.store(true, std::memory_order_release);
    auto* e = make_envelope(wake_payload{}, envelope_kind::wake);
    if (!as_cell(target)->deliver_signal(e)) delete e;
  }
  cell* owner;
};

// A blocked thread (a scoped_actor's, or one that is no actor at all).
struct thread_space_waiter final : space_waiter {
  void wake() override {
    std::lock_guard lock(mutex);
    woken.store(true, std::memory_order_release);
    cv.notify_one();  // under the lock: the waiter cannot vanish before we are done
  }
  std::mutex mutex;
  std::condition_variable cv;
};

// Keeps a blocked sender in the deadlock watch's graph from its check time
// until it stops waiting, however it stops (deadlock.hpp). Declared after
// the waiter it points at, so it leaves the graph before the waiter dies.
struct watched_wait {
  explicit watched_wait(deadlock_watch& w) : watch(w) {}
  deadlock_watch& watch;
  cell* sender = nullptr;  // set once watched
  watched_wait(const watched_wait&) = delete;
  watched_wait& operator=(const watched_wait&) = delete;
  ~watched_wait() {
    if (sender != nullptr) watch.unwatch(sender);
  }
};

}  // namespace

send_status cell::deliver(cell* from, envelope* e, send_mode mode, std::chrono::nanoseconds timeout) {
  // Tracing costs one relaxed load per side when nobody traces: the load
  // only chooses the path; record_if_traced re-checks (introspection.cpp).
  if (tracer_.load(std::memory_order_relaxed) != nullptr) {
    tracer::record_if_traced(*this, trace_event::direction::in, from, *this, *e);
  }
  if (from != nullptr && from->tracer_.load(std::memory_order_relaxed) != nullptr) {
    tracer::record_if_traced(*from, trace_event::direction::out, from, *this, *e);
  }
  // We own e until it is in the inbox, also if an exit signal unwinds us
  // while we wait for room.
  std::unique_ptr<envelope> owned(e);
  // An actor sending to itself is its own owner: the slots its handler loop
  // has not given back yet (release_slots) must not make its own mailbox
  // look full to it (a self-addressed tick refused so was a stalled saga).
  if (from == this) release_consumed();
  const bool counted = counts_against_capacity(e->kind);
  const bool timed = mode == send_mode::timed && timeout.count() >= 0;
  // The clock is read only when a deadline exists (not on the fast path).
  std::chrono::steady_clock::time_point deadline{};
  bool deadline_set = false;
  // How many counted messages may be queued. Only drop_oldest raises it,
  // when the oldest of them are in the owner's stash (see below).
  std::uint64_t limit = capacity_;
  for (;;) {
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      if ((s & closed_bit) != 0) {
        rt->count_dead_letter(e->kind == envelope_kind::reply ? dead_letter_cause::late_reply
                                                              : dead_letter_cause::dead_actor,
                              this, e);
        return send_status::dead;
      }
      if (counted && queued(s) >= limit) break;
      const std::uint64_t n = (s + unread_one + (counted ? queued_one : 0)) | scheduled_bit;
      // acq_rel: acquire pairs with the owner's release in try_idle (we see
      // the actor's state up to its going idle); release orders our
      // reservation before the push that follows.
      if (state_.compare_exchange_weak(s, n, std::memory_order_acq_rel, std::memory_order_relaxed)) {
        inbox_.push(owned.release());
        if ((s & scheduled_bit) == 0) rt->schedule(this);
        return send_status::ok;
      }
    }
    // The mailbox is full.
    switch (policy_) {
      case overflow_policy::reject:
        rejected.fetch_add(1, std::memory_order_relaxed);
        rt->count_dead_letter(dead_letter_cause::rejected, this, e);
        return send_status::rejected;
      case overflow_policy::drop_newest:
        dropped.fetch_add(1, std::memory_order_relaxed);
        rt->count_dead_letter(dead_letter_cause::dropped_newest, this, e);
        return send_status::dropped;
      case overflow_policy::drop_oldest: {
        // Stashed messages (ones the owner pulled in a selective receive
        // and skipped) are older than anything in the inbox but out of a
        // sender's reach. While there are some, admit the new message over
        // capacity: the owner drops its oldest stashed ones before it next
        // matches (cell::trim_stash), so the policy holds and the message
        // the owner waits for is never the one lost. The excess is bounded
        // at twice the capacity; past that (an owner that does not run),
        // the oldest message in the inbox goes, as when nothing is stashed.
        const std::uint64_t raised = std::uint64_t{capacity_} * 2;
        if (limit != raised && stash_counted() > 0) {
          limit = raised;
          continue;
        }
        envelope* victim = nullptr;
        {
          std::lock_guard lock(drop_lock_);
          while (mpsc_node* n = inbox_.pop()) {
            auto* old = static_cast<envelope*>(n);
            if (counts_against_capacity(old->kind)) {
              victim = old;
              break;
            }
            rescued_.push_back(old);
          }
        }
        if (victim == nullptr) {
          // No user message in the inbox: all of them are in the owner's
          // hands. Admit over capacity as above, or, past the bound, drop
          // the new one.
          if (limit != raised) {
            limit = raised;
            continue;
          }
          dropped.fetch_add(1, std::memory_order_relaxed);
          rt->count_dead_letter(dead_letter_cause::dropped_newest, this, e);
          return send_status::dropped;
        }
        // The victim leaves without the owner ever pulling it.
        state_.fetch_sub(queued_one + unread_one, std::memory_order_acq_rel);
        dropped.fetch_add(1, std::memory_order_relaxed);
        rt->count_dead_letter(dead_letter_cause::dropped_oldest, this, victim);
        bounce_request(*victim, ask_errc::rejected);
        delete victim;
        continue;
      }
      case overflow_policy::block:
        break;
    }
    if (mode == send_mode::try_once) {
      rejected.fetch_add(1, std::memory_order_relaxed);
      rt->count_dead_letter(dead_letter_cause::rejected, this, e);
      return send_status::rejected;
    }
    // Register as a waiter, re-checking the count under the mutex.
    actor_space_waiter actor_waiter(from);
    thread_space_waiter thread_waiter;
    const bool on_fiber = from != nullptr && !from->thread_bound_;
    space_waiter* me = on_fiber ? static_cast<space_waiter*>(&actor_waiter) : &thread_waiter;
    bool registered = false;
    space_waiters& blocked = waiters();
    {
      std::lock_guard lock(blocked.mutex);
      s = state_.load(std::memory_order_relaxed);
      for (;;) {
        if ((s & closed_bit) != 0 || queued(s) < capacity_) break;
        if (state_.compare_exchange_weak(s, s | waiters_bit, std::memory_order_acq_rel, std::memory_order_relaxed)) {
          blocked.list.push_back(me);
          registered = true;
          break;
        }
      }
    }
    if (!registered) continue;  // room (or the close) happened: retry
    // However we leave (woken, timed out, or unwound by an exit signal
    // while waiting), we must not stay in the list: it points at our stack.
    struct unregister_on_exit {
      space_waiters& blocked;
      space_waiter* waiter;
      ~unregister_on_exit() {
        std::lock_guard lock(blocked.mutex);
        std::erase(blocked.list, waiter);
      }
    } unregister{blocked, me};
    if (timed && !deadline_set) {
      deadline = std::chrono::steady_clock::now() + timeout;
      deadline_set = true;
    }
    // An untimed send by an actor is checked for a deadlock once, if it is
    // still waiting at its check time (deadlock.hpp); until then, and after,
    // it waits as any other. A timed send ends by itself: never checked.
    watched_wait watched{rt->deadlocks_};
    const bool check = !timed && from != nullptr && rt->options_.on_send_deadlock != send_deadlock_action::ignore;
    std::chrono::steady_clock::time_point check_at{};
    if (check) check_at = std::chrono::steady_clock::now() + rt->options_.deadlock_check_after;
    // Waits until woken, the deadline, or (while not yet checked) the check
    // time; false if it ends for either of the last two.
    const auto wait_once = [&]() -> bool {
      const bool checking = check && watched.sender == nullptr;
      const bool has_deadline = timed || checking;
      const auto until = timed ? deadline : check_at;
      if (on_fiber) {
        while (!me->woken.load(std::memory_order_acquire)) {
          // Again each time: suspend() marks the actor running when it resumes.
          from->status.store(actor_status::waiting, std::memory_order_relaxed);
          if (!from->await_input(until, has_deadline) && !me->woken.load(std::memory_order_acquire)) return false;
        }
        return true;
      }
      std::unique_lock lock(thread_waiter.mutex);
      const auto woken = [&] { return thread_waiter.woken.load(std::memory_order_relaxed); };
      if (has_deadline) return thread_waiter.cv.wait_until(lock, until, woken);
      thread_waiter.cv.wait(lock, woken);
      return true;
    };
    send_status ended = send_status::ok;  // ok: woken, try again
    while (!wait_once()) {
      if (timed) {
        ended = send_status::timeout;
        break;
      }
      // The check time: join the wait-for graph, look for a cycle once.
      // Waiting again before the edge shows: suspend() marked the actor
      // running when the check time resumed it, and a report must not
      // show a member of its cycle as running.
      if (on_fiber) from->status.store(actor_status::waiting, std::memory_order_relaxed);
      watched.sender = from;
      if (rt->deadlocks_.watch(from, this, me)) {
        rejected.fetch_add(1, std::memory_order_relaxed);
        rt->count_dead_letter(dead_letter_cause::rejected, this, e);
        ended = send_status::deadlock;
        break;
      }
    }
    if (on_fiber) from->status.store(actor_status::running, std::memory_order_relaxed);
    if (ended != send_status::ok) return ended;
  }
}

bool cell::deliver_signal(envelope* e) {
  std::uint64_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    if ((s & closed_bit) != 0) return false;
    if (state_.compare_exchange_weak(s, (s + unread_one) | scheduled_bit, std::memory_order_acq_rel,
                                     std::memory_order_relaxed)) {
      break;
    }
  }
  inbox_.push(e);
  if ((s & scheduled_bit) == 0) rt->schedule(this);
  return true;
}

envelope* cell::pull() noexcept {
  mpsc_node* n = nullptr;
  if (policy_ == overflow_policy::drop_oldest) {
    std::lock_guard lock(drop_lock_);
    n = rescued_.pop_front();
    if (n == nullptr) n = inbox_.pop();
  } else {
    n = inbox_.pop();
  }
  if (n != nullptr) ++owned_.pulled_;
  return static_cast<envelope*>(n);
}

bool cell::try_idle() noexcept {
  std::uint64_t s = state_.load(std::memory_order_acquire);
  const std::uint32_t pulled = owned_.pulled_;
  // An idle actor holds no slots: those the handler loop kept (release_
  // slots) go back in the same CAS that clears SCHEDULED, one RMW for both.
  // Unless senders wait for room: only release_slots wakes them.
  const std::uint64_t slots = owned_.unreleased_;
  // Reset before the CAS: once it succeeds the actor is no longer ours and
  // another worker may already be pulling (and counting) its next message.
  owned_.pulled_ = 0;
  owned_.unreleased_ = 0;
  for (;;) {
    if (unread(s) > pulled) {
      owned_.pulled_ = pulled;
      owned_.unreleased_ = static_cast<std::uint32_t>(slots);
      return false;
    }
    if (slots != 0 && (s & waiters_bit) != 0) {
      owned_.pulled_ = pulled;
      owned_.unreleased_ = static_cast<std::uint32_t>(slots);
      release_slots();
      return try_idle();  // once more, with nothing kept
    }
    const std::uint64_t n = (s - std::uint64_t{pulled} * unread_one - slots * queued_one) & ~scheduled_bit;
    // release: everything this activation did (owned_.pulled_ included) happens
    // before the next sender's acquire CAS that reschedules us elsewhere. A
    // sender setting WAITERS meanwhile changes the word: the CAS fails and
    // the loop sees it.
    if (state_.compare_exchange_weak(s, n, std::memory_order_acq_rel, std::memory_order_acquire)) return true;
  }
}

void cell::trim_stash() noexcept {
  // Owner only. Senders admit a drop_oldest message over capacity when the
  // oldest queued messages are stashed; restore the capacity by dropping
  // the oldest stashed ones, as a sender would have dropped them.
  while (queued(state_.load(std::memory_order_acquire)) > capacity_) {
    envelope* prev = nullptr;
    envelope* oldest = owned_.stash_.head;
    while (oldest != nullptr && !counts_against_capacity(oldest->kind)) {
      prev = oldest;
      oldest = static_cast<envelope*>(oldest->next.load(std::memory_order_relaxed));
    }
    if (oldest == nullptr) return;  // the excess is still in the inbox: it drains as it is taken
    owned_.stash_.unlink(prev, oldest);
    dropped.fetch_add(1, std::memory_order_relaxed);
    rt->count_dead_letter(dead_letter_cause::dropped_oldest, this, oldest);
    bounce_request(*oldest, ask_errc::rejected);
    consumed(*oldest);
    delete oldest;
  }
}

void cell::consumed(const envelope& e) noexcept {
  if (!counts_against_capacity(e.kind)) return;
  ++owned_.unreleased_;
  release_slots();
}

void cell::release_slots() noexcept {
  // One RMW gives back every slot handled since the last one and the
  // unread count of everything pulled: under fan-in the senders' cores and
  // this one pass the state word's cache line back and forth, and the
  // handler loop (run_handlers) does this once per activation instead of
  // once per message.
  const std::uint64_t n = owned_.unreleased_;
  const std::uint64_t old = state_.fetch_sub(n * queued_one + std::uint64_t{owned_.pulled_} * unread_one,
                                             std::memory_order_acq_rel);
  owned_.pulled_ = 0;
  owned_.unreleased_ = 0;
  if ((old & waiters_bit) != 0 && queued(old) - n <= capacity_ / 2) wake_space_waiters();
}

cell::space_waiters& cell::waiters() {
  space_waiters* existing = waiters_.load(std::memory_order_acquire);
  if (existing != nullptr) return *existing;
  auto* fresh = new space_waiters();
  // acq_rel: publish the new list, or see the one another sender installed.
  if (waiters_.compare_exchange_strong(existing, fresh, std::memory_order_acq_rel)) return *fresh;
  delete fresh;
  return *existing;
}

void cell::wake_space_waiters() {
  space_waiters* blocked = waiters_.load(std::memory_order_acquire);
  if (blocked == nullptr) return;  // nobody ever blocked on this mailbox
  // Wake under the mutex. A waiter lives on its sender's stack and leaves
  // the list (unregister_on_exit) under this same mutex, also when it gives
  // up on its own (timeout, or an exit signal unwinding its fiber). Waking
  // after unlocking would let such a waiter return and its frame be reused
  // between our swap and our wake() call (a use-after-free; two actors
  // blocked on each other and killed together can reach it). wake() takes
  // no lock of ours (it signals the sender's own cell or a
  // condition variable), so holding the mutex cannot deadlock.
  std::lock_guard lock(blocked->mutex);
  state_.fetch_and(~waiters_bit, std::memory_order_acq_rel);
  for (space_waiter* w : blocked->list) w->wake();
  blocked->list.clear();
}

}  // namespace weft::detail
