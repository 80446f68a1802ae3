// The wait-for graph of blocked senders; the protocol and why a cycle it
// finds is real are in deadlock.hpp.

#include "deadlock.hpp"

#include "cell.hpp"
#include "runtime_impl.hpp"

#include <fmt/format.h>

#include <cstdio>

namespace weft::detail {

bool deadlock_watch::watch(cell* sender, cell* target, const space_waiter* waiter) {
  std::vector<cell*> cycle;
  std::string report;
  {
    std::lock_guard lock(mutex_);
    edges_[sender] = edge{target, waiter};
    // Follow the edges from the target. A walk longer than the graph has
    // edges went round a cycle that does not pass through the sender (the
    // sender waits on it, but is not part of it): its own members report it.
    cycle.push_back(sender);
    cell* at = target;
    for (std::size_t steps = 0; steps < edges_.size(); ++steps) {
      if (at == sender) break;
      auto it = edges_.find(at);
      // acquire: pairs with wake()'s release; "not woken" read here means the
      // edge's sender was still waiting when we read it (deadlock.hpp).
      if (it == edges_.end() || it->second.waiter->woken.load(std::memory_order_acquire)) return false;
      cycle.push_back(at);
      at = it->second.target;
    }
    if (at != sender) return false;
    // The sender's own waiter: if it was woken meanwhile, the cycle is gone.
    if (waiter->woken.load(std::memory_order_acquire)) return false;
    report = describe(cycle);
  }
  // Report outside the mutex: the event log's hook runs user code.
  const bool fail = rt_->options_.on_send_deadlock == send_deadlock_action::fail;
  std::string text = report + (fail ? " The send that closed the cycle fails with send_status::deadlock."
                                    : " Break the cycle with send_for or try_send, a larger mailbox, or another "
                                      "overflow policy (docs/architecture.md, \"Deadlock rule\").");
  std::fprintf(stderr, "weft: %s\n", text.c_str());
  std::fflush(stderr);
  rt_->events_.record("runtime", "send_deadlock", pid_of(sender), std::move(text));
  return fail;
}

void deadlock_watch::unwatch(cell* sender) {
  std::lock_guard lock(mutex_);
  edges_.erase(sender);
}

pid deadlock_watch::blocked_on(const cell* sender) const {
  std::lock_guard lock(mutex_);
  auto it = edges_.find(sender);
  if (it == edges_.end() || it->second.waiter->woken.load(std::memory_order_acquire)) return {};
  // The target is alive: its sender holds a pid to it while it waits.
  return pid_of(it->second.target);
}

std::string deadlock_watch::describe(const std::vector<cell*>& cycle) const {
  std::string text = fmt::format("deadlock: {} actors each wait for room in the next one's mailbox, "
                                 "and none of them reads:",
                                 cycle.size());
  for (std::size_t i = 0; i < cycle.size(); ++i) {
    cell* c = cycle[i];
    cell* next = cycle[(i + 1) % cycle.size()];
    std::string name;
    {
      std::lock_guard meta(c->meta_lock_);
      if (c->extras_ != nullptr) name = c->extras_->name;
    }
    text += fmt::format(" {}{} (mailbox {}/{}) -> {};", pid_of(c).to_string(),
                        name.empty() ? std::string() : " \"" + name + "\"", c->mailbox_length(), c->capacity(),
                        pid_of(next).to_string());
  }
  text.back() = '.';
  return text;
}

}  // namespace weft::detail
