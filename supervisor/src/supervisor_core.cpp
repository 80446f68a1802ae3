// supervisor_core: one supervisor's life — init, restarts, requests.
//
// Restart protocol (on_exit: an exit signal from a current child):
//   1. Forget the child's pid and report child_exited.
//   2. If the runtime is stopping, restart nothing (a temporary or dynamic
//      child is forgotten): shutdown is stopping the tree children-first.
//   3. The restart type decides whether to restart at all. A child that is
//      not restarted is forgotten if temporary or dynamic, otherwise kept
//      as a stopped spec (restart_child can start it again).
//   4. Restart intensity: one restart too many and the supervisor gives up
//      — stops every child in reverse start order and exits `shutdown`, so
//      that its parent applies its own policy (escalation).
//   5. The strategy picks the group to restart: the child alone, all
//      children, or the child and those started after it. Members still
//      running are stopped (reverse start order, shutdown protocol);
//      temporary ones among them are forgotten, never restarted.
//   6. If the failed child has a backoff policy, the group is marked
//      pending under a fresh batch number and a timer sends restart_due
//      {batch}; otherwise it is started now, in start order.
//   7. A start that fails marks the rest of the group pending and retries
//      it later (retry_restart to itself, or after the backoff delay).
//      Each retry counts against the intensity, so a child that cannot
//      start ends in step 4, not in a busy loop.
// Stale signals are harmless by construction: an exit_msg from a pid that
// is no longer a child (replaced by a restart, stopped by the protocol) is
// ignored, and a timer or retry for a batch whose children moved on (a
// later batch, terminate_child, delete_child) finds nothing to do.

#include "supervisor_core.hpp"

#include <weft/runtime/internal.hpp>

#include <weft/runtime/runtime.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <exception>

