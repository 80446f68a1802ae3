#pragma once
// The actor control block ("cell"): mailbox, scheduling state, links and
// monitors, and the owner-private state of the actor it carries.
//
// Who touches what:
//   - `state_`, `inbox_`, the waiter list and the counters: any thread
//     (the mailbox protocol in mailbox.cpp).
//   - everything in the "owner" section: only the code currently running
//     the actor (one worker at a time, guaranteed by the SCHEDULED bit), or
//     its thread for a thread-bound cell (scoped_actor).

#include "fiber.hpp"
#include "mpsc_queue.hpp"

#include <weft/runtime/behavior.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/detail/backend.hpp>
#include <weft/runtime/exit_reason.hpp>
#include <weft/runtime/introspection.hpp>
#include <weft/runtime/messages.hpp>
#include <weft/runtime/options.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <functional>
#include <unordered_map>
#include <vector>

namespace weft::internal {
class spawn_restarts_scope;
detail::envelope* current_message(context& self) noexcept;
detail::envelope* take_current(context& self) noexcept;
void requeue_front(context& self, detail::envelope* first, detail::envelope* last) noexcept;
}  // namespace weft::internal

namespace weft::detail {

// Thrown on an actor's own stack to unwind it when it must stop. Not a
// std::exception on purpose: `catch (const std::exception&)` must not stop
// an exit.
struct exit_unwind {
  exit_reason reason;
};

// The mailbox state word (see mailbox.cpp for the protocol):
//   bit 0      SCHEDULED  someone owns the actor: queued, running, or about to be
//   bit 1      WAITERS    senders are blocked on a full mailbox
//   bit 2      CLOSED     the actor exited; nothing more gets in
//   bits 3-31  unread     envelopes pushed to the inbox, not yet pulled by the owner
//   bits 32-63 queued     user messages in the mailbox (inbox + stash), for capacity
namespace mailbox_bits {
inline constexpr std::uint64_t scheduled_bit = 1;
inline constexpr std::uint64_t waiters_bit = 2;
inline constexpr std::uint64_t closed_bit = 4;
inline constexpr std::uint64_t unread_one = 8;
inline constexpr std::uint64_t unread_mask = 0xFFFF'FFF8ull;
inline constexpr std::uint64_t queued_one = 1ull << 32;
inline std::uint64_t unread(std::uint64_t s) { return (s & unread_mask) >> 3; }
inline std::uint64_t queued(std::uint64_t s) { return s >> 32; }
}  // namespace mailbox_bits

// Someone blocked on a full mailbox, to be told when there is room.
struct space_waiter {
  virtual void wake() = 0;
  // Set by wake() (release) and never cleared: read by the waiting sender
  // and by the deadlock watch (deadlock.hpp), which relies on its only ever
  // going from false to true.
  std::atomic<bool> woken{false};

 protected:
  ~space_waiter() = default;
};

// Blocks and wakes a thread-bound cell's thread.
struct thread_parker {
  std::mutex mutex;
  std::condition_variable cv;
  bool woken = false;
};

// Tells the CPU we are spinning: saves power and lets a sibling hyper-
// thread run. x86 `pause`, ARM `yield`; elsewhere nothing (still correct).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#endif
}

