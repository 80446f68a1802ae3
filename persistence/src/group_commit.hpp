#pragma once

// Group commit: many writers share one sync.
//
// 1. A submitter encodes its request on its own thread, then queues it under
//    mutex_ (the only shared state) and wakes the writer thread if it sleeps.
// 2. The writer thread takes a group off the queue front: every queued
//    request, up to max_group_bytes (group_take_count). Requests that arrive
//    meanwhile wait for the next group, so while one sync runs the next
//    group builds up: the group grows with the load and no timer is needed.
// 3. The backend's commit function writes the group and syncs once, setting
//    one status per request. It runs on the writer thread only, so backend
//    state touched only there needs no lock.
// 4. The writer thread runs every completion of the group, in queue order,
//    without holding mutex_ (completions may submit again).
// 5. close() marks the queue closed (later submits are refused), lets the
//    writer drain what was queued, and joins it.

#include <weft/persistence/journal.hpp>
#include <weft/persistence/status.hpp>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

namespace weft::persistence::detail {

// How many of the queued requests (their sizes in queue order) the next
// group takes: as many as fit in max_group_bytes, and always at least one so
// an oversized request still makes progress.
std::size_t group_take_count(std::span<const std::size_t> queued_sizes,
                             std::size_t max_group_bytes);

// Request must have `std::size_t byte_size() const` and `completion done`.
template <class Request>
class group_commit_queue {
 public:
  using commit_function =
      std::function<void(std::span<Request> group, std::span<storage_status> results)>;

  group_commit_queue(std::size_t max_group_bytes, commit_function commit)
      : max_group_bytes_(max_group_bytes), commit_(std::move(commit)) {
    writer_ = std::thread([this] { run(); });
  }

  ~group_commit_queue() { close(); }

  group_commit_queue(const group_commit_queue&) = delete;
  group_commit_queue& operator=(const group_commit_queue&) = delete;

  // -- any thread --

  // False if the queue is closed; the request is then left untouched.
  bool submit(Request& request) {
    std::unique_lock lock(mutex_);
    if (closed_) return false;
    queued_.push_back(std::move(request));
    queued_sizes_.push_back(queued_.back().byte_size());
    bool wake = writer_waiting_;
    lock.unlock();
    if (wake) wakeup_.notify_one();
    return true;
  }

  // Idempotent; concurrent callers all return after the writer has exited.
  // Called from a completion (the writer thread itself) it only marks the
  // queue closed: the writer exits once the queue is drained.
  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    wakeup_.notify_one();
    std::lock_guard join_lock(join_mutex_);
    if (writer_.joinable() && writer_.get_id() != std::this_thread::get_id()) writer_.join();
  }

 private:
  void run() {
    std::vector<Request> group;
    std::vector<storage_status> results;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        writer_waiting_ = true;
        wakeup_.wait(lock, [&] { return !queued_.empty() || closed_; });
        writer_waiting_ = false;
        if (queued_.empty()) return;  // closed and drained
        std::vector<std::size_t> sizes(queued_sizes_.begin(), queued_sizes_.end());
        std::size_t take = group_take_count(sizes, max_group_bytes_);
        for (std::size_t i = 0; i < take; ++i) {
          group.push_back(std::move(queued_.front()));
          queued_.pop_front();
          queued_sizes_.pop_front();
        }
      }
      results.assign(group.size(), storage_status{});
      commit_(group, results);
      for (std::size_t i = 0; i < group.size(); ++i) {
        if (group[i].done) group[i].done(results[i]);
      }
      group.clear();
    }
  }

  const std::size_t max_group_bytes_;
  commit_function commit_;
  std::mutex mutex_;
  std::condition_variable wakeup_;
  std::deque<Request> queued_;            // guarded by mutex_
  std::deque<std::size_t> queued_sizes_;  // guarded by mutex_
  bool writer_waiting_ = false;           // guarded by mutex_
  bool closed_ = false;                   // guarded by mutex_
  std::mutex join_mutex_;  // serializes join() among concurrent close() calls
  std::thread writer_;
};

}  // namespace weft::persistence::detail
