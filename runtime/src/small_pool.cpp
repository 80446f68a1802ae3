// The small-object pool behind `pooled` (detail/small_pool.hpp).
//
// Blocks come in 32 classes, 16 to 512 bytes in steps of 16. Each thread
// keeps a free list per class; the lists are its own, so allocating and
// freeing touch no shared memory. A thread whose list reaches two batches
// moves one batch to the class's depot; a thread whose list is empty takes
// a batch from the depot, and only if the depot is empty too asks malloc
// for one block. So objects freed on one worker flow back, a batch at a
// time, to the worker that makes them, and the depot's mutex is taken once
// per batch (8 KiB of blocks) instead of glibc's arena lock once per
// cross-thread free.
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

constexpr std::size_t granule = 16;
constexpr std::size_t largest = 512;
constexpr std::size_t class_count = largest / granule;
constexpr std::size_t depot_limit = 256 * 1024;  // bytes per class

constexpr std::size_t class_of(std::size_t size) noexcept {
  return size == 0 ? 0 : (size + granule - 1) / granule - 1;
}
constexpr std::size_t block_size(std::size_t cls) noexcept { return (cls + 1) * granule; }
// Blocks per batch: about 8 KiB of them, at least 8 and at most 128.
constexpr std::uint32_t batch_of(std::size_t cls) noexcept {
  return static_cast<std::uint32_t>(std::clamp<std::size_t>(8192 / block_size(cls), 8, 128));
}

// A free block. Every block has room for both words (16 bytes at least).
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

struct thread_cache {
  std::array<free_block*, class_count> head{};
  std::array<std::uint32_t, class_count> count{};

  ~thread_cache() {
    for (free_block* b : head) {
      while (b != nullptr) ::operator delete(std::exchange(b, b->next));
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

// Moves one batch from the front of c's list for cls to the depot, or
// back to malloc when the depot holds its limit.
void spill(thread_cache& c, std::size_t cls) noexcept {
  const std::uint32_t batch = batch_of(cls);
  free_block* first = c.head[cls];
  free_block* last = first;
  for (std::uint32_t i = 1; i < batch; ++i) last = last->next;
  c.head[cls] = last->next;
  c.count[cls] -= batch;
  last->next = nullptr;
  depot& d = depots[cls];
  {
    std::lock_guard lock(d.mutex);
    if ((d.held + 1) * batch * block_size(cls) <= depot_limit) {
      first->next_batch = d.batches;
      d.batches = first;
      ++d.held;
      return;
    }
  }
  while (first != nullptr) ::operator delete(std::exchange(first, first->next));
}

// Takes one batch from the depot into c's (empty) list for cls.
bool refill(thread_cache& c, std::size_t cls) noexcept {
  depot& d = depots[cls];
  free_block* first;
  {
    std::lock_guard lock(d.mutex);
    first = d.batches;
    if (first == nullptr) return false;
    d.batches = first->next_batch;
    --d.held;
  }
  c.head[cls] = first;
  c.count[cls] = batch_of(cls);
  return true;
}

}  // namespace

void* pool_allocate(std::size_t size) {
  if (!pool_enabled || size > largest) return ::operator new(size);
  const std::size_t cls = class_of(size);
  thread_cache* c = my_cache();
  if (c == nullptr) return ::operator new(block_size(cls));
  if (c->head[cls] == nullptr && !refill(*c, cls)) return ::operator new(block_size(cls));
  free_block* b = c->head[cls];
  c->head[cls] = b->next;
  --c->count[cls];
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
  auto* b = static_cast<free_block*>(p);
  b->next = c->head[cls];
  c->head[cls] = b;
  if (++c->count[cls] >= 2 * batch_of(cls)) spill(*c, cls);
}

}  // namespace weft::detail