// A small spin lock for the drop_oldest path (held for a few pointer moves).
class spin_lock {
 public:
  void lock() noexcept {
    while (flag_.exchange(true, std::memory_order_acquire)) {
      while (flag_.load(std::memory_order_relaxed)) cpu_relax();
    }
  }
  void unlock() noexcept { flag_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> flag_{false};
};

struct envelope_list {
  envelope* head = nullptr;
  envelope* tail = nullptr;
  std::size_t size = 0;
  void push_back(envelope* e) noexcept {
    e->next.store(nullptr, std::memory_order_relaxed);
    if (tail != nullptr) {
      tail->next.store(e, std::memory_order_relaxed);
    } else {
      head = e;
    }
    tail = e;
    ++size;
  }
  envelope* pop_front() noexcept {
    envelope* e = head;
    if (e == nullptr) return nullptr;
    head = static_cast<envelope*>(e->next.load(std::memory_order_relaxed));
    if (head == nullptr) tail = nullptr;
    --size;
    return e;
  }
  // Unlinks `e`, whose predecessor is `prev` (nullptr for the head).
  void unlink(envelope* prev, envelope* e) noexcept {
    envelope* following = static_cast<envelope*>(e->next.load(std::memory_order_relaxed));
    if (prev == nullptr) {
      head = following;
    } else {
      prev->next.store(following, std::memory_order_relaxed);
    }
    if (tail == e) tail = prev;
    --size;
  }
};

// The owner's stash (messages pulled but not yet taken by a selective
// receive). Also counts the user messages in it, published for drop_oldest
// senders: when it is non-zero the oldest queued messages are stashed, out
// of a sender's reach (mailbox.cpp). Written by the owner only.
struct stash_list : envelope_list {
  std::atomic<std::uint32_t> counted{0};
  void push_back(envelope* e) noexcept {
    envelope_list::push_back(e);
    if (counts_against_capacity(e->kind)) bump(1);
  }
  envelope* pop_front() noexcept {
    envelope* e = envelope_list::pop_front();
    if (e != nullptr && counts_against_capacity(e->kind)) bump(-1);
    return e;
  }
  void unlink(envelope* prev, envelope* e) noexcept {
    envelope_list::unlink(prev, e);
    if (counts_against_capacity(e->kind)) bump(-1);
  }
  // Puts the chain first..last (linked through `next`; `size` envelopes,
  // `user` of them user messages) ahead of everything (internal::requeue_front).
  void splice_front(envelope* first, envelope* last, std::size_t size, std::uint32_t user) noexcept {
    last->next.store(head, std::memory_order_relaxed);
    head = first;
    if (tail == nullptr) tail = last;
    this->size += size;
    if (user != 0) bump(static_cast<int>(user));
  }

 private:
  void bump(int by) noexcept {
    // Single writer: load + store, no locked RMW. Relaxed: a hint to
    // senders, who fall back safely when it is stale (mailbox.cpp).
    counted.store(static_cast<std::uint32_t>(static_cast<int>(counted.load(std::memory_order_relaxed)) + by),
                  std::memory_order_relaxed);
  }
};

// Payloads of system signals.
struct exit_signal_payload {
  pid from;
  exit_reason reason;
  bool from_link;  // the sender exited while linked (vs. exit(pid, reason))
};
struct link_payload {
  pid from;
};
struct monitor_payload {
  monitor_ref ref;
  pid watcher;
};
struct wake_payload {};
struct call_payload {
  std::function<void(cell&)> fn;
};

// Collects a bounded trace of one actor's messages. runtime::trace owns it
// and frees it when the trace ends; senders reach it through
// cell::tracer_ only inside record_if_traced, and the owner waits for
// those to leave before freeing it (the protocol is at runtime::trace in
// introspection.cpp).
struct tracer {
  tracer() noexcept { live_.fetch_add(1, std::memory_order_relaxed); }
  ~tracer() { live_.fetch_sub(1, std::memory_order_relaxed); }
  tracer(const tracer&) = delete;
  tracer& operator=(const tracer&) = delete;

  std::mutex mutex;
  std::condition_variable cv;
  std::vector<trace_event> events;  // under mutex
  std::size_t limit = 0;

  // -- any thread: a sender that found traced.tracer_ set (cell::deliver) --
  static void record_if_traced(cell& traced, trace_event::direction dir, cell* from, cell& to, const envelope& e);
  // Tracers alive in this process (a statistic, for tests: relaxed).
  static std::size_t live() noexcept { return live_.load(std::memory_order_relaxed); }

 private:
  void record(trace_event::direction dir, const pid& from, const pid& to, const envelope& e) noexcept;
  static inline std::atomic<std::size_t> live_{0};
};


// What only the actor's owner touches: the code running as the actor (its
// activation on a worker, its context, a scoped_actor's thread) and the
// worker that resumes it; never a sender, a snapshot or another actor. A
// cell keeps it private and hands it out through owned(), which only the
// owner-side code below is a friend for: the compiler, not a comment,
// keeps it owner-only (runtime_impl.hpp splits workers the same way).
struct cell_owned {
  cell_owned(cell* self, std::unique_ptr<actor_body> body, bool trap_exit)
      : body_(std::move(body)), ctx_(self), trap_exit_(trap_exit) {}

