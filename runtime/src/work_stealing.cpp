// The work-stealing scheduler: workers, their run queues, and parking.
//
// Each worker runs its loop on a *carrier fiber*. Running an actor means
// calling its code on the current carrier; nothing is switched unless the
// actor blocks. When it does, its fiber stays with it and the worker
// carries on with a spare carrier; when a blocked actor is resumed, the
// worker switches to the actor's fiber, and the carrier it leaves becomes
// the spare. An actor that never blocks never costs a switch.
//
// Ownership: a worker is two objects (runtime_impl.hpp). worker_shared is
// what other threads touch (the thieves' end of the run queue, parking,
// statistics); worker is what only its thread touches (runnext, carriers,
// the running actor), made by that thread in worker_shared::start and
// found through current_worker(). Nothing else can reach a worker.
//
// Where runnable actors wait:
//   runnext  one slot, owner only: the actor the running one just woke by
//            sending to it. Taking it next keeps a request/reply pair on one
//            worker, its data hot in that core's cache. After 32 picks in a
//            row from runnext the worker serves its queue first (fairness),
//            if anything waits in it or in the global queue.
//   queue    the local FIFO ring (run_queue.hpp), stolen from by others.
//   global   a mutex-protected list for wake-ups from non-worker threads
//            and local overflow; looked at every 61st pick so it is never
//            starved (Go's constant), and whenever the local queue is empty.
//
// Parking protocol (no lost wake-ups):
//   Worker going idle                   Anyone making work runnable
//   1. add self to idle_, idle_count_++  1. push the actor to a queue
//      (seq_cst RMW)                     2. seq_cst fence
//   2. seq_cst fence                     3. if idle_count_ > 0 and no worker
//   3. look at every queue once more;       is searching: pop one idle worker
//      found work: leave idle_, run it      and unpark it
//   4. sleep
// By the fences, either the worker's re-check sees the pushed actor or the
// pusher sees idle_count_ > 0. The first idle worker to find the driver
// role free parks in epoll_wait (poller.cpp) on the set holding the
// runtime's eventfd and every armed socket, with the next timer deadline as
// its timeout: timers fire and socket readiness resumes the waiting fibers
// with no thread of their own and no thread hop (the driver delivers the
// wake and runs the woken actor itself; it is still on the idle list while
// it harvests, so the wake-up it triggers goes to another idle worker, never
// to itself). The others wait on a condvar. So that I/O is not starved
// while every worker is busy, find_work also looks at the poller without
// blocking every 61st pick, as it fires timers.

#include "cell.hpp"
#include "runtime_impl.hpp"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <string>

