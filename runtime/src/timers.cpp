// timer_service: the runtime's timers on one hierarchical wheel
// (timer_wheel.hpp) under a mutex, ticking in milliseconds.
//
// A deadline is rounded up to the next tick so a timer never fires early.
// Firing happens outside the lock: due entries are unlinked under it, then
// their messages are sent, then periodic ones are filed again.

#include "cell.hpp"
#include "runtime_impl.hpp"

#include <limits>

#include <unistd.h>

namespace weft::detail {

namespace {
constexpr auto tick = std::chrono::milliseconds(1);
}

timer_service::~timer_service() { clear(); }

std::uint64_t timer_service::tick_of(std::chrono::steady_clock::time_point t, bool round_up) const {
  if (t <= epoch_) return 0;
  const auto since = t - epoch_;
  const auto ticks = std::chrono::duration_cast<std::chrono::milliseconds>(since).count();
  const bool exact = std::chrono::milliseconds(ticks) == since;
  return static_cast<std::uint64_t>(ticks) + ((round_up && !exact) ? 1 : 0);
}

void timer_service::publish_next_locked() {
  const std::uint64_t next = wheel_.next_expiry();
  std::int64_t value = std::chrono::steady_clock::time_point::max().time_since_epoch().count();
  if (next != std::numeric_limits<std::uint64_t>::max()) {
    value = (epoch_ + next * tick).time_since_epoch().count();
  }
  // release: pairs with next_due()'s acquire; only a hint for parking.
  next_due_.store(value, std::memory_order_release);
}

std::uint64_t timer_service::start(std::chrono::nanoseconds delay, std::chrono::nanoseconds period, pid target,
                                   std::function<envelope*()> make) {
  auto* entry = new timer_entry();
  entry->target = std::move(target);
  entry->make = std::move(make);
  entry->period = period;
  const auto due = std::chrono::steady_clock::now() + std::max(delay, std::chrono::nanoseconds::zero());
  std::unique_lock lock(mutex_);
  entry->id = next_id_++;
  entry->deadline = std::max(tick_of(due, true), wheel_.now() + 1);
  wheel_.insert(entry);
  by_id_.emplace(entry->id, entry);
  const bool earlier = (epoch_ + entry->deadline * tick) < next_due();
  publish_next_locked();
  const std::uint64_t id = entry->id;
  lock.unlock();
  // A sleeping driver computed its timeout from the old earliest deadline.
  if (earlier && wake_fd_ >= 0) {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(wake_fd_, &one, sizeof one);
  }
  return id;
}

bool timer_service::cancel(std::uint64_t id) {
  timer_entry* entry = nullptr;
  {
    std::lock_guard lock(mutex_);
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return false;
    entry = it->second;
    by_id_.erase(it);
    wheel_.cancel(entry);
    publish_next_locked();
  }
  delete entry;
  return true;
}

std::size_t timer_service::fire_due(std::chrono::steady_clock::time_point now) {
  std::vector<timer_entry*> due;
  {
    std::lock_guard lock(mutex_);
    wheel_.advance(tick_of(now, false), [&](timer_node* n) { due.push_back(static_cast<timer_entry*>(n)); });
    for (timer_entry* e : due) by_id_.erase(e->id);
    publish_next_locked();
  }
  for (timer_entry* e : due) {
    cell* target = as_cell(e->target);
    bool alive = true;
    try {
      if (!e->make) {
        auto* w = make_envelope(wake_payload{}, envelope_kind::wake);
        if (!target->deliver_signal(w)) delete w;
      } else {
        // Timers never block: a full block-policy mailbox rejects.
        alive = target->deliver(nullptr, e->make(), send_mode::try_once, no_timeout) != send_status::dead;
      }
    } catch (...) {
      // Out of memory, or the message's copy threw (send_interval copies it
      // each period): this firing is lost, the timer and its thread go on.
      target->rt->report_service_exception("timer", std::current_exception());
    }
    if (e->period.count() > 0 && alive) {
      std::lock_guard lock(mutex_);
      e->deadline = wheel_.now() + std::max<std::uint64_t>(1, static_cast<std::uint64_t>(e->period / tick));
      wheel_.insert(e);
      by_id_.emplace(e->id, e);
      publish_next_locked();
    } else {
      delete e;
    }
  }
  return due.size();
}

std::size_t timer_service::pending() const {
  std::lock_guard lock(mutex_);
  return wheel_.size();
}

void timer_service::clear() {
  std::lock_guard lock(mutex_);
  for (auto& [id, entry] : by_id_) {
    wheel_.cancel(entry);
    delete entry;
  }
  by_id_.clear();
  publish_next_locked();
}

std::uint64_t start_timer(runtime_impl* rt, std::chrono::nanoseconds delay, std::chrono::nanoseconds period,
                          const pid& to, std::function<envelope*()> make_message) {
  if (!to) return 0;
  return rt->clock_->start(delay, period, to, std::move(make_message));
}

bool cancel_timer(runtime_impl* rt, std::uint64_t id) { return id != 0 && rt->clock_->cancel(id); }

}  // namespace weft::detail
