// The runtime's clocks: wheel_clock (real time, the timer wheel of
// timers.cpp) and manual_clock (virtual time for tests, clock.hpp).

#include "cell.hpp"
#include "runtime_impl.hpp"

#include <weft/runtime/clock.hpp>

#include <algorithm>
#include <vector>

namespace weft {

namespace {
// An arbitrary start, far from both zero and overflow, so that code which
// subtracts time points never sees a negative uptime.
constexpr auto manual_epoch = std::chrono::hours(24 * 365);

// Delivers a timer's message; false if the target is gone (a periodic
// timer then stops). Never blocks: timers reject into a full mailbox.
bool fire(const pid& to, const std::function<detail::envelope*()>& make) {
  detail::cell* target = detail::as_cell(to);
  try {
    return target->deliver(nullptr, make(), detail::send_mode::try_once, detail::no_timeout) != send_status::dead;
  } catch (...) {
    target->rt->report_service_exception("timer", std::current_exception());
    return true;
  }
}
}  // namespace

manual_clock::manual_clock() : now_(time_point(manual_epoch)) {}
manual_clock::~manual_clock() = default;

clock::time_point manual_clock::now() const {
  std::lock_guard lock(mutex_);
  return now_;
}

std::size_t manual_clock::pending() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

std::uint64_t manual_clock::start(duration delay, duration period, pid to, std::function<detail::envelope*()> make) {
  std::lock_guard lock(mutex_);
  const std::uint64_t id = next_id_++;
  const time_point due = now_ + std::max(delay, duration::zero());
  entries_.emplace(id, entry{std::move(to), std::move(make), period, due});
  queue_.emplace(key{due, id}, id);
  filed_.notify_all();
  return id;
}

bool manual_clock::cancel(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return false;
  queue_.erase(key{it->second.due, id});
  entries_.erase(it);
  return true;
}

void manual_clock::drop_timers_of(const detail::runtime_impl* rt) {
  std::vector<pid> dropped;  // released after the lock: a last reference may destroy a cell
  std::lock_guard lock(mutex_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (detail::as_cell(it->second.to)->rt == rt) {
      queue_.erase(key{it->second.due, it->first});
      dropped.push_back(std::move(it->second.to));
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

std::size_t manual_clock::advance(duration by) { return advance_to(now() + std::max(by, duration::zero())); }

std::size_t manual_clock::advance_to(time_point t) {
  std::size_t fired = 0;
  std::unique_lock lock(mutex_);
  // One firing at a time, the lock released around the delivery: a
  // delivery may run code that starts or cancels timers on this clock.
  while (!queue_.empty() && std::get<0>(queue_.begin()->first) <= t) {
    const auto [due, id] = queue_.begin()->first;
    queue_.erase(queue_.begin());
    auto it = entries_.find(id);
    now_ = std::max(now_, due);
    pid to = it->second.to;
    auto make = it->second.make;  // copied: a periodic entry keeps its own
    const duration period = it->second.period;
    if (period <= duration::zero()) entries_.erase(it);
    lock.unlock();
    const bool alive = fire(to, make);
    ++fired;
    lock.lock();
    if (period > duration::zero()) {
      auto again = entries_.find(id);
      if (again == entries_.end()) continue;  // cancelled while firing
      if (!alive) {
        entries_.erase(again);
        continue;
      }
      again->second.due = due + period;
      queue_.emplace(key{again->second.due, id}, id);
    }
  }
  now_ = std::max(now_, t);
  return fired;
}

std::size_t manual_clock::advance_to_next() {
  const time_point next = next_due();
  if (next == time_point::max()) return 0;
  return advance_to(next);
}

clock::time_point manual_clock::next_due() const {
  std::lock_guard lock(mutex_);
  return queue_.empty() ? time_point::max() : std::get<0>(queue_.begin()->first);
}

bool manual_clock::await_timers(std::size_t count, std::chrono::nanoseconds timeout) const {
  std::unique_lock lock(mutex_);
  return filed_.wait_for(lock, timeout, [&] { return entries_.size() >= count; });
}

namespace detail {

std::uint64_t wheel_clock::start(duration delay, duration period, pid to, std::function<envelope*()> make) {
  return timers_.start(delay, period, std::move(to), std::move(make));
}

bool wheel_clock::cancel(std::uint64_t id) { return timers_.cancel(id); }

// The wheel is the runtime's own: the runtime clears it as it ends.
void wheel_clock::drop_timers_of(const runtime_impl*) {}

std::size_t wheel_clock::pending() const { return timers_.pending(); }

}  // namespace detail
}  // namespace weft