  std::uint32_t pulled_ = 0;       // pulled but not yet subtracted from `unread`
  // Messages handled in this activation whose slots are not yet given back
  // (cell::consumed_later; released by release_consumed, mailbox.cpp).
  std::uint32_t unreleased_ = 0;
  // Visible messages not yet consumed, in order. Its `counted` is the one
  // owner field a sender reads: a relaxed hint published for drop_oldest
  // (cell::deliver, mailbox.cpp), read through cell::stash_counted().
  stash_list stash_;
  fiber* suspended_ = nullptr;     // the fiber this actor is blocked on, if any
  std::unique_ptr<actor_body> body_;
  behavior behavior_;
  std::unique_ptr<behavior> pending_behavior_;  // set by become(), swapped in after the handler
  context ctx_;
  envelope* current_ = nullptr;    // the message being handled
  std::uint64_t next_request_id_ = 1;
  std::uint64_t awaited_request_ = 0;
  std::unique_ptr<std::unordered_map<std::uint64_t, pid>> monitors_out_;  // refs this actor holds (lazy)
  // The wake timer of the last timed wait, kept across waits (actor.cpp,
  // arm_wake_timer): its id (0: none) and due time in steady_clock ns.
  std::uint64_t wake_timer_ = 0;
  std::int64_t wake_timer_due_ = 0;
  std::unique_ptr<exit_reason> deferred_exit_;
  // Small fields together, so they share one word.
  std::uint32_t spawn_restarts_ = 0;  // given to the actors it spawns (internal.hpp)
  bool started_ = false;
  bool trap_exit_ = false;
  bool exiting_ = false;
  bool defer_exit_ = false;           // inside blocking(): exits wait for it
};

class cell : public cell_header, public pooled {
 public:
  cell(runtime_impl* rt, std::uint64_t id, std::unique_ptr<actor_body> body, const spawn_options& options,
       std::uint32_t capacity, overflow_policy policy, bool thread_bound);
  ~cell();

  // -- any thread: the mailbox (mailbox.cpp) ------------------------------

  // Delivers e (ownership passes). `from` is the sending cell, if any.
  send_status deliver(cell* from, envelope* e, send_mode mode, std::chrono::nanoseconds timeout);
  // Delivers a signal, which is never blocked or dropped for capacity.
  // Returns false if the cell has exited (e is then still the caller's).
  bool deliver_signal(envelope* e);

  // The mailbox's capacity as spawn_options spells it: weft::unbounded for
  // an unbounded one (stored as unbounded_capacity).
  std::size_t capacity() const noexcept { return capacity_ == unbounded_capacity ? weft::unbounded : capacity_; }
  // How the cell stores an unbounded capacity: the mailbox state word has
  // 32 bits for the queued count (mailbox_bits), so no bound reaches it.
  static constexpr std::uint32_t unbounded_capacity = 0xFFFF'FFFF;
  // spawn_options' capacity (0: the runtime's default) as stored.
  static std::uint32_t stored_capacity(std::size_t requested, std::size_t runtime_default) noexcept {
    const std::size_t c = requested == 0 ? runtime_default : requested;
    if (c == 0) return 1;
    return c >= unbounded_capacity ? unbounded_capacity : static_cast<std::uint32_t>(c);
  }
  overflow_policy policy() const noexcept { return policy_; }
  std::size_t mailbox_length() const noexcept {
    return mailbox_bits::queued(state_.load(std::memory_order_relaxed));
  }
  bool closed() const noexcept { return (state_.load(std::memory_order_acquire) & mailbox_bits::closed_bit) != 0; }

  std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> processed{0};
  std::atomic<actor_status> status{actor_status::runnable};

  // -- owner only -----------------------------------------------------------

  // Takes the next envelope from the inbox, or nullptr.
  envelope* pull() noexcept;
  // Clears SCHEDULED if no input is pending, giving back the slots the
  // handler loop kept; false if there is some (the caller keeps the actor,
  // and the slots). The single place an actor goes idle.
  bool try_idle() noexcept;
  // A user message left the mailbox: release its slot (and any left for
  // later), wake blocked senders.
  void consumed(const envelope& e) noexcept;
  // The same, but the slot is given back later, with the others of this
  // activation, in one atomic operation (release_consumed). Only for the
  // handler loop, which releases before it idles, yields or suspends.
  void consumed_later(const envelope& e) noexcept {
    if (counts_against_capacity(e.kind)) ++owned_.unreleased_;
  }
  // Gives back the slots consumed_later kept; wakes blocked senders.
  void release_consumed() noexcept {
    if (owned_.unreleased_ != 0) release_slots();
  }
  // drop_oldest only: drops the oldest stashed messages while more than
  // capacity are queued (see mailbox.cpp). Owner only.
  void trim_stash() noexcept;
  void wake_space_waiters();
  void release_slots() noexcept;
  // Closes the mailbox and hands every envelope still in it to `each`.
  template <class F>
  void close_and_drain(F&& each);

