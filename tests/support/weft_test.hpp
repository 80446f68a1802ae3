#pragma once
// Helpers shared by weft's tests.

#include <weft/runtime/weft.hpp>

#include <chrono>
#include <cstdlib>
#include <thread>

namespace weft_test {

using namespace std::chrono_literals;

// Polls `done` until it holds or `timeout` passes; returns its last value.
// For conditions that become true eventually (an exit propagating); the
// generous timeout is a hang guard, never a measured bound.
template <class F>
bool eventually(F&& done, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

// Scale for stress loops: 1 normally, 10 with -DWEFT_STRESS=ON.
inline int stress_factor() {
#if defined(WEFT_STRESS)
  return 10;
#else
  return 1;
#endif
}

inline weft::runtime_options small_runtime(unsigned workers = 2) {
  weft::runtime_options o;
  o.workers = workers;
  return o;
}

}  // namespace weft_test
