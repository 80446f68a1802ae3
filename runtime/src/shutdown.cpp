// Shutdown protocol (runtime_impl::shutdown):
//   1. Stop accepting messages and spawns from outside (sends answer
//      `stopping`): the gate of lifetime.cpp closes.
//   2. drain: wait until no actor is runnable and no message is in flight
//      (every worker parked, every queue empty, no blocking call running).
//   3. Mark the runtime stopping (supervisors do not restart from here on),
//      then stop actors deepest-first by spawn tree: each depth level gets
//      an exit(shutdown) and the time left; what is still alive then is
//      killed. abort skips 2 and kills everything at once.
//   4. Wait for every actor to have exited, stop and join the workers,
//      drop timers. (Teardown, lifetime.cpp, frees the rest.)
// Each step is idempotent; a second caller waits for the first to finish.
// What goes wrong (a drain that times out, actors that do not stop) is
// recorded in the event log (source "runtime"), not printed.
#include "cell.hpp"
#include "runtime_impl.hpp"

#include <weft/runtime/runtime.hpp>

#include <fmt/format.h>

#include <map>
#include <thread>

namespace weft::detail {

// -- shutdown -------------------------------------------------------------

bool runtime_impl::wait_quiescent(std::chrono::nanoseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int quiet_rounds = 0;
  for (;;) {
    bool quiet = idle_count_.load(std::memory_order_acquire) == static_cast<int>(workers_.size()) &&
                 global_size_.load(std::memory_order_acquire) == 0 && blocking_.busy() == 0;
    for (auto& w : workers_) quiet = quiet && w->queue_length() == 0 && w->parked();
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
  for (auto& w : workers_) w->join();
  // Actors that were runnable when they died may still sit in queues;
  // they hold no references (the run queues do not own cells).
  timers_.clear();
  clock_->drop_timers_of(this);
  shut_down_ = true;
  drained_in_time_ = in_time;
  return in_time;
}

}  // namespace weft::detail
