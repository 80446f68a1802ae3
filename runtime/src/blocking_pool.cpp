// blocking_pool: the threads that run context::blocking() calls, so that
// a call that blocks its thread (file I/O, DNS, a C library) never blocks a
// worker. Threads are started on demand up to the configured number and
// live until the runtime's teardown (lifetime.cpp).
#include "cell.hpp"
#include "runtime_impl.hpp"

#include <weft/runtime/runtime.hpp>

#include <pthread.h>

#include <exception>

namespace weft::detail {

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

}  // namespace weft::detail
