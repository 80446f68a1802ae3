// The client side: starting supervisors and asking them for operations,
// from an actor (context&) or from a thread (runtime&). Every call is an
// ask with a timeout.

#include "protocol.hpp"
#include "supervisor_core.hpp"

#include <weft/runtime/runtime.hpp>

#include <fmt/format.h>

#include <exception>

namespace weft::sup {

std::string_view to_string(restart_strategy s) {
  switch (s) {
    case restart_strategy::one_for_one:
      return "one_for_one";
    case restart_strategy::one_for_all:
      return "one_for_all";
    case restart_strategy::rest_for_one:
      return "rest_for_one";
    case restart_strategy::dynamic:
      return "dynamic";
  }
  return "unknown";
}

std::string_view to_string(child_state s) {
  switch (s) {
    case child_state::running:
      return "running";
    case child_state::restarting:
      return "restarting";
    case child_state::stopped:
      return "stopped";
  }
  return "unknown";
}

std::string_view to_string(op_status s) {
  switch (s) {
    case op_status::ok:
      return "ok";
    case op_status::not_found:
      return "not_found";
    case op_status::running:
      return "running";
    case op_status::already_present:
      return "already_present";
    case op_status::start_failed:
      return "start_failed";
    case op_status::not_supported:
      return "not_supported";
    case op_status::unreachable:
      return "unreachable";
  }
  return "unknown";
}

namespace {

spawn_options supervisor_spawn_options(const supervisor_spec& spec) {
  spawn_options o;
  o.trap_exit = true;              // from the first instruction: no child exit can kill it
  o.mailbox_capacity = unbounded;  // supervisor.hpp: timers and self-sends must never be lost or block
  o.name = spec.name;
  o.label = "supervisor " + spec.id;
  return o;
}

// Spawns with `spawn` and waits for the supervisor's init through `asker`
// (a context or a runtime); `abandon` gets rid of one that never answers.
template <class Asker, class Spawn, class Abandon>
start_outcome start_with(Asker& asker, supervisor_spec spec, pid parent, Spawn spawn, Abandon abandon) {
  const std::string id = spec.id;
  const auto timeout = spec.start_timeout;
  spawn_options options = supervisor_spawn_options(spec);
  auto core = std::make_shared<detail::supervisor_core>(std::move(spec), std::move(parent));
  pid sup;
  try {
    sup = spawn([core = std::move(core)](context& self) { return core->run(self); }, std::move(options));
  } catch (const std::exception& e) {
    return {{}, fmt::format("supervisor '{}': cannot spawn it: {}", id, e.what())};
  }
  if (!sup) return {{}, fmt::format("supervisor '{}': cannot spawn it: the runtime is stopping", id)};
  result<detail::start_reply> reply = asker.template ask<detail::start_reply>(sup, detail::await_start{}, timeout);
  if (!reply) {
    abandon(sup);
    return {{}, fmt::format("supervisor '{}' did not confirm its start: {}", id, to_string(reply.error()))};
  }
  if (!reply->ok) return {{}, std::move(reply->error)};
  return {std::move(sup), {}};
}

op_result unreachable(const pid& sup, const error& e) {
  return {op_status::unreachable, {}, fmt::format("supervisor {} did not answer: {}", sup.to_string(), to_string(e))};
}

template <class Asker, class M>
op_result call(Asker& asker, const pid& sup, M message, std::chrono::nanoseconds timeout) {
  result<op_result> r = asker.template ask<op_result>(sup, std::move(message), timeout);
  if (!r) return unreachable(sup, r.error());
  return std::move(*r);
}

}  // namespace

start_outcome start_link(context& self, supervisor_spec spec) {
  return start_with(
      self, std::move(spec), self.self(),
      [&](auto fn, spawn_options o) { return self.spawn_link(std::move(fn), std::move(o)); },
      [&](const pid& sup) {
        self.unlink(sup);
        self.exit(sup, exit_reason::kill());
      });
}

start_outcome start(runtime& rt, supervisor_spec spec) {
  return start_with(
      rt, std::move(spec), pid(), [&](auto fn, spawn_options o) { return rt.spawn(std::move(fn), std::move(o)); },
      [&](const pid& sup) { rt.exit(sup, exit_reason::kill()); });
}

child_spec as_child(supervisor_spec spec, restart_type restart) {
  child_spec c;
  c.id = spec.id;
  c.name = spec.name;
  c.type = child_type::supervisor;
  c.restart = restart;
  auto shared = std::make_shared<const supervisor_spec>(std::move(spec));
  c.start = [shared](child_starter& s) -> start_result {
    start_outcome outcome = start_link(s.self(), *shared);
    if (!outcome) return start_result::error(std::move(outcome.error));
    return outcome.supervisor;
  };
  return c;
}

// -- operations --------------------------------------------------------------

namespace {
template <class Asker>
result<std::vector<child_info>> which_children_impl(Asker& a, const pid& sup, std::chrono::nanoseconds timeout) {
  return a.template ask<std::vector<child_info>>(sup, detail::which_children_request{}, timeout);
}
template <class Asker>
result<child_counts> count_children_impl(Asker& a, const pid& sup, std::chrono::nanoseconds timeout) {
  return a.template ask<child_counts>(sup, detail::count_children_request{}, timeout);
}
}  // namespace

result<std::vector<child_info>> which_children(context& self, const pid& sup, std::chrono::nanoseconds timeout) {
  return which_children_impl(self, sup, timeout);
}
result<std::vector<child_info>> which_children(runtime& rt, const pid& sup, std::chrono::nanoseconds timeout) {
  return which_children_impl(rt, sup, timeout);
}
result<child_counts> count_children(context& self, const pid& sup, std::chrono::nanoseconds timeout) {
  return count_children_impl(self, sup, timeout);
}
result<child_counts> count_children(runtime& rt, const pid& sup, std::chrono::nanoseconds timeout) {
  return count_children_impl(rt, sup, timeout);
}

op_result start_child(context& self, const pid& sup, child_spec spec, std::chrono::nanoseconds timeout) {
  return call(self, sup, detail::start_child_request{std::move(spec)}, timeout);
}
op_result start_child(runtime& rt, const pid& sup, child_spec spec, std::chrono::nanoseconds timeout) {
  return call(rt, sup, detail::start_child_request{std::move(spec)}, timeout);
}
op_result start_child(context& self, const pid& sup, std::any args, std::chrono::nanoseconds timeout) {
  return call(self, sup, detail::start_dynamic_request{std::move(args)}, timeout);
}
op_result start_child(runtime& rt, const pid& sup, std::any args, std::chrono::nanoseconds timeout) {
  return call(rt, sup, detail::start_dynamic_request{std::move(args)}, timeout);
}
op_result terminate_child(context& self, const pid& sup, std::string id, std::chrono::nanoseconds timeout) {
  return call(self, sup, detail::terminate_child_request{std::move(id), {}}, timeout);
}
op_result terminate_child(runtime& rt, const pid& sup, std::string id, std::chrono::nanoseconds timeout) {
  return call(rt, sup, detail::terminate_child_request{std::move(id), {}}, timeout);
}
op_result terminate_child(context& self, const pid& sup, const pid& child, std::chrono::nanoseconds timeout) {
  return call(self, sup, detail::terminate_child_request{{}, child}, timeout);
}
op_result terminate_child(runtime& rt, const pid& sup, const pid& child, std::chrono::nanoseconds timeout) {
  return call(rt, sup, detail::terminate_child_request{{}, child}, timeout);
}
op_result restart_child(context& self, const pid& sup, std::string id, std::chrono::nanoseconds timeout) {
  return call(self, sup, detail::restart_child_request{std::move(id)}, timeout);
}
op_result restart_child(runtime& rt, const pid& sup, std::string id, std::chrono::nanoseconds timeout) {
  return call(rt, sup, detail::restart_child_request{std::move(id)}, timeout);
}
op_result delete_child(context& self, const pid& sup, std::string id, std::chrono::nanoseconds timeout) {
  return call(self, sup, detail::delete_child_request{std::move(id)}, timeout);
}
op_result delete_child(runtime& rt, const pid& sup, std::string id, std::chrono::nanoseconds timeout) {
  return call(rt, sup, detail::delete_child_request{std::move(id)}, timeout);
}
op_result stop(context& self, const pid& sup, std::chrono::nanoseconds timeout) {
  return call(self, sup, detail::stop_request{}, timeout);
}
op_result stop(runtime& rt, const pid& sup, std::chrono::nanoseconds timeout) {
  return call(rt, sup, detail::stop_request{}, timeout);
}

}  // namespace weft::sup
