#pragma once
// weft::pid — the address of an actor.
//
// A pid is a small copyable handle (one pointer). It keeps the actor's
// control block alive, never the actor itself: when the actor exits its
// state is destroyed, and the pid stays "dead" forever. Sending to a dead
// pid reaches dead letters; it can never reach a newer actor, because
// control blocks are not reused while any pid refers to them.
//
// Thread safety: copying, comparing and hashing pids is safe from any
// thread. Copies cost one relaxed atomic increment.

#include <atomic>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace weft {

class runtime;

namespace detail {

class runtime_impl;

// The part of an actor's control block that inline code needs. The rest
// (mailbox, links, state) is private to runtime/src.
struct cell_header {
  std::atomic<std::uint32_t> refs{1};
  std::uint64_t id = 0;
  runtime_impl* rt = nullptr;
};

void destroy_cell(cell_header*) noexcept;

inline void retain(cell_header* c) noexcept {
  // Relaxed: taking a new reference needs no ordering; the reference we
  // copy from keeps the cell alive meanwhile.
  c->refs.fetch_add(1, std::memory_order_relaxed);
}

inline void release(cell_header* c) noexcept {
  // acq_rel: the last releaser must see every write made through other
  // references before it destroys the cell (the shared_ptr argument).
  if (c->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy_cell(c);
}

// The runtime's own sources reach a pid's control block through this
// (defined in runtime/src/cell.hpp); nothing else can.
struct pid_access;

}  // namespace detail

class pid {
 public:
  pid() noexcept = default;

  pid(const pid& other) noexcept : cell_(other.cell_) {
    if (cell_ != nullptr) detail::retain(cell_);
  }
  pid(pid&& other) noexcept : cell_(other.cell_) { other.cell_ = nullptr; }
  pid& operator=(const pid& other) noexcept {
    pid copy(other);
    std::swap(cell_, copy.cell_);
    return *this;
  }
  pid& operator=(pid&& other) noexcept {
    pid moved(std::move(other));
    std::swap(cell_, moved.cell_);
    return *this;
  }
  ~pid() {
    if (cell_ != nullptr) detail::release(cell_);
  }

  explicit operator bool() const noexcept { return cell_ != nullptr; }
  // The actor's number, unique within its runtime, never reused.
  std::uint64_t id() const noexcept { return cell_ != nullptr ? cell_->id : 0; }
  // "<0.42.0>", Erlang's spelling, so pids read familiar in logs.
  std::string to_string() const;

  // Equal: the same actor. Ordered by id (older actors first), then, for
  // pids of different runtimes that share an id, by control block, so that
  // ordering agrees with equality.
  friend bool operator==(const pid& a, const pid& b) noexcept { return a.cell_ == b.cell_; }
  friend std::strong_ordering operator<=>(const pid& a, const pid& b) noexcept {
    if (auto by_id = a.id() <=> b.id(); by_id != 0) return by_id;
    return std::compare_three_way{}(a.cell_, b.cell_);
  }

  friend struct std::hash<pid>;

 private:
  friend struct detail::pid_access;
  // Adopts one reference the caller already holds.
  explicit pid(detail::cell_header* c) noexcept : cell_(c) {}

  detail::cell_header* cell_ = nullptr;
};

}  // namespace weft

template <>
struct std::hash<weft::pid> {
  std::size_t operator()(const weft::pid& p) const noexcept {
    return std::hash<const void*>{}(p.cell_);
  }
};
