#pragma once
// A hierarchical timing wheel (Varghese & Lauck, "Hashed and Hierarchical
// Timing Wheels", SOSP 1987), in the layout Linux and Tokio use: 6 levels
// of 64 slots, level L slots are 64^L ticks wide, so the wheel spans 2^36
// ticks (at 1 ms, over two years; later deadlines are parked at the top
// level and re-filed when reached). Insert and cancel are O(1); advancing
// costs O(1) per non-empty slot passed plus O(levels) per jump over
// empty ones. Not thread-safe: timer_service wraps it in a mutex.

#include <array>
#include <cstdint>

namespace weft::detail {

struct timer_node {
  timer_node* prev = nullptr;
  timer_node* next = nullptr;
  std::uint64_t deadline = 0;  // in ticks
  std::uint8_t level = 0;
  std::uint8_t slot = 0;
  bool linked = false;
};

class timer_wheel {
 public:
  static constexpr unsigned levels = 6;
  static constexpr unsigned slots = 64;

  explicit timer_wheel(std::uint64_t now = 0) noexcept : now_(now) {}

  std::uint64_t now() const noexcept { return now_; }
  std::size_t size() const noexcept { return size_; }

  // Files n. Returns false (and files nothing) if n is already due.
  bool insert(timer_node* n) noexcept;
  void cancel(timer_node* n) noexcept;

  // Moves time forward to `to`, calling on_due(node) for every node whose
  // deadline has been reached (unlinked first, so on_due may reinsert).
  template <class F>
  void advance(std::uint64_t to, F&& on_due);

  // A tick at or before the earliest deadline (never later), or UINT64_MAX
  // when empty; used as the parked driver's timeout.
  std::uint64_t next_expiry() const noexcept;

 private:
  struct slot_list {
    timer_node* head = nullptr;
  };
  static unsigned level_for(std::uint64_t now, std::uint64_t deadline) noexcept;
  void link(timer_node* n, unsigned level, unsigned slot) noexcept;
  timer_node* take_slot(unsigned level, unsigned slot) noexcept;

  std::uint64_t now_;
  std::size_t size_ = 0;
  std::array<std::uint32_t, levels> level_count_{};
  std::array<std::array<slot_list, slots>, levels> wheel_{};
};

template <class F>
void timer_wheel::advance(std::uint64_t to, F&& on_due) {
  while (now_ < to) {
    if (size_ == 0) {
      now_ = to;
      return;
    }
    // Jump to the next boundary of the lowest level that has entries:
    // nothing below it can be due before then.
    unsigned lowest = 0;
    while (lowest < levels && level_count_[lowest] == 0) ++lowest;
    const std::uint64_t step = std::uint64_t{1} << (6 * lowest);
    std::uint64_t next = (now_ / step + 1) * step;
    if (next > to) {
      now_ = to;
      return;
    }
    now_ = next;
    // Cascade every level whose slot boundary we just crossed, top down,
    // re-filing entries relative to the new time; then expire level 0.
    for (unsigned level = levels - 1; level > 0; --level) {
      const std::uint64_t width = std::uint64_t{1} << (6 * level);
      if (now_ % width != 0) continue;
      timer_node* n = take_slot(level, static_cast<unsigned>((now_ >> (6 * level)) % slots));
      while (n != nullptr) {
        timer_node* following = n->next;
        if (!insert(n)) on_due(n);
        n = following;
      }
    }
    timer_node* n = take_slot(0, static_cast<unsigned>(now_ % slots));
    while (n != nullptr) {
      timer_node* following = n->next;
      if (n->deadline <= now_) {
        on_due(n);
      } else if (!insert(n)) {
        on_due(n);
      }
      n = following;
    }
  }
}

}  // namespace weft::detail
