#pragma once
// A worker's local run queue: a fixed ring of runnable actors that its
// owner pushes to and pops from, and that idle workers steal half of.
//
// Algorithm: the Go scheduler's per-P run queue (Dmitry Vyukov, "Scalable
// Go Scheduler Design Doc", 2012; runqput/runqget/runqgrab in Go's
// runtime/proc.go), as Tokio also uses. Only the owner writes `tail_`;
// the owner and thieves both consume by CAS on `head_`. It is FIFO for the
// owner (so a yielded actor goes behind the others, which is what keeps
// scheduling fair) where a Chase–Lev deque would be LIFO. When the ring is
// full, the owner moves half of it to the global queue.

#include <array>
#include <atomic>
#include <cstdint>

namespace weft::detail {

class cell;

class run_queue {
 public:
  static constexpr std::uint32_t capacity = 256;

  // -- owner only --
  bool push(cell* c) noexcept {
    // acquire: pairs with the consumers' release CAS on head_, so the slot
    // we are about to overwrite has really been taken.
    const std::uint32_t h = head_.load(std::memory_order_acquire);
    const std::uint32_t t = tail_.load(std::memory_order_relaxed);
    if (t - h >= capacity) return false;
    slots_[t % capacity].store(c, std::memory_order_relaxed);
    // release: publishes the slot to a thief's acquire load of tail_.
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }

  cell* pop() noexcept {
    for (;;) {
      std::uint32_t h = head_.load(std::memory_order_acquire);
      const std::uint32_t t = tail_.load(std::memory_order_relaxed);
      if (h == t) return nullptr;
      cell* c = slots_[h % capacity].load(std::memory_order_relaxed);
      if (head_.compare_exchange_weak(h, h + 1, std::memory_order_release, std::memory_order_relaxed)) return c;
    }
  }

  // Takes half of the ring (the oldest entries) for the global queue when
  // the ring is full. Returns how many were written to out.
  std::uint32_t take_half(std::array<cell*, capacity>& out) noexcept {
    for (;;) {
      std::uint32_t h = head_.load(std::memory_order_acquire);
      const std::uint32_t t = tail_.load(std::memory_order_relaxed);
      const std::uint32_t n = (t - h) / 2;
      if (n == 0) return 0;
      for (std::uint32_t i = 0; i < n; ++i) out[i] = slots_[(h + i) % capacity].load(std::memory_order_relaxed);
      if (head_.compare_exchange_weak(h, h + n, std::memory_order_release, std::memory_order_relaxed)) return n;
    }
  }

  // -- any thread (a thief) --
  // Moves up to half of this queue into `into` (the thief's own, empty
  // enough queue) and returns one of them to run now, or nullptr.
  cell* steal_into(run_queue& into) noexcept {
    const std::uint32_t dst_tail = into.tail_.load(std::memory_order_relaxed);
    for (;;) {
      std::uint32_t h = head_.load(std::memory_order_acquire);
      // acquire: pairs with the owner's release store of tail_.
      const std::uint32_t t = tail_.load(std::memory_order_acquire);
      std::uint32_t n = t - h;
      n -= n / 2;
      if (n == 0) return nullptr;
      if (n > capacity / 2) continue;  // inconsistent snapshot; reload
      for (std::uint32_t i = 0; i < n; ++i) {
        into.slots_[(dst_tail + i) % capacity].store(slots_[(h + i) % capacity].load(std::memory_order_relaxed),
                                                     std::memory_order_relaxed);
      }
      // release: our reads of the slots happen before the owner may reuse them.
      if (head_.compare_exchange_weak(h, h + n, std::memory_order_acq_rel, std::memory_order_relaxed)) {
        // Keep the last one to run; publish the others in our queue.
        cell* run = into.slots_[(dst_tail + n - 1) % capacity].load(std::memory_order_relaxed);
        if (n > 1) into.tail_.store(dst_tail + n - 1, std::memory_order_release);
        return run;
      }
    }
  }

  std::uint32_t size() const noexcept {
    const std::uint32_t h = head_.load(std::memory_order_acquire);
    const std::uint32_t t = tail_.load(std::memory_order_acquire);
    return t - h;
  }

 private:
  alignas(64) std::atomic<std::uint32_t> head_{0};
  alignas(64) std::atomic<std::uint32_t> tail_{0};
  std::array<std::atomic<cell*>, capacity> slots_{};
};

}  // namespace weft::detail
