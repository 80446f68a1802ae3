// The name registry: one actor per name, one name per actor (Erlang's
// rules); a name is released when its actor exits, before its mailbox
// closes, so a restarted actor can take it again at once.
#include "cell.hpp"
#include "runtime_impl.hpp"

#include <weft/runtime/runtime.hpp>

#include <algorithm>

namespace weft::detail {

// -- names ----------------------------------------------------------------

bool runtime_impl::register_name(std::string name, cell* c) {
  if (name.empty() || c->closed()) return false;
  std::lock_guard lock(names_mutex_);
  std::lock_guard meta(c->meta_lock_);
  if (c->has_name_.load(std::memory_order_relaxed)) return false;  // one name per actor, as in Erlang
  auto [it, inserted] = names_.emplace(std::move(name), c);
  if (!inserted) return false;
  // The actor may have exited between the check and the insert; its exit
  // releases names under this same lock, so re-check here.
  if (c->closed()) {
    names_.erase(it);
    return false;
  }
  c->extras_locked().name = it->first;
  c->has_name_.store(true, std::memory_order_release);
  return true;
}

bool runtime_impl::unregister_name(std::string_view name) {
  std::lock_guard lock(names_mutex_);
  auto it = names_.find(std::string(name));
  if (it == names_.end()) return false;
  {
    std::lock_guard meta(it->second->meta_lock_);
    it->second->extras_locked().name.clear();
    it->second->has_name_.store(false, std::memory_order_release);
  }
  names_.erase(it);
  return true;
}

pid runtime_impl::whereis(std::string_view name) const {
  std::lock_guard lock(names_mutex_);
  auto it = names_.find(std::string(name));
  if (it == names_.end()) return pid();
  return pid_of(it->second);
}

std::vector<std::string> runtime_impl::names() const {
  std::lock_guard lock(names_mutex_);
  std::vector<std::string> out;
  out.reserve(names_.size());
  for (const auto& [name, c] : names_) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

void runtime_impl::release_name(cell* c) {
  // Most actors have no name: no global lock for them.
  if (!c->has_name_.load(std::memory_order_acquire)) return;
  std::lock_guard lock(names_mutex_);
  std::lock_guard meta(c->meta_lock_);
  if (!c->has_name_.load(std::memory_order_relaxed)) return;
  auto it = names_.find(c->extras_->name);
  if (it != names_.end() && it->second == c) names_.erase(it);
  c->extras_->name.clear();
  c->has_name_.store(false, std::memory_order_release);
}

}  // namespace weft::detail
