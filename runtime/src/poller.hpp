#pragma once
// The runtime's I/O poller: one epoll instance shared by every worker.
//
// A fiber that must wait for a descriptor *arms* it: it files a record
// (who waits, and how to tell them) under a fresh token, and re-enables the
// descriptor in epoll with that token. Whoever harvests the event (the
// parked driver worker, or a busy worker's periodic non-blocking check)
// takes the record out under the lock and tells the waiter: a `wake` signal
// for a fiber blocked in a socket call, or a user message for a socket in
// notify mode. See poller.cpp for why the descriptors are one-shot.

#include <weft/runtime/detail/envelope.hpp>
#include <weft/runtime/pid.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>

namespace weft::detail {

struct io_waiter {
  pid who;
  // Set (release) when the event was harvested; null in notify mode.
  std::atomic<bool>* fired = nullptr;
  // Notify mode: the message to deliver to `who` instead of a wake.
  std::function<envelope*()> message;
};

class poller {
 public:
  // The token epoll reports for the runtime's eventfd.
  static constexpr std::uint64_t wake_token = 0;

  poller();
  ~poller();
  poller(const poller&) = delete;
  poller& operator=(const poller&) = delete;

  // -- any thread ------------------------------------------------------------

  // Adds the runtime's eventfd (level-triggered; only the driver drains it).
  void watch_wake_fd(int fd);
  // Files `waiter` and enables `fd` for one report of `events`. `registered`
  // says whether fd is already in the epoll set (updated). Returns the
  // token, or 0 with errno set if epoll refused the descriptor.
  std::uint64_t arm(int fd, std::uint32_t events, bool& registered, io_waiter waiter);
  // Withdraws a record; after it returns no harvester touches it. False if
  // it was already harvested.
  bool disarm(std::uint64_t token);
  // Removes fd from the epoll set; call before closing it.
  void forget(int fd, bool& registered) noexcept;

  // Waits up to timeout_ms (0: just looks) and tells the waiters of what is
  // ready. Only the driver passes drain_wake (it alone owns the eventfd).
  // Returns how many waiters were told; `woken` is set if the eventfd was.
  std::size_t harvest(int timeout_ms, bool drain_wake, bool* woken = nullptr);
  // Records filed and not yet harvested (a hint: skip the syscall when 0).
  std::size_t armed() const noexcept { return armed_.load(std::memory_order_relaxed); }

 private:
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::mutex mutex_;
  std::unordered_map<std::uint64_t, io_waiter> waiting_;  // under mutex_
  std::uint64_t next_token_ = 1;                           // under mutex_
  std::atomic<std::size_t> armed_{0};
};

}  // namespace weft::detail
