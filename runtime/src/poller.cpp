// poller: epoll, edge-triggered, one registration per socket, shared by all
// workers.
//
// Why edge triggering with a registration that lasts as long as the socket:
//   1. A wait costs no epoll_ctl. The earlier design armed a one-shot,
//      level-triggered registration on every wait (EPOLL_CTL_MOD); at echo
//      rates that was one extra syscall per line, and the token map behind
//      it was one global mutex taken three times per wait. Now a wait takes
//      only its socket's slot lock.
//   2. An edge is never lost, though it may come while nobody waits: the
//      harvester then sets the direction's `ready` flag, and the next arm()
//      consumes it and tells the caller to retry its syscall instead of
//      filing. EOF and errors (RDHUP, HUP, ERR) set a `final` flag that
//      arm() never consumes: they are lasting states that no later edge
//      repeats. The sequence "syscall says EAGAIN; data arrives; arm" is thus
//      safe: the edge either finds the record filed, or leaves `ready` for
//      arm() to find. A stale flag (the edge's data was read before the
//      EAGAIN) costs one extra EAGAIN, never a missed wake-up.
//   3. One waiter per direction: only the socket's owning actor waits on it.
//      Several threads call epoll_wait on the same set (the parked driver,
//      and busy workers every 61st pick), and each edge is reported to
//      exactly one of them, so a record is told at most once.
//   4. A socket nobody writes to produces no edges, so 10,000 idle
//      connections cost nothing: no events, no wake-ups, ~0% CPU.
//   5. The handle in each report is (generation << 32 | slot index). Slots
//      live in chunks that are never freed before the poller, and remove()
//      bumps the generation under the slot lock, so a report harvested just
//      before its socket closed finds a different generation and is
//      ignored: a reused slot or descriptor number cannot wake the wrong
//      actor, and a record never outlives the fiber frame it points into
//      (the waiter withdraws it, under the same lock, before leaving).
// The runtime's eventfd is in the same set, level-triggered; only the driver
// reads it (a busy worker draining it would steal the driver's wake-up),
// others skip its token.

#include "poller.hpp"

#include "cell.hpp"
#include "runtime_impl.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <vector>

namespace weft::detail {
namespace {

std::uint32_t index_of(std::uint64_t handle) { return static_cast<std::uint32_t>(handle); }
std::uint32_t generation_of(std::uint64_t handle) { return static_cast<std::uint32_t>(handle >> 32); }
std::uint64_t make_handle(std::uint32_t index, std::uint32_t generation) {
  return (static_cast<std::uint64_t>(generation) << 32) | index;
}

}  // namespace

poller::poller() : chunks_(new std::atomic<chunk*>[max_chunks]) {
  for (std::size_t i = 0; i < max_chunks; ++i) chunks_[i].store(nullptr, std::memory_order_relaxed);
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw std::runtime_error("weft: epoll_create1 failed; cannot start the runtime's I/O poller");
}

poller::~poller() {
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  for (std::size_t i = 0; i < max_chunks; ++i) delete chunks_[i].load(std::memory_order_relaxed);
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

poller::slot* poller::find(std::uint32_t index) const noexcept {
  const std::size_t c = index / chunk_slots;
  if (c >= max_chunks) return nullptr;
  // acquire: pairs with the release store in add(); the chunk's slots are
  // constructed before it is published.
  chunk* ch = chunks_[c].load(std::memory_order_acquire);
  return ch == nullptr ? nullptr : &(*ch)[index % chunk_slots];
}

poller::slot* poller::lock_live(std::uint64_t handle) const noexcept {
  slot* s = find(index_of(handle));
  if (s == nullptr) return nullptr;
  s->lock.lock();
  if (s->generation != generation_of(handle) || s->fd < 0) {
    s->lock.unlock();
    return nullptr;
  }
  return s;
}

std::uint64_t poller::add(int fd) {
  std::uint32_t index = 0;
  {
    std::lock_guard lock(free_mutex_);
    if (!free_.empty()) {
      index = free_.back();
      free_.pop_back();
    } else {
      if (used_ == chunk_slots * max_chunks) {
        errno = EMFILE;
        return 0;
      }
      index = used_++;
      const std::size_t c = index / chunk_slots;
      if (chunks_[c].load(std::memory_order_relaxed) == nullptr) {
        chunks_[c].store(new chunk(), std::memory_order_release);
      }
    }
  }
  slot* s = find(index);
  std::uint32_t generation = 0;
  {
    std::lock_guard lock(s->lock);
    s->fd = fd;
    s->in = {};
    s->out = {};
    generation = s->generation;
  }
  const std::uint64_t handle = make_handle(index, generation);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = handle;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    const int saved = errno;
    {
      std::lock_guard lock(s->lock);
      s->fd = -1;
    }
    std::lock_guard lock(free_mutex_);
    free_.push_back(index);
    errno = saved;
    return 0;
  }
  return handle;
}

void poller::remove(std::uint64_t handle) noexcept {
  if (handle == 0) return;
  slot* s = lock_live(handle);
  if (s == nullptr) return;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, s->fd, nullptr);
  // A filed notify record goes with the socket (a blocked fiber cannot be
  // filed here: only the owner waits, and it is the one closing).
  std::size_t dropped = (s->in.waiter ? 1 : 0) + (s->out.waiter ? 1 : 0);
  std::optional<io_waiter> gone_in = std::move(s->in.waiter);
  std::optional<io_waiter> gone_out = std::move(s->out.waiter);
  s->in = {};
  s->out = {};
  s->fd = -1;
  s->generation = s->generation == UINT32_MAX ? 1 : s->generation + 1;
  s->lock.unlock();
  if (dropped > 0) armed_.fetch_sub(dropped, std::memory_order_relaxed);
  // gone_in/gone_out are released here, outside the slot lock: dropping a
  // pid may free a cell.
  std::lock_guard lock(free_mutex_);
  free_.push_back(index_of(handle));
}

