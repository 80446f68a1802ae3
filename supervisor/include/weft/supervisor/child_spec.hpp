#pragma once
// weft::sup::child_spec — how a supervisor starts, restarts and stops one
// child.
//
//   field     meaning                                        default
//   -----     -------                                        -------
//   id        unique among the supervisor's children          (required)
//   start     start_result(child_starter&): runs inside the   (required)
//             supervisor, synchronously; returns the child's
//             pid (linked to the supervisor), ignore, or an
//             error. An exception counts as an error.
//   restart   permanent: always restarted                     permanent
//             transient: only after an abnormal exit (not
//               normal, not shutdown)
//             temporary: never, not even when a sibling's
//               failure stopped it (one_for_all, rest_for_one)
//   shutdown  brutal_kill: exit(kill) at once                  5 s (worker),
//             timeout(t): exit(shutdown), kill after t         infinity
//             infinity:   exit(shutdown), wait forever         (supervisor)
//   type      worker or supervisor                             worker
//   name      registered name; after a restart it resolves     none
//             to the new child (child_starter::spawn_link
//             registers it atomically with the spawn)
//   backoff   restart with exponential backoff (backoff.hpp)   none: at once
//
// Hazards: `infinity` on a worker lets a child that ignores `shutdown`
// hang its supervisor's stop (and every ancestor's) forever; keep it for
// supervisors, whose own children have finite timeouts. A start function
// must link the child to the supervisor (child_starter::spawn_link does);
// an unlinked child's crash goes unnoticed.
//
// A child that crashes during its initialization: spawn_link returns at
// once (weft does not wait for a child's init as OTP's start_link does),
// so an early crash is an ordinary exit, counted against the restart
// intensity. A start function that must wait for readiness can ask the
// new child before returning (it runs inside the supervisor's actor).

#include <weft/runtime/context.hpp>
#include <weft/runtime/exit_reason.hpp>
#include <weft/runtime/options.hpp>
#include <weft/runtime/pid.hpp>
#include <weft/supervisor/backoff.hpp>

#include <any>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace weft::sup {

enum class restart_type : std::uint8_t { permanent, transient, temporary };
enum class child_type : std::uint8_t { worker, supervisor };
std::string_view to_string(restart_type);
std::string_view to_string(child_type);

// Whether a child that exited with `reason` is restarted (pure policy).
bool should_restart(restart_type type, const exit_reason& reason) noexcept;

class shutdown_spec {
 public:
  enum class mode : std::uint8_t { brutal_kill, timeout, infinity };
  static shutdown_spec brutal_kill() { return shutdown_spec(mode::brutal_kill, {}); }
  static shutdown_spec timeout(std::chrono::nanoseconds t) { return shutdown_spec(mode::timeout, t); }
  static shutdown_spec infinity() { return shutdown_spec(mode::infinity, {}); }

  mode how() const noexcept { return mode_; }
  std::chrono::nanoseconds grace() const noexcept { return timeout_; }
  std::string to_string() const;

 private:
  shutdown_spec(mode m, std::chrono::nanoseconds t) : mode_(m), timeout_(t) {}
  mode mode_;
  std::chrono::nanoseconds timeout_;
};

inline constexpr std::chrono::seconds default_worker_shutdown{5};

// What a start function returns.
class start_result {
 public:
  enum class kind : std::uint8_t { started, ignored, failed };
  // An empty pid is a failure (the runtime refused the spawn: it is stopping).
  start_result(pid child)  // NOLINT(google-explicit-constructor): returning the pid reads naturally
      : kind_(child ? kind::started : kind::failed), child_(std::move(child)) {
    if (kind_ == kind::failed) error_ = "the start function returned no pid (is the runtime stopping?)";
  }
  static start_result ignore() { return start_result(kind::ignored, {}); }
  static start_result error(std::string why) { return start_result(kind::failed, std::move(why)); }

  kind outcome() const noexcept { return kind_; }
  const pid& child() const noexcept { return child_; }
  const std::string& error_text() const noexcept { return error_; }

