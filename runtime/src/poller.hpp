#pragma once
// The runtime's I/O poller: one epoll instance shared by every worker.
//
// Each socket is registered once, edge-triggered for input and output, under
// a handle naming its slot in the poller's table. A fiber that must wait
// (its non-blocking syscall said EAGAIN) *arms* a direction of the slot: it
// files a record (who waits, and how to tell them) unless an edge already
// arrived since the last wait, in which case it retries the syscall at once.
// Whoever harvests an edge (the parked driver worker, or a busy worker's
// periodic non-blocking check) takes the record out under the slot's lock
// and tells the waiter: a `wake` signal for a fiber blocked in a socket call,
// or a user message for a socket in notify mode. poller.cpp explains why
// edge triggering and how a slot's handle outlives races with close.

#include <weft/runtime/detail/envelope.hpp>
#include <weft/runtime/pid.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace weft::detail {

struct io_waiter {
  pid who;
  // Set (release) when the event was harvested; null in notify mode.
  std::atomic<bool>* fired = nullptr;
  // Notify mode: the message to deliver to `who` instead of a wake.
  std::function<envelope*()> message;
};

enum class io_direction : std::uint8_t { in, out };

// What arm() found.
enum class arm_result : std::uint8_t {
  filed,    // the waiter is filed; wait for it to be told
  ready,    // an edge came since the last wait: retry the syscall now
  refused,  // not a live handle (a bug in the caller); errno is EBADF
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

  // Registers fd (input and output, edge-triggered) in a free slot. Returns
  // the slot's handle, never 0, or 0 with errno set if epoll refused it.
  std::uint64_t add(int fd);
  // Unregisters the handle's descriptor (call before closing it) and frees
  // its slot; a filed notify record is dropped. Reports already taken out of
  // epoll for this handle are ignored afterwards. No-op for 0.
  void remove(std::uint64_t handle) noexcept;

  // The owning fiber, one waiter per direction: files `waiter`, or says the
  // direction is ready already (consuming that edge).
  arm_result arm(std::uint64_t handle, io_direction dir, io_waiter waiter);
  // Withdraws a filed record; after it returns no harvester touches it.
  // False if there was none (it was harvested, or never filed).
  bool disarm(std::uint64_t handle, io_direction dir);

  // Waits up to timeout_ms (0: just looks) and tells the waiters of what is
  // ready. Only the driver passes drain_wake (it alone owns the eventfd).
  // Returns how many waiters were told; `woken` is set if the eventfd was.
  std::size_t harvest(int timeout_ms, bool drain_wake, bool* woken = nullptr);
  // Records filed and not yet harvested (a hint: skip the syscall when 0).
  std::size_t armed() const noexcept { return armed_.load(std::memory_order_relaxed); }

 private:
  struct direction_state {
    bool ready = false;               // an edge nobody was filed for
    bool final = false;               // EOF or an error was reported: ready for good
    std::optional<io_waiter> waiter;  // filed by arm()
  };
  struct slot {
    std::mutex lock;
    std::uint32_t generation = 1;  // under lock; part of the handle
    int fd = -1;                   // under lock
    direction_state in, out;       // under lock
  };
  static constexpr std::size_t chunk_slots = 512;
  static constexpr std::size_t max_chunks = 8192;  // 4 M sockets
  using chunk = std::array<slot, chunk_slots>;

  slot* find(std::uint32_t index) const noexcept;
  // Locks the slot of a live handle; nullptr (nothing locked) otherwise.
  slot* lock_live(std::uint64_t handle) const noexcept;

  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  // Chunks are allocated under free_mutex_ and published (release) in
  // chunks_; harvesters read them (acquire) without any lock. They are
  // never freed before the poller, so a stale report's slot stays valid.
  std::unique_ptr<std::atomic<chunk*>[]> chunks_;
  std::mutex free_mutex_;
  std::vector<std::uint32_t> free_;  // under free_mutex_
  std::uint32_t used_ = 0;           // slots ever handed out; under free_mutex_
  std::atomic<std::size_t> armed_{0};
};

}  // namespace weft::detail
