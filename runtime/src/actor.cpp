// The owner side of an actor: signal handling, waiting, receive, ask,
// running user code and exiting.
//
// Exit protocol (terminate):
//   1. Run the handler-style on_exit hook (not after kill), then destroy the
//      user's state (its destructors may still send).
//   2. Release the registered name, so a restarted actor can take it.
//   3. Close the mailbox (CLOSED: every later send fails as `dead`) and
//      drain it: requests get an `actor_down` answer, link and monitor
//      signals that raced with the exit are answered as if they had come
//      just after it, the rest goes to dead letters.
//   4. Wake blocked senders (they see CLOSED).
//   5. Send exit signals to links and down messages to monitors.
//   6. Tell the runtime (live count, exit waiters); drop its reference.

#include "cell.hpp"
#include "runtime_impl.hpp"

#include <weft/runtime/runtime.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

namespace weft::detail {

using namespace mailbox_bits;

cell::cell(runtime_impl* owner_rt, std::uint64_t actor_id, std::unique_ptr<actor_body> body,
           const spawn_options& options, std::uint32_t capacity, overflow_policy policy, bool thread_bound)
    : capacity_(capacity),
      policy_(policy),
      handler_style_(body != nullptr && body->handler_style()),
      thread_bound_(thread_bound),
      protocol_(body != nullptr ? body->protocol() : nullptr),
      owned_(this, std::move(body), options.trap_exit || thread_bound),
      stack_size_(options.stack_size),
      spawned_at_(std::chrono::system_clock::now()) {
  id = actor_id;
  rt = owner_rt;
  owner_rt->anchor();  // dropped in destroy_cell (lifetime.cpp)
  trap_exit_published_.store(owned_.trap_exit_, std::memory_order_relaxed);
  if (!options.label.empty()) extras_locked().label = options.label;
  if (thread_bound) parker_ = std::make_unique<thread_parker>();
}

cell::~cell() {
  // A cell that never ran (or a thread cell) may still hold envelopes.
  while (envelope* e = owned_.stash_.pop_front()) delete e;
  while (mpsc_node* n = inbox_.pop()) delete static_cast<envelope*>(n);
  while (envelope* e = rescued_.pop_front()) delete e;
  delete waiters_.load(std::memory_order_relaxed);
}

void destroy_cell(cell_header* h) noexcept {
  runtime_impl* owner = h->rt;
  delete static_cast<cell*>(h);
  owner->unanchor();
}

namespace {
// Whether a call by `from` (nullptr: not an actor) to an actor of `target`'s
// runtime comes from a thread that runtime owns; if not, it goes through
// the runtime's gate (lifetime.cpp).
bool from_owned_thread(const cell* from, const cell* target) noexcept {
  if (from != nullptr) return !from->thread_bound_ && from->rt == target->rt;
  return target->rt->owns_calling_thread();
}
}  // namespace

send_status post(cell* from, cell* target, envelope* e, send_mode mode, std::chrono::nanoseconds timeout) {
  outside_call call(target->rt, from_owned_thread(from, target));
  if (!call) {
    delete e;
    return send_status::stopping;
  }
  return target->deliver(from, e, mode, timeout);
}

bool post_signal(cell* from, cell* target, envelope* e) {
  outside_call call(target->rt, from_owned_thread(from, target));
  if (!call || !target->deliver_signal(e)) {
    delete e;
    return false;
  }
  return true;
}

runtime_impl* runtime_of(const cell* c) noexcept { return c->rt; }
context& context_of(cell* c) noexcept { return c->owned().ctx_; }

const protocol_info* protocol_of(const pid& who) noexcept { return who ? as_cell(who)->protocol_ : nullptr; }

bool protocol_includes(const protocol_info* actor, const protocol_info& wanted) noexcept {
  if (actor == &wanted) return true;
  if (actor == nullptr) return false;
  // Protocols are short (a few signatures): a nested scan is the fast way.
  for (std::size_t i = 0; i < wanted.size; ++i) {
    bool found = false;
    for (std::size_t j = 0; j < actor->size && !found; ++j) {
      found = actor->entries[j].message == wanted.entries[i].message && actor->entries[j].reply == wanted.entries[i].reply;
    }
    if (!found) return false;
  }
  return true;
}

void cell::throw_exit(exit_reason reason) {
  if (thread_bound_) {
    // A thread cannot be unwound by a signal; its owner sees exit_msg.
    throw std::logic_error("weft: context::exit on a scoped_actor; destroy the scoped_actor instead");
  }
  throw exit_unwind{std::move(reason)};
}


// Stops the actor now, or after its blocking() call if it is in one.
envelope* stop_with(cell& c, exit_reason reason) {
  cell_owned& own = c.owned();
  if (own.defer_exit_) {
    if (!own.deferred_exit_) own.deferred_exit_ = std::make_unique<exit_reason>(std::move(reason));
    return nullptr;
  }
  c.throw_exit(std::move(reason));
}

envelope* as_exit_message(const pid& from, exit_reason reason) {
  return make_envelope(exit_msg{from, std::move(reason)}, envelope_kind::down);
}


envelope* cell::filter(envelope* e) {
  switch (e->kind) {
    case envelope_kind::user:
      return e;
    case envelope_kind::reply:
      if (owned_.awaited_request_ != 0 && e->request_id == owned_.awaited_request_) return e;
      rt->count_dead_letter(dead_letter_cause::late_reply, this, e);
      delete e;
      return nullptr;
    case envelope_kind::down:
      if (holds<down_msg>(*e)) {
        auto* held = owned_.monitors_out_.get();
        auto it = held != nullptr ? held->find(payload<down_msg>(*e).ref.value) : decltype(held->end()){};
        if (held == nullptr || it == held->end()) {  // demonitored meanwhile
          delete e;
          return nullptr;
        }
        held->erase(it);
        monitors_out_count_.store(static_cast<std::uint32_t>(held->size()), std::memory_order_relaxed);
      }
      return e;
    case envelope_kind::exit_signal: {
      std::unique_ptr<envelope> hold(e);
      auto& signal = payload<exit_signal_payload>(*e);
      if (signal.from_link) {
        std::lock_guard meta(meta_lock_);
        auto it = std::find(links_.begin(), links_.end(), signal.from);
        if (it == links_.end()) return nullptr;  // unlinked meanwhile: Erlang drops it too
        links_.erase(it);
      }
      if (signal.reason.code() == exit_reason::kind::kill && !signal.from_link) {
        return stop_with(*this, exit_reason::killed());
      }
      if (owned_.trap_exit_) return as_exit_message(signal.from, std::move(signal.reason));
      if (signal.reason.is_normal()) return nullptr;
      return stop_with(*this, signal.reason);
    }
    case envelope_kind::link: {
      auto& p = payload<link_payload>(*e);
      {
        std::lock_guard meta(meta_lock_);
        if (std::find(links_.begin(), links_.end(), p.from) == links_.end()) links_.push_back(std::move(p.from));
      }
      delete e;
      return nullptr;
    }
    case envelope_kind::unlink: {
      auto& p = payload<link_payload>(*e);
      {
        std::lock_guard meta(meta_lock_);
        std::erase(links_, p.from);
      }
      delete e;
      return nullptr;
    }
    case envelope_kind::monitor: {
      std::lock_guard meta(meta_lock_);
      monitors_in_.push_back(std::move(payload<monitor_payload>(*e)));
      delete e;
      return nullptr;
    }
    case envelope_kind::demonitor: {
      const monitor_ref ref = payload<monitor_payload>(*e).ref;
      std::lock_guard meta(meta_lock_);
      std::erase_if(monitors_in_, [&](const monitor_payload& m) { return m.ref == ref; });
      delete e;
      return nullptr;
    }
    case envelope_kind::wake:
      delete e;
      return nullptr;
    case envelope_kind::call: {
      std::unique_ptr<envelope> hold(e);
      payload<call_payload>(*e).fn(*this);
      return nullptr;
    }
  }
  delete e;
  return nullptr;
}

bool cell::absorb_pending() {
  bool any = false;
  while (envelope* e = pull()) {
    any = true;
    if (envelope* visible = filter(e)) owned_.stash_.push_back(visible);
  }
  return any;
}

bool cell::await_input(std::chrono::steady_clock::time_point deadline, bool has_deadline) {
  if (absorb_pending()) return true;
  if (has_deadline && std::chrono::steady_clock::now() >= deadline) return false;
  suspend(deadline, has_deadline);
  absorb_pending();
  return !has_deadline || std::chrono::steady_clock::now() < deadline;
}


// Runs on the next carrier right after an actor's fiber left: the fiber is
// saved, so the actor may now be resumed by anyone.
// Records how much stack the departed fiber holds (relaxed: a statistic
// read by snapshots, ordered with nothing).
void publish_stack_depth(cell* c, const fiber* departed) {
  const auto depth = static_cast<std::uint32_t>(fiber_suspended_depth(departed));
  c->stack_in_use_.store(depth, std::memory_order_relaxed);
  if (depth > c->stack_high_water_.load(std::memory_order_relaxed)) {
    c->stack_high_water_.store(depth, std::memory_order_relaxed);  // only the owner writes it
  }
}

void park_hook(fiber* departed, void* arg) {
  auto* c = static_cast<cell*>(arg);
  c->owned().suspended_ = departed;
  publish_stack_depth(c, departed);
  c->suspended_published_.store(true, std::memory_order_relaxed);
  if (!c->try_idle()) {
    // Input arrived while we were switching: run it again.
    worker* w = current_worker(c->rt);
    w->make_runnable(c, true);
  }
}

void yield_hook(fiber* departed, void* arg) {
  auto* c = static_cast<cell*>(arg);
  c->owned().suspended_ = departed;
  publish_stack_depth(c, departed);
  c->suspended_published_.store(true, std::memory_order_relaxed);
  current_worker(c->rt)->make_runnable(c, true);
}


void cell::suspend(std::chrono::steady_clock::time_point deadline, bool has_deadline) {
  // A waiting actor holds no slots it is done with, also when input comes
  // in while it switches and park_hook's try_idle keeps it (a sender it
  // waits for may be blocked on its mailbox).
  release_consumed();
  if (thread_bound_) {
    std::unique_lock lock(parker_->mutex);
    if (!try_idle()) return;
    while (!parker_->woken) {
      if (!has_deadline) {
        parker_->cv.wait(lock);
      } else if (parker_->cv.wait_until(lock, deadline) == std::cv_status::timeout) {
        break;
      }
    }
    parker_->woken = false;
    return;
  }
  if (unread(state_.load(std::memory_order_acquire)) > owned_.pulled_) return;
  if (has_deadline) arm_wake_timer(deadline);
  worker* w = current_worker(rt);
  fiber* self = current_fiber();
  fiber* next = w->take_carrier();
  w->count_switch();
  switch_to(self, next, &park_hook, this);
  status.store(actor_status::running, std::memory_order_relaxed);
}

// The wake timer outlives the wait that armed it. A socket read with a
// 10-minute idle deadline used to start a timer before it slept and cancel
// it after it woke: two trips through the timer service's mutex per line,
// shared by every worker (in weft-echo perf showed waits on that mutex).
// Now the timer stays filed when the wait ends, and the next timed wait
// reuses it if it is due at or shortly before the new deadline ("shortly":
// within an eighth of the new wait's length). The worst it does is fire
// early: the actor wakes, sees its condition unmet and its deadline not
// reached, and waits again, this time arming a new timer. So a run of reads
// with a 10-minute deadline costs one timer every 75 s, not two operations
// per read. A timer that fires while the actor is not waiting leaves a
// wake signal that the next pull discards. Owner only.
void cell::arm_wake_timer(std::chrono::steady_clock::time_point deadline) {
  const auto now = std::chrono::steady_clock::now();
  const std::int64_t want = deadline.time_since_epoch().count();
  if (owned_.wake_timer_ != 0) {
    const std::int64_t slack = std::max<std::int64_t>(0, (want - now.time_since_epoch().count()) / 8);
    if (owned_.wake_timer_due_ <= now.time_since_epoch().count()) {
      // Fired, or about to: its wake signal may still come (harmless).
      owned_.wake_timer_ = 0;
    } else if (owned_.wake_timer_due_ <= want && want - owned_.wake_timer_due_ <= slack) {
      return;
    } else {
      rt->timers_.cancel(std::exchange(owned_.wake_timer_, 0));
    }
  }
  owned_.wake_timer_ = rt->timers_.start(std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now),
                                  std::chrono::nanoseconds::zero(), pid_of(this), nullptr);
  owned_.wake_timer_due_ = want;
}