namespace weft::sup::detail {

supervisor_core::supervisor_core(supervisor_spec spec, pid parent)
    : spec_(std::move(spec)),
      parent_(std::move(parent)),
      intensity_(spec_.max_restarts, spec_.max_window),
      rng_(std::random_device{}()) {}

behavior supervisor_core::run(context& self) {
  self_pid_ = self.self();
  clock_ = &self.system().clock();
  self.set_describe([this] { return describe(); });
  std::optional<std::string> error = init(self);
  if (error) return failed_behavior(self, std::move(*error));
  return running_behavior(self);
}

// -- init ------------------------------------------------------------------

std::optional<std::string> supervisor_core::init(context& self) {
  if (dynamic()) {
    if (spec_.children.size() != 1) {
      return fmt::format("supervisor '{}': the dynamic strategy takes exactly one child spec (the template), got {}",
                         spec_.id, spec_.children.size());
    }
    if (!spec_.children.front().start) {
      return fmt::format("supervisor '{}': child spec '{}' has no start function", spec_.id, spec_.children.front().id);
    }
    dynamic_template_ = std::make_shared<const child_spec>(std::move(spec_.children.front()));
    spec_.children.clear();
    return std::nullopt;
  }
  std::vector<std::shared_ptr<const child_spec>> specs;
  for (child_spec& cs : spec_.children) {
    if (!cs.start) return fmt::format("supervisor '{}': child spec '{}' has no start function", spec_.id, cs.id);
    for (const auto& earlier : specs) {
      if (earlier->id == cs.id)
        return fmt::format("supervisor '{}': two child specs have the id '{}'", spec_.id, cs.id);
    }
    specs.push_back(std::make_shared<const child_spec>(std::move(cs)));
  }
  spec_.children.clear();
  for (auto& s : specs) {
    child& c = add_child(s, {});
    start_result r = start_process(self, c, c.restarts);
    if (r.outcome() == start_result::kind::started) {
      mark_running(self, c, r.child(), event_kind::child_started);
    } else if (r.outcome() == start_result::kind::failed) {
      std::string why = fmt::format("supervisor '{}': child '{}' failed to start: {}", spec_.id, s->id, r.error_text());
      report(self, event_kind::start_failed, {}, why);
      remove_child(c);
      stop_all(self);
      return why;
    }
  }
  return std::nullopt;
}

behavior supervisor_core::failed_behavior(context& self, std::string error) {
  // The starter learns the reason from the reply; an exit signal on top
  // would kill a starter that does not trap exits, so unlink first.
  self.unlink(parent_);
  return behavior{
      [this, &self, error](await_start) {
        self.reply(start_reply{false, error});
        stop_self(self, exit_reason::error(error));
      },
      [this, &self, error](const exit_msg& m) {
        if (!m.from || m.from == parent_) stop_self(self, exit_reason::error(error));
      },
  };
}

behavior supervisor_core::running_behavior(context& self) {
  return behavior{
      [this, &self](const exit_msg& m) { on_exit(self, m); },
      [this, &self](restart_due d) {
        std::vector<child*> group = take_batch(d.batch);
        if (!group.empty()) start_group(self, group);
      },
      [this, &self](retry_restart d) {
        std::vector<child*> group = take_batch(d.batch);
        if (group.empty()) return;
        if (!intensity_.add(now())) give_up(self);
        start_group(self, group);
      },
      [](await_start) {
        return start_reply{true, {}};
      },
      [this](which_children_request) { return which_children(); },
      [this](count_children_request) { return count_children(); },
      [this, &self](start_child_request r) -> expected<pid> {
        if (dynamic()) {
          return error(errc::not_supported,
                       fmt::format("supervisor '{}' is dynamic: start children with arguments", spec_.id));
        }
        return start_new(self, std::make_shared<const child_spec>(std::move(r.spec)), {});
      },
      [this, &self](start_dynamic_request r) -> expected<pid> {
        if (!dynamic()) {
          return error(errc::not_supported,
                       fmt::format("supervisor '{}' is not dynamic: start children with a child_spec", spec_.id));
        }
        return start_new(self, dynamic_template_, std::move(r.args));
      },
      [this, &self](const terminate_child_request& r) { return terminate(self, r); },
      [this, &self](const restart_child_request& r) { return restart_stopped(self, r.id); },
      [this](const delete_child_request& r) { return delete_stopped(r.id); },
      [this, &self](stop_request) {
        stop_all(self);
        self.reply(expected<void>());
        stop_self(self, exit_reason::normal());
      },
  };
}

// -- children ----------------------------------------------------------------

child& supervisor_core::add_child(std::shared_ptr<const child_spec> spec, std::any args) {
  auto c = std::make_unique<child>();
  c->key = next_key_++;
  c->spec = std::move(spec);
  c->args = std::move(args);
  c->index = children_.size();
  child& ref = *c;
  by_key_.emplace(ref.key, &ref);
  children_.push_back(std::move(c));
  return ref;
}

void supervisor_core::remove_child(child& c) {
  if (c.current) by_pid_.erase(c.current);
  by_key_.erase(c.key);
  const std::size_t i = c.index;
  if (dynamic()) {
    // Order does not matter: swap with the last, O(1).
    if (i + 1 != children_.size()) {
      std::swap(children_[i], children_.back());
      children_[i]->index = i;
    }
    children_.pop_back();
  } else {
    children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(i));
    for (std::size_t j = i; j < children_.size(); ++j)
      children_[j]->index = j;
  }
}

child* supervisor_core::find_id(const std::string& id) {
  for (auto& c : children_) {
    if (c->spec->id == id) return c.get();
  }
  return nullptr;
}

start_result supervisor_core::start_process(context& self, child& c, std::uint32_t restarts) {
  if (self.system().is_stopping()) return start_result::error("the runtime is stopping");
  child_starter starter(self, *c.spec, c.args);
  // The child is born with its restart count: `info` on it, by pid or by
  // name, never shows the count of an earlier incarnation.
  internal::spawn_restarts_scope counted(self, restarts);
  try {
    return c.spec->start(starter);
  } catch (const std::exception& e) {
    // Only std::exception: the runtime's own unwinding must pass through.
    return start_result::error(fmt::format("the start function threw: {}", e.what()));
  }
}

