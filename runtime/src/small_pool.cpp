// The small-object pool behind `pooled` (detail/small_pool.hpp).
//
// Blocks come in 31 classes, 24 to 504 bytes in steps of 16. Per class,
// each thread keeps an open list, which allocations pop and frees push,
// and at most one full batch set aside; these are its own, so allocating
// and freeing touch no shared memory. When the open list grows to a batch
// (about 8 KiB of blocks), it is set aside and the batch set aside before
// moves to the class's depot. When the open list is empty, it takes the
// set-aside batch, else a batch from the depot, and only if the depot is
// empty too asks malloc for one block. So objects freed on one worker flow
// back, a batch at a time, to the worker that makes them, and the depot's
// mutex is taken once per batch instead of glibc's arena lock once per
// cross-thread free. Batches move whole, by their first block: no step
// walks a list.
//
// Bounds: a thread keeps under two batches per class (< 16 KiB, or 2 x 8
// blocks for the largest classes), a depot at most depot_limit bytes per
// class; a batch that would pass that goes back to malloc block by block.
// A thread's lists go back to malloc when the thread ends.
//
// Synchronization: a thread's lists are touched by that thread only; the
// depot only under its mutex, whose lock/unlock orders a block's last use
// on the freeing thread before its next use on the allocating one (what
// ThreadSanitizer checks). Fibers move between threads, but every access
// to the thread's lists happens inside one call of pool_allocate or
// pool_free, which are out of line and never switch fibers, so the
// thread-local pointer is read afresh on every call.

#include "weft/runtime/detail/small_pool.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <mutex>
#include <utility>

namespace weft::detail {

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool pool_enabled = false;  // ASan must see every free to catch use-after-free
#else
constexpr bool pool_enabled = true;
#endif

// Block sizes are 24, 40, 56, ... 504: 8 less than a multiple of 16, which
// is what glibc's malloc hands out with its 8-byte header, so a block made
// by malloc on a miss wastes nothing there (a 56-byte envelope in a
// 64-byte block took an 80-byte chunk and grew broadcast's heap by a
// quarter).
constexpr std::size_t granule = 16;
constexpr std::size_t smallest = 24;
constexpr std::size_t largest = 504;
constexpr std::size_t class_count = (largest - smallest) / granule + 1;
constexpr std::size_t depot_limit = 256 * 1024;  // bytes per class

constexpr std::size_t class_of(std::size_t size) noexcept {
  return size <= smallest ? 0 : (size - smallest + granule - 1) / granule;
}
constexpr std::size_t block_size(std::size_t cls) noexcept { return smallest + cls * granule; }
static_assert(block_size(class_count - 1) == largest && class_of(largest) == class_count - 1);
static_assert(class_of(56) == 2 && block_size(class_of(57)) == 72);

// Blocks per batch: about 8 KiB of them, at least 8 and at most 128.
constexpr std::uint32_t batch_of(std::size_t cls) noexcept {
  return static_cast<std::uint32_t>(std::clamp<std::size_t>(8192 / block_size(cls), 8, 128));
}

// A free block. Every block has room for both words (24 bytes at least).
struct free_block {
  free_block* next;        // the next block of the same list or batch
  free_block* next_batch;  // in a depot, on a batch's first block: the next batch
};

struct depot {
  std::mutex mutex;
  free_block* batches = nullptr;  // under mutex
  std::size_t held = 0;           // batches, under mutex
};
std::array<depot, class_count> depots;

// Per class, a thread holds an open list (allocations pop from it, frees
// push to it) and at most one full batch set aside. Batches are whole
// lists, handed over by their first block, so no step walks a list.
struct thread_cache {
  struct lists {
    free_block* open = nullptr;
    std::uint32_t open_count = 0;
    free_block* full = nullptr;  // exactly batch_of(class) blocks, or none
  };
  std::array<lists, class_count> by_class{};

  ~thread_cache() {
    for (lists& l : by_class) {
      for (free_block* b : {l.open, l.full}) {
        while (b != nullptr) ::operator delete(std::exchange(b, b->next));
      }
    }
  }
};

// The calling thread's lists: made on first use, released when the thread
// ends. After that (a later thread-exit destructor that frees a message)
// the pool is bypassed. Two trivial thread-locals keep the fast path free
// of the guard a thread-local with a destructor costs on every access.
thread_local thread_cache* tls_cache = nullptr;
thread_local bool tls_cache_gone = false;

struct cache_owner {
  bool armed = false;
  ~cache_owner() {
    delete tls_cache;
    tls_cache = nullptr;
    tls_cache_gone = true;
  }
};
thread_local cache_owner tls_owner;

thread_cache* my_cache() noexcept {
  if (thread_cache* c = tls_cache; c != nullptr) [[likely]] return c;
  if (tls_cache_gone) return nullptr;
  auto* c = new (std::nothrow) thread_cache();
  if (c == nullptr) return nullptr;
  tls_owner.armed = true;  // constructs the owner, whose destructor releases c
  tls_cache = c;
  return c;
}

// Gives a full batch to the depot, or back to malloc when the depot holds
// its limit.
void spill(free_block* first, std::size_t cls) noexcept {
  depot& d = depots[cls];
  {
    std::lock_guard lock(d.mutex);
    if ((d.held + 1) * batch_of(cls) * block_size(cls) <= depot_limit) {
      first->next_batch = d.batches;
      d.batches = first;
      ++d.held;
      return;
    }
  }
  while (first != nullptr) ::operator delete(std::exchange(first, first->next));
}

// A batch from the depot, or nullptr if it has none.
free_block* take_batch(std::size_t cls) noexcept {
  depot& d = depots[cls];
  std::lock_guard lock(d.mutex);
  free_block* first = d.batches;
  if (first != nullptr) {
    d.batches = first->next_batch;
    --d.held;
  }
  return first;
}

}  // namespace

void* pool_allocate(std::size_t size) {
  if (!pool_enabled || size > largest) return ::operator new(size);
  const std::size_t cls = class_of(size);
  thread_cache* c = my_cache();
  if (c == nullptr) return ::operator new(block_size(cls));
  thread_cache::lists& l = c->by_class[cls];
  if (l.open == nullptr) {
    // The set-aside batch first, then the depot's, then malloc.
    if (l.full != nullptr) {
      l.open = std::exchange(l.full, nullptr);
    } else if ((l.open = take_batch(cls)) == nullptr) {
      return ::operator new(block_size(cls));
    }
    l.open_count = batch_of(cls);
  }
  free_block* b = l.open;
  l.open = b->next;
  --l.open_count;
  return b;
}

void pool_free(void* p, std::size_t size) noexcept {
  if (p == nullptr) return;
  if (!pool_enabled || size > largest) {
    ::operator delete(p);
    return;
  }
  const std::size_t cls = class_of(size);
  thread_cache* c = my_cache();
  if (c == nullptr) {
    ::operator delete(p);
    return;
  }
  thread_cache::lists& l = c->by_class[cls];
  const std::uint32_t batch = batch_of(cls);
  if (l.open_count == batch) {
    // The open list is a whole batch: set it aside, passing the one set
    // aside before (if any) to the depot. Checked before the push, so the
    // open list never holds more than a batch (a batch just taken from
    // the depot starts full).
    if (l.full != nullptr) spill(l.full, cls);
    l.full = std::exchange(l.open, nullptr);
    l.open_count = 0;
  }
  auto* b = static_cast<free_block*>(p);
  b->next = l.open;
  l.open = b;
  ++l.open_count;
}

}  // namespace weft::detail
