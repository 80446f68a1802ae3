// weft-micro-queues: Boost.Lockfree against the queues weft uses now, on
// the patterns weft has (issue 16, "Boost.Lockfree"; the verdicts are in
// docs/architecture.md, "Queues: weft's own or Boost.Lockfree").
//
//   weft-micro-queues [pattern] [runs=N] [n=ITEMS]
//
// Patterns (all of them when none is named):
//   mailbox   producers push pointers into one consumer's queue (a mailbox):
//             weft's intrusive Vyukov queue (runtime/src/mpsc_queue.hpp),
//             boost::lockfree::queue<T*>, and a mutex around std::deque.
//             Run with 1 and 2 producers.
//   handoff   one thread hands pointers to one other (the poller's and the
//             journal's shape): boost::lockfree::spsc_queue (a ring) against
//             the Vyukov queue and the mutex.
//   pool      producers submit jobs to two sleeping worker threads (the
//             blocking pool, runtime/src/blocking_pool.cpp): its mutex +
//             condition variable + deque of std::function, against
//             boost::lockfree::queue<job*> with a wake-up only when a worker
//             sleeps.
// Each line: {"pattern","impl","producers","n","ns_per_item" (median of
// runs),"runs":[...]}; lower is better. Items are preallocated: the
// figures are the queue's cost, not the allocator's.

#include "mpsc_queue.hpp"

#include <boost/lockfree/queue.hpp>
#include <boost/lockfree/spsc_queue.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
using weft::detail::mpsc_node;

struct item : mpsc_node {
  std::uint64_t value = 0;
};

// -- the queues, behind one shape: push from any producer, pop by one -----

struct vyukov {
  static constexpr const char* name = "weft-vyukov";
  weft::detail::mpsc_queue q;
  void push(item* i) { q.push(i); }
  item* pop() { return static_cast<item*>(q.pop()); }
};

struct boost_mpmc {
  static constexpr const char* name = "boost-lockfree-queue";
  boost::lockfree::queue<item*> q{1024};
  void push(item* i) {
    while (!q.push(i)) {
    }
  }
  item* pop() {
    item* i = nullptr;
    return q.pop(i) ? i : nullptr;
  }
};

struct boost_spsc {
  static constexpr const char* name = "boost-lockfree-spsc_queue";
  boost::lockfree::spsc_queue<item*, boost::lockfree::capacity<4096>> q;
  void push(item* i) {
    while (!q.push(i)) {
    }
  }
  item* pop() {
    item* i = nullptr;
    return q.pop(i) ? i : nullptr;
  }
};

struct locked_deque {
  static constexpr const char* name = "mutex-deque";
  std::mutex m;
  std::deque<item*> q;
  void push(item* i) {
    std::lock_guard lock(m);
    q.push_back(i);
  }
  item* pop() {
    std::lock_guard lock(m);
    if (q.empty()) return nullptr;
    item* i = q.front();
    q.pop_front();
    return i;
  }
};

// Producers push n items in total; the consumer spins until it has all.
template <class Q>
double run_stream(unsigned producers, std::size_t n) {
  auto q = std::make_unique<Q>();
  std::vector<item> items(n);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  const std::size_t each = n / producers;
  for (unsigned p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      while (!go.load(std::memory_order_acquire)) {
      }
      for (std::size_t k = p * each; k < (p + 1) * each; ++k) q->push(&items[k]);
    });
  }
  const std::size_t total = each * producers;
  std::uint64_t sum = 0;
  const auto start = clock_type::now();
  go.store(true, std::memory_order_release);
  for (std::size_t got = 0; got < total;) {
    if (item* i = q->pop()) {
      sum += i->value;
      ++got;
    }
  }
  const auto elapsed = clock_type::now() - start;
  for (auto& t : threads) t.join();
  if (sum != 0) std::abort();  // every value is 0: keeps the loads
  return std::chrono::duration<double, std::nano>(elapsed).count() / static_cast<double>(total);
}

// -- the blocking pool: two sleeping workers ------------------------------

