// runtime_impl: construction, spawning, thread cells, the live-actor list
// and statistics; and the public runtime's members that forward to it.
// The other parts of the runtime each have their file: blocking_pool.cpp,
// registry.cpp, dead_letters.cpp, shutdown.cpp, lifetime.cpp (the gate,
// anchors, teardown), context.cpp, text.cpp, work_stealing.cpp, actor.cpp,
// mailbox.cpp, timers.cpp, introspection.cpp.

#include "cell.hpp"
#include "runtime_impl.hpp"

#include <weft/runtime/runtime.hpp>

#include <weft/runtime/internal.hpp>

#include <fmt/format.h>

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <thread>

namespace weft {

namespace detail {

runtime_impl::runtime_impl(runtime_options options)
    : options_(options),
      epoch_(std::chrono::steady_clock::now()),
      stacks_(stack_pool_create(options.default_stack_size, options.max_cached_stacks, options.guard_pages)),
      timers_(epoch_),
      blocking_(this, options.blocking_threads == 0 ? 1 : options.blocking_threads) {
  if (options_.workers == 0) options_.workers = std::max(1u, std::thread::hardware_concurrency());
  if (options_.message_budget == 0) options_.message_budget = 1;
  event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event_fd_ < 0) throw std::runtime_error("weft: eventfd failed; cannot start the runtime");
  timers_.wake_fd_ = event_fd_;
  // Not owning the wheel: it is a member, and lives as long as clock_.
  clock_ = options_.clock ? options_.clock : std::shared_ptr<weft::clock>(std::shared_ptr<void>(), &wheel_);
  poller_.watch_wake_fd(event_fd_);
  for (unsigned i = 0; i < options_.workers; ++i) workers_.push_back(std::make_unique<worker_shared>(this, i));
  for (auto& w : workers_) w->start();
}

runtime_impl::~runtime_impl() = default;

pid runtime_impl::spawn(cell* parent, std::unique_ptr<actor_body> body, spawn_options options, bool link) {
  const bool owned = parent != nullptr ? !parent->thread_bound_ && parent->rt == this : owns_calling_thread();
  outside_call call(this, owned);
  if (!call || stopping()) return pid();
  const std::uint32_t capacity = cell::stored_capacity(options.mailbox_capacity, options_.default_mailbox_capacity);
  const overflow_policy policy = options.overflow.value_or(options_.default_overflow);
  auto* c = new cell(this, next_id_.fetch_add(1, std::memory_order_relaxed), std::move(body), options, capacity,
                     policy, false);
  if (c->stack_size_ == 0) c->stack_size_ = options_.default_stack_size;
  if (parent != nullptr) {
    c->parent_ = pid_of(parent);
    c->depth_ = parent->depth_ + 1;
    // Before the name and the live list make it visible (internal.hpp).
    c->restarts_.store(parent->owned().spawn_restarts_, std::memory_order_relaxed);
  }
  // Atomic with the spawn: the child has not run yet, the parent is us. The
  // child's half is written before its name makes it visible (snapshots
  // read links under meta_lock_, and nobody can hold that lock before).
  if (link && parent != nullptr) c->links_.push_back(pid_of(parent));
  if (!options.name.empty() && !register_name(options.name, c)) {
    release(c);
    throw std::invalid_argument(fmt::format("weft: cannot spawn with name '{}': the name is taken", options.name));
  }
  if (link && parent != nullptr) {
    std::lock_guard meta(parent->meta_lock_);
    parent->links_.push_back(pid_of(c));
  }
  c->live_shard_ = static_cast<std::uint32_t>(c->id % live_shards);
  {
    live_shard& shard = live_[c->live_shard_];
    std::lock_guard lock(shard.mutex);
    c->live_next_ = shard.head;
    if (shard.head != nullptr) shard.head->live_prev_ = c;
    shard.head = c;
  }
  live_count_.fetch_add(1, std::memory_order_relaxed);
  spawned_.fetch_add(1, std::memory_order_relaxed);
  pid result = pid_of(c);
  schedule(c);  // born SCHEDULED: its first activation initialises it
  return result;
}

cell* runtime_impl::make_thread_cell(const spawn_options& options) {
  const std::uint32_t capacity = cell::stored_capacity(options.mailbox_capacity, options_.default_mailbox_capacity);
  auto* c = new cell(this, next_id_.fetch_add(1, std::memory_order_relaxed), nullptr, options, capacity,
                     options.overflow.value_or(options_.default_overflow), true);
  c->owned().started_ = true;
  return c;
}

void runtime_impl::finish_thread_cell(cell* c) {
  terminate(c, exit_reason::normal());
  release(c);
}

void runtime_impl::actor_exited(cell* c) {
  {
    live_shard& shard = live_[c->live_shard_];
    std::lock_guard lock(shard.mutex);
    if (c->live_prev_ != nullptr) {
      c->live_prev_->live_next_ = c->live_next_;
    } else {
      shard.head = c->live_next_;
    }
    if (c->live_next_ != nullptr) c->live_next_->live_prev_ = c->live_prev_;
    c->live_prev_ = c->live_next_ = nullptr;
  }
  if (live_count_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    std::lock_guard lock(exited_mutex_);
    exited_cv_.notify_all();
  }
  release(c);  // the live list's reference
}

std::vector<pid> runtime_impl::live_pids() const {
  std::vector<pid> out;
  out.reserve(live_count_.load(std::memory_order_relaxed));
  for (auto& shard : live_) {
    std::lock_guard lock(shard.mutex);
    for (cell* c = shard.head; c != nullptr; c = c->live_next_) out.push_back(pid_of(c));
  }
  return out;
}

runtime_stats runtime_impl::stats() const {
  runtime_stats s;
  s.live_actors = live_count_.load(std::memory_order_relaxed);
  s.spawned = spawned_.load(std::memory_order_relaxed);
  s.timers_pending = timers_.pending() + (clock_.get() != &wheel_ ? clock_->pending() : 0);
  s.global_queue_length = global_size_.load(std::memory_order_relaxed);
  s.fibers_in_use = stack_pool_fibers_in_use(stacks_);
  for (const auto& w : workers_) s.workers.push_back(w->stats());
  for (std::size_t i = 0; i < dead_letters_.size(); ++i) {
    s.dead_letters.by_cause[i] = dead_letters_[i].load(std::memory_order_relaxed);
  }
  return s;
}

pid spawn_body(runtime_impl* rt, cell* parent, std::unique_ptr<actor_body> body, spawn_options options, bool link) {
  return rt->spawn(parent, std::move(body), std::move(options), link);
}

}  // namespace detail

