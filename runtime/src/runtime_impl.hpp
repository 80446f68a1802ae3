#pragma once
// The runtime's private state: workers, run queues, timers, names, dead
// letters, the live-actor list and shutdown.

#include "cell.hpp"
#include "deadlock.hpp"
#include "fiber.hpp"
#include "poller.hpp"
#include "run_queue.hpp"
#include "timer_wheel.hpp"

#include <weft/runtime/clock.hpp>
#include <weft/runtime/runtime.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace weft::detail {

class runtime_impl;

// A worker is split the way Tokio splits its workers (Shared/Remote vs
// Core): what any thread may touch is a worker_shared, held by the runtime;
// what only the worker's own thread may touch is a worker, which that
// thread makes for itself (worker_shared::start) and reaches
// through current_worker(). No other thread can name a worker, so owner-only
// state (runnext, the carriers, the running actor) is kept owner-only by
// the compiler, not by a comment.

class worker;

// What every thread may use of a worker: the thieves' end of its run queue,
// its parking slot, its statistics.
class worker_shared {
 public:
  worker_shared(runtime_impl* rt, unsigned index) noexcept : rt_(rt), index_(index) {}
  worker_shared(const worker_shared&) = delete;
  worker_shared& operator=(const worker_shared&) = delete;

  // -- the runtime (constructor, shutdown, teardown) --
  // Starts the worker's thread, which builds its worker and runs its loop.
  void start();
  void join();

  // -- any thread --
  // Wakes the worker if it is parked (on its condvar, or in epoll_wait as
  // the driver). Workers live as long as the runtime.
  void unpark();
  // Moves up to half of this worker's queue into the thief's own (see
  // run_queue::steal_into); one of them to run now, or nullptr.
  cell* steal_into(run_queue& thief_queue) noexcept { return queue_.steal_into(thief_queue); }
  std::uint32_t queue_length() const noexcept { return queue_.size(); }
  bool parked() const noexcept { return parked_.load(std::memory_order_acquire); }
  worker_stats stats() const noexcept;

 private:
  friend class worker;  // the owner's half

  runtime_impl* rt_;
  unsigned index_;
  std::thread thread_;
  run_queue queue_;  // pushed and popped by the owner, stolen from by others
  // Parking.
  std::mutex park_mutex_;
  std::condition_variable park_cv_;
  bool notified_ = false;   // under park_mutex_
  bool is_driver_ = false;  // under park_mutex_
  std::atomic<bool> parked_{false};
  // Statistics, written by the owner, read relaxed by anyone.
  std::atomic<std::uint64_t> activations_{0};
  std::atomic<std::uint64_t> steals_{0};
  std::atomic<std::uint64_t> switches_{0};
  std::atomic<std::uint64_t> parks_{0};
};

// The owner's half: made and held by its worker thread for the thread's
// whole life. Every member is for that thread only (fibers carried between
// threads re-read current_worker() after each switch).
class worker {
 public:
  explicit worker(worker_shared& shared) noexcept : shared_(shared), rt_(shared.rt_) {}
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  void main();                        // the thread function
  cell* find_work();
  void run(cell* c);
  void make_runnable(cell* c, bool yielded);
  fiber* take_carrier();              // a fiber to continue the loop on
  void keep_spare(fiber* f);
  void count_switch() noexcept { shared_.switches_.fetch_add(1, std::memory_order_relaxed); }

  runtime_impl* runtime() const noexcept { return rt_; }
  const worker_shared& shared() const noexcept { return shared_; }
  cell* running() const noexcept { return running_; }  // the actor of the current activation
  fiber* root() const noexcept { return root_; }       // the thread's own stack

 private:
  void park();

  worker_shared& shared_;
  runtime_impl* rt_;
  cell* runnext_ = nullptr;
  unsigned runnext_streak_ = 0;
  std::uint64_t tick_ = 0;
  std::uint64_t rng_ = 0x9E3779B97F4A7C15ull;
  fiber* root_ = nullptr;             // the thread's own stack
  fiber* spare_ = nullptr;            // a suspended carrier, ready to continue the loop
  cell* running_ = nullptr;
};

// The worker running on this thread, if it is one of `rt`'s.
worker* current_worker(const runtime_impl* rt) noexcept;
// Marks the calling thread as owned by `rt` (workers, blocking-call threads).
void set_thread_owner(const runtime_impl* rt) noexcept;


struct timer_entry : timer_node {
  std::uint64_t id = 0;
  pid target;
  std::function<envelope*()> make;  // null: a wake-up for a timed wait
  std::chrono::nanoseconds period{0};
};

class timer_service {
 public:
  explicit timer_service(std::chrono::steady_clock::time_point epoch) : epoch_(epoch) {}
  ~timer_service();

