// pg scopes (process_groups.hpp): the scope actor and the handle's calls.
//
// The scope actor keeps, per pid it has an interest in, ONE record: its
// runtime monitor, how many times it joined each group, and the watches
// it holds. A pid that is both a member and a watcher therefore has one
// monitor and one down_msg, and its exit is handled in one place:
//
//   1. down_msg for a pid whose record (and monitor ref) matches, else
//      ignored (a demonitored or replaced monitor's late down);
//   2. its watches go first, so that nothing is sent to it about its own
//      exit (it would be a dead letter);
//   3. its memberships go from the table, under the exclusive lock, and
//      every group left empty is erased (which_groups never lists an
//      empty group: erlang/otp#11360);
//   4. the remaining watchers of each group get `left`;
//   5. the record, and so the monitor, is gone.
//
// OTP's pg kept member monitors and watcher monitors apart, and an actor
// in both roles that crashed could leave one behind or crash the scope
// (erlang/otp#7625); here both roles share the record, so neither can
// outlive the other. Joins, leaves and demonitors release a record (and
// its monitor) as soon as it holds neither memberships nor watches.
//
// Restart: a new scope actor rebuilds the records from the shared table
// (which a crash leaves in place) and monitors each pid again; a pid that
// died meanwhile gets a down(noproc) at once and is removed by 1-5. A
// clean stop (normal, shutdown) empties the table instead: the scope is
// gone on purpose.

#include <weft/actors/process_groups.hpp>

#include <weft/runtime/actor.hpp>
#include <weft/runtime/protocol.hpp>

#include <algorithm>
#include <mutex>
#include <optional>

namespace weft::actors::pg {

std::string_view to_string(errc e) noexcept {
  switch (e) {
    case errc::not_joined:
      return "not_joined";
    case errc::invalid_group:
      return "invalid_group";
    case errc::invalid_member:
      return "invalid_member";
    case errc::not_watching:
      return "not_watching";
    case errc::already_running:
      return "already_running";
  }
  return "unknown";
}

namespace detail {
std::string_view errc_name(int code) noexcept {
  return to_string(static_cast<errc>(code));
}
}  // namespace detail

namespace {

struct join_request {
  std::string group;
  std::vector<pid> members;
};
struct leave_request {
  std::string group;
  std::vector<pid> members;
};
struct monitor_scope_request {
  pid watcher;
};
struct monitor_group_request {
  pid watcher;
  std::string group;
};
struct demonitor_request {
  pid watcher;
  watch_ref ref;
};
struct stats_request {};
struct handle_request {};

using shared_ptr = std::shared_ptr<detail::scope_shared>;

struct scope_protocol : weft::protocol<void(join_request), void(leave_request), scope_watch(monitor_scope_request),
                                       group_watch(monitor_group_request), void(demonitor_request),
                                       scope_stats(stats_request), shared_ptr(handle_request)> {};

std::string scope_label(const detail::scope_shared& s) {
  return s.options.name.empty() ? std::string("pg scope") : "pg scope '" + s.options.name + "'";
}

expected<void> check_request(std::string_view what, std::string_view group, std::span<const pid> members) {
  if (group.empty()) return error(errc::invalid_group, std::string(what) + ": the group name is empty");
  if (members.empty()) {
    return error(errc::invalid_member, std::string(what) + " '" + std::string(group) + "': no pid given");
  }
  for (const pid& p : members) {
    if (!p) return error(errc::invalid_member, std::string(what) + " '" + std::string(group) + "': an empty pid");
  }
  return {};
}

class scope_actor {
 public:
  explicit scope_actor(shared_ptr shared) : shared_(std::move(shared)) {}
  scope_actor(const scope_actor&) = delete;
  scope_actor& operator=(const scope_actor&) = delete;
  ~scope_actor() {
    if (me_) shared_->slot.clear_if(me_);
  }

  behavior_of<scope_protocol> make_behavior(context& self) {
    self_ = &self;
    me_ = self.self();
    self.set_label(scope_label(*shared_));
    rebuild();
    return {
        [this](join_request r) { return join(std::move(r)); },
        [this](leave_request r) { return leave(std::move(r)); },
        [this](monitor_scope_request r) { return monitor_scope(std::move(r.watcher)); },
        [this](monitor_group_request r) { return monitor_group(std::move(r.watcher), std::move(r.group)); },
        [this](demonitor_request r) { return demonitor(r.watcher, r.ref); },
        [this](stats_request) { return stats(); },
        [this](handle_request) { return shared_; },
        [this](const down_msg& d) { on_down(d); },
    };
  }