 private:
  start_result(kind k, std::string error) : kind_(k), error_(std::move(error)) {}
  kind kind_;
  pid child_;
  std::string error_;
};

struct child_spec;

// What a start function gets: the supervisor's context (start functions
// run inside the supervisor actor), the spec being started, and for a
// dynamic supervisor's children the arguments given to start_child.
// Owner: the supervisor actor, for the duration of the start call.
class child_starter {
 public:
  child_starter(context& supervisor, const child_spec& spec, const std::any& args) noexcept
      : self_(supervisor), spec_(spec), args_(args) {}

  context& self() noexcept { return self_; }
  const child_spec& spec() const noexcept { return spec_; }
  const std::any& args() const noexcept { return args_; }

  // Spawns the child linked to the supervisor, registered under the spec's
  // name (unless options name another) and labelled with its id.
  template <class F>
  pid spawn_link(F&& fn, spawn_options options = {});

 private:
  context& self_;
  const child_spec& spec_;
  const std::any& args_;
};

using start_function = std::function<start_result(child_starter&)>;

struct child_spec {
  std::string id{};
  start_function start{};
  restart_type restart = restart_type::permanent;
  std::optional<shutdown_spec> shutdown{};  // unset: by type (table above)
  child_type type = child_type::worker;
  std::string name{};
  std::optional<backoff_policy> backoff{};

  shutdown_spec effective_shutdown() const {
    if (shutdown) return *shutdown;
    return type == child_type::supervisor ? shutdown_spec::infinity() : shutdown_spec::timeout(default_worker_shutdown);
  }
};

template <class F>
pid child_starter::spawn_link(F&& fn, spawn_options options) {
  if (options.name.empty()) options.name = spec_.name;
  if (options.label.empty()) options.label = spec_.id;
  return self_.spawn_link(std::forward<F>(fn), std::move(options));
}

// The optional fields of worker() and dynamic_worker().
struct child_options {
  restart_type restart = restart_type::permanent;
  std::optional<shutdown_spec> shutdown{};
  std::string name{};
  std::optional<backoff_policy> backoff{};
  spawn_options spawn{};  // mailbox, stack, ...; name/label are filled in
};

// A worker whose start spawns `fn` (an actor function, either style).
template <class F>
child_spec worker(std::string id, F fn, child_options options = {}) {
  spawn_options spawn = options.spawn;
  return child_spec{
      .id = std::move(id),
      .start = [fn = std::move(fn), spawn](child_starter& s) -> start_result { return s.spawn_link(fn, spawn); },
      .restart = options.restart,
      .shutdown = options.shutdown,
      .type = child_type::worker,
      .name = std::move(options.name),
      .backoff = options.backoff,
  };
}

// Arguments for a dynamic supervisor's start_child: a std::tuple of the
// decayed values (pass std::string, not a string literal, for a string).
template <class... Args>
std::any child_args(Args&&... args) {
  return std::any(std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...));
}

// The child template of a dynamic supervisor: each start_child(args)
// spawns fn(context&, Args...) with its own arguments; a restart reuses
// them. Arguments of another type fail that start with an error.
template <class... Args, class F>
child_spec dynamic_worker(std::string id, F fn, child_options options = {}) {
  spawn_options spawn = options.spawn;
  return child_spec{
      .id = std::move(id),
      .start = [fn = std::move(fn), spawn](child_starter& s) -> start_result {
        const auto* tuple = std::any_cast<std::tuple<Args...>>(&s.args());
        if (tuple == nullptr) {
          return start_result::error("dynamic child '" + s.spec().id +
                                     "': start_child arguments do not match the spec's argument types");
        }
        return s.spawn_link(
            [fn, args = *tuple](context& self) mutable {
              return std::apply([&](Args&... a) { return fn(self, a...); }, args);
            },
            spawn);
      },
      .restart = options.restart,
      .shutdown = options.shutdown,
      .type = child_type::worker,
      .name = std::move(options.name),
      .backoff = options.backoff,
  };
}

}  // namespace weft::sup
