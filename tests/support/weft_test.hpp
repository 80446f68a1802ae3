#pragma once
// Helpers shared by weft's tests.

#include <weft/runtime/weft.hpp>

#include <chrono>
#include <cstdlib>
#include <memory>
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

// A runtime on virtual time (weft/runtime/clock.hpp): the test moves
// m.clock, and every timer of m.rt fires when the clock passes it.
struct manual_runtime {
  std::shared_ptr<weft::manual_clock> clock = std::make_shared<weft::manual_clock>();
  weft::runtime rt{[this] {
    auto o = small_runtime();
    o.clock = clock;
    return o;
  }()};
};

}  // namespace weft_test

#include <dirent.h>

#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace weft_test {

// CPU seconds (user + system) used so far by this process's runtime
// worker threads, named "weft-w<N>" by the runtime. Tests of idleness
// measure these rather than the whole process, so that a sanitizer's own
// background thread (ThreadSanitizer has one that wakes periodically) or
// the test's main thread does not count.
// `threads`, if given, receives how many worker threads were found, so a
// test can check it measured something.
inline double worker_cpu_seconds(int* threads = nullptr) {
  double total = 0;
  int found = 0;
  const long ticks = ::sysconf(_SC_CLK_TCK);
  DIR* tasks = ::opendir("/proc/self/task");
  if (tasks == nullptr) return 0;
  while (dirent* d = ::readdir(tasks)) {
    if (d->d_name[0] == '.') continue;
    const std::string dir = std::string("/proc/self/task/") + d->d_name;
    std::string comm;
    std::getline(std::ifstream(dir + "/comm"), comm);
    if (comm.rfind("weft-w", 0) != 0) continue;
    std::string stat;
    std::getline(std::ifstream(dir + "/stat"), stat);
    // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i == 14) utime = std::stoull(field);
      if (i == 15) stime = std::stoull(field);
    }
    total += static_cast<double>(utime + stime) / static_cast<double>(ticks);
    ++found;
  }
  ::closedir(tasks);
  if (threads != nullptr) *threads = found;
  return total;
}

}  // namespace weft_test
