// The bounded stash (stash.hpp), on the runtime's take_current and
// requeue_front hooks (runtime/internal/weft/runtime/internal.hpp).

#include <weft/actors/stash.hpp>

#include <weft/runtime/detail/backend.hpp>
#include <weft/runtime/internal.hpp>
#include <weft/runtime/options.hpp>

#include <stdexcept>
#include <string>
#include <utility>

namespace weft::actors {

namespace rt = weft::detail;

namespace {
rt::envelope* next_of(rt::envelope* e) noexcept {
  return static_cast<rt::envelope*>(e->next.load(std::memory_order_relaxed));
}
}  // namespace

stash_buffer::stash_buffer(std::size_t capacity) : capacity_(capacity) {
  if (capacity == 0) {
    throw std::invalid_argument("stash_buffer: capacity must be at least 1 (weft::unbounded for no limit)");
  }
}

stash_buffer::~stash_buffer() { release_all(); }

stash_buffer::stash_buffer(stash_buffer&& other) noexcept
    : head_(std::exchange(other.head_, nullptr)),
      tail_(std::exchange(other.tail_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      capacity_(other.capacity_) {}

stash_buffer& stash_buffer::operator=(stash_buffer&& other) noexcept {
  if (this != &other) {
    release_all();
    head_ = std::exchange(other.head_, nullptr);
    tail_ = std::exchange(other.tail_, nullptr);
    size_ = std::exchange(other.size_, 0);
    capacity_ = other.capacity_;
  }
  return *this;
}

expected<void> stash_buffer::stash(context& self) {
  if (internal::current_message(self) == nullptr) {
    return error(delivery_errc::no_message,
                 "stash: " + self.self().to_string() +
                     " is handling no message (call stash from a handler, before forwarding or stashing it)");
  }
  if (full()) {
    return error(delivery_errc::stash_full, "stash of " + self.self().to_string() + " is full (capacity " +
                                                std::to_string(capacity_) + "): the message was not stashed");
  }
  rt::envelope* e = internal::take_current(self);
  e->next.store(nullptr, std::memory_order_relaxed);
  if (tail_ == nullptr) {
    head_ = e;
  } else {
    tail_->next.store(e, std::memory_order_relaxed);
  }
  tail_ = e;
  ++size_;
  return {};
}

std::size_t stash_buffer::unstash_all(context& self) noexcept {
  const std::size_t n = size_;
  if (n == 0) return 0;
  internal::requeue_front(self, head_, tail_);
  head_ = tail_ = nullptr;
  size_ = 0;
  return n;
}

void stash_buffer::clear(context& self, const error& why) {
  rt::cell* from = internal::context_access::cell(self);
  rt::envelope* e = std::exchange(head_, nullptr);
  tail_ = nullptr;
  size_ = 0;
  while (e != nullptr) {
    rt::envelope* following = next_of(e);
    if (rt::request_pending(*e)) {
      pid asker = std::move(e->reply_to);
      rt::send_reply(asker, std::exchange(e->request_id, 0),
                     rt::make_envelope(rt::reply_error{why}, rt::envelope_kind::reply), from);
      delete e;
    } else {
      // A send to no actor is the runtime's way to count a dead letter.
      (void)rt::send_envelope(rt::runtime_of(from), from, pid(), e, rt::send_mode::try_once, rt::no_timeout);
    }
    e = following;
  }
}

void stash_buffer::release_all() noexcept {
  rt::envelope* e = std::exchange(head_, nullptr);
  tail_ = nullptr;
  size_ = 0;
  while (e != nullptr) {
    rt::envelope* following = next_of(e);
    if (rt::request_pending(*e)) {
      try {
        pid asker = std::move(e->reply_to);
        rt::send_reply(asker, std::exchange(e->request_id, 0),
                       rt::make_envelope(rt::reply_error{error(ask_errc::actor_down,
                                                               "the request was stashed and its stash was dropped "
                                                               "(the actor exited) before it was handled")},
                                         rt::envelope_kind::reply));
      } catch (...) {  // NOLINT(bugprone-empty-catch): out of memory; the asker's deadline still holds
      }
    }
    delete e;
    e = following;
  }
}

}  // namespace weft::actors