  void on_exit(context&, const exit_reason& reason) {
    if (!reason.is_clean_stop()) return;  // a crash: the restart rebuilds from the table
    std::unique_lock lock(shared_->mutex);
    shared_->groups.clear();
  }

 private:
  struct record {
    monitor_ref monitor;
    std::unordered_map<std::string, std::size_t> joined;  // group -> memberships
    std::vector<std::uint64_t> watches;
  };
  struct watch {
    pid watcher;
    std::optional<std::string> group;  // none: the whole scope
  };

  record& ensure(const pid& p) {
    auto [it, fresh] = records_.try_emplace(p);
    if (fresh) it->second.monitor = self_->monitor(p);
    return it->second;
  }

  void release_if_idle(const pid& p) {
    auto it = records_.find(p);
    if (it == records_.end() || !it->second.joined.empty() || !it->second.watches.empty()) return;
    self_->demonitor(it->second.monitor);
    records_.erase(it);
  }

  void rebuild() {
    std::unique_lock lock(shared_->mutex);
    for (const auto& [group, members] : shared_->groups) {
      for (const pid& p : members)
        ++ensure(p).joined[group];
    }
  }

  expected<void> join(join_request r) {
    if (auto ok = check_request("join", r.group, r.members); !ok) return ok;
    for (const pid& p : r.members)
      ++ensure(p).joined[r.group];
    {
      std::unique_lock lock(shared_->mutex);
      auto& v = shared_->groups[r.group];
      v.insert(v.end(), r.members.begin(), r.members.end());
    }
    notify(r.group, group_change::kind::joined, r.members);
    return {};
  }

  expected<void> leave(leave_request r) {
    if (auto ok = check_request("leave", r.group, r.members); !ok) return ok;
    std::unordered_map<pid, std::size_t> wanted;
    for (const pid& p : r.members)
      ++wanted[p];
    // All or nothing: check every pid before changing anything.
    for (const auto& [p, n] : wanted) {
      auto rec = records_.find(p);
      std::size_t has = 0;
      if (rec != records_.end()) {
        auto j = rec->second.joined.find(r.group);
        if (j != rec->second.joined.end()) has = j->second;
      }
      if (has < n) {
        return error(errc::not_joined, "leave '" + r.group + "': " + p.to_string() + " has " + std::to_string(has) +
                                           " membership(s) in the group, " + std::to_string(n) + " to leave");
      }
    }
    for (const auto& [p, n] : wanted) {
      record& rec = records_.find(p)->second;
      auto j = rec.joined.find(r.group);
      if ((j->second -= n) == 0) rec.joined.erase(j);
    }
    {
      std::unique_lock lock(shared_->mutex);
      auto g = shared_->groups.find(r.group);
      auto& v = g->second;
      auto to_remove = wanted;
      v.erase(std::remove_if(v.begin(), v.end(),
                             [&](const pid& p) {
                               auto w = to_remove.find(p);
                               if (w == to_remove.end() || w->second == 0) return false;
                               --w->second;
                               return true;
                             }),
              v.end());
      if (v.empty()) shared_->groups.erase(g);
    }
    for (const auto& [p, n] : wanted)
      release_if_idle(p);
    notify(r.group, group_change::kind::left, r.members);
    return {};
  }

  scope_watch monitor_scope(pid watcher) {
    const std::uint64_t id = add_watch(watcher, std::nullopt);
    scope_watch answer{watch_ref{id}, {}};
    for (const auto& [group, members] : shared_->groups)
      answer.groups.emplace(group, members);
    return answer;
  }

  expected<group_watch> monitor_group(pid watcher, std::string group) {
    if (group.empty()) return error(errc::invalid_group, "monitor: the group name is empty");
    const std::uint64_t id = add_watch(watcher, group);
    group_watch answer{watch_ref{id}, {}};
    if (auto g = shared_->groups.find(group); g != shared_->groups.end()) answer.members = g->second;
    return answer;
  }