namespace weft::detail {

namespace {

thread_local worker* tls_worker = nullptr;

__attribute__((noinline)) worker* this_thread_worker() noexcept {
  asm volatile("" ::: "memory");
  return tls_worker;
}

std::size_t describe_cell(const void* owner, char* buf, std::size_t len) {
  const auto* c = static_cast<const cell*>(owner);
  // Async-signal-safe formatting of "<0.ID.0> 'name'".
  char digits[24];
  int n = 0;
  std::uint64_t v = c->id;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  std::size_t pos = 0;
  auto put = [&](char ch) {
    if (pos < len) buf[pos++] = ch;
  };
  for (char ch : {'<', '0', '.'}) put(ch);
  while (n > 0) put(digits[--n]);
  for (char ch : {'.', '0', '>'}) put(ch);
  // No lock in a signal handler: the name is read as it is.
  if (c->has_name_.load(std::memory_order_relaxed) && c->extras_ != nullptr) {
    put(' ');
    put('\'');
    for (char ch : c->extras_->name) put(ch);
    put('\'');
  }
  return pos;
}

void carrier_entry(void*) {
  for (;;) {
    // Re-read the worker every time: this fiber may have been carried to
    // another thread while an actor it ran was blocked.
    worker* w = this_thread_worker();
    cell* c = w->find_work();
    if (c == nullptr) {
      // Stopping: back to the thread's own stack; this carrier is done.
      switch_to(current_fiber(), w->root(), [](fiber* departed, void*) { fiber_destroy(departed); }, nullptr);
    }
    w->run(c);
  }
}

void spare_hook(fiber* departed, void* arg) { static_cast<worker*>(arg)->keep_spare(departed); }

void run_on_fresh_fiber(void* arg) {
  auto* c = static_cast<cell*>(arg);
  fiber_set_owner(current_fiber(), c, &describe_cell);
  run_cell(c);
  carrier_entry(nullptr);
}

}  // namespace

worker* current_worker(const runtime_impl* rt) noexcept {
  worker* w = this_thread_worker();
  return (w != nullptr && w->runtime() == rt) ? w : nullptr;
}

void worker_shared::start() {
  thread_ = std::thread([this] {
    // "weft-w<N>" in top, gdb and /proc/<pid>/task/*/comm (15 chars max).
    const std::string name = "weft-w" + std::to_string(index_);
    ::pthread_setname_np(::pthread_self(), name.c_str());
    // On the heap, not this frame: the thread runs on carrier fibers, and
    // a leak checker that scans only the running stack would not see what
    // this frame holds; tls_worker (thread-local, always scanned) points
    // at the heap copy. Still only this thread can reach it.
    const auto owner = std::make_unique<worker>(*this);
    owner->main();
  });
}

void worker_shared::join() {
  if (thread_.joinable()) thread_.join();
}

worker_stats worker_shared::stats() const noexcept {
  worker_stats ws;
  ws.run_queue_length = queue_.size();
  ws.activations = activations_.load(std::memory_order_relaxed);
  ws.steals = steals_.load(std::memory_order_relaxed);
  ws.fiber_switches = switches_.load(std::memory_order_relaxed);
  ws.parks = parks_.load(std::memory_order_relaxed);
  ws.parked = parked_.load(std::memory_order_relaxed);
  return ws;
}

void worker::main() {
  tls_worker = this;
  set_thread_owner(rt_);
  install_overflow_reporter_for_this_thread();
  root_ = thread_fiber_adopt();
  fiber* first = fiber_create(rt_->stacks_, 0, &carrier_entry, nullptr);
  switch_to(root_, first, nullptr, nullptr);
  // The loop ended (stop_workers_).
  if (spare_ != nullptr) fiber_destroy(spare_);
  spare_ = nullptr;
  thread_fiber_release(root_);
  root_ = nullptr;
  uninstall_overflow_reporter_for_this_thread();
  set_thread_owner(nullptr);
  tls_worker = nullptr;
}

fiber* worker::take_carrier() {
  if (spare_ != nullptr) return std::exchange(spare_, nullptr);
  return fiber_create(rt_->stacks_, 0, &carrier_entry, nullptr);
}

void worker::keep_spare(fiber* f) {
  if (spare_ == nullptr) {
    fiber_set_owner(f, nullptr, nullptr);
    spare_ = f;
  } else {
    // Its frames (loop -> run -> switch_to) own nothing: reuse the stack.
    fiber_destroy(f);
  }
}

void worker::run(cell* c) {
  running_ = c;
  shared_.activations_.fetch_add(1, std::memory_order_relaxed);
  if (c->owned().suspended_ != nullptr) {
    fiber* f = std::exchange(c->owned().suspended_, nullptr);
    c->suspended_published_.store(false, std::memory_order_relaxed);
    count_switch();
    // Returns when this carrier is taken as a spare again, on this worker.
    switch_to(current_fiber(), f, &spare_hook, this);
    return;
  }
  fiber* self = current_fiber();
  if (c->stack_size_ > fiber_stack_size(self)) {
    fiber* big = fiber_create(rt_->stacks_, c->stack_size_, &run_on_fresh_fiber, c);
    count_switch();
    switch_to(self, big, &spare_hook, this);
    return;
  }
  fiber_set_owner(self, c, &describe_cell);
  run_cell(c);
  // `c` may be gone now; the next actor sets the owner again.
}

void worker::make_runnable(cell* c, bool yielded) {
  if (!yielded) {
    if (runnext_ == nullptr) {
      runnext_ = c;
      return;
    }
    std::swap(runnext_, c);  // the newest wake-up runs next; the older one queues
  }
  if (!shared_.queue_.push(c)) {
    // Ring full: move half of it, and c, to the global queue in one go.
    std::array<cell*, run_queue::capacity> batch;
    const std::uint32_t n = shared_.queue_.take_half(batch);
    std::lock_guard lock(rt_->global_mutex_);
    for (std::uint32_t i = 0; i < n; ++i) rt_->push_global_locked(batch[i]);
    rt_->push_global_locked(c);
  }
  rt_->notify_work();
}

cell* worker::find_work() {
  for (;;) {
    if (rt_->stop_workers_.load(std::memory_order_acquire)) return nullptr;
    ++tick_;
    if (tick_ % 61 == 0) {
      if (rt_->timers_.next_due() <= std::chrono::steady_clock::now()) {
        rt_->timers_.fire_due(std::chrono::steady_clock::now());
      }
      if (rt_->poller_.armed() > 0) rt_->poller_.harvest(0, false);
      if (rt_->global_size_.load(std::memory_order_relaxed) > 0) {
        if (cell* c = rt_->pop_global()) return c;
      }
    }
    if (runnext_ != nullptr) {
      if (runnext_streak_ < 32) {
        ++runnext_streak_;
        return std::exchange(runnext_, nullptr);
      }
      cell* c = std::exchange(runnext_, nullptr);
      runnext_streak_ = 0;
      // Nothing else is queued here: being fair would only queue c, wake
      // another worker for it (a futex call), and pop c straight back
      // before that worker arrives. A serial chain (ring, pingpong) paid
      // that every 32 hops and parked the other worker ~45k times per
      // 10 M hops. Timers and the poller keep their every-61st turn.
      if (shared_.queue_.size() == 0 && rt_->global_size_.load(std::memory_order_relaxed) == 0) return c;
      make_runnable(c, true);
    }
    runnext_streak_ = 0;
    if (cell* c = shared_.queue_.pop()) return c;
    if (rt_->global_size_.load(std::memory_order_relaxed) > 0) {
      if (cell* c = rt_->pop_global()) return c;
    }
    if (rt_->timers_.next_due() <= std::chrono::steady_clock::now()) {
      if (rt_->timers_.fire_due(std::chrono::steady_clock::now()) > 0) continue;
    }
    // Steal: at most half the workers search at once (Go's rule), so a
    // burst of idleness does not turn into a storm of CAS traffic.
    const int workers = static_cast<int>(rt_->workers_.size());
    if (workers > 1 && 2 * rt_->searching_.load(std::memory_order_relaxed) < workers) {
      rt_->searching_.fetch_add(1, std::memory_order_seq_cst);
      cell* stolen = nullptr;
      for (int round = 0; round < 2 && stolen == nullptr; ++round) {
        rng_ ^= rng_ << 13;
        rng_ ^= rng_ >> 7;
        rng_ ^= rng_ << 17;
        const unsigned start = static_cast<unsigned>(rng_ % static_cast<std::uint64_t>(workers));
        for (int i = 0; i < workers && stolen == nullptr; ++i) {
          worker_shared* victim =
              rt_->workers_[(start + static_cast<unsigned>(i)) % static_cast<unsigned>(workers)].get();
          if (victim == &shared_) continue;
          stolen = victim->steal_into(shared_.queue_);
        }
      }
      const int left = rt_->searching_.fetch_sub(1, std::memory_order_seq_cst) - 1;
      if (stolen != nullptr) {
        shared_.steals_.fetch_add(1, std::memory_order_relaxed);
        // The last searcher found work: there may be more, wake a helper.
        if (left == 0 && shared_.queue_.size() > 0) rt_->notify_work();
        return stolen;
      }
    }
    park();
  }
}

void worker::park() {
  {
    std::lock_guard lock(rt_->idle_mutex_);
    rt_->idle_.push_back(&shared_);
    rt_->idle_count_.fetch_add(1, std::memory_order_seq_cst);
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
  auto leave_idle_list = [&] {
    std::lock_guard lock(rt_->idle_mutex_);
    auto it = std::find(rt_->idle_.begin(), rt_->idle_.end(), &shared_);
    if (it != rt_->idle_.end()) {
      rt_->idle_.erase(it);
      rt_->idle_count_.fetch_sub(1, std::memory_order_seq_cst);
    }
  };
  bool work = rt_->global_size_.load(std::memory_order_seq_cst) > 0 ||
              rt_->stop_workers_.load(std::memory_order_seq_cst) || runnext_ != nullptr;
  for (auto& other : rt_->workers_) work = work || other->queue_length() > 0;
  if (work) {
    leave_idle_list();
    return;
  }
  shared_.parks_.fetch_add(1, std::memory_order_relaxed);
  shared_.parked_.store(true, std::memory_order_relaxed);
  if (rt_->driver_mutex_.try_lock()) {
    {
      std::lock_guard lock(shared_.park_mutex_);
      shared_.is_driver_ = true;
    }
    for (;;) {
      {
        std::lock_guard lock(shared_.park_mutex_);
        if (shared_.notified_) {
          shared_.notified_ = false;
          break;
        }
      }
      const auto due = rt_->timers_.next_due();
      const auto now = std::chrono::steady_clock::now();
      if (due <= now) break;  // leave the idle list below and fire them
      int timeout_ms = -1;
      if (due != std::chrono::steady_clock::time_point::max()) {
        const auto wait = std::chrono::ceil<std::chrono::milliseconds>(due - now).count();
        timeout_ms = static_cast<int>(std::min<std::int64_t>(wait, 60'000));
      }
      // Readiness delivered here made actors runnable on this worker
      // (runnext and queue): leave the driver role and run them.
      if (rt_->poller_.harvest(timeout_ms, true) > 0) break;
    }
    {
      std::lock_guard lock(shared_.park_mutex_);
      shared_.is_driver_ = false;
    }
    rt_->driver_mutex_.unlock();
  } else {
    std::unique_lock lock(shared_.park_mutex_);
    shared_.park_cv_.wait(lock, [&] { return shared_.notified_; });
    shared_.notified_ = false;
  }
  shared_.parked_.store(false, std::memory_order_relaxed);
  // A worker that leaves the driver role to run actors still fires timers
  // from find_work (every 61st pick), and parks as the driver again.
  leave_idle_list();
}

void worker_shared::unpark() {
  bool driver = false;
  {
    std::lock_guard lock(park_mutex_);
    notified_ = true;
    driver = is_driver_;
  }
  // Notified after the unlock: a waiter woken while we still held the mutex
  // would wake only to sleep again on it (perf showed that second futex
  // wait as the commonest lock wait in weft-echo). The flag was set under
  // the mutex, so the waiter's predicate cannot miss it; workers live as
  // long as the runtime, so the condvar outlives this call.
  park_cv_.notify_one();
  if (driver) {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(rt_->event_fd_, &one, sizeof one);
  }
}

// -- runtime_impl: the scheduling half ------------------------------------

void runtime_impl::schedule(cell* c) {
  if (c->thread_bound_) {
    std::lock_guard lock(c->parker_->mutex);
    c->parker_->woken = true;
    c->parker_->cv.notify_one();
    return;
  }
  c->status.store(actor_status::runnable, std::memory_order_relaxed);
  if (worker* w = current_worker(this)) {
    w->make_runnable(c, false);
    return;
  }
  push_global(c);
}

void runtime_impl::schedule_yield(cell* c) {
  c->status.store(actor_status::runnable, std::memory_order_relaxed);
  if (worker* w = current_worker(this)) {
    w->make_runnable(c, true);
    return;
  }
  push_global(c);
}

void runtime_impl::push_global_locked(cell* c) {
  c->next_global_ = nullptr;
  if (global_tail_ != nullptr) {
    global_tail_->next_global_ = c;
  } else {
    global_head_ = c;
  }
  global_tail_ = c;
  global_size_.fetch_add(1, std::memory_order_release);
}

void runtime_impl::push_global(cell* c) {
  {
    std::lock_guard lock(global_mutex_);
    push_global_locked(c);
  }
  notify_work();
}

cell* runtime_impl::pop_global() {
  std::lock_guard lock(global_mutex_);
  cell* c = global_head_;
  if (c == nullptr) return nullptr;
  global_head_ = c->next_global_;
  if (global_head_ == nullptr) global_tail_ = nullptr;
  c->next_global_ = nullptr;
  global_size_.fetch_sub(1, std::memory_order_release);
  return c;
}

void runtime_impl::notify_work() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (idle_count_.load(std::memory_order_relaxed) == 0) return;
  if (searching_.load(std::memory_order_relaxed) > 0) return;
  wake_one_idle();
}

void runtime_impl::wake_one_idle() {
  // The driver makes actors runnable from inside park(), while it is still
  // on the idle list (poller::harvest delivering readiness): it must not
  // pick itself. Waking itself cost an eventfd write and a wasted
  // epoll_wait per harvest, and left the other idle worker asleep.
  const worker* caller = current_worker(this);
  const worker_shared* self = caller != nullptr ? &caller->shared() : nullptr;
  worker_shared* w = nullptr;
  {
    std::lock_guard lock(idle_mutex_);
    for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
      if (*it != self) {
        w = *it;
        idle_.erase(std::next(it).base());
        break;
      }
    }
    if (w == nullptr) return;
    idle_count_.fetch_sub(1, std::memory_order_seq_cst);
  }
  w->unpark();
}

void runtime_impl::wake_all_workers() {
  for (auto& w : workers_) w->unpark();
}

}  // namespace weft::detail