arm_result poller::arm(std::uint64_t handle, io_direction dir, io_waiter waiter) {
  slot* s = lock_live(handle);
  if (s == nullptr) {
    errno = EBADF;
    return arm_result::refused;
  }
  direction_state& d = dir == io_direction::in ? s->in : s->out;
  if (d.ready || d.final) {
    d.ready = false;
    s->lock.unlock();
    return arm_result::ready;
  }
  d.waiter = std::move(waiter);
  s->lock.unlock();
  armed_.fetch_add(1, std::memory_order_relaxed);
  return arm_result::filed;
}

bool poller::disarm(std::uint64_t handle, io_direction dir) {
  std::optional<io_waiter> gone;  // released outside the lock: dropping a pid may free a cell
  {
    slot* s = lock_live(handle);
    if (s == nullptr) return false;
    direction_state& d = dir == io_direction::in ? s->in : s->out;
    gone = std::move(d.waiter);
    d.waiter.reset();
    s->lock.unlock();
  }
  if (!gone) return false;
  armed_.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

std::size_t poller::harvest(int timeout_ms, bool drain_wake, bool* woken) {
  std::array<epoll_event, 128> events;
  const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout_ms);
  if (n <= 0) return 0;
  std::vector<io_waiter> ready;
  ready.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const epoll_event& ev = events[static_cast<std::size_t>(i)];
    if (ev.data.u64 == wake_token) {
      if (drain_wake) {
        std::uint64_t drained = 0;
        [[maybe_unused]] auto r = ::read(wake_fd_, &drained, sizeof drained);
        if (woken != nullptr) *woken = true;
      }
      continue;
    }
    slot* s = lock_live(ev.data.u64);
    if (s == nullptr) continue;  // the socket closed after this report was taken
    const bool failed = (ev.events & (EPOLLERR | EPOLLHUP)) != 0;
    const bool in = failed || (ev.events & (EPOLLIN | EPOLLRDHUP)) != 0;
    const bool out = failed || (ev.events & EPOLLOUT) != 0;
    // EOF and errors are states, not events: no further edge announces
    // them, though the syscall that meets them may come several reads
    // later (net.cpp skips the recv after a short read). So they keep the
    // direction ready.
    if (failed || (ev.events & EPOLLRDHUP) != 0) s->in.final = true;
    if (failed) s->out.final = true;
    for (direction_state* d : {in ? &s->in : nullptr, out ? &s->out : nullptr}) {
      if (d == nullptr) continue;
      if (!d->waiter) {
        d->ready = true;
        continue;
      }
      // release: pairs with the waiter's acquire load; the waiter may free
      // the flag once it sees it set, so it is written under the lock and
      // the waiter withdraws (takes the lock) before its frame goes.
      if (d->waiter->fired != nullptr) d->waiter->fired->store(true, std::memory_order_release);
      ready.push_back(std::move(*d->waiter));
      d->waiter.reset();
    }
    s->lock.unlock();
  }
  armed_.fetch_sub(ready.size(), std::memory_order_relaxed);
  for (io_waiter& w : ready) {
    cell* target = as_cell(w.who);
    try {
      if (w.message) {
        // Like a timer: never blocks; a full block-policy mailbox rejects.
        target->deliver(nullptr, w.message(), send_mode::try_once, no_timeout);
      } else {
        auto* e = make_envelope(wake_payload{}, envelope_kind::wake);
        if (!target->deliver_signal(e)) delete e;
      }
    } catch (...) {
      // Out of memory, or a notify message's constructor threw: that one
      // report is lost; the poller (a worker's loop) goes on.
      target->rt->report_service_exception("I/O poller", std::current_exception());
    }
  }
  return ready.size();
}

}  // namespace weft::detail