// As runtime/src/blocking_pool.cpp is now.
class pool_locked {
 public:
  static constexpr const char* name = "mutex-cv-deque-function";
  explicit pool_locked(unsigned threads) {
    for (unsigned t = 0; t < threads; ++t) threads_.emplace_back([this] { loop(); });
  }
  ~pool_locked() {
    {
      std::lock_guard lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void submit(std::function<void()> job) {
    std::lock_guard lock(m_);
    jobs_.push_back(std::move(job));
    cv_.notify_one();
  }

 private:
  void loop() {
    std::unique_lock lock(m_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  bool stop_ = false;
};

// Boost.Lockfree's MPMC queue of job pointers; the mutex and condition
// variable are touched only to sleep and to wake a sleeper. A worker
// announces itself asleep (sleepers_) before it re-checks the queue, and a
// submitter pushes before it reads sleepers_: seq_cst on both sides, so
// either the worker sees the job or the submitter sees the sleeper.
class pool_lockfree {
 public:
  static constexpr const char* name = "boost-lockfree-queue+sleep-cv";
  explicit pool_lockfree(unsigned threads) {
    for (unsigned t = 0; t < threads; ++t) threads_.emplace_back([this] { loop(); });
  }
  ~pool_lockfree() {
    stop_.store(true);
    {
      std::lock_guard lock(m_);
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void submit(std::function<void()> job) {
    auto* j = new std::function<void()>(std::move(job));
    while (!q_.push(j)) {
    }
    if (sleepers_.load() > 0) {
      std::lock_guard lock(m_);
      cv_.notify_one();
    }
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()>* j = nullptr;
      if (q_.pop(j)) {
        (*j)();
        delete j;
        continue;
      }
      std::unique_lock lock(m_);
      sleepers_.fetch_add(1);
      cv_.wait(lock, [&] { return stop_.load() || !q_.empty(); });
      sleepers_.fetch_sub(1);
      if (stop_.load() && q_.empty()) return;
    }
  }
  boost::lockfree::queue<std::function<void()>*> q_{1024};
  std::mutex m_;
  std::condition_variable cv_;
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

template <class Pool>
double run_pool(unsigned producers, std::size_t n) {
  std::atomic<std::size_t> done{0};
  const std::size_t each = n / producers;
  const std::size_t total = each * producers;
  double ns = 0;
  {
    Pool pool(2);
    const auto start = clock_type::now();
    std::vector<std::thread> threads;
    for (unsigned p = 0; p < producers; ++p) {
      threads.emplace_back([&] {
        for (std::size_t k = 0; k < each; ++k) pool.submit([&done] { done.fetch_add(1, std::memory_order_relaxed); });
      });
    }
    for (auto& t : threads) t.join();
    while (done.load(std::memory_order_relaxed) < total) std::this_thread::yield();
    ns = std::chrono::duration<double, std::nano>(clock_type::now() - start).count() / static_cast<double>(total);
  }
  return ns;
}

template <class F>
void report(std::string_view pattern, const char* impl, unsigned producers, std::size_t n, int runs, F&& once) {
  std::vector<double> figures;
  for (int r = 0; r < runs; ++r) figures.push_back(once());
  std::vector<double> sorted = figures;
  std::sort(sorted.begin(), sorted.end());
  std::string list;
  for (double f : figures) {
    if (!list.empty()) list += ',';
    list += fmt::format("{:.2f}", f);
  }
  std::printf("%s\n", fmt::format(R"({{"pattern":"{}","impl":"{}","producers":{},"n":{},"ns_per_item":{:.2f},"runs":[{}]}})",
                                  pattern, impl, producers, n, sorted[sorted.size() / 2], list)
                          .c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::string only;
  int runs = 5;
  std::size_t n = 2'000'000;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.starts_with("runs=")) {
      runs = std::max(1, std::atoi(argv[i] + 5));
    } else if (a.starts_with("n=")) {
      n = std::max<std::size_t>(1000, std::strtoull(argv[i] + 2, nullptr, 10));
    } else if (a == "mailbox" || a == "handoff" || a == "pool") {
      only = a;
    } else {
      std::fprintf(stderr, "usage: weft-micro-queues [mailbox|handoff|pool] [runs=N] [n=ITEMS]\n");
      return 2;
    }
  }
  const auto wanted = [&](std::string_view p) { return only.empty() || only == p; };
  if (wanted("mailbox")) {
    for (unsigned producers : {1u, 2u}) {
      report("mailbox", vyukov::name, producers, n, runs, [&] { return run_stream<vyukov>(producers, n); });
      report("mailbox", boost_mpmc::name, producers, n, runs, [&] { return run_stream<boost_mpmc>(producers, n); });
      report("mailbox", locked_deque::name, producers, n, runs, [&] { return run_stream<locked_deque>(producers, n); });
    }
  }
  if (wanted("handoff")) {
    report("handoff", boost_spsc::name, 1, n, runs, [&] { return run_stream<boost_spsc>(1, n); });
    report("handoff", vyukov::name, 1, n, runs, [&] { return run_stream<vyukov>(1, n); });
    report("handoff", locked_deque::name, 1, n, runs, [&] { return run_stream<locked_deque>(1, n); });
  }
  if (wanted("pool")) {
    const std::size_t jobs = n / 4;
    for (unsigned producers : {1u, 2u}) {
      report("pool", pool_locked::name, producers, jobs, runs, [&] { return run_pool<pool_locked>(producers, jobs); });
      report("pool", pool_lockfree::name, producers, jobs, runs,
             [&] { return run_pool<pool_lockfree>(producers, jobs); });
    }
  }
  return 0;
}