void supervisor_core::mark_running(context& self, child& c, const pid& who, std::string_view event) {
  c.current = who;
  c.started_at = now();
  c.pending_batch = 0;
  by_pid_[who] = &c;
  if (c.restarts != 0) {
    report(self, event, who,
           fmt::format("supervisor '{}': child {} restarted as {} (restart {})", spec_.id, label(c), who.to_string(),
                       c.restarts));
  } else {
    report(self, event, who,
           fmt::format("supervisor '{}': child {} started as {}", spec_.id, label(c), who.to_string()));
  }
}

// -- restarts ----------------------------------------------------------------

void supervisor_core::on_exit(context& self, const exit_msg& m) {
  auto it = by_pid_.find(m.from);
  if (it == by_pid_.end()) {
    const bool from_parent = m.from && m.from == parent_;
    const bool from_outside = !m.from && !m.reason.is_normal();
    if (from_parent || from_outside) {
      stop_all(self);
      stop_self(self, m.reason.is_normal() ? exit_reason::shutdown() : m.reason);
    }
    return;  // a child we already replaced or stopped, or a stranger
  }
  child& c = *it->second;
  by_pid_.erase(it);
  const pid old = std::exchange(c.current, pid());
  report(self, event_kind::child_exited, old,
         fmt::format("supervisor '{}': child {} {} exited: {}", spec_.id, label(c), old.to_string(),
                     m.reason.to_string()));
  const bool forget = dynamic() || c.spec->restart == restart_type::temporary;
  if (self.system().is_stopping() || !should_restart(c.spec->restart, m.reason)) {
    if (forget) remove_child(c);
    return;
  }
  if (!intensity_.add(now())) give_up(self);
  restart_after_failure(self, c);
}

void supervisor_core::restart_after_failure(context& self, child& failed) {
  std::vector<child*> group;
  if (spec_.strategy == restart_strategy::one_for_all || spec_.strategy == restart_strategy::rest_for_one) {
    const std::size_t first = spec_.strategy == restart_strategy::one_for_all ? 0 : failed.index;
    for (std::size_t i = first; i < children_.size(); ++i) {
      child* g = children_[i].get();
      if (g == &failed || g->current || g->pending_batch != 0) group.push_back(g);
    }
    for (auto it = group.rbegin(); it != group.rend(); ++it) {
      if ((*it)->current) stop_one(self, **it);
    }
    std::vector<child*> temporaries;
    std::erase_if(group, [&](child* g) {
      if (g == &failed || g->spec->restart != restart_type::temporary) return false;
      temporaries.push_back(g);
      return true;
    });
    for (child* t : temporaries)
      remove_child(*t);
  } else {
    group.push_back(&failed);
  }
  restart_group(self, group, failed);
}

void supervisor_core::restart_group(context& self, std::vector<child*>& group, child& trigger) {
  if (trigger.spec->backoff) {
    const auto uptime = std::chrono::duration_cast<std::chrono::nanoseconds>(now() - trigger.started_at);
    const auto delay = trigger.backoff.next_delay(*trigger.spec->backoff, uptime, random_unit());
    report(
        self, event_kind::backoff_scheduled, {},
        fmt::format("supervisor '{}': child {} restarts in {} us (attempt {})", spec_.id, label(trigger),
                    std::chrono::duration_cast<std::chrono::microseconds>(delay).count(), trigger.backoff.attempt()));
    schedule_batch(self, group, delay, false);
    return;
  }
  start_group(self, group);
}