  // Handles a signal; returns the envelope if the actor should see it
  // (possibly a new one), nullptr if it was absorbed. May throw exit_unwind.
  envelope* filter(envelope* e);

  // Pulls everything pending; visible messages go to the stash. Returns
  // true if anything arrived.
  bool absorb_pending();
  // Waits for new input or the deadline; false if the deadline passed.
  bool await_input(std::chrono::steady_clock::time_point deadline, bool has_deadline);
  // Suspends the actor until it is scheduled again (fiber or thread). With a
  // deadline it may also return early (a stale wake timer, see
  // arm_wake_timer): every caller loops until its condition or deadline.
  void suspend(std::chrono::steady_clock::time_point deadline, bool has_deadline);
  // Makes sure a wake timer fires at or a little before `deadline`.
  void arm_wake_timer(std::chrono::steady_clock::time_point deadline);
  // Cancels a pending wake timer (on exit: it holds a reference to us).
  void drop_wake_timer();
  // Lets the other runnable actors go first (budget exhausted, or asked).
  void yield_now();

  [[noreturn]] void throw_exit(exit_reason reason);
  bool unread_pending() const noexcept {
    return mailbox_bits::unread(state_.load(std::memory_order_acquire)) > owned_.pulled_;
  }


  // Mailbox, shared part.
  std::atomic<std::uint64_t> state_{mailbox_bits::scheduled_bit};
  mpsc_queue inbox_;
  std::uint32_t capacity_;
  overflow_policy policy_;
  // Set at spawn, then read-only (any thread); next to policy_, in what
  // would be padding.
  bool handler_style_;
  bool thread_bound_;
  spin_lock drop_lock_;            // drop_oldest only
  envelope_list rescued_;          // drop_oldest only: signals a dropper pulled; under drop_lock_
  // Senders blocked on a full mailbox; allocated the first time one blocks.
  struct space_waiters {
    std::mutex mutex;
    std::vector<space_waiter*> list;  // under mutex
  };
  std::atomic<space_waiters*> waiters_{nullptr};
  space_waiters& waiters();
  // User messages in the owner's stash, published by the owner for
  // drop_oldest senders: when non-zero the oldest queued messages are
  // stashed, out of a sender's reach (mailbox.cpp). Relaxed: a hint. (The
  // counter lives in the stash, on the owner's cache line, so that the
  // owner's per-message bookkeeping touches one line, not two.)
  std::uint32_t stash_counted() const noexcept { return owned_.stash_.counted.load(std::memory_order_relaxed); }

  // Set at spawn, then read-only (any thread).
  const protocol_info* protocol_ = nullptr;

 private:
  // The owner's state sits next to the mailbox it works on: an activation
  // touches both, and a ring of a thousand actors pays for every extra
  // cache line per hop (bench/compare.sh measured it at the cell's end).
  cell_owned owned_;

 public:
  // Owner-written, read by snapshots under meta_lock_ (introspection).
  std::vector<pid> links_;
  std::vector<monitor_payload> monitors_in_;             // who watches this actor

  std::unique_ptr<thread_parker> parker_;  // thread-bound only

  // Scheduling and bookkeeping (runtime.cpp / work_stealing.cpp).
  cell* next_global_ = nullptr;    // global run queue link
  cell* live_prev_ = nullptr;      // live-actor list, under its shard lock
  cell* live_next_ = nullptr;
  std::uint32_t live_shard_ = 0;
  std::size_t stack_size_;
  std::uint32_t depth_ = 0;        // spawn-tree depth, for children-first shutdown
  pid parent_;
  // Metadata others may read (introspection): written by the owner (or
  // the registry) under meta_lock_, read by snapshots under it. What most
  // actors never have (a name, a label, a describe hook) lives in `extras_`,
  // allocated on first use, to keep an idle actor small.
  struct extras {
    std::string name;   // also under the registry lock when written
    std::string label;
    std::function<std::string()> describe;  // owner only
  };
  mutable spin_lock meta_lock_;
  std::unique_ptr<extras> extras_;                   // under meta_lock_
  extras& extras_locked() {
    if (!extras_) extras_ = std::make_unique<extras>();
    return *extras_;
  }
  std::atomic<bool> has_name_{false};
  // Owner-written mirrors of owner-private state, for snapshots.
  std::atomic<bool> trap_exit_published_{false};
  std::atomic<bool> suspended_published_{false};
  // Stack held while suspended (park/yield hooks) and the most it ever held
  // at a suspension: what a parked actor costs in stack, for introspection.
  std::atomic<std::uint32_t> stack_in_use_{0};
  std::atomic<std::uint32_t> stack_high_water_{0};
  std::atomic<std::uint32_t> monitors_out_count_{0};
  std::atomic<std::uint32_t> restarts_{0};
  std::atomic<tracer*> tracer_{nullptr};
  std::chrono::system_clock::time_point spawned_at_;


