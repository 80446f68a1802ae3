#pragma once
// weft::sup — supervisors: actors that start, watch, restart and stop
// other actors, with OTP's semantics (docs/guide/supervision.md).
//
//   user code                               the supervisor actor
//   ---------                               --------------------
//   sup::start(rt, spec) / start_link ----> starts children in order, each
//                                           start function synchronously;
//                                           one fails: stops the started
//                                           ones in reverse, start fails
//                                           with a reason naming the child
//   a child exits ------------------------> restart type says whether to
//                                           restart; intensity says whether
//                                           it may; strategy says which
//                                           children go with it; backoff
//                                           says when
//   too many restarts --------------------> stops all children (reverse
//                                           order), exits `shutdown`: the
//                                           parent supervisor applies its
//                                           own policy (escalation)
//   s.which_children(self) /                answered between child exits
//   s.start_child(self, spec) / ... -------> (requests queue behind a
//                                           restart in progress)
//   parent exits, runtime shuts down -----> stops children, reverse order,
//                                           then exits
//
// Design: the supervisor is a handler-style actor with exit trapping on
// from its spawn. Handler style because a supervisor spends its life idle
// and a tree may hold thousands of them: between messages it holds no
// fiber stack, only its state. Its handlers block (and then keep a fiber)
// only while they wait on a child: the shutdown protocol waiting for a
// `down`, a child supervisor's start waiting for that supervisor's init.
// Everything a supervisor does happens in its own actor, one message at a
// time, so its state needs no locks.
//
// Exit signals a supervisor obeys: from its parent (the actor that called
// start_link), and from no actor (runtime::exit, runtime shutdown). Exit
// signals from other actors that are not its current children are ignored,
// as in OTP; use sup::stop() or the parent's terminate_child to stop one.
// After runtime::is_stopping() it restarts nothing.
//
// Its mailbox is unbounded (an explicit choice): a supervisor must never
// lose its own restart timers or block on itself, and its inbound traffic
// is control traffic.
//
// Reports (child started, exited, restarted, stopped, backoff scheduled,
// start failed, intensity exceeded) go to runtime::events() (source
// "supervisor"), whose hook can forward them to a logger. Nothing is
// printed; sup::summary() condenses the counters into one line.
//
// Client API: sup::start / start_link return a sup::supervisor handle
// whose members are the operations; each takes the caller's context (an
// actor's, or a scoped_actor's on a thread) and is an ask with a timeout,
// so a dead or stuck supervisor yields an error, never a hang.

#include <weft/runtime/context.hpp>
#include <weft/runtime/error.hpp>
#include <weft/runtime/event_log.hpp>
#include <weft/runtime/expected.hpp>
#include <weft/runtime/messages.hpp>
#include <weft/runtime/pid.hpp>
#include <weft/supervisor/backoff.hpp>
#include <weft/supervisor/child_spec.hpp>
#include <weft/supervisor/restart_intensity.hpp>

#include <any>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace weft {
class runtime;
}

namespace weft::sup {

enum class restart_strategy : std::uint8_t {
  one_for_one,   // restart the child that exited
  one_for_all,   // stop the others (reverse start order), restart all in order
  rest_for_one,  // stop the children started after it, restart them in order
  dynamic,       // one child template, many children started at run time
                 // with arguments (OTP's simple_one_for_one); one_for_one
                 // restarts, and they are stopped in parallel
};
std::string_view to_string(restart_strategy);

// "Start a supervisor like this": its flags and its children, which may
// themselves be supervisors (as_child), so one expression describes a tree.
struct supervisor_spec {
  std::string id = "supervisor";
  restart_strategy strategy = restart_strategy::one_for_one;
  // Restart intensity (restart_intensity.hpp): more than max_restarts
  // restarts within max_window and the supervisor gives up. OTP's
  // defaults (1 in 5 s); see the guide for choosing them.
  std::uint32_t max_restarts = 1;
  std::chrono::nanoseconds max_window = std::chrono::seconds(5);
  // Static strategies: started in this order. dynamic: exactly one spec,
  // the template.
  std::vector<child_spec> children{};
  // Registers the supervisor itself (empty: none).
  std::string name{};
  // How long start()/start_link() wait for the tree below to start.
  std::chrono::nanoseconds start_timeout = std::chrono::hours(24);
  // Hooks for tests: the clock of restart intensity and backoff uptime,
  // and the uniform [0, 1) source of backoff jitter. Unset: the runtime's
  // clock (runtime_options::clock, which also times the backoff delays)
  // and a per-supervisor PRNG. Called inside the supervisor actor only.
  std::function<std::chrono::steady_clock::time_point()> clock{};
  std::function<double()> random{};
};

// A supervisor as a child of another supervisor (type supervisor, shutdown
// infinity unless overridden, the spec's name).
child_spec as_child(supervisor_spec spec, restart_type restart = restart_type::permanent);

inline constexpr std::chrono::seconds default_call_timeout{30};

// What the supervisor operations fail with (error_category::supervisor;
// an unreachable supervisor fails with the ask's own error instead:
// ask_errc::timeout, no_actor, ...).
enum class errc : std::uint8_t {
  not_found = 1,    // no child with that id (or pid)
  running,          // the child is running (restart_child, delete_child, start_child of a present id)
  already_present,  // start_child: a child with that id exists and is not running
  start_failed,     // the start function failed, or the supervisor did not start: see the detail
  not_supported,    // the operation does not apply to this strategy
};
std::string_view to_string(errc e) noexcept;

enum class child_state : std::uint8_t {
  running,     // has a pid
  restarting,  // waiting for a backoff delay or a retry of a failed start
  stopped,     // not running: terminate_child, ignore, transient exit
};
std::string_view to_string(child_state);

struct child_info {
  std::string id{};
  pid who{};  // empty unless running
  child_type type = child_type::worker;
  restart_type restart = restart_type::permanent;
  child_state state = child_state::stopped;
  std::uint32_t restarts = 0;  // times this child was restarted after exiting
};

struct child_counts {
  std::size_t specs = 0;
  std::size_t active = 0;  // running
  std::size_t supervisors = 0;
  std::size_t workers = 0;
};

// A running supervisor: its pid, and the operations it answers. Each
// operation is an ask from `caller` (an actor's context, or a
// scoped_actor on a thread) with a timeout, so a dead or stuck supervisor
// yields an error, never a hang. Copyable; the operations are const and
// callable by any caller that owns its context.
class supervisor {
 public:
  supervisor() = default;
  // The supervisor behind a pid (e.g. a child_info's `who` of type
  // supervisor); no_actor or wrong_protocol if it is not one.
  static expected<supervisor> from(const pid& who);

