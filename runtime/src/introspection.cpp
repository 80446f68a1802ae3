// Snapshots, describe and trace: what runtime::actors(), info(),
// describe() and trace() do (see introspection.hpp for the contract).

#include "cell.hpp"
#include "runtime_impl.hpp"

#include <weft/runtime/runtime.hpp>

#include <thread>

namespace weft {

namespace detail {

void tracer::record(trace_event::direction dir, const pid& from, const pid& to, const envelope& e) {
  if (!active.load(std::memory_order_acquire)) return;
  std::lock_guard lock(mutex);
  if (events.size() >= limit) return;
  events.push_back(trace_event{dir, std::chrono::system_clock::now(), from, to, std::string(e.tag->name),
                               e.payload_size()});
  if (events.size() >= limit) cv.notify_all();
}

namespace {

actor_info snapshot(cell* c) {
  actor_info info;
  info.self = pid_of(c);
  info.status = c->status.load(std::memory_order_relaxed);
  info.handler_style = c->handler_style_;
  info.mailbox_length = c->mailbox_length();
  info.mailbox_capacity = c->capacity();
  info.overflow = c->policy();
  info.dropped = c->dropped.load(std::memory_order_relaxed);
  info.rejected = c->rejected.load(std::memory_order_relaxed);
  info.processed = c->processed.load(std::memory_order_relaxed);
  info.restarts = c->restarts_.load(std::memory_order_relaxed);
  info.spawned_at = c->spawned_at_;
  info.stack_size = c->stack_size_;
  const double lifetime =
      std::chrono::duration<double>(std::chrono::system_clock::now() - c->spawned_at_).count();
  info.messages_per_second = lifetime > 0 ? static_cast<double>(info.processed) / lifetime : 0;
  std::lock_guard meta(c->meta_lock_);
  if (c->extras_ != nullptr) {
    info.name = c->extras_->name;
    info.label = c->extras_->label;
  }
  info.parent = c->parent_;
  info.links = c->links_;
  info.monitored_by.reserve(c->monitors_in_.size());
  for (const auto& m : c->monitors_in_) info.monitored_by.push_back(m.watcher);
  // Owner-private fields read racily would be a data race; these two are
  // plain flags the owner flips rarely, so report what the owner published.
  info.trap_exit = c->trap_exit_published_.load(std::memory_order_relaxed);
  info.holds_fiber = c->suspended_published_.load(std::memory_order_relaxed);
  info.stack_in_use = info.holds_fiber ? c->stack_in_use_.load(std::memory_order_relaxed) : 0;
  info.stack_high_water = c->stack_high_water_.load(std::memory_order_relaxed);
  info.monitors = c->monitors_out_count_.load(std::memory_order_relaxed);
  return info;
}

}  // namespace

// Runs fn inside the actor (as a `call` signal) and waits for its answer.
std::optional<std::string> call_in_actor(runtime_impl* rt, const pid& who, std::function<std::string(cell&)> fn,
                                         std::chrono::nanoseconds timeout) {
  if (!who) return std::nullopt;
  cell* asker = rt->make_thread_cell({});
  const std::uint64_t id = asker->next_request_id_++;
  asker->awaited_request_ = id;
  pid reply_to = pid_of(asker);
  auto* e = make_envelope(call_payload{[fn = std::move(fn), reply_to, id](cell& target) {
                            send_reply(reply_to, id, make_envelope(fn(target), envelope_kind::reply));
                          }},
                          envelope_kind::call);
  std::optional<std::string> out;
  if (as_cell(who)->deliver_signal(e)) {
    struct wanted {
      std::uint64_t id;
    } w{id};
    matcher m{[](const void* arg, const envelope& env) {
                return env.kind == envelope_kind::reply && env.request_id == static_cast<const wanted*>(arg)->id;
              },
              &w};
    if (envelope* reply = receive_envelope(asker, m, timeout)) {
      if (holds<std::string>(*reply)) out = std::move(payload<std::string>(*reply));
      delete reply;
    }
  } else {
    delete e;
  }
  asker->awaited_request_ = 0;
  rt->finish_thread_cell(asker);
  return out;
}

}  // namespace detail

std::vector<actor_info> runtime::actors() const {
  std::vector<actor_info> out;
  for (const pid& p : impl_->live_pids()) out.push_back(detail::snapshot(detail::as_cell(p)));
  return out;
}

std::optional<actor_info> runtime::info(const pid& who) const {
  if (!who) return std::nullopt;
  detail::cell* c = detail::as_cell(who);
  if (c->rt != impl_.get()) return std::nullopt;
  actor_info info = detail::snapshot(c);
  if (c->closed()) info.status = actor_status::dead;
  return info;
}

std::optional<std::string> runtime::describe(const pid& who, std::chrono::nanoseconds timeout) {
  return detail::call_in_actor(
      impl_.get(), who,
      [](detail::cell& c) -> std::string {
        std::function<std::string()> hook;
        {
          std::lock_guard meta(c.meta_lock_);
          if (c.extras_ != nullptr) hook = c.extras_->describe;
        }
        if (hook) return hook();
        return "(no describe hook: call context::set_describe)";
      },
      timeout);
}

std::vector<trace_event> runtime::trace(const pid& who, std::size_t count, std::chrono::nanoseconds timeout) {
  if (!who || count == 0) return {};
  detail::cell* c = detail::as_cell(who);
  auto* t = new detail::tracer();
  t->limit = count;
  {
    std::lock_guard lock(impl_->tracers_mutex_);
    impl_->tracers_.emplace_back(t);
  }
  detail::tracer* expected = nullptr;
  if (!c->tracer_.compare_exchange_strong(expected, t, std::memory_order_acq_rel)) return {};  // already traced
  std::vector<trace_event> out;
  {
    std::unique_lock lock(t->mutex);
    t->cv.wait_for(lock, timeout, [&] { return t->events.size() >= t->limit || c->closed(); });
    t->active.store(false, std::memory_order_release);
    out = t->events;
  }
  c->tracer_.store(nullptr, std::memory_order_release);
  return out;
}

void runtime::set_restart_count(const pid& who, std::uint32_t restarts) {
  if (who) detail::as_cell(who)->restarts_.store(restarts, std::memory_order_relaxed);
}

std::string_view to_string(actor_status s) {
  switch (s) {
    case actor_status::runnable:
      return "runnable";
    case actor_status::running:
      return "running";
    case actor_status::waiting:
      return "waiting";
    case actor_status::receiving:
      return "receiving";
    case actor_status::exiting:
      return "exiting";
    case actor_status::dead:
      return "dead";
  }
  return "unknown";
}

}  // namespace weft
