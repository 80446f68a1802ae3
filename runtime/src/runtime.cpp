// runtime_impl: spawning, the live-actor list, names, dead letters and
// shutdown; and the public runtime / context / scoped_actor members that
// forward to it.
//
// Shutdown protocol (runtime_impl::shutdown):
//   1. Stop accepting messages and spawns from outside (sends answer
//      `stopping`).
//   2. drain: wait until no actor is runnable and no message is in flight
//      (every worker parked, every queue empty, no blocking call running).
//   3. Mark the runtime stopping (supervisors do not restart from here on),
//      then stop actors deepest-first by spawn tree: each depth level gets
//      an exit(shutdown) and the time left; what is still alive then is
//      killed. abort skips 2 and kills everything at once.
//   4. Wait for every actor to have exited, stop and join the workers,
//      drop timers, and free the stacks.
// Each step is idempotent; a second caller waits for the first to finish.

#include "cell.hpp"
#include "runtime_impl.hpp"

#include <weft/runtime/runtime.hpp>

#include <weft/runtime/internal.hpp>

#include <fmt/format.h>

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <thread>

namespace weft {

namespace detail {

void blocking_pool::stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : threads) t.join();
}

void blocking_pool::submit(std::function<void()> job) {
  std::lock_guard lock(mutex_);
  jobs_.push_back(std::move(job));
  busy_.fetch_add(1, std::memory_order_acq_rel);
  if (idle_ == 0 && threads_.size() < max_threads_ && !stopping_) {
    threads_.emplace_back([this] { thread_main(); });
  } else {
    cv_.notify_one();
  }
}

void blocking_pool::thread_main() {
  set_thread_owner(owner_);
  ::pthread_setname_np(::pthread_self(), "weft-blocking");
  std::unique_lock lock(mutex_);
  for (;;) {
    ++idle_;
    cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
    --idle_;
    if (jobs_.empty()) return;  // stopping
    auto job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    try {
      job();
    } catch (...) {
      // A service thread never takes the program down (issue #11's rule).
      owner_->report_service_exception("blocking-call thread", std::current_exception());
    }
    busy_.fetch_sub(1, std::memory_order_acq_rel);
    lock.lock();
  }
}

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
  poller_.watch_wake_fd(event_fd_);
  for (unsigned i = 0; i < options_.workers; ++i) workers_.push_back(std::make_unique<worker>(this, i));
  for (auto& w : workers_) {
    worker* raw = w.get();
    w->thread_ = std::thread([raw] {
      // "weft-w<N>" in top, gdb and /proc/<pid>/task/*/comm (15 chars max).
      const std::string name = "weft-w" + std::to_string(raw->index_);
      ::pthread_setname_np(::pthread_self(), name.c_str());
      raw->main();
    });
  }
}

runtime_impl::~runtime_impl() = default;

