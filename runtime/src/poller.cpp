// poller: epoll, one-shot and level-triggered, shared by all workers.
//
// Why EPOLLONESHOT with level triggering:
//   1. One waiter per descriptor and direction: a fiber arms the descriptor
//      only after its non-blocking syscall said EAGAIN, and each arm yields
//      at most one report. Several threads call epoll_wait on the same set
//      (the parked driver, and busy workers every 61st pick), and one-shot
//      guarantees exactly one of them sees a given readiness: no duplicate
//      wake-ups, no thundering herd.
//   2. Level triggering makes arming race-free: EPOLL_CTL_MOD re-evaluates
//      the descriptor, so data that arrived between the EAGAIN and the arm
//      is reported at once. Edge triggering would need the waiter to retry
//      the syscall after arming to close that window.
//   3. A descriptor nobody waits on is disarmed, so 10,000 idle connections
//      cost nothing: no events, no wake-ups, ~0% CPU.
//   4. Each arm files its record under a fresh token (epoll's data.u64). A
//      report whose token is no longer filed (the waiter timed out, was
//      killed, or closed the socket) is ignored, so a record never outlives
//      the fiber frame it points into, and a reused descriptor number
//      cannot wake the wrong actor.
// The runtime's eventfd is in the same set, level-triggered and never
// one-shot; only the driver reads it (a busy worker draining it would steal
// the driver's wake-up), others skip its token.

#include "poller.hpp"

#include "cell.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <stdexcept>
#include <vector>

namespace weft::detail {

poller::poller() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw std::runtime_error("weft: epoll_create1 failed; cannot start the runtime's I/O poller");
}

poller::~poller() {
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

void poller::watch_wake_fd(int fd) {
  wake_fd_ = fd;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = wake_token;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    throw std::runtime_error("weft: cannot add the runtime's eventfd to the I/O poller");
  }
}

std::uint64_t poller::arm(int fd, std::uint32_t events, bool& registered, io_waiter waiter) {
  std::uint64_t token = 0;
  {
    std::lock_guard lock(mutex_);
    token = next_token_++;
    waiting_.emplace(token, std::move(waiter));
  }
  armed_.fetch_add(1, std::memory_order_relaxed);
  epoll_event ev{};
  ev.events = events | EPOLLONESHOT;
  ev.data.u64 = token;
  int rc = ::epoll_ctl(epoll_fd_, registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
  if (rc != 0 && !registered && errno == EEXIST) rc = ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
  if (rc != 0) {
    const int saved = errno;
    disarm(token);
    errno = saved;
    return 0;
  }
  registered = true;
  return token;
}

bool poller::disarm(std::uint64_t token) {
  io_waiter gone;  // released outside the lock: dropping a pid may free a cell
  {
    std::lock_guard lock(mutex_);
    auto it = waiting_.find(token);
    if (it == waiting_.end()) return false;
    gone = std::move(it->second);
    waiting_.erase(it);
  }
  armed_.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

void poller::forget(int fd, bool& registered) noexcept {
  if (!registered) return;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  registered = false;
}

std::size_t poller::harvest(int timeout_ms, bool drain_wake, bool* woken) {
  std::array<epoll_event, 128> events;
  const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout_ms);
  if (n <= 0) return 0;
  std::vector<io_waiter> ready;
  ready.reserve(static_cast<std::size_t>(n));
  {
    std::lock_guard lock(mutex_);
    for (int i = 0; i < n; ++i) {
      const std::uint64_t token = events[static_cast<std::size_t>(i)].data.u64;
      if (token == wake_token) {
        if (drain_wake) {
          std::uint64_t drained = 0;
          [[maybe_unused]] auto r = ::read(wake_fd_, &drained, sizeof drained);
          if (woken != nullptr) *woken = true;
        }
        continue;
      }
      auto it = waiting_.find(token);
      if (it == waiting_.end()) continue;  // withdrawn: timed out, killed, closed
      // release: pairs with the waiter's acquire load; the waiter may free
      // the flag once it sees it set, so it is written under the lock and
      // the waiter withdraws (takes the lock) before its frame goes.
      if (it->second.fired != nullptr) it->second.fired->store(true, std::memory_order_release);
      ready.push_back(std::move(it->second));
      waiting_.erase(it);
    }
  }
  armed_.fetch_sub(ready.size(), std::memory_order_relaxed);
  for (io_waiter& w : ready) {
    cell* target = as_cell(w.who);
    if (w.message) {
      // Like a timer: never blocks; a full block-policy mailbox rejects.
      target->deliver(nullptr, w.message(), send_mode::try_once, no_timeout);
    } else {
      auto* e = make_envelope(wake_payload{}, envelope_kind::wake);
      if (!target->deliver_signal(e)) delete e;
    }
  }
  return ready.size();
}

}  // namespace weft::detail