void cell::drop_wake_timer() {
  if (owned_.wake_timer_ != 0) rt->timers_.cancel(std::exchange(owned_.wake_timer_, 0));
}

void cell::yield_now() {
  release_consumed();
  if (thread_bound_) {
    std::this_thread::yield();
    return;
  }
  worker* w = current_worker(rt);
  fiber* self = current_fiber();
  fiber* next = w->take_carrier();
  w->count_switch();
  switch_to(self, next, &yield_hook, this);
  status.store(actor_status::running, std::memory_order_relaxed);
}

// -- receive and friends --------------------------------------------------

envelope* receive_envelope(cell* self, matcher m, std::chrono::nanoseconds timeout, scan_from from) {
  const bool has_deadline = timeout.count() >= 0;
  std::chrono::steady_clock::time_point deadline{};
  bool deadline_set = false;  // the clock is read only if we have to wait
  envelope* prev = nullptr;
  const bool trims = self->policy() == overflow_policy::drop_oldest;
  if (trims) self->trim_stash();  // before matching: what it drops must not be taken
  envelope* first = from == scan_from::stash ? self->owned().stash_.head : nullptr;
  for (envelope* e = first; e != nullptr; prev = e, e = static_cast<envelope*>(e->next.load(std::memory_order_relaxed))) {
    if (m.fn(m.arg, *e)) {
      self->owned().stash_.unlink(prev, e);
      return e;
    }
  }
  self->status.store(actor_status::receiving, std::memory_order_relaxed);
  for (;;) {
    while (envelope* raw = self->pull()) {
      envelope* e = self->filter(raw);
      if (e == nullptr) continue;
      if (m.fn(m.arg, *e)) {
        self->status.store(actor_status::running, std::memory_order_relaxed);
        return e;
      }
      self->owned().stash_.push_back(e);
      if (trims) self->trim_stash();
    }
    if (has_deadline && !deadline_set) {
      deadline = std::chrono::steady_clock::now() + timeout;
      deadline_set = true;
    }
    if (has_deadline && std::chrono::steady_clock::now() >= deadline) {
      self->status.store(actor_status::running, std::memory_order_relaxed);
      return nullptr;
    }
    self->suspend(deadline, has_deadline);
    self->status.store(actor_status::receiving, std::memory_order_relaxed);
  }
}