void supervisor_core::start_group(context& self, std::vector<child*>& group) {
  for (std::size_t i = 0; i < group.size(); ++i) {
    child& c = *group[i];
    start_result r = start_process(self, c, c.restarts + 1);
    switch (r.outcome()) {
      case start_result::kind::started:
        ++c.restarts;
        ++total_restarts_;
        mark_running(self, c, r.child(), event_kind::child_restarted);
        break;
      case start_result::kind::ignored:
        c.pending_batch = 0;
        if (dynamic()) remove_child(c);
        break;
      case start_result::kind::failed: {
        report(self, event_kind::start_failed, {},
               fmt::format("supervisor '{}': restarting child {} failed: {}", spec_.id, label(c), r.error_text()));
        std::vector<child*> rest(group.begin() + static_cast<std::ptrdiff_t>(i), group.end());
        if (self.system().is_stopping()) {
          for (child* g : rest)
            g->pending_batch = 0;
          return;
        }
        auto delay = std::chrono::nanoseconds::zero();
        if (c.spec->backoff) delay = c.backoff.next_delay(*c.spec->backoff, {}, random_unit());
        schedule_batch(self, rest, delay, true);
        return;
      }
    }
  }
}

void supervisor_core::schedule_batch(context& self, const std::vector<child*>& group, std::chrono::nanoseconds delay,
                                     bool retry) {
  const std::uint64_t batch = next_batch_++;
  auto& keys = batches_[batch];
  for (child* g : group) {
    g->pending_batch = batch;
    keys.push_back(g->key);
  }
  if (retry && delay == std::chrono::nanoseconds::zero()) {
    // Behind whatever is queued: requests and other exits get a turn.
    self.send(self_pid_, retry_restart{batch});
  } else if (retry) {
    self.send_after(delay, self_pid_, retry_restart{batch});
  } else {
    self.send_after(delay, self_pid_, restart_due{batch});
  }
}

std::vector<child*> supervisor_core::take_batch(std::uint64_t batch) {
  std::vector<child*> group;
  auto it = batches_.find(batch);
  if (it == batches_.end()) return group;
  std::vector<std::uint64_t> keys = std::move(it->second);
  batches_.erase(it);
  for (std::uint64_t key : keys) {
    auto c = by_key_.find(key);
    if (c != by_key_.end() && c->second->pending_batch == batch) group.push_back(c->second);
  }
  return group;
}

void supervisor_core::give_up(context& self) {
  report(self, event_kind::intensity_exceeded, self_pid_,
         fmt::format("supervisor '{}': more than {} restart(s) within {} ms; stopping all children and exiting "
                     "with reason shutdown",
                     spec_.id, spec_.max_restarts,
                     std::chrono::duration_cast<std::chrono::milliseconds>(spec_.max_window).count()));
  stop_all(self);
  stop_self(self, exit_reason::shutdown());
}

void supervisor_core::stop_self(context& self, exit_reason reason) {
  self.exit(std::move(reason));
}

// -- requests ----------------------------------------------------------------

std::vector<child_info> supervisor_core::which_children() const {
  std::vector<child_info> out;
  out.reserve(children_.size());
  for (const auto& c : children_) {
    child_state state = c->current              ? child_state::running
                        : c->pending_batch != 0 ? child_state::restarting
                                                : child_state::stopped;
    out.push_back(child_info{c->spec->id, c->current, c->spec->type, c->spec->restart, state, c->restarts});
  }
  return out;
}

child_counts supervisor_core::count_children() const {
  child_counts n;
  n.specs = children_.size();
  for (const auto& c : children_) {
    if (c->current) ++n.active;
    if (c->spec->type == child_type::supervisor) {
      ++n.supervisors;
    } else {
      ++n.workers;
    }
  }
  return n;
}

