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
//
// No exception ends the writer thread (it would take the process with it):
// - one thrown while taking a group or before the commit function ran (an
//   allocation) fails the requests it holds, which were not written;
// - one escaping the commit function leaves the backend's state unknown:
//   the group's requests fail with journal_failed and so does every later
//   one, without calling the backend again (backends catch what they can
//   handle themselves, so this is the last resort);
// - one thrown by a completion is reported through report_ (the backend's
//   warning channel) and the next completion runs.

#include <weft/persistence/journal.hpp>
#include <weft/persistence/status.hpp>

#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <deque>
#include <exception>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace weft::persistence::detail {

// How many of the queued requests (their sizes in queue order) the next
// group takes: as many as fit in max_group_bytes, and always at least one so
// an oversized request still makes progress.
std::size_t group_take_count(std::span<const std::size_t> queued_sizes,
                             std::size_t max_group_bytes);

// The text of the exception being handled (call it inside a catch block):
// what() of a std::exception, a fixed text for anything else, empty if
// there is no memory for it.
std::string current_exception_text() noexcept;

// Request must have `std::size_t byte_size() const` and `completion done`.
template <class Request>
class group_commit_queue {
 public:
  using commit_function =
      std::function<void(std::span<Request> group, std::span<storage_status> results)>;
  // Receives what the writer thread caught and went on from. May be empty
  // (then stderr); what it throws is dropped.
  using report_function = std::function<void(std::string_view)>;

  group_commit_queue(std::size_t max_group_bytes, commit_function commit, report_function report = {})
      : max_group_bytes_(max_group_bytes), commit_(std::move(commit)), report_(std::move(report)) {
    writer_ = std::thread([this] { run(); });
  }

  ~group_commit_queue() { close(); }

  group_commit_queue(const group_commit_queue&) = delete;
  group_commit_queue& operator=(const group_commit_queue&) = delete;

  // -- any thread --

  // False if the queue is closed; the request is then left untouched. An
  // allocation failure throws and leaves the request untouched too.
  bool submit(Request& request) {
    const std::size_t size = request.byte_size();
    std::unique_lock lock(mutex_);
    if (closed_) return false;
    queued_sizes_.push_back(size);
    try {
      queued_.push_back(std::move(request));  // moves only once its node is allocated
    } catch (...) {
      queued_sizes_.pop_back();
      throw;
    }
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
  void run() noexcept {
    std::vector<Request> group;
    std::vector<storage_status> results;
    std::vector<std::size_t> sizes;
    for (;;) {
      group.clear();
      try {
        if (!take_group(group, sizes)) return;  // closed and drained
      } catch (...) {
        // An allocation while moving requests into the group: go on with
        // those taken, or fail the oldest one so the queue still drains.
        if (group.empty()) {
          fail_oldest();
          continue;
        }
      }
      bool committing = false;
      try {
        results.assign(group.size(), storage_status{});
        if (failed_) {
          for (auto& result : results)
            result = make_status(storage_errc::journal_failed, failure_);
        } else {
          committing = true;
          commit_(group, results);
        }
      } catch (...) {
        const std::string what = current_exception_text();
        if (committing) {
          failed_ = true;
          failure_ = join({"the journal's writer thread caught an exception from the commit of a group (", what,
                           "); the outcome of that group is unknown, so the journal fails every request from now "
                           "on: close it and reopen it to recover"});
          complete_all(group, make_status(storage_errc::journal_failed, failure_));
        } else {
          complete_all(group, make_status(storage_errc::io_error,
                                          join({"the journal's writer thread could not prepare a group (", what,
                                                "); its requests were not written"})));
        }
        continue;
      }
      for (std::size_t i = 0; i < group.size(); ++i)
        complete(group[i], results[i]);
    }
  }

  // Moves the next group off the queue; false once closed and drained.
  bool take_group(std::vector<Request>& group, std::vector<std::size_t>& sizes) {
    std::unique_lock lock(mutex_);
    writer_waiting_ = true;
    wakeup_.wait(lock, [&] { return !queued_.empty() || closed_; });
    writer_waiting_ = false;
    if (queued_.empty()) return false;
    sizes.assign(queued_sizes_.begin(), queued_sizes_.end());
    const std::size_t take = group_take_count(sizes, max_group_bytes_);
    for (std::size_t i = 0; i < take; ++i) {
      group.push_back(std::move(queued_.front()));
      queued_.pop_front();
      queued_sizes_.pop_front();
    }
    return true;
  }

  // After an allocation failure with nothing taken: fails the oldest
  // request on its own (moving it allocates nothing).
  void fail_oldest() noexcept {
    Request oldest;
    {
      std::lock_guard lock(mutex_);
      if (queued_.empty()) return;
      oldest = std::move(queued_.front());
      queued_.pop_front();
      queued_sizes_.pop_front();
    }
    complete(oldest, make_status(storage_errc::io_error,
                                 "the journal's writer thread ran out of memory taking this request; it was not "
                                 "written"));
  }

  void complete_all(std::vector<Request>& group, const storage_status& status) noexcept {
    for (Request& request : group)
      complete(request, status);
  }

  // Runs one completion; what it throws is reported, and the writer goes on.
  void complete(Request& request, const storage_status& status) noexcept {
    if (!request.done) return;
    try {
      request.done(status);
    } catch (...) {
      report(join({"a journal completion callback threw (", current_exception_text(),
                   "); completions must not throw. The writer thread goes on with the next one"}));
    }
  }

  void report(std::string_view text) noexcept {
    try {
      if (report_) {
        report_(text);
        return;
      }
    } catch (...) {
    }
    std::fprintf(stderr, "weft: %.*s\n", static_cast<int>(text.size()), text.data());
  }

  // Building a message allocates; without memory the text is empty.
  static storage_status make_status(storage_errc code, std::string_view text) noexcept {
    try {
      return weft::error(code, std::string(text));
    } catch (...) {
      return weft::error(code);
    }
  }
  static std::string join(std::initializer_list<std::string_view> parts) noexcept {
    try {
      std::string text;
      for (std::string_view part : parts)
        text += part;
      return text;
    } catch (...) {
      return {};
    }
  }

  const std::size_t max_group_bytes_;
  commit_function commit_;
  report_function report_;
  bool failed_ = false;  // writer thread only: the commit function threw
  std::string failure_;  // writer thread only: why, for every later request
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
