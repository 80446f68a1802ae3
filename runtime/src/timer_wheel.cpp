#include "timer_wheel.hpp"

#include <bit>
#include <limits>

namespace weft::detail {

unsigned timer_wheel::level_for(std::uint64_t now, std::uint64_t deadline) noexcept {
  // The highest 6-bit group in which now and deadline differ decides the
  // level: the entry is reached exactly when time enters that group.
  const std::uint64_t differing = now ^ deadline;
  if (differing < slots) return 0;
  const unsigned level = static_cast<unsigned>(63 - std::countl_zero(differing)) / 6;
  return level < levels ? level : levels - 1;
}

bool timer_wheel::insert(timer_node* n) noexcept {
  if (n->deadline <= now_) return false;
  const unsigned level = level_for(now_, n->deadline);
  std::uint64_t slot = (n->deadline >> (6 * level)) % slots;
  if (level == levels - 1 && (n->deadline >> (6 * levels)) != (now_ >> (6 * levels))) {
    // Beyond the wheel's span: park in the top level's last-visited slot
    // neighbour; advance() re-files it when that slot comes round.
    slot = ((now_ >> (6 * level)) + slots - 1) % slots;
  }
  link(n, level, static_cast<unsigned>(slot));
  return true;
}

void timer_wheel::link(timer_node* n, unsigned level, unsigned slot) noexcept {
  slot_list& list = wheel_[level][slot];
  n->prev = nullptr;
  n->next = list.head;
  if (list.head != nullptr) list.head->prev = n;
  list.head = n;
  n->level = static_cast<std::uint8_t>(level);
  n->slot = static_cast<std::uint8_t>(slot);
  n->linked = true;
  ++level_count_[level];
  ++size_;
}

void timer_wheel::cancel(timer_node* n) noexcept {
  if (!n->linked) return;
  slot_list& list = wheel_[n->level][n->slot];
  if (n->prev != nullptr) {
    n->prev->next = n->next;
  } else {
    list.head = n->next;
  }
  if (n->next != nullptr) n->next->prev = n->prev;
  n->prev = n->next = nullptr;
  n->linked = false;
  --level_count_[n->level];
  --size_;
}

timer_node* timer_wheel::take_slot(unsigned level, unsigned slot) noexcept {
  slot_list& list = wheel_[level][slot];
  timer_node* head = list.head;
  list.head = nullptr;
  for (timer_node* n = head; n != nullptr; n = n->next) {
    n->linked = false;
    --level_count_[level];
    --size_;
  }
  return head;
}

std::uint64_t timer_wheel::next_expiry() const noexcept {
  if (size_ == 0) return std::numeric_limits<std::uint64_t>::max();
  // The lowest non-empty level: its next non-empty slot's start bounds the
  // earliest deadline from below (entries in it are due no earlier).
  for (unsigned level = 0; level < levels; ++level) {
    if (level_count_[level] == 0) continue;
    const unsigned shift = 6 * level;
    const std::uint64_t width = std::uint64_t{1} << shift;
    const std::uint64_t current = now_ >> shift;
    for (std::uint64_t i = 1; i <= slots; ++i) {
      const std::uint64_t index = current + i;
      if (wheel_[level][index % slots].head != nullptr) {
        if (level == 0) return index;
        return index * width;  // the cascade point of that slot
      }
    }
    return now_ + 1;
  }
  return now_ + 1;
}

}  // namespace weft::detail
