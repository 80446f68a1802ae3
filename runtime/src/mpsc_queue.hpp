#pragma once
// Intrusive multi-producer single-consumer queue.
//
// Algorithm: Dmitry Vyukov, "Intrusive MPSC node-based queue" (2010,
// 1024cores.net). Producers swap themselves in at `head_` with one atomic
// exchange and then link the previous node to themselves; the consumer
// walks from `tail_`. Between the exchange and the link a producer's node
// is not yet reachable, so pop() can return nullptr while the queue is not
// empty; the mailbox counts messages separately and treats that as
// "a producer is mid-push, try again shortly" (mailbox.cpp).

#include <weft/runtime/detail/envelope.hpp>

#include <atomic>

namespace weft::detail {

class mpsc_queue {
 public:
  mpsc_queue() noexcept : head_(&stub_), tail_(&stub_) {}
  mpsc_queue(const mpsc_queue&) = delete;
  mpsc_queue& operator=(const mpsc_queue&) = delete;

  // -- any thread --
  void push(mpsc_node* n) noexcept {
    n->next.store(nullptr, std::memory_order_relaxed);
    // acq_rel: release publishes n's contents to whoever follows the link;
    // acquire orders our store into prev after prev's own initialisation.
    mpsc_node* prev = head_.exchange(n, std::memory_order_acq_rel);
    // release: pairs with the consumer's acquire load of `next`.
    prev->next.store(n, std::memory_order_release);
  }

  // -- the single consumer only --
  mpsc_node* pop() noexcept {
    mpsc_node* tail = tail_;
    mpsc_node* next = tail->next.load(std::memory_order_acquire);
    if (tail == &stub_) {
      if (next == nullptr) return nullptr;
      tail_ = next;
      tail = next;
      next = next->next.load(std::memory_order_acquire);
    }
    if (next != nullptr) {
      tail_ = next;
      return tail;
    }
    if (tail != head_.load(std::memory_order_acquire)) return nullptr;  // a push is in progress
    push(&stub_);
    next = tail->next.load(std::memory_order_acquire);
    if (next != nullptr) {
      tail_ = next;
      return tail;
    }
    return nullptr;
  }

 private:
  std::atomic<mpsc_node*> head_;
  mpsc_node* tail_;
  mpsc_node stub_;
};

}  // namespace weft::detail