expected<pid> supervisor_core::start_new(context& self, std::shared_ptr<const child_spec> spec, std::any args) {
  if (!spec->start) {
    return error(errc::start_failed, fmt::format("child spec '{}' has no start function", spec->id));
  }
  if (!dynamic()) {
    if (child* existing = find_id(spec->id)) {
      if (existing->current) {
        return error(errc::running, fmt::format("supervisor '{}': child '{}' is already running as {}", spec_.id,
                                                spec->id, existing->current.to_string()));
      }
      return error(errc::already_present,
                   fmt::format("supervisor '{}': a child with id '{}' exists (stopped); restart_child or delete_child it",
                               spec_.id, spec->id));
    }
  }
  child& c = add_child(std::move(spec), std::move(args));
  start_result r = start_process(self, c, c.restarts);
  switch (r.outcome()) {
    case start_result::kind::started:
      mark_running(self, c, r.child(), event_kind::child_started);
      return c.current;
    case start_result::kind::ignored:
      if (dynamic()) remove_child(c);
      return pid();
    case start_result::kind::failed:
      break;
  }
  std::string why =
      fmt::format("supervisor '{}': child '{}' failed to start: {}", spec_.id, c.spec->id, r.error_text());
  report(self, event_kind::start_failed, {}, why);
  remove_child(c);
  return error(errc::start_failed, std::move(why));
}

expected<void> supervisor_core::terminate(context& self, const terminate_child_request& r) {
  child* c = nullptr;
  if (dynamic()) {
    auto it = by_pid_.find(r.child);
    if (it != by_pid_.end()) c = it->second;
  } else {
    c = find_id(r.id);
  }
  if (c == nullptr) {
    return error(errc::not_found, fmt::format("supervisor '{}': no child {}", spec_.id,
                                              dynamic() ? r.child.to_string() : "'" + r.id + "'"));
  }
  if (c->current) stop_one(self, *c);
  c->pending_batch = 0;
  if (dynamic() || c->spec->restart == restart_type::temporary) remove_child(*c);
  return {};
}

expected<pid> supervisor_core::restart_stopped(context& self, const std::string& id) {
  if (dynamic()) return error(errc::not_supported, "restart_child does not apply to a dynamic supervisor");
  child* c = find_id(id);
  if (c == nullptr) return error(errc::not_found, fmt::format("supervisor '{}': no child '{}'", spec_.id, id));
  if (c->current) {
    return error(errc::running,
                 fmt::format("supervisor '{}': child '{}' is running as {}", spec_.id, id, c->current.to_string()));
  }
  c->pending_batch = 0;  // a manual restart pre-empts a pending one
  start_result r = start_process(self, *c, c->restarts);
  if (r.outcome() == start_result::kind::started) {
    mark_running(self, *c, r.child(), event_kind::child_started);
    return c->current;
  }
  if (r.outcome() == start_result::kind::ignored) return pid();
  std::string why = fmt::format("supervisor '{}': child '{}' failed to start: {}", spec_.id, id, r.error_text());
  report(self, event_kind::start_failed, {}, why);
  return error(errc::start_failed, std::move(why));
}

expected<void> supervisor_core::delete_stopped(const std::string& id) {
  if (dynamic()) return error(errc::not_supported, "delete_child does not apply to a dynamic supervisor");
  child* c = find_id(id);
  if (c == nullptr) return error(errc::not_found, fmt::format("supervisor '{}': no child '{}'", spec_.id, id));
  if (c->current) {
    return error(errc::running, fmt::format("supervisor '{}': child '{}' is running as {}; terminate_child it first",
                                            spec_.id, id, c->current.to_string()));
  }
  remove_child(*c);
  return {};
}

// -- helpers -----------------------------------------------------------------

double supervisor_core::random_unit() {
  if (spec_.random) return spec_.random();
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
}

void supervisor_core::report(context& self, std::string_view kind, const pid& who, std::string text) {
  self.system().events().record(std::string(event_source), std::string(kind), who, std::move(text));
}

std::string supervisor_core::describe() const {
  std::size_t running = 0;
  for (const auto& c : children_)
    running += c->current ? 1 : 0;
  return fmt::format("supervisor '{}' ({}, at most {} restarts in {} ms): {} children, {} running, {} restarts",
                     spec_.id, to_string(spec_.strategy), spec_.max_restarts,
                     std::chrono::duration_cast<std::chrono::milliseconds>(spec_.max_window).count(), children_.size(),
                     running, total_restarts_);
}

std::string supervisor_core::label(const child& c) const {
  return "'" + c.spec->id + "'";
}

}  // namespace weft::sup::detail