pid runtime_impl::spawn(cell* parent, std::unique_ptr<actor_body> body, spawn_options options, bool link) {
  const bool owned = parent != nullptr ? !parent->thread_bound_ && parent->rt == this : owns_calling_thread();
  outside_call call(this, owned);
  if (!call || stopping()) return pid();
  std::size_t capacity = options.mailbox_capacity == 0 ? options_.default_mailbox_capacity : options.mailbox_capacity;
  if (capacity == unbounded || capacity > 0xFFFF'FFFEull) capacity = 0xFFFF'FFFFull;
  if (capacity == 0) capacity = 1;
  const overflow_policy policy = options.overflow.value_or(options_.default_overflow);
  auto* c = new cell(this, next_id_.fetch_add(1, std::memory_order_relaxed), std::move(body), options, capacity,
                     policy, false);
  if (c->stack_size_ == 0) c->stack_size_ = options_.default_stack_size;
  if (parent != nullptr) {
    c->parent_ = pid_of(parent);
    c->depth_ = parent->depth_ + 1;
    // Before the name and the live list make it visible (internal.hpp).
    c->restarts_.store(parent->spawn_restarts_, std::memory_order_relaxed);
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
  std::size_t capacity = options.mailbox_capacity == 0 ? options_.default_mailbox_capacity : options.mailbox_capacity;
  if (capacity == unbounded || capacity > 0xFFFF'FFFEull) capacity = 0xFFFF'FFFFull;
  auto* c = new cell(this, next_id_.fetch_add(1, std::memory_order_relaxed), nullptr, options, capacity,
                     options.overflow.value_or(options_.default_overflow), true);
  c->started_ = true;
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

// -- names ----------------------------------------------------------------

bool runtime_impl::register_name(std::string name, cell* c) {
  if (name.empty() || c->closed()) return false;
  std::lock_guard lock(names_mutex_);
  std::lock_guard meta(c->meta_lock_);
  if (c->has_name_.load(std::memory_order_relaxed)) return false;  // one name per actor, as in Erlang
  auto [it, inserted] = names_.emplace(std::move(name), c);
  if (!inserted) return false;
  // The actor may have exited between the check and the insert; its exit
  // releases names under this same lock, so re-check here.
  if (c->closed()) {
    names_.erase(it);
    return false;
  }
  c->extras_locked().name = it->first;
  c->has_name_.store(true, std::memory_order_release);
  return true;
}

bool runtime_impl::unregister_name(std::string_view name) {
  std::lock_guard lock(names_mutex_);
  auto it = names_.find(std::string(name));
  if (it == names_.end()) return false;
  {
    std::lock_guard meta(it->second->meta_lock_);
    it->second->extras_locked().name.clear();
    it->second->has_name_.store(false, std::memory_order_release);
  }
  names_.erase(it);
  return true;
}

pid runtime_impl::whereis(std::string_view name) const {
  std::lock_guard lock(names_mutex_);
  auto it = names_.find(std::string(name));
  if (it == names_.end()) return pid();
  return pid_of(it->second);
}

std::vector<std::string> runtime_impl::names() const {
  std::lock_guard lock(names_mutex_);
  std::vector<std::string> out;
  out.reserve(names_.size());
  for (const auto& [name, c] : names_) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

void runtime_impl::release_name(cell* c) {
  // Most actors have no name: no global lock for them.
  if (!c->has_name_.load(std::memory_order_acquire)) return;
  std::lock_guard lock(names_mutex_);
  std::lock_guard meta(c->meta_lock_);
  if (!c->has_name_.load(std::memory_order_relaxed)) return;
  auto it = names_.find(c->extras_->name);
  if (it != names_.end() && it->second == c) names_.erase(it);
  c->extras_->name.clear();
  c->has_name_.store(false, std::memory_order_release);
}

// -- dead letters ---------------------------------------------------------

void runtime_impl::count_dead_letter(dead_letter_cause cause, const cell* target, const envelope* e) {
  dead_letters_[static_cast<std::size_t>(cause)].fetch_add(1, std::memory_order_relaxed);
  if (!has_dead_letter_subscriber_.load(std::memory_order_acquire)) return;
  pid subscriber;
  {
    std::lock_guard lock(dead_letter_mutex_);
    subscriber = dead_letter_subscriber_;
  }
  if (!subscriber || subscriber.raw() == target) return;  // never about itself: no loops
  dead_letter letter{cause, target != nullptr ? pid_of(const_cast<cell*>(target)) : pid(),
                     e != nullptr ? std::string(e->tag->name) : std::string()};
  post(nullptr, as_cell(subscriber), make_envelope(std::move(letter)), send_mode::try_once, no_timeout);
}

// -- shutdown -------------------------------------------------------------

bool runtime_impl::wait_quiescent(std::chrono::nanoseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int quiet_rounds = 0;
  for (;;) {
    bool quiet = idle_count_.load(std::memory_order_acquire) == static_cast<int>(workers_.size()) &&
                 global_size_.load(std::memory_order_acquire) == 0 && blocking_.busy() == 0;
    for (auto& w : workers_) quiet = quiet && w->queue_.size() == 0 && w->parked_.load(std::memory_order_acquire);
    quiet_rounds = quiet ? quiet_rounds + 1 : 0;
    if (quiet_rounds >= 3) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
}

bool runtime_impl::wait_all_exited(std::chrono::nanoseconds timeout) {
  std::unique_lock lock(exited_mutex_);
  return exited_cv_.wait_for(lock, timeout, [&] { return live_count_.load(std::memory_order_acquire) == 0; });
}

bool runtime_impl::shutdown(shutdown_mode mode, std::chrono::nanoseconds timeout) {
  if (current_worker(this) != nullptr) {
    // From inside an actor we cannot wait for ourselves: run it on a
    // thread the runtime joins when it is destroyed.
    std::lock_guard lock(shutdown_thread_mutex_);
    if (!shutdown_thread_.joinable()) {
      shutdown_thread_ = std::thread([this, mode, timeout] {
        set_thread_owner(this);
        shutdown(mode, timeout);
      });
    }
    return true;
  }
  std::lock_guard guard(shutdown_mutex_);
  if (shut_down_) return drained_in_time_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  close_to_outside();
  bool in_time = true;
  if (mode == shutdown_mode::drain) {
    in_time = wait_quiescent(timeout);
    if (!in_time) {
      events_.record("runtime", "shutdown_drain_timeout", pid(),
                     "shutdown: actors still busy after the drain timeout; aborting them");
    }
  }
  stopping_.store(true, std::memory_order_release);
  auto signal_all = [&](const std::vector<pid>& group, exit_reason reason) {
    for (const pid& p : group) {
      auto* e = make_envelope(exit_signal_payload{pid(), reason, false}, envelope_kind::exit_signal);
      if (!as_cell(p)->deliver_signal(e)) delete e;
    }
  };
  auto wait_group = [&](const std::vector<pid>& group) {
    for (const pid& p : group) {
      while (!as_cell(p)->closed()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }
    return true;
  };
  if (mode == shutdown_mode::drain && in_time) {
    std::map<std::uint32_t, std::vector<pid>, std::greater<>> by_depth;
    for (pid& p : live_pids()) by_depth[as_cell(p)->depth_].push_back(std::move(p));
    for (auto& [depth, group] : by_depth) {
      signal_all(group, exit_reason::shutdown());
      if (!wait_group(group)) {
        events_.record("runtime", "shutdown_stop_timeout", pid(),
                       fmt::format("shutdown: actors at spawn depth {} did not stop in time; killing the rest", depth));
        in_time = false;
        break;
      }
    }
  }
  // Whatever is left (abort, or a drain that ran out of time) is killed.
  for (int round = 0; live_count_.load(std::memory_order_acquire) > 0; ++round) {
    signal_all(live_pids(), exit_reason::kill());
    if (wait_all_exited(std::chrono::seconds(1))) break;
    if (round == 4) {
      events_.record("runtime", "shutdown_kill_stuck", pid(),
                     fmt::format("shutdown: {} actor(s) have not exited 5 s after kill; they are not reaching a "
                                 "receive (a CPU loop or a blocking call on a worker?). Still waiting.",
                                 live_count_.load()));
    }
  }
  stop_workers_.store(true, std::memory_order_release);
  wake_all_workers();
  for (auto& w : workers_) {
    if (w->thread_.joinable()) w->thread_.join();
  }
  // Actors that were runnable when they died may still sit in queues;
  // they hold no references (the run queues do not own cells).
  timers_.clear();
  shut_down_ = true;
  drained_in_time_ = in_time;
  return in_time;
}

runtime_stats runtime_impl::stats() const {
  runtime_stats s;
  s.live_actors = live_count_.load(std::memory_order_relaxed);
  s.spawned = spawned_.load(std::memory_order_relaxed);
  s.timers_pending = timers_.pending();
  s.global_queue_length = global_size_.load(std::memory_order_relaxed);
  s.fibers_in_use = stack_pool_fibers_in_use(stacks_);
  for (const auto& w : workers_) {
    worker_stats ws;
    ws.run_queue_length = w->queue_.size();
    ws.activations = w->activations_.load(std::memory_order_relaxed);
    ws.steals = w->steals_.load(std::memory_order_relaxed);
    ws.fiber_switches = w->switches_.load(std::memory_order_relaxed);
    ws.parks = w->parks_.load(std::memory_order_relaxed);
    ws.parked = w->parked_.load(std::memory_order_relaxed);
    s.workers.push_back(ws);
  }
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

void runtime::exit(const pid& target, exit_reason reason) {
  if (!target) return;
  detail::post_signal(nullptr, detail::as_cell(target),
                      detail::make_envelope(detail::exit_signal_payload{pid(), std::move(reason), false},
                                            detail::envelope_kind::exit_signal));
}
bool runtime::register_name(std::string name, const pid& who) {
  return who && impl_->register_name(std::move(name), detail::as_cell(who));
}
bool runtime::unregister_name(std::string_view name) { return impl_->unregister_name(name); }
pid runtime::whereis(std::string_view name) const { return impl_->whereis(name); }
std::vector<std::string> runtime::registered_names() const { return impl_->names(); }
dead_letter_stats runtime::dead_letters() const { return impl_->stats().dead_letters; }
void runtime::subscribe_dead_letters(const pid& subscriber) {
  std::lock_guard lock(impl_->dead_letter_mutex_);
  impl_->dead_letter_subscriber_ = subscriber;
  impl_->has_dead_letter_subscriber_.store(static_cast<bool>(subscriber), std::memory_order_release);
}
std::size_t runtime::live_actors() const { return impl_->live_count_.load(std::memory_order_acquire); }
runtime_stats runtime::stats() const { return impl_->stats(); }
event_log& runtime::events() noexcept { return impl_->events_; }
bool runtime::is_stopping() const noexcept { return impl_->stopping(); }
const runtime_options& runtime::options() const { return impl_->options_; }
bool runtime::wait_quiescent(std::chrono::nanoseconds timeout) { return impl_->wait_quiescent(timeout); }
bool runtime::shutdown(shutdown_mode mode, std::chrono::nanoseconds timeout) {
  return impl_->shutdown(mode, timeout);
}
bool runtime::wait_all_exited(std::chrono::nanoseconds timeout) { return impl_->wait_all_exited(timeout); }

// -- public: scoped_actor ---------------------------------------------------

scoped_actor::scoped_actor(runtime& rt, spawn_options options) : context(rt.impl_->make_thread_cell(options)) {}
scoped_actor::~scoped_actor() { cell_->rt->finish_thread_cell(cell_); }

// -- public: context --------------------------------------------------------

pid context::self() const { return detail::pid_of(cell_); }
runtime& context::system() const { return *cell_->rt->public_; }

void context::become(behavior next) { cell_->pending_behavior_ = std::make_unique<behavior>(std::move(next)); }

void context::link(const pid& other) {
  if (!other || other == self()) return;
  auto& links = cell_->links_;
  if (std::find(links.begin(), links.end(), other) != links.end()) return;
  {
    std::lock_guard meta(cell_->meta_lock_);
    links.push_back(other);
  }
  if (detail::post_signal(cell_, detail::as_cell(other),
                          detail::make_envelope(detail::link_payload{self()}, detail::envelope_kind::link))) {
    return;
  }
  // Linking to a dead actor: an exit signal `noproc` comes back at once.
  auto* signal = detail::make_envelope(detail::exit_signal_payload{other, exit_reason::noproc(), true},
                                       detail::envelope_kind::exit_signal);
  if (detail::envelope* visible = cell_->filter(signal)) cell_->stash_.push_back(visible);
}

void context::unlink(const pid& other) {
  if (!other) return;
  {
    std::lock_guard meta(cell_->meta_lock_);
    std::erase(cell_->links_, other);
  }
  detail::post_signal(cell_, detail::as_cell(other),
                      detail::make_envelope(detail::link_payload{self()}, detail::envelope_kind::unlink));
}

monitor_ref context::monitor(const pid& other) {
  monitor_ref ref{cell_->rt->next_monitor_ref_.fetch_add(1, std::memory_order_relaxed)};
  if (!other) return ref;
  if (!cell_->monitors_out_) cell_->monitors_out_ = std::make_unique<std::unordered_map<std::uint64_t, pid>>();
  cell_->monitors_out_->emplace(ref.value, other);
  cell_->monitors_out_count_.store(static_cast<std::uint32_t>(cell_->monitors_out_->size()), std::memory_order_relaxed);
  if (!detail::post_signal(cell_, detail::as_cell(other),
                           detail::make_envelope(detail::monitor_payload{ref, self()}, detail::envelope_kind::monitor))) {
    cell_->monitors_out_->erase(ref.value);
    cell_->stash_.push_back(
        detail::make_envelope(down_msg{ref, other, exit_reason::noproc()}, detail::envelope_kind::down));
  }
  return ref;
}

void context::demonitor(monitor_ref ref) {
  auto* held = cell_->monitors_out_.get();
  auto it = held != nullptr ? held->find(ref.value) : decltype(held->end()){};
  if (held != nullptr && it != held->end()) {
    detail::post_signal(cell_, detail::as_cell(it->second),
                        detail::make_envelope(detail::monitor_payload{ref, self()}, detail::envelope_kind::demonitor));
    held->erase(it);
    cell_->monitors_out_count_.store(static_cast<std::uint32_t>(held->size()), std::memory_order_relaxed);
  }
  // Flush a down_msg for it that may already be queued (Erlang's [flush]).
  detail::envelope* prev = nullptr;
  for (detail::envelope* e = cell_->stash_.head; e != nullptr;) {
    auto* next = static_cast<detail::envelope*>(e->next.load(std::memory_order_relaxed));
    if (detail::holds<down_msg>(*e) && detail::payload<down_msg>(*e).ref == ref) {
      cell_->stash_.unlink(prev, e);
      delete e;
    } else {
      prev = e;
    }
    e = next;
  }
}

void context::trap_exit(bool on) {
  cell_->trap_exit_ = on || cell_->thread_bound_;
  cell_->trap_exit_published_.store(cell_->trap_exit_, std::memory_order_relaxed);
}
bool context::trapping_exits() const { return cell_->trap_exit_; }
void context::exit(exit_reason reason) { cell_->throw_exit(std::move(reason)); }
void context::exit(const pid& target, exit_reason reason) {
  if (!target) return;
  detail::post_signal(cell_, detail::as_cell(target),
                      detail::make_envelope(detail::exit_signal_payload{self(), std::move(reason), false},
                                            detail::envelope_kind::exit_signal));
}

void context::sleep_for(std::chrono::nanoseconds duration) {
  const auto deadline = std::chrono::steady_clock::now() + duration;
  // Asleep is `waiting` to introspection (as blocked sends and blocking
  // calls are), not `running`.
  do {
    cell_->status.store(actor_status::waiting, std::memory_order_relaxed);
  } while (cell_->await_input(deadline, true));
  cell_->status.store(actor_status::running, std::memory_order_relaxed);
}

void context::yield() { cell_->yield_now(); }

bool context::register_name(std::string name) { return cell_->rt->register_name(std::move(name), cell_); }
void context::set_label(std::string label) {
  std::lock_guard meta(cell_->meta_lock_);
  cell_->extras_locked().label = std::move(label);
}
void context::set_describe(std::function<std::string()> describe) {
  std::lock_guard meta(cell_->meta_lock_);
  cell_->extras_locked().describe = std::move(describe);
}

void reply_promise::abandon() noexcept {
  if (request_id_ == 0) return;
  try {
    detail::send_reply(to_, std::exchange(request_id_, 0),
                       detail::make_envelope(detail::reply_error{error(ask_errc::broken_promise,
                                                                       "the request's reply_promise was dropped unanswered")},
                                             detail::envelope_kind::reply));
  } catch (...) {  // NOLINT(bugprone-empty-catch): out of memory while abandoning; the asker times out
  }
}

// -- text -------------------------------------------------------------------

std::string pid::to_string() const { return cell_ == nullptr ? "<none>" : fmt::format("<0.{}.0>", cell_->id); }

std::string exit_reason::to_string() const {
  switch (kind_) {
    case kind::normal:
      return "normal";
    case kind::shutdown:
      return "shutdown";
    case kind::kill:
      return "kill";
    case kind::killed:
      return "killed";
    case kind::noproc:
      return "noproc";
    case kind::error:
      return fmt::format("error: {}", text());
  }
  return "unknown";
}

std::string_view to_string(send_status s) {
  switch (s) {
    case send_status::ok:
      return "ok";
    case send_status::dropped:
      return "dropped";
    case send_status::rejected:
      return "rejected";
    case send_status::dead:
      return "dead";
    case send_status::timeout:
      return "timeout";
    case send_status::stopping:
      return "stopping";
  }
  return "unknown";
}

std::string_view to_string(dead_letter_cause c) {
  switch (c) {
    case dead_letter_cause::dead_actor:
      return "dead_actor";
    case dead_letter_cause::exited_unread:
      return "exited_unread";
    case dead_letter_cause::dropped_newest:
      return "dropped_newest";
    case dead_letter_cause::dropped_oldest:
      return "dropped_oldest";
    case dead_letter_cause::rejected:
      return "rejected";
    case dead_letter_cause::late_reply:
      return "late_reply";
    case dead_letter_cause::unhandled:
      return "unhandled";
    case dead_letter_cause::count_:
      break;
  }
  return "unknown";
}

std::string_view to_string(overflow_policy p) {
  switch (p) {
    case overflow_policy::block:
      return "block";
    case overflow_policy::drop_newest:
      return "drop_newest";
    case overflow_policy::drop_oldest:
      return "drop_oldest";
    case overflow_policy::reject:
      return "reject";
  }
  return "unknown";
}

}  // namespace weft

namespace weft::internal {

detail::runtime_impl* runtime_access::impl(runtime& rt) noexcept { return rt.impl_.get(); }

spawn_restarts_scope::spawn_restarts_scope(context& self, std::uint32_t restarts) noexcept
    : self_(self), previous_(std::exchange(context_access::cell(self)->spawn_restarts_, restarts)) {}
spawn_restarts_scope::~spawn_restarts_scope() { context_access::cell(self_)->spawn_restarts_ = previous_; }

}  // namespace weft::internal
