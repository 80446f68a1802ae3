// Allocation for weft's own small objects: the runtime's internals only.
//
// Cells, actor bodies, behaviors and envelopes are made on one worker and
// usually freed on another (a child exits where it was stolen to; a
// message is freed by its receiver). glibc's malloc then takes the
// allocating arena's lock for every such free, and spawn at two workers
// spent its time waiting on that lock (docs/benchmarks.md, "Second
// round"). These types inherit `pooled`, which serves them from per-thread
// free lists that trade full batches with a shared depot: a free on
// another thread costs a list push, and a batch crosses threads under one
// mutex per batch, not per object. Sizes above 504 bytes, and every size
// under AddressSanitizer (so that use-after-free is still caught), go to
// the global operator new. The pool keeps a bounded amount; the rest
// goes back to malloc (small_pool.cpp).
#pragma once

#include <cstddef>
#include <new>

namespace weft::detail {

// Any thread. `size` must be the one passed to pool_allocate for `p`.
void* pool_allocate(std::size_t size);
void pool_free(void* p, std::size_t size) noexcept;

// The class-specific allocation functions a pooled type inherits. A
// polymorphic type's deleting destructor passes the dynamic type's size,
// so deleting a derived object through its base finds the right list.
struct pooled {
  static void* operator new(std::size_t size) { return pool_allocate(size); }
  static void operator delete(void* p, std::size_t size) noexcept { pool_free(p, size); }
  // Over-aligned types bypass the pool (its blocks are 16-byte aligned).
  static void* operator new(std::size_t size, std::align_val_t align) { return ::operator new(size, align); }
  // The unsized global form: clang declares the sized ones only with
  // -fsized-deallocation.
  static void operator delete(void* p, std::size_t, std::align_val_t align) noexcept {
    ::operator delete(p, align);
  }
  // Declaring operator new in a class hides the global placement form.
  static void* operator new(std::size_t, void* where) noexcept { return where; }
  static void operator delete(void*, void*) noexcept {}
};

}  // namespace weft::detail