  const pid& id() const noexcept { return pid_; }
  operator const pid&() const noexcept { return pid_; }  // NOLINT(google-explicit-constructor)
  explicit operator bool() const noexcept { return static_cast<bool>(pid_); }
  friend bool operator==(const supervisor&, const supervisor&) = default;

  expected<std::vector<child_info>> which_children(context& caller,
                                                   std::chrono::nanoseconds timeout = default_call_timeout) const;
  expected<child_counts> count_children(context& caller, std::chrono::nanoseconds timeout = default_call_timeout) const;

  // Static strategies: adds and starts a child after the existing ones;
  // its pid (empty if its start function said ignore).
  expected<pid> start_child(context& caller, child_spec spec,
                            std::chrono::nanoseconds timeout = default_call_timeout) const;
  // dynamic: starts one more child of the template with `args` (child_args()).
  expected<pid> start_child(context& caller, std::any args,
                            std::chrono::nanoseconds timeout = default_call_timeout) const;

  // Stops a child with its shutdown protocol and does not restart it.
  // Static: by id (the spec stays, but a temporary child's is deleted);
  // dynamic: by pid (the child is forgotten).
  expected<void> terminate_child(context& caller, std::string child_id,
                                 std::chrono::nanoseconds timeout = default_call_timeout) const;
  expected<void> terminate_child(context& caller, const pid& child,
                                 std::chrono::nanoseconds timeout = default_call_timeout) const;

  // Static strategies: starts a stopped child again / forgets a stopped one.
  expected<pid> restart_child(context& caller, std::string child_id,
                              std::chrono::nanoseconds timeout = default_call_timeout) const;
  expected<void> delete_child(context& caller, std::string child_id,
                              std::chrono::nanoseconds timeout = default_call_timeout) const;

  // Stops the supervisor: its children (reverse order), then itself (reason
  // normal). Answers once the children are gone. A supervisor that is itself
  // a permanent child is then restarted by its parent: stop a subtree with
  // the parent's terminate_child instead.
  expected<void> stop(context& caller, std::chrono::nanoseconds timeout = default_call_timeout) const;

 private:
  explicit supervisor(pid p) : pid_(std::move(p)) {}
  friend expected<supervisor> start_link(context& self, supervisor_spec spec);
  friend expected<supervisor> start(runtime& rt, supervisor_spec spec);
  pid pid_;
};

// Starts a supervisor (and, synchronously, everything below it). From an
// actor: linked to the caller, which becomes its parent (its exit stops
// the supervisor). A failed start leaves nothing running, does not send
// the caller an exit signal, and fails with errc::start_failed naming the
// supervisor and the child.
expected<supervisor> start_link(context& self, supervisor_spec spec);
// From outside any actor: unlinked; runtime shutdown stops it, children first.
expected<supervisor> start(runtime& rt, supervisor_spec spec);

// -- reports ---------------------------------------------------------------

// The kinds recorded in runtime::events() with source "supervisor".
namespace event_kind {
inline constexpr std::string_view child_started = "child_started";
inline constexpr std::string_view child_exited = "child_exited";
inline constexpr std::string_view child_restarted = "child_restarted";
inline constexpr std::string_view child_stopped = "child_stopped";
inline constexpr std::string_view start_failed = "start_failed";
inline constexpr std::string_view backoff_scheduled = "backoff_scheduled";
inline constexpr std::string_view intensity_exceeded = "intensity_exceeded";
}  // namespace event_kind
inline constexpr std::string_view event_source = "supervisor";

// One line: how many of each supervisor event were ever recorded, e.g.
// "supervisor events: child_started=12 child_exited=3 child_restarted=3".
std::string summary(const event_log& log);

namespace detail {
std::string_view errc_name(int code) noexcept;
inline constexpr error_domain domain{error_category::supervisor, &errc_name};
}  // namespace detail

}  // namespace weft::sup

template <>
struct weft::error_code_traits<weft::sup::errc> {
  static constexpr const error_domain* domain = &weft::sup::detail::domain;
};
