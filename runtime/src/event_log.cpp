#include <weft/runtime/event_log.hpp>

namespace weft {

void event_log::record(std::string source, std::string kind, pid who, std::string text) {
  std::shared_ptr<const std::function<void(const runtime_event&)>> hook;
  runtime_event copy;
  {
    std::lock_guard lock(mutex_);
    ++counts_[source + "/" + kind];
    runtime_event e{++seq_, std::chrono::system_clock::now(), std::move(source), std::move(kind), std::move(who),
                    std::move(text)};
    hook = hook_;
    if (hook) copy = e;
    ring_.push_back(std::move(e));
    if (ring_.size() > capacity_) ring_.pop_front();
  }
  if (hook && *hook) (*hook)(copy);
}

std::vector<runtime_event> event_log::since(std::uint64_t after, std::size_t max) const {
  std::lock_guard lock(mutex_);
  std::vector<runtime_event> out;
  for (const auto& e : ring_) {
    if (out.size() >= max) break;
    if (e.seq > after) out.push_back(e);
  }
  return out;
}

std::vector<runtime_event> event_log::latest(std::size_t n) const {
  std::lock_guard lock(mutex_);
  const std::size_t skip = ring_.size() > n ? ring_.size() - n : 0;
  return {ring_.begin() + static_cast<std::ptrdiff_t>(skip), ring_.end()};
}

std::map<std::string, std::uint64_t> event_log::counts() const {
  std::lock_guard lock(mutex_);
  return counts_;
}

std::uint64_t event_log::last_seq() const {
  std::lock_guard lock(mutex_);
  return seq_;
}

void event_log::set_hook(std::function<void(const runtime_event&)> hook) {
  auto shared = std::make_shared<const std::function<void(const runtime_event&)>>(std::move(hook));
  std::lock_guard lock(mutex_);
  hook_ = std::move(shared);
}

void event_log::clear() {
  std::deque<runtime_event> dropped;
  std::shared_ptr<const std::function<void(const runtime_event&)>> hook;
  {
    std::lock_guard lock(mutex_);
    dropped.swap(ring_);
    hook.swap(hook_);
  }
  // Destroyed outside the lock: releasing a pid may free its actor.
}

}  // namespace weft