 private:
  // The owner-side code: what runs as the actor (its activation, its
  // context, receive/ask/reply/blocking, its exit), the worker that resumes
  // it, the runtime's spawn (which reads the spawning actor's own restart
  // count, and starts a thread cell before anyone can see it), and the
  // internal hooks that act for the calling actor (internal.hpp).
  friend class weft::context;
  friend class worker;
  friend class runtime_impl;
  friend class handling_scope;
  friend class weft::internal::spawn_restarts_scope;
  friend envelope* weft::internal::current_message(context& self) noexcept;
  friend envelope* weft::internal::take_current(context& self) noexcept;
  friend void weft::internal::requeue_front(context& self, detail::envelope* first, detail::envelope* last) noexcept;
  friend void run_cell(cell* c);
  friend void terminate(cell* c, exit_reason reason);
  friend bool run_handlers(cell* c);
  friend envelope* stop_with(cell& c, exit_reason reason);
  friend void park_hook(fiber* departed, void* arg);
  friend void yield_hook(fiber* departed, void* arg);
  friend envelope* receive_envelope(cell* self, matcher m, std::chrono::nanoseconds timeout, scan_from from);
  friend envelope* ask_envelope(cell* self, const pid& to, envelope* request, std::chrono::nanoseconds timeout,
                                error& failure);
  friend void reply_current(cell* self, envelope* reply);
  friend bool take_current_request(cell* self, pid& reply_to, std::uint64_t& request_id);
  friend void run_blocking(cell* self, const std::function<void()>& fn);
  friend context& context_of(cell* c) noexcept;
  friend std::optional<std::string> call_in_actor(runtime_impl* rt, const pid& who,
                                                  std::function<std::string(cell&)> fn,
                                                  std::chrono::nanoseconds timeout);

  // The owner's state (cell_owned above), for the owner-side code only.
  cell_owned& owned() noexcept { return owned_; }
  const cell_owned& owned() const noexcept { return owned_; }
};

// Delivers e from `from` (nullptr: not an actor) to target, through the
// target runtime's gate if the calling thread is not one of its own
// (lifetime.cpp): `stopping`, and e deleted, once that runtime stops
// taking calls from outside. Ownership of e passes in every case.
send_status post(cell* from, cell* target, envelope* e, send_mode mode, std::chrono::nanoseconds timeout);
// The same for a signal; false (e deleted) if the target has exited or its
// runtime refused the call.
bool post_signal(cell* from, cell* target, envelope* e);

// Runs the actor's code for one activation (on the current fiber).
void run_cell(cell* c);
// The exit protocol (actor.cpp).
void terminate(cell* c, exit_reason reason);
// Answers a request with an error, if `e` is one.
void bounce_request(envelope& e, error cause);

inline cell* as_cell(cell_header* h) noexcept { return static_cast<cell*>(h); }
struct pid_access {
  static cell_header* raw(const pid& p) noexcept { return p.cell_; }
  static pid adopt(cell_header* c) noexcept { return pid(c); }
};
inline cell* as_cell(const pid& p) noexcept { return static_cast<cell*>(pid_access::raw(p)); }
inline pid pid_of(cell* c) noexcept {
  retain(c);
  return pid_access::adopt(c);
}

template <class F>
void cell::close_and_drain(F&& each) {
  using namespace mailbox_bits;
  std::uint64_t s = state_.load(std::memory_order_acquire);
  while (!state_.compare_exchange_weak(s, s | closed_bit, std::memory_order_acq_rel, std::memory_order_acquire)) {
  }
  while (envelope* e = owned_.stash_.pop_front()) each(e);
  // Senders admitted before the close may still be linking their envelope
  // in: the unread count says exactly how many are still to come.
  for (;;) {
    s = state_.load(std::memory_order_acquire);
    if (unread(s) <= owned_.pulled_) break;
    envelope* e = pull();
    if (e != nullptr) {
      each(e);
    } else {
      std::this_thread::yield();
    }
  }
}

}  // namespace weft::detail