handling_scope::handling_scope(cell* self, envelope* e, bool release_later) noexcept
    : self_(self), e_(e), previous_(self->owned().current_), release_later_(release_later) {
  self->owned().current_ = e;
}

handling_scope::~handling_scope() {
  // The handler took the message (internal::take_current): it is someone
  // else's now, to answer and delete; its slot was released when taken.
  if (self_->owned().current_ != e_) {
    self_->processed.store(self_->processed.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    self_->owned().current_ = previous_;
    return;
  }
  // Every request gets an answer (behavior.hpp). Still pending here: the
  // handler neither answered it (a value, self.reply) nor took it
  // (self.promise). Dying with it in hand, the asker learns actor_down;
  // otherwise the handling is over and the request is acknowledged (a void
  // handler, or an Erlang-style receive<T>).
  if (request_pending(*e_)) {
    try {
      if (std::uncaught_exceptions() > 0) {
        answer_request(self_, *e_,
                       make_envelope(reply_error{error(ask_errc::actor_down, "the handler of the request threw")},
                                     envelope_kind::reply));
      } else {
        answer_request(self_, *e_, make_envelope(ack_reply{}, envelope_kind::reply));
      }
    } catch (...) {  // NOLINT(bugprone-empty-catch): out of memory; the asker's deadline still holds
    }
  }
  if (release_later_) {
    self_->consumed_later(*e_);
  } else {
    self_->consumed(*e_);
  }
  // Single writer (the owner): a plain load and store, no locked RMW.
  self_->processed.store(self_->processed.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  self_->owned().current_ = previous_;
  delete e_;
}

void answer_request(cell* self, envelope& request, envelope* reply) {
  pid to = std::move(request.reply_to);
  send_reply(to, std::exchange(request.request_id, 0), reply, self);
}

void send_reply(const pid& to, std::uint64_t request_id, envelope* reply, cell* from) {
  reply->request_id = request_id;
  if (!to) {
    delete reply;
    return;
  }
  post(from, as_cell(to), reply, send_mode::try_once, no_timeout);
}

void reply_current(cell* self, envelope* reply) {
  if (self->owned().current_ == nullptr || self->owned().current_->request_id == 0 || !self->owned().current_->reply_to) {
    delete reply;
    return;
  }
  answer_request(self, *self->owned().current_, reply);
}

bool take_current_request(cell* self, pid& reply_to, std::uint64_t& request_id) {
  envelope* e = self->owned().current_;
  if (e == nullptr || e->request_id == 0 || !e->reply_to) return false;
  reply_to = std::move(e->reply_to);
  request_id = std::exchange(e->request_id, 0);
  return true;
}

namespace {
error ask_failure_of(send_status s, const pid& to) {
  switch (s) {
    case send_status::dead:
      return error(ask_errc::no_actor, to.to_string() + " has exited");
    case send_status::timeout:
      return error(ask_errc::timeout, "no room in " + to.to_string() + "'s mailbox before the deadline");
    case send_status::stopping:
      return error(ask_errc::stopping, "the runtime is shutting down");
    default:
      return error(ask_errc::rejected, to.to_string() + "'s mailbox is full (" + std::string(to_string(s)) + ")");
  }
}
}  // namespace

envelope* ask_envelope(cell* self, const pid& to, envelope* request, std::chrono::nanoseconds timeout,
                       error& failure) {
  if (!to) {
    delete request;
    failure = error(ask_errc::no_actor, "the pid is empty");
    return nullptr;
  }
  const auto start = std::chrono::steady_clock::now();
  const std::uint64_t id = self->owned().next_request_id_++;
  request->request_id = id;
  request->reply_to = pid_of(self);
  self->owned().awaited_request_ = id;
  const send_status sent = post(self, as_cell(to), request, send_mode::timed, timeout);
  if (sent != send_status::ok) {
    self->owned().awaited_request_ = 0;
    failure = ask_failure_of(sent, to);
    return nullptr;
  }
  std::chrono::nanoseconds left = no_timeout;
  if (timeout.count() >= 0) {
    left = std::max(std::chrono::nanoseconds::zero(), timeout - (std::chrono::steady_clock::now() - start));
  }
  struct wanted {
    std::uint64_t id;
  } w{id};
  matcher m{[](const void* arg, const envelope& e) {
              return e.kind == envelope_kind::reply && e.request_id == static_cast<const wanted*>(arg)->id;
            },
            &w};
  // The request has just left and nothing was pulled since: the reply can
  // only be among the arrivals (backend.hpp, scan_from).
  envelope* reply = receive_envelope(self, m, left, scan_from::arrivals);
  self->owned().awaited_request_ = 0;
  if (reply == nullptr) {
    failure = error(ask_errc::timeout,
                    fmt::format("no reply from {} within {} ms", to.to_string(),
                                std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()));
    return nullptr;
  }
  if (holds<reply_error>(*reply)) {
    failure = std::move(payload<reply_error>(*reply).cause);
    delete reply;
    return nullptr;
  }
  return reply;
}

send_status send_envelope(runtime_impl* rt, cell* from, const pid& to, envelope* e, send_mode mode,
                          std::chrono::nanoseconds timeout) {
  if (!to) {
    // An empty pid (e.g. whereis() of a name whose actor is restarting)
    // is a dead letter like any dead actor.
    if (rt != nullptr) rt->count_dead_letter(dead_letter_cause::dead_actor, nullptr, e);
    delete e;
    return send_status::dead;
  }
  return post(from, as_cell(to), e, mode, timeout);
}

void run_blocking(cell* self, const std::function<void()>& fn) {
  if (self->thread_bound_) {
    fn();
    return;
  }
  struct job_state {
    std::atomic<bool> done{false};
  } state;
  self->owned().defer_exit_ = true;
  // The wake is allocated here, not after fn: once `done` is set nothing may
  // fail, or the actor would wait for a wake that never comes.
  std::unique_ptr<envelope> wake(make_envelope(wake_payload{}, envelope_kind::wake));
  self->rt->blocking_.submit([&state, &fn, me = pid_of(self), e = wake.release()] {
    fn();
    // After this store the actor may resume and `state`/`fn` die with its
    // frame: only `me` and `e`, our own, are touched afterwards.
    state.done.store(true, std::memory_order_release);
    if (!as_cell(me)->deliver_signal(e)) delete e;
  });
  // suspend() marks the actor running whenever it resumes (a signal, a
  // spurious wake), so mark it waiting again before each wait.
  while (!state.done.load(std::memory_order_acquire)) {
    self->status.store(actor_status::waiting, std::memory_order_relaxed);
    self->await_input({}, false);
  }
  self->status.store(actor_status::running, std::memory_order_relaxed);
  self->owned().defer_exit_ = false;
  if (self->owned().deferred_exit_) {
    exit_reason reason = std::move(*self->owned().deferred_exit_);
    self->owned().deferred_exit_.reset();
    self->throw_exit(std::move(reason));
  }
}

// -- exiting --------------------------------------------------------------

void terminate(cell* c, exit_reason reason) {
  c->owned().exiting_ = true;
  c->status.store(actor_status::exiting, std::memory_order_relaxed);
  if (c->owned().body_ != nullptr && c->owned().started_ && c->handler_style_ && reason.code() != exit_reason::kind::killed) {
    c->owned().body_->on_exit(c->owned().ctx_, reason);
  }
  c->owned().behavior_ = behavior();
  c->owned().pending_behavior_.reset();
  c->owned().body_.reset();
  c->drop_wake_timer();
  c->rt->release_name(c);
  const exit_reason link_reason =
      reason.code() == exit_reason::kind::kill ? exit_reason::killed() : reason;
  pid self = pid_of(c);
  c->close_and_drain([&](envelope* e) {
    std::unique_ptr<envelope> hold(e);
    switch (e->kind) {
      case envelope_kind::user:
        bounce_request(*e, error(ask_errc::actor_down, self.to_string() + " exited before handling the request: " +
                                                           link_reason.to_string()));
        c->rt->count_dead_letter(dead_letter_cause::exited_unread, c, e);
        break;
      case envelope_kind::link:
        post_signal(c, as_cell(payload<link_payload>(*e).from),
                    make_envelope(exit_signal_payload{self, link_reason, true}, envelope_kind::exit_signal));
        break;
      case envelope_kind::monitor: {
        auto& m = payload<monitor_payload>(*e);
        post_signal(c, as_cell(m.watcher), make_envelope(down_msg{m.ref, self, reason}, envelope_kind::down));
        break;
      }
      default:
        break;
    }
  });
  c->wake_space_waiters();
  for (const pid& linked : c->links_) {
    post_signal(c, as_cell(linked), make_envelope(exit_signal_payload{self, link_reason, true}, envelope_kind::exit_signal));
  }
  for (const monitor_payload& m : c->monitors_in_) {
    post_signal(c, as_cell(m.watcher), make_envelope(down_msg{m.ref, self, reason}, envelope_kind::down));
  }
  pid parent;  // released after the lock: dropping it may free the parent's cell
  {
    std::lock_guard meta(c->meta_lock_);
    c->links_.clear();
    c->monitors_in_.clear();
    if (c->extras_ != nullptr) c->extras_->describe = nullptr;
    // Dead actors drop their parent, or a long dead chain would be freed
    // recursively, one stack frame per generation.
    parent = std::move(c->parent_);
  }
  c->owned().monitors_out_.reset();
  c->status.store(actor_status::dead, std::memory_order_relaxed);
  if (!c->thread_bound_) c->rt->actor_exited(c);
}

void bounce_request(envelope& e, error cause) {
  if (e.request_id == 0 || !e.reply_to) return;
  send_reply(e.reply_to, std::exchange(e.request_id, 0),
             make_envelope(reply_error{std::move(cause)}, envelope_kind::reply));
}


exit_reason reason_of_current_exception() {
  try {
    throw;
  } catch (exit_unwind& u) {
    return std::move(u.reason);
  } catch (const std::exception& e) {
    return exit_reason::error(e.what());
  } catch (...) {
    return exit_reason::error("an exception not derived from std::exception");
  }
}

// Handler style: processes up to the budget. True if the actor went idle
// or exited; false if it used its budget with input left (re-queue it).
// Inline: run_cell is its only caller, and the loop is every message's path.
[[gnu::always_inline]] inline bool run_handlers(cell* c) {
  runtime_impl* rt = c->rt;
  if (!c->owned().started_) {
    c->owned().started_ = true;
    c->owned().behavior_ = c->owned().body_->init(c->owned().ctx_);
    if (!c->owned().behavior_) {
      terminate(c, exit_reason::normal());
      return true;
    }
  }
  const unsigned budget = rt->options_.message_budget;
  const auto time_budget = rt->options_.time_budget;
  // Slots are given back once per activation (mailbox.cpp, release_slots)
  // only where a sender that finds the mailbox full waits: under drop and
  // reject policies a slot kept a little longer would cost a message.
  const bool release_later = c->policy_ == overflow_policy::block;
  std::chrono::steady_clock::time_point started{};
  for (unsigned handled = 0;;) {
    envelope* e = c->owned().stash_.pop_front();
    if (e == nullptr) {
      envelope* raw = c->pull();
      if (raw == nullptr) {
        // The status first: after a successful try_idle the actor may
        // already run on another worker.
        c->status.store(actor_status::waiting, std::memory_order_relaxed);
        if (c->try_idle()) return true;
        c->status.store(actor_status::running, std::memory_order_relaxed);
        // A sender reserved but has not linked its envelope yet, or new
        // input raced with try_idle: come back after the others.
        if (handled > 0 || c->unread_pending()) return false;
        continue;
      }
      e = c->filter(raw);
      if (e == nullptr) continue;
    }
    {
      handling_scope scope(c, e, release_later);
      if (!c->owned().behavior_.invoke(*e, c)) {
        rt->count_dead_letter(dead_letter_cause::unhandled, c, e);
        // A request no handler takes is answered now, not left to time out.
        bounce_request(*e, error(ask_errc::unhandled, pid_of(c).to_string() + " has no handler for " +
                                                          std::string(e->tag->name)));
      }
    }
    if (c->owned().pending_behavior_) {
      c->owned().behavior_ = std::move(*c->owned().pending_behavior_);
      c->owned().pending_behavior_.reset();
    }
    ++handled;
    if (handled >= budget) return false;
    if ((handled & 7) == 0) {
      const auto now = std::chrono::steady_clock::now();
      if (started == std::chrono::steady_clock::time_point{}) {
        started = now;
      } else if (now - started >= time_budget) {
        return false;
      }
    }
  }
}


void run_cell(cell* c) {
  c->status.store(actor_status::running, std::memory_order_relaxed);
  try {
    if (c->handler_style_) {
      if (!run_handlers(c)) {
        c->release_consumed();
        c->rt->schedule_yield(c);
      }
      return;
    }
    c->owned().started_ = true;
    c->owned().body_->run(c->owned().ctx_);
  } catch (...) {
    terminate(c, reason_of_current_exception());
    return;
  }
  terminate(c, exit_reason::normal());
}

}  // namespace weft::detail
