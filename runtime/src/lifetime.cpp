// How a runtime ends while other threads may still hold its pids.
//
// Two mechanisms, one for threads and one for memory:
//
// 1. The gate (outside_): threads the runtime does not own (main, a
//    journal's writer thread, a scoped_actor's thread, another runtime's
//    workers) enter it for the length of a call that touches the scheduler
//    (a send, a spawn, a signal, a reply) and leave it after. The word is
//    one bit "closed" and a count of calls inside; both change with single
//    read-modify-writes, so their modification order decides every race:
//      - enter: fetch_add(1). If the old value had `closed`, undo and refuse.
//      - close: fetch_or(closed). Every enter ordered after it refuses;
//        every enter ordered before it is counted in the value the closer
//        and later readers see, until its leave.
//      - leave: fetch_sub(1), release: the call's effects happen before a
//        teardown that observes the count at zero (acquire).
//    Shutdown closes the gate first (sends from outside answer `stopping`);
//    teardown waits for the count to reach zero before it joins workers, so
//    no call from outside can be inside the scheduler while it goes away.
//    The runtime's own threads (workers, blocking-call threads, the shutdown
//    thread) never enter: teardown joins them instead.
//
// 2. Anchors (anchors_): a pid can outlive its runtime (a completion
//    callback queued in a journal that was opened before the runtime, a
//    pid kept in a global), and a send through it reads the cell's runtime
//    pointer. So every cell anchors the runtime_impl's memory, as does the
//    public runtime object; the last one to let go deletes it. Teardown
//    frees everything heavy (threads, stacks, timers, the eventfd); what
//    stays until the last anchor is the closed gate, the counters and the
//    registry, which is all a late caller can reach.

#include "cell.hpp"
#include "runtime_impl.hpp"

#include <weft/runtime/runtime.hpp>

#include <fmt/format.h>

#include <unistd.h>

#include <stdexcept>
#include <thread>

namespace weft::detail {

namespace {

thread_local const runtime_impl* tls_owner = nullptr;

// Not inlined, and opaque to the optimizer, so that a fiber resumed on
// another worker thread reads that thread's variable, not an address cached
// before the switch (the same reason as this_thread_worker in
// work_stealing.cpp).
__attribute__((noinline)) const runtime_impl* thread_owner() noexcept {
  asm volatile("" ::: "memory");
  return tls_owner;
}

}  // namespace

void set_thread_owner(const runtime_impl* rt) noexcept { tls_owner = rt; }

bool runtime_impl::owns_calling_thread() const noexcept { return thread_owner() == this; }

bool runtime_impl::enter_from_outside() noexcept {
  // acquire: a call that gets in sees the runtime as it was when the gate
  // was last open (its workers exist until the count drains).
  const std::uint64_t before = outside_.fetch_add(1, std::memory_order_acquire);
  if ((before & outside_closed) == 0) return true;
  outside_.fetch_sub(1, std::memory_order_relaxed);
  return false;
}

void runtime_impl::leave_from_outside() noexcept { outside_.fetch_sub(1, std::memory_order_release); }

void runtime_impl::close_to_outside() noexcept { outside_.fetch_or(outside_closed, std::memory_order_acq_rel); }

void runtime_impl::wait_outside_calls() noexcept {
  // A call inside is a send or a spawn, or a send from outside blocked on a
  // full mailbox: by now every actor has exited and its closed mailbox woke
  // such senders, so the wait is short. (A sender blocked on a
  // scoped_actor's full mailbox keeps it waiting until that thread reads.)
  while ((outside_.load(std::memory_order_acquire) & ~outside_closed) != 0) std::this_thread::yield();
}

void runtime_impl::report_service_exception(std::string_view where, std::exception_ptr error) noexcept {
  try {
    std::string what = "an exception not derived from std::exception";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {  // NOLINT(bugprone-empty-catch): `what` says it already
    }
    events_.record("runtime", "service_exception", pid(),
                   fmt::format("{}: an exception reached the top of the thread and was dropped: {}", where, what));
  } catch (...) {  // NOLINT(bugprone-empty-catch): out of memory while reporting; the thread goes on
  }
}

void runtime_impl::teardown() {
  {
    std::lock_guard lock(shutdown_thread_mutex_);
    if (shutdown_thread_.joinable()) shutdown_thread_.join();
  }
  std::lock_guard guard(shutdown_mutex_);
  if (torn_down_) return;
  torn_down_ = true;
  close_to_outside();
  wait_outside_calls();
  // Blocking-call threads may still be delivering the wake of a call that
  // just returned; they touch the scheduler, so they go before the workers.
  blocking_.stop();
  for (auto& w : workers_) w->join();
  timers_.wake_fd_ = -1;
  timers_.clear();
  clock_->drop_timers_of(this);
  workers_.clear();
  stack_pool_destroy(stacks_);
  stacks_ = nullptr;
  ::close(event_fd_);
  event_fd_ = -1;
  // What the runtime holds of its actors goes now: a cell anchors the
  // runtime's memory, so a pid kept here (in an event, as the dead-letter
  // subscriber) would be a cycle that never frees either.
  events_.clear();
  pid subscriber;
  {
    std::lock_guard lock(dead_letter_mutex_);
    has_dead_letter_subscriber_.store(false, std::memory_order_release);
    subscriber = std::move(dead_letter_subscriber_);
  }
}

void runtime_impl::unanchor() noexcept {
  // acq_rel: the last one out sees every write made through the other
  // anchors before it deletes (the shared_ptr argument).
  if (anchors_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

void runtime_release::operator()(runtime_impl* rt) const noexcept { rt->unanchor(); }

}  // namespace weft::detail