  std::uint64_t start(std::chrono::nanoseconds delay, std::chrono::nanoseconds period, pid target,
                      std::function<envelope*()> make);
  bool cancel(std::uint64_t id);
  // Fires what is due; returns how many fired.
  std::size_t fire_due(std::chrono::steady_clock::time_point now);
  // When the next timer may be due (time_point::max() if none).
  std::chrono::steady_clock::time_point next_due() const noexcept {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(next_due_.load(std::memory_order_acquire)));
  }
  std::size_t pending() const;
  void clear();
  // The driver's eventfd, written when a new timer becomes the earliest.
  int wake_fd_ = -1;

 private:
  std::uint64_t tick_of(std::chrono::steady_clock::time_point t, bool round_up) const;
  void publish_next_locked();

  std::chrono::steady_clock::time_point epoch_;
  mutable std::mutex mutex_;
  timer_wheel wheel_;
  std::unordered_map<std::uint64_t, timer_entry*> by_id_;
  std::uint64_t next_id_ = 1;
  std::atomic<std::int64_t> next_due_{std::chrono::steady_clock::time_point::max().time_since_epoch().count()};
};

// Real time: the runtime's default clock, its timer wheel (clock.hpp).
class wheel_clock final : public weft::clock {
 public:
  explicit wheel_clock(timer_service& timers) : timers_(timers) {}
  time_point now() const override { return std::chrono::steady_clock::now(); }
  std::size_t pending() const override;
  std::uint64_t start(duration delay, duration period, pid to, std::function<envelope*()> make) override;
  bool cancel(std::uint64_t id) override;
  void drop_timers_of(const runtime_impl* rt) override;

 private:
  timer_service& timers_;
};

// Runs offloaded blocking calls on a few plain threads. A job must not
// throw (run_blocking's jobs catch everything); one that does anyway is
// reported to the event log and the thread goes on.
class blocking_pool {
 public:
  blocking_pool(runtime_impl* owner, unsigned max_threads) : owner_(owner), max_threads_(max_threads) {}
  ~blocking_pool() { stop(); }
  void submit(std::function<void()> job);
  std::size_t busy() const noexcept { return busy_.load(std::memory_order_acquire); }
  // Runs what is queued, then joins the threads. Idempotent.
  void stop();

 private:
  void thread_main();
  runtime_impl* owner_;
  unsigned max_threads_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  unsigned idle_ = 0;
  bool stopping_ = false;
  std::atomic<std::size_t> busy_{0};
};

class runtime_impl {
 public:
  explicit runtime_impl(runtime_options options);
  // Only through unanchor(), after teardown().
  ~runtime_impl();

  // -- any thread --
  pid spawn(cell* parent, std::unique_ptr<actor_body> body, spawn_options options, bool link);
  cell* make_thread_cell(const spawn_options& options);
  void finish_thread_cell(cell* c);

  // Makes `c` runnable (its SCHEDULED bit was just set by the caller).
  void schedule(cell* c);
  // Re-queues a running actor behind the others (it used up its budget).
  void schedule_yield(cell* c);
  void push_global(cell* c);
  void push_global_locked(cell* c);
  void wake_all_workers();
  cell* pop_global();
  void notify_work();
  void wake_one_idle();

  void count_dead_letter(dead_letter_cause cause, const cell* target, const envelope* e);

  bool register_name(std::string name, cell* c);
  bool unregister_name(std::string_view name);
  pid whereis(std::string_view name) const;
  std::vector<std::string> names() const;
  void release_name(cell* c);

