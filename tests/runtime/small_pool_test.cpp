// The small-object pool (detail/small_pool.hpp): blocks freed on one
// thread come back to the thread that makes them, sizes keep to their
// class, and blocks crossing threads at random under load keep their
// contents. This binary runs no runtime, so nothing else uses the pool's
// classes while a case runs and its reuse checks are exact.
//
// Under AddressSanitizer the pool hands every request to operator new (so
// that ASan sees each free); there the reuse checks do not apply, and the
// cross-thread case still checks contents.

#include <weft/runtime/detail/small_pool.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

namespace {

using weft::detail::pool_allocate;
using weft::detail::pool_free;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool pool_reuses = false;
#else
constexpr bool pool_reuses = true;
#endif

struct base : weft::detail::pooled {
  virtual ~base() = default;
};
struct small_one final : base {
  char pad[8]{};
};
struct big_one final : base {
  char pad[300]{};
};

TEST_CASE("blocks freed on another thread come back to the thread that allocates") {
  constexpr std::size_t size = 200;  // a class nothing else here uses
  constexpr std::size_t batch = 40;   // 8 KiB of 200-byte blocks (small_pool.cpp)
  constexpr std::size_t count = 5 * batch;
  std::vector<void*> first(count);
  std::thread maker([&] {
    for (auto& p : first) p = pool_allocate(size);
  });
  maker.join();
  std::thread freer([&] {
    for (void* p : first) pool_free(p, size);
  });
  freer.join();

  std::vector<void*> second(count);
  std::thread again([&] {
    for (auto& p : second) p = pool_allocate(size);
  });
  again.join();
  const std::set<void*> before(first.begin(), first.end());
  const auto reused = std::count_if(second.begin(), second.end(), [&](void* p) { return before.count(p) > 0; });
  MESSAGE("reused " << reused << " of " << count);
  if (pool_reuses) {
    // The freer passed three batches to the depot and kept a fourth set
    // aside and a fifth open (those went back to malloc when it ended);
    // the next thread takes all three from the depot.
    CHECK(reused >= static_cast<std::ptrdiff_t>(3 * batch));
  }
  for (void* p : second) pool_free(p, size);
}

TEST_CASE("a derived object deleted through its base goes back to its own size's list") {
  base* b = new big_one();
  void* const where = b;
  delete b;  // the deleting destructor passes sizeof(big_one)
  base* small = new small_one();
  CHECK(static_cast<void*>(small) != where);  // a different class: not that block
  base* big = new big_one();
  if (pool_reuses) CHECK(static_cast<void*>(big) == where);  // the same class: the block just freed
  delete small;
  delete big;
}

TEST_CASE("placement new and over-aligned types still work on a pooled type") {
  struct alignas(64) wide : weft::detail::pooled {
    char bytes[64]{};
  };
  auto* w = new wide();
  CHECK(reinterpret_cast<std::uintptr_t>(w) % 64 == 0);
  delete w;
  alignas(small_one) unsigned char storage[sizeof(small_one)];
  auto* s = new (storage) small_one();
  CHECK(static_cast<void*>(s) == storage);
  s->~small_one();
}

// Four threads make blocks of random sizes (some above the pooled limit),
// fill them with a pattern, and hand each to a random thread, which checks
// the pattern and frees it; random pauses shuffle the interleavings.
TEST_CASE("stress: blocks of random sizes cross threads at random and keep their contents") {
  constexpr int threads = 4;
  constexpr int per_thread = 40'000;
  struct block {
    void* p;
    std::size_t size;
    std::uint8_t fill;
  };
  struct inbox {
    std::mutex mutex;
    std::deque<block> items;
  };
  std::vector<inbox> inboxes(threads);
  std::atomic<int> producing{threads};
  std::atomic<long> checked{0}, corrupt{0};

  auto drain = [&](int me) {
    std::deque<block> mine;
    {
      std::lock_guard lock(inboxes[me].mutex);
      mine.swap(inboxes[me].items);
    }
    for (const block& b : mine) {
      const auto* bytes = static_cast<const std::uint8_t*>(b.p);
      if (std::any_of(bytes, bytes + b.size, [&](std::uint8_t x) { return x != b.fill; })) ++corrupt;
      pool_free(b.p, b.size);
      ++checked;
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::mt19937 rng(20261203 + t);
      std::uniform_int_distribution<std::size_t> size_of(1, 600);
      for (int i = 0; i < per_thread; ++i) {
        const std::size_t size = size_of(rng);
        const auto fill = static_cast<std::uint8_t>(rng());
        void* p = pool_allocate(size);
        std::memset(p, fill, size);
        const int to = static_cast<int>(rng() % threads);
        {
          std::lock_guard lock(inboxes[to].mutex);
          inboxes[to].items.push_back({p, size, fill});
        }
        if (rng() % 64 == 0) drain(t);
        if (rng() % 512 == 0) std::this_thread::yield();
        if (rng() % 4096 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
      }
      producing.fetch_sub(1);
      while (producing.load() > 0) drain(t);
      drain(t);
    });
  }
  for (auto& th : pool) th.join();
  for (int t = 0; t < threads; ++t) drain(t);
  CHECK(corrupt.load() == 0);
  CHECK(checked.load() == long{threads} * per_thread);
}

}  // namespace
