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

std::string_view to_string(errc e) noexcept {
  switch (e) {
    case errc::not_found:
      return "not_found";
    case errc::running:
      return "running";
    case errc::already_present:
      return "already_present";
    case errc::start_failed:
      return "start_failed";
    case errc::not_supported:
      return "not_supported";
  }
  return "unknown";
}

namespace detail {
std::string_view errc_name(int code) noexcept { return to_string(static_cast<errc>(code)); }
}  // namespace detail

namespace {

spawn_options supervisor_spawn_options(const supervisor_spec& spec) {
  spawn_options o;
  o.trap_exit = true;              // from the first instruction: no child exit can kill it
  o.mailbox_capacity = unbounded;  // supervisor.hpp: timers and self-sends must never be lost or block
  o.name = spec.name;
  o.label = "supervisor " + spec.id;
  return o;
}

// The supervisor actor: handler style, its requests described by
// detail::protocol so that supervisor::from() can check a pid.
struct supervisor_body final : weft::detail::actor_body {
  explicit supervisor_body(std::shared_ptr<detail::supervisor_core> c) : core(std::move(c)) {}
  bool handler_style() const noexcept override { return true; }
  const weft::detail::protocol_info* protocol() const noexcept override {
    return &weft::detail::protocol_info_of<detail::protocol>;
  }
  behavior init(context& self) override { return core->run(self); }
  std::shared_ptr<detail::supervisor_core> core;
};

struct supervisor_definition {
  using protocol_type = untyped;
  std::shared_ptr<detail::supervisor_core> core;
  std::unique_ptr<weft::detail::actor_body> make_body() const { return std::make_unique<supervisor_body>(core); }
};

// Spawns with `spawn` and waits for the supervisor's init through `caller`;
// `abandon` gets rid of one that never answers.
template <class Spawn, class Abandon>
expected<supervisor> start_with(context& caller, supervisor_spec spec, pid parent, Spawn spawn, Abandon abandon,
                                supervisor (*make)(pid)) {
  const std::string id = spec.id;
  const auto timeout = spec.start_timeout;
  spawn_options options = supervisor_spawn_options(spec);
  auto core = std::make_shared<detail::supervisor_core>(std::move(spec), std::move(parent));
  pid sup;
  try {
    sup = spawn(supervisor_definition{std::move(core)}, std::move(options));
  } catch (const std::exception& e) {
    return error(errc::start_failed, fmt::format("supervisor '{}': cannot spawn it: {}", id, e.what()));
  }
  if (!sup) return error(errc::start_failed, fmt::format("supervisor '{}': cannot spawn it: the runtime is stopping", id));
  expected<detail::start_reply> reply = caller.ask<detail::start_reply>(sup, detail::await_start{}, timeout);
  if (!reply) {
    abandon(sup);
    return error(errc::start_failed, fmt::format("supervisor '{}' did not confirm its start: {}", id, reply.error()));
  }
  if (!reply->ok) return error(errc::start_failed, std::move(reply->error));
  return make(std::move(sup));
}

}  // namespace

expected<supervisor> start_link(context& self, supervisor_spec spec) {
  return start_with(
      self, std::move(spec), self.self(),
      [&](supervisor_definition d, spawn_options o) { return self.spawn_link(std::move(d), std::move(o)); },
      [&](const pid& sup) {
        self.unlink(sup);
        self.exit(sup, exit_reason::kill());
      },
      [](pid p) { return supervisor(std::move(p)); });
}

expected<supervisor> start(runtime& rt, supervisor_spec spec) {
  scoped_actor caller(rt);
  return start_with(
      caller, std::move(spec), pid(),
      [&](supervisor_definition d, spawn_options o) { return rt.spawn(std::move(d), std::move(o)); },
      [&](const pid& sup) { caller.exit(sup, exit_reason::kill()); }, [](pid p) { return supervisor(std::move(p)); });
}

child_spec as_child(supervisor_spec spec, restart_type restart) {
  child_spec c;
  c.id = spec.id;
  c.name = spec.name;
  c.type = child_type::supervisor;
  c.restart = restart;
  auto shared = std::make_shared<const supervisor_spec>(std::move(spec));
  c.start = [shared](child_starter& s) -> start_result {
    expected<supervisor> started = start_link(s.self(), *shared);
    if (!started) return start_result::error(std::string(started.error().detail()));
    return started->id();
  };
  return c;
}

// -- operations --------------------------------------------------------------

expected<supervisor> supervisor::from(const pid& who) {
  auto checked = ref_cast<detail::protocol>(who);
  if (!checked) return std::move(checked).error();
  return supervisor(who);
}

expected<std::vector<child_info>> supervisor::which_children(context& caller, std::chrono::nanoseconds timeout) const {
  return caller.ask<std::vector<child_info>>(pid_, detail::which_children_request{}, timeout);
}
expected<child_counts> supervisor::count_children(context& caller, std::chrono::nanoseconds timeout) const {
  return caller.ask<child_counts>(pid_, detail::count_children_request{}, timeout);
}
expected<pid> supervisor::start_child(context& caller, child_spec spec, std::chrono::nanoseconds timeout) const {
  return caller.ask<pid>(pid_, detail::start_child_request{std::move(spec)}, timeout);
}
expected<pid> supervisor::start_child(context& caller, std::any args, std::chrono::nanoseconds timeout) const {
  return caller.ask<pid>(pid_, detail::start_dynamic_request{std::move(args)}, timeout);
}
expected<void> supervisor::terminate_child(context& caller, std::string child_id,
                                           std::chrono::nanoseconds timeout) const {
  return caller.ask<void>(pid_, detail::terminate_child_request{std::move(child_id), {}}, timeout);
}
expected<void> supervisor::terminate_child(context& caller, const pid& child, std::chrono::nanoseconds timeout) const {
  return caller.ask<void>(pid_, detail::terminate_child_request{{}, child}, timeout);
}
expected<pid> supervisor::restart_child(context& caller, std::string child_id, std::chrono::nanoseconds timeout) const {
  return caller.ask<pid>(pid_, detail::restart_child_request{std::move(child_id)}, timeout);
}
expected<void> supervisor::delete_child(context& caller, std::string child_id, std::chrono::nanoseconds timeout) const {
  return caller.ask<void>(pid_, detail::delete_child_request{std::move(child_id)}, timeout);
}
expected<void> supervisor::stop(context& caller, std::chrono::nanoseconds timeout) const {
  return caller.ask<void>(pid_, detail::stop_request{}, timeout);
}

}  // namespace weft::sup