  std::uint64_t add_watch(const pid& watcher, std::optional<std::string> group) {
    const std::uint64_t id = next_watch_++;
    if (group) {
      group_watchers_[*group].push_back(id);
    } else {
      scope_watchers_.push_back(id);
    }
    ensure(watcher).watches.push_back(id);
    watches_.emplace(id, watch{watcher, std::move(group)});
    return id;
  }

  // Forgets watch `id` (not its owner's record).
  void drop_watch(std::uint64_t id) {
    auto w = watches_.find(id);
    if (w == watches_.end()) return;
    auto unlist = [id](std::vector<std::uint64_t>& v) { v.erase(std::remove(v.begin(), v.end(), id), v.end()); };
    if (w->second.group) {
      auto g = group_watchers_.find(*w->second.group);
      unlist(g->second);
      if (g->second.empty()) group_watchers_.erase(g);
    } else {
      unlist(scope_watchers_);
    }
    watches_.erase(w);
  }

  expected<void> demonitor(const pid& watcher, watch_ref ref) {
    auto w = watches_.find(ref.value);
    if (w == watches_.end() || w->second.watcher != watcher) {
      return error(errc::not_watching, "demonitor: " + watcher.to_string() + " has no watch " +
                                           std::to_string(ref.value) + " on " + scope_label(*shared_));
    }
    drop_watch(ref.value);
    auto& owned = records_.find(watcher)->second.watches;
    owned.erase(std::remove(owned.begin(), owned.end(), ref.value), owned.end());
    release_if_idle(watcher);
    return {};
  }

  void on_down(const down_msg& d) {
    auto it = records_.find(d.who);
    if (it == records_.end() || it->second.monitor != d.ref) return;
    record gone = std::move(it->second);
    records_.erase(it);
    for (std::uint64_t id : gone.watches)
      drop_watch(id);
    if (gone.joined.empty()) return;
    {
      std::unique_lock lock(shared_->mutex);
      for (const auto& [group, n] : gone.joined) {
        auto g = shared_->groups.find(group);
        auto& v = g->second;
        v.erase(std::remove(v.begin(), v.end(), d.who), v.end());
        if (v.empty()) shared_->groups.erase(g);
      }
    }
    for (const auto& [group, n] : gone.joined)
      notify(group, group_change::kind::left, std::vector<pid>(n, d.who));
  }

  void notify(const std::string& group, group_change::kind what, const std::vector<pid>& members) {
    auto send = [&](std::uint64_t id) {
      const watch& w = watches_.find(id)->second;
      ++sent_;
      if (self_->try_send(w.watcher, group_change{watch_ref{id}, what, group, members}) != send_status::ok) ++refused_;
    };
    for (std::uint64_t id : scope_watchers_)
      send(id);
    if (auto g = group_watchers_.find(group); g != group_watchers_.end()) {
      for (std::uint64_t id : g->second)
        send(id);
    }
  }

  scope_stats stats() const {
    scope_stats s;
    s.groups = shared_->groups.size();
    for (const auto& [group, members] : shared_->groups)
      s.memberships += members.size();
    for (const auto& [p, rec] : records_)
      s.members += rec.joined.empty() ? 0 : 1;
    s.scope_watches = scope_watchers_.size();
    for (const auto& [group, ids] : group_watchers_)
      s.group_watches += ids.size();
    s.monitors = records_.size();
    s.notifications_sent = sent_;
    s.notifications_refused = refused_;
    return s;
  }

