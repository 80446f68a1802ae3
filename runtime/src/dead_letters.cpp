// Dead letters: messages that reached no actor (sent to a dead one,
// dropped or rejected by an overflow policy, unread at exit, unhandled,
// late replies), counted by cause and optionally forwarded to a
// subscriber.
#include "cell.hpp"
#include "runtime_impl.hpp"

#include <weft/runtime/runtime.hpp>

namespace weft::detail {

// -- dead letters ---------------------------------------------------------

void runtime_impl::count_dead_letter(dead_letter_cause cause, const cell* target, const envelope* e) {
  dead_letters_[static_cast<std::size_t>(cause)].fetch_add(1, std::memory_order_relaxed);
  if (!has_dead_letter_subscriber_.load(std::memory_order_acquire)) return;
  pid subscriber;
  {
    std::lock_guard lock(dead_letter_mutex_);
    subscriber = dead_letter_subscriber_;
  }
  if (!subscriber || as_cell(subscriber) == target) return;  // never about itself: no loops
  dead_letter letter{cause, target != nullptr ? pid_of(const_cast<cell*>(target)) : pid(),
                     e != nullptr ? std::string(e->tag->name) : std::string()};
  post(nullptr, as_cell(subscriber), make_envelope(std::move(letter)), send_mode::try_once, no_timeout);
}


}  // namespace weft::detail

namespace weft {

dead_letter_stats runtime::dead_letters() const { return impl_->stats().dead_letters; }
void runtime::subscribe_dead_letters(const pid& subscriber) {
  std::lock_guard lock(impl_->dead_letter_mutex_);
  impl_->dead_letter_subscriber_ = subscriber;
  impl_->has_dead_letter_subscriber_.store(static_cast<bool>(subscriber), std::memory_order_release);
}

}  // namespace weft::detail