  void actor_exited(cell* c);
  bool shutdown(shutdown_mode mode, std::chrono::nanoseconds timeout);
  bool wait_quiescent(std::chrono::nanoseconds timeout);
  bool wait_all_exited(std::chrono::nanoseconds timeout);
  bool accepting_external() const noexcept {
    return (outside_.load(std::memory_order_acquire) & outside_closed) == 0;
  }
  bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }
  std::vector<pid> live_pids() const;
  runtime_stats stats() const;

  runtime_options options_;
  std::chrono::steady_clock::time_point epoch_;
  stack_pool* stacks_;
  std::vector<std::unique_ptr<worker_shared>> workers_;
  timer_service timers_;
  // Where user timers go: wheel_ unless runtime_options::clock gave another.
  wheel_clock wheel_{timers_};
  std::shared_ptr<weft::clock> clock_;
  blocking_pool blocking_;

  // Global run queue (wake-ups from non-worker threads, overflow).
  std::mutex global_mutex_;
  cell* global_head_ = nullptr;
  cell* global_tail_ = nullptr;
  std::atomic<std::size_t> global_size_{0};

  // Parking: see work_stealing.cpp for the protocol.
  std::mutex idle_mutex_;
  std::vector<worker_shared*> idle_;          // under idle_mutex_
  std::atomic<int> idle_count_{0};
  std::atomic<int> searching_{0};
  std::mutex driver_mutex_;                   // held by the worker parked as the timer driver
  int event_fd_ = -1;                         // wakes the driver
  poller poller_;                             // sockets' readiness; the driver waits in it
  std::atomic<bool> stop_workers_{false};

  // Actors.
  std::atomic<std::uint64_t> next_id_{1};
  std::atomic<std::uint64_t> next_monitor_ref_{1};
  std::atomic<std::size_t> live_count_{0};
  std::atomic<std::uint64_t> spawned_{0};
  static constexpr unsigned live_shards = 16;
  struct live_shard {
    std::mutex mutex;
    cell* head = nullptr;
  };
  mutable std::array<live_shard, live_shards> live_;
  std::mutex exited_mutex_;
  std::condition_variable exited_cv_;

  // Names.
  mutable std::mutex names_mutex_;
  std::unordered_map<std::string, cell*> names_;

  // Dead letters.
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(dead_letter_cause::count_)> dead_letters_{};
  std::mutex dead_letter_mutex_;
  pid dead_letter_subscriber_;
  std::atomic<bool> has_dead_letter_subscriber_{false};

  event_log events_;
  // Senders blocked on full mailboxes past deadlock_check_after (deadlock.hpp).
  deadlock_watch deadlocks_{this};
  // Senders inside tracer::record_if_traced; a trace's owner frees its
  // tracer once this reads 0 (introspection.cpp, runtime::trace).
  std::atomic<std::uint64_t> tracer_users_{0};

  // -- threads the runtime does not own (runtime_gate.cpp) --
  // A call from such a thread (main, a journal's writer, a scoped_actor's
  // thread) enters this gate before it touches the scheduler and leaves it
  // after; shutdown closes it, and teardown waits for the calls inside.
  bool enter_from_outside() noexcept;
  void leave_from_outside() noexcept;
  void close_to_outside() noexcept;
  void wait_outside_calls() noexcept;
  // Whether the calling thread is one of this runtime's own (a worker, a
  // blocking-call thread, the shutdown thread): those need no gate, the
  // runtime joins them before it tears anything down.
  bool owns_calling_thread() const noexcept;

  // Records an exception that reached the top of one of the runtime's
  // service threads in the event log ("runtime" / "service_exception"),
  // which then goes on; never throws.
  void report_service_exception(std::string_view where, std::exception_ptr error) noexcept;

  // -- lifetime --
  // Cells keep the runtime's memory (not its threads) alive: a pid may
  // outlive the runtime, and a send to it must find a closed gate, not
  // freed memory. The public runtime holds one anchor, every cell another.
  void anchor() noexcept { anchors_.fetch_add(1, std::memory_order_relaxed); }
  void unanchor() noexcept;
  // Stops and joins every thread, frees stacks and timers, closes the
  // wake-up descriptor. After it, only the gate, the counters and the
  // registry remain: what a late call through a stale pid reads.
  void teardown();

  static constexpr std::uint64_t outside_closed = 1ull << 63;
  std::atomic<std::uint64_t> outside_{0};  // outside_closed | calls inside
  std::atomic<std::size_t> anchors_{1};
  bool torn_down_ = false;                 // under shutdown_mutex_

  // Shutdown.
  std::atomic<bool> stopping_{false};
  std::mutex shutdown_mutex_;
  bool shut_down_ = false;         // under shutdown_mutex_
  std::mutex shutdown_thread_mutex_;
  std::thread shutdown_thread_;    // a shutdown requested from inside an actor
  bool drained_in_time_ = true;    // under shutdown_mutex_
  runtime* public_ = nullptr;
};

// RAII for a call that may come from a thread the runtime does not own:
// enters the gate unless the thread is the runtime's own. False (and
// nothing entered) if the runtime has stopped taking calls from outside.
class outside_call {
 public:
  outside_call(runtime_impl* rt, bool from_owned_thread) noexcept
      : rt_(from_owned_thread ? nullptr : rt), allowed_(from_owned_thread || rt->enter_from_outside()) {
    if (!allowed_) rt_ = nullptr;
  }
  ~outside_call() {
    if (rt_ != nullptr) rt_->leave_from_outside();
  }
  outside_call(const outside_call&) = delete;
  outside_call& operator=(const outside_call&) = delete;
  explicit operator bool() const noexcept { return allowed_; }

 private:
  runtime_impl* rt_;
  bool allowed_;
};

}  // namespace weft::detail