// -- public: runtime --------------------------------------------------------

runtime::runtime(runtime_options options) : impl_(new detail::runtime_impl(options)) { impl_->public_ = this; }
runtime::~runtime() {
  impl_->shutdown(shutdown_mode::drain, std::chrono::seconds(10));
  impl_->teardown();
  // impl_'s deleter drops the runtime's anchor: the memory goes with the last cell.
}

}  // namespace weft

namespace weft::internal {

void send_exit_signal(const pid& target, exit_reason reason) {
  if (!target) return;
  detail::post_signal(nullptr, detail::as_cell(target),
                      detail::make_envelope(detail::exit_signal_payload{pid(), std::move(reason), false},
                                            detail::envelope_kind::exit_signal));
}

}  // namespace weft::internal

namespace weft {

bool runtime::register_name(std::string name, const pid& who) {
  return who && impl_->register_name(std::move(name), detail::as_cell(who));
}
bool runtime::unregister_name(std::string_view name) { return impl_->unregister_name(name); }
pid runtime::whereis(std::string_view name) const { return impl_->whereis(name); }
std::vector<std::string> runtime::registered_names() const { return impl_->names(); }
std::size_t runtime::live_actors() const { return impl_->live_count_.load(std::memory_order_acquire); }
runtime_stats runtime::stats() const { return impl_->stats(); }
event_log& runtime::events() noexcept { return impl_->events_; }
bool runtime::is_stopping() const noexcept { return impl_->stopping(); }
const runtime_options& runtime::options() const { return impl_->options_; }
weft::clock& runtime::clock() const noexcept { return *impl_->clock_; }
bool runtime::wait_quiescent(std::chrono::nanoseconds timeout) { return impl_->wait_quiescent(timeout); }
bool runtime::shutdown(shutdown_mode mode, std::chrono::nanoseconds timeout) {
  return impl_->shutdown(mode, timeout);
}
bool runtime::wait_all_exited(std::chrono::nanoseconds timeout) { return impl_->wait_all_exited(timeout); }


}  // namespace weft

namespace weft::internal {

detail::runtime_impl* runtime_access::impl(runtime& rt) noexcept { return rt.impl_.get(); }

detail::envelope* current_message(context& self) noexcept { return context_access::cell(self)->owned().current_; }

detail::envelope* take_current(context& self) noexcept {
  detail::cell* c = context_access::cell(self);
  // current_ no longer pointing at its envelope tells the handling scope
  // that the message left (handling_scope's destructor, actor.cpp).
  detail::envelope* e = std::exchange(c->owned().current_, nullptr);
  if (e != nullptr) c->consumed(*e);
  return e;
}

void requeue_front(context& self, detail::envelope* first, detail::envelope* last) noexcept {
  if (first == nullptr) return;
  detail::cell* c = context_access::cell(self);
  std::size_t size = 0;
  std::uint32_t user = 0;
  for (detail::envelope* e = first;; e = static_cast<detail::envelope*>(e->next.load(std::memory_order_relaxed))) {
    ++size;
    if (detail::counts_against_capacity(e->kind)) ++user;
    if (e == last) break;
  }
  c->owned().stash_.splice_front(first, last, size, user);
  // They hold slots again, released as each is handled (cell::consumed).
  // Only the count grows: no sender waits on that, so nobody is woken.
  if (user != 0) c->state_.fetch_add(user * detail::mailbox_bits::queued_one, std::memory_order_acq_rel);
}

std::size_t mailbox_length(const pid& who) noexcept {
  if (!who) return 0;
  return detail::as_cell(who)->mailbox_length();
}

spawn_restarts_scope::spawn_restarts_scope(context& self, std::uint32_t restarts) noexcept
    : self_(self), previous_(std::exchange(context_access::cell(self)->owned().spawn_restarts_, restarts)) {}
spawn_restarts_scope::~spawn_restarts_scope() { context_access::cell(self_)->owned().spawn_restarts_ = previous_; }

}  // namespace weft::internal