  shared_ptr shared_;
  context* self_ = nullptr;
  pid me_;
  std::unordered_map<pid, record> records_;
  std::unordered_map<std::uint64_t, watch> watches_;
  std::vector<std::uint64_t> scope_watchers_;
  std::unordered_map<std::string, std::vector<std::uint64_t>> group_watchers_;
  std::uint64_t next_watch_ = 1;
  std::uint64_t sent_ = 0;
  std::uint64_t refused_ = 0;
};

ref<scope_protocol> actor_of(const detail::scope_shared& s) {
  return ref<scope_protocol>::adopt_checked(s.slot.current());
}

error already_running(const detail::scope_shared& s) {
  return error(errc::already_running, scope_label(s) + ": already running; one instance per scope handle");
}

spawn_options spawn_opts(const detail::scope_shared& s) {
  spawn_options o;
  o.name = s.options.name;
  // Joins and watches are control traffic: never block a joiner on a busy
  // scope, never drop one.
  o.mailbox_capacity = unbounded;
  return o;
}

}  // namespace

scope::scope(scope_options options) : shared_(std::make_shared<detail::scope_shared>(std::move(options))) {}

expected<void> scope::start(runtime& rt) const {
  bool already = false;
  shared_->slot.start(
      rt, [&]() -> pid { return rt.spawn(make_actor<scope_actor>(shared_), spawn_opts(*shared_)); }, already);
  if (already) return already_running(*shared_);
  return {};
}

expected<void> scope::start_link(context& self) const {
  bool already = false;
  shared_->slot.start(
      self.system(), [&]() -> pid { return self.spawn_link(make_actor<scope_actor>(shared_), spawn_opts(*shared_)); },
      already);
  if (already) return already_running(*shared_);
  return {};
}

sup::child_spec scope::child_spec(std::string id, sup::child_options options) const {
  auto shared = shared_;
  spawn_options spawn = options.spawn;
  const spawn_options defaults = spawn_opts(*shared);
  spawn.name = defaults.name;
  spawn.mailbox_capacity = defaults.mailbox_capacity;
  return sup::child_spec{
      .id = std::move(id),
      .start = [shared, spawn](sup::child_starter& s) -> sup::start_result {
        bool already = false;
        pid p = shared->slot.start(
            s.self().system(), [&]() -> pid { return s.spawn_link(make_actor<scope_actor>(shared), spawn); }, already);
        if (already) return sup::start_result::error(already_running(*shared).to_string());
        return p;
      },
      .restart = options.restart,
      .shutdown = options.shutdown,
      .type = sup::child_type::worker,
      .name = shared->options.name,
      .backoff = options.backoff,
  };
}

expected<scope> scope::find(context& self, std::string_view name) {
  const pid who = self.system().whereis(name);
  if (!who) return error(ask_errc::no_actor, "pg::scope::find: no actor is registered as '" + std::string(name) + "'");
  auto typed = ref_cast<scope_protocol>(who);
  if (!typed) return typed.error();
  auto shared = self.ask(*typed, handle_request{});
  if (!shared) return shared.error();
  return scope(std::move(*shared));
}

std::vector<pid> scope::get_members(std::string_view group) const {
  std::shared_lock lock(shared_->mutex);
  auto g = shared_->groups.find(group);
  return g == shared_->groups.end() ? std::vector<pid>() : g->second;
}

std::vector<pid> scope::get_local_members(std::string_view group) const {
  return get_members(group);
}

std::vector<std::string> scope::which_groups() const {
  std::vector<std::string> out;
  {
    std::shared_lock lock(shared_->mutex);
    out.reserve(shared_->groups.size());
    for (const auto& [group, members] : shared_->groups)
      out.push_back(group);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> scope::which_local_groups() const {
  return which_groups();
}

pid scope::actor() const {
  return shared_->slot.current();
}

expected<void> scope::join(context& self, std::string_view group, const pid& who) const {
  return join(self, group, std::span<const pid>(&who, 1));
}

expected<void> scope::join(context& self, std::string_view group, std::span<const pid> who) const {
  if (auto ok = check_request("join", group, who); !ok) return ok;
  return self.ask(actor_of(*shared_), join_request{std::string(group), std::vector<pid>(who.begin(), who.end())});
}

expected<void> scope::leave(context& self, std::string_view group, const pid& who) const {
  return leave(self, group, std::span<const pid>(&who, 1));
}

expected<void> scope::leave(context& self, std::string_view group, std::span<const pid> who) const {
  if (auto ok = check_request("leave", group, who); !ok) return ok;
  return self.ask(actor_of(*shared_), leave_request{std::string(group), std::vector<pid>(who.begin(), who.end())});
}

expected<scope_watch> scope::monitor_scope(context& self) const {
  return self.ask(actor_of(*shared_), monitor_scope_request{self.self()});
}

expected<group_watch> scope::monitor(context& self, std::string_view group) const {
  if (group.empty()) return error(errc::invalid_group, "monitor: the group name is empty");
  return self.ask(actor_of(*shared_), monitor_group_request{self.self(), std::string(group)});
}

expected<void> scope::demonitor(context& self, watch_ref ref) const {
  return self.ask(actor_of(*shared_), demonitor_request{self.self(), ref});
}

expected<scope_stats> scope::stats(context& self) const {
  return self.ask(actor_of(*shared_), stats_request{});
}

}  // namespace weft::actors::pg
