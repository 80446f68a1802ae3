#pragma once
// weft::actors::pg — process groups (OTP's `pg`): named groups of actors,
// in independent scopes, with membership readable from any thread and
// changes delivered to watchers as messages.
//
//   caller                           scope actor                    any thread
//   ------                           -----------                    ----------
//   s.join(self, "g", pid) --------> records it (a pid may join a   s.get_members("g")
//                                    group several times); monitors s.which_groups()
//                                    the pid (once, however many     (read the scope's
//                                    groups); writes the shared      table under a shared
//                                    table; tells the watchers       lock: no message)
//   s.leave(self, "g", pid) -------> one membership fewer; a group
//                                    left empty is removed
//   s.monitor(self, "g") ----------> answers the members now; from
//   s.monitor_scope(self)            then on sends the caller
//                                    group_change{joined|left} ---> (the watcher)
//   a member or watcher exits -----> its memberships and watches go
//                                    (one monitor per pid covers
//                                    both); watchers are told `left`
//
// Membership lives in the scope's actor, and a copy of it in a table that
// any thread reads under a shared lock (OTP reads its ETS table the same
// way): reads never wait for the scope's mailbox, writes are answered
// once the table shows them.
//
// Local and global: weft has no distribution yet, so every member is
// local and get_members == get_local_members, which_groups ==
// which_local_groups. Code that means "on this runtime" should still call
// the local variants: they keep their meaning once scopes span nodes.
//
// Restarts: a scope may be supervised (child_spec). The handle, and every
// copy, follows the restarted actor, and the members survive: the new
// actor rebuilds its state from the table and monitors the members again
// (one that exited meanwhile is removed at once). Watches do not survive:
// a watcher that must outlive a restart monitors s.actor() and watches
// again (OTP's pg loses both).
//
// Hazard: the scope sends group_change with try_send, so that a slow
// watcher never stalls the scope; a watcher whose mailbox is full misses
// it (counted in scope_stats::notifications_refused). Give watchers room
// (an unbounded mailbox, or one sized for the churn they watch).
//
// Who may call what: start/start_link/child_spec and the read members,
// any thread; join/leave/monitor/demonitor/stats take the caller's
// context (an actor, or a thread's scoped_actor) and ask the scope.

#include <weft/actors/detail/instance_slot.hpp>
#include <weft/runtime/behavior.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/error.hpp>
#include <weft/runtime/expected.hpp>
#include <weft/runtime/pid.hpp>
#include <weft/runtime/runtime.hpp>
#include <weft/supervisor/child_spec.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace weft::actors::pg {

// What the scope calls fail with (besides the ask's own errors when the
// scope is unreachable: ask_errc::no_actor, timeout, ...).
enum class errc : std::uint8_t {
  not_joined = 1,   // leave: a pid is not (that many times) a member; nothing changed
  invalid_group,    // an empty group name
  invalid_member,   // join/leave: an empty pid, or no pid at all
  not_watching,     // demonitor: no such watch of the caller
  already_running,  // start: this scope's actor runs already
};
std::string_view to_string(errc e) noexcept;

namespace detail {
std::string_view errc_name(int code) noexcept;
inline constexpr error_domain domain{error_category::actors, &errc_name};
}  // namespace detail

}  // namespace weft::actors::pg

template <>
struct weft::error_code_traits<weft::actors::pg::errc> {
  static constexpr const error_domain* domain = &weft::actors::pg::detail::domain;
};

namespace weft::actors::pg {

struct scope_options {
  // Registered name of the scope's actor (empty: none); scope::find looks
  // a scope up by it.
  std::string name{};
};

// Identifies one watch (monitor or monitor_scope), to match its
// notifications and to cancel it.
struct watch_ref {
  std::uint64_t value = 0;
  explicit operator bool() const noexcept { return value != 0; }
  friend bool operator==(watch_ref, watch_ref) = default;
};

// Sent to a watcher for each join or leave it watches. A typed actor may
// handle it without listing it in its protocol, like down_msg (it is what
// a watch delivers).
struct group_change {
  enum class kind : std::uint8_t { joined, left };
  watch_ref ref{};
  kind what = kind::joined;
  std::string group{};
  // Who joined or left, once per membership (a pid that joined twice and
  // exits is listed twice).
  std::vector<pid> members{};
};

// monitor_scope's answer: the watch, and every group's members when it
// began (later changes arrive as group_change).
struct scope_watch {
  watch_ref ref{};
  std::map<std::string, std::vector<pid>> groups{};
};
// monitor's answer: the watch, and the group's members when it began.
struct group_watch {
  watch_ref ref{};
  std::vector<pid> members{};
};

struct scope_stats {
  std::size_t groups = 0;         // groups with at least one member
  std::size_t memberships = 0;    // (group, pid) joins, counted with repetition
  std::size_t members = 0;        // distinct member pids
  std::size_t scope_watches = 0;  // monitor_scope watches
  std::size_t group_watches = 0;  // monitor(group) watches
  std::size_t monitors = 0;       // runtime monitors the scope holds: one per pid that is a member or a watcher
  std::uint64_t notifications_sent = 0;
  std::uint64_t notifications_refused = 0;  // a watcher's full mailbox refused one (it missed it)
};

namespace detail {

// What a scope's handles share: the running instance and the table any
// thread reads. The table is written by the scope's actor only, under
// the exclusive lock.
struct scope_shared {
  explicit scope_shared(scope_options o) : options(std::move(o)) {}
  const scope_options options;
  actors::detail::instance_slot slot;
  mutable std::shared_mutex mutex;
  struct name_hash {
    using is_transparent = void;  // lookups by string_view allocate nothing
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::vector<pid>, name_hash, std::equal_to<>> groups;  // never an empty vector
};

}  // namespace detail

// A scope's handle: made before its actor runs (start it, or give its
// child_spec to a supervisor); copies share the running instance, also
// across restarts.
class scope {
 public:
  explicit scope(scope_options options = {});

  // -- any thread: running it (one instance at a time) ----------------------

  // As a top-level actor of `rt`. Error: already_running.
  expected<void> start(runtime& rt) const;
  // Linked to the calling actor.
  expected<void> start_link(context& self) const;
  // For a supervisor: a worker that runs this scope.
  sup::child_spec child_spec(std::string id, sup::child_options options = {}) const;

  // The handle of the scope registered under `name`. Errors: no_actor.
  static expected<scope> find(context& self, std::string_view name);

  // -- any thread: reads (no message; the shared table) ---------------------

  // Members of `group` on every runtime of the scope (today: this one),
  // once per membership; empty for a group nobody is in.
  std::vector<pid> get_members(std::string_view group) const;
  // Members of `group` on this runtime (today: all of them).
  std::vector<pid> get_local_members(std::string_view group) const;
  // Groups with at least one member, sorted.
  std::vector<std::string> which_groups() const;
  std::vector<std::string> which_local_groups() const;

  // The scope's actor (empty when it is not running): monitor it to learn
  // of a restart.
  pid actor() const;
  const scope_options& options() const noexcept { return shared_->options; }

  // -- the caller's context (asks the scope) --------------------------------

  // Adds each pid to `group` (a pid listed twice joins twice). Errors:
  // invalid_group, invalid_member.
  expected<void> join(context& self, std::string_view group, const pid& who) const;
  expected<void> join(context& self, std::string_view group, std::span<const pid> who) const;
  // Removes one membership per listing. Errors: not_joined when a pid has
  // fewer memberships than listed (then nothing is removed).
  expected<void> leave(context& self, std::string_view group, const pid& who) const;
  expected<void> leave(context& self, std::string_view group, std::span<const pid> who) const;

  // Watches every group of the scope / one group: the caller gets a
  // group_change for each join and leave from now on, until demonitor or
  // its exit.
  expected<scope_watch> monitor_scope(context& self) const;
  expected<group_watch> monitor(context& self, std::string_view group) const;
  // Errors: not_watching (not a watch of the caller's).
  expected<void> demonitor(context& self, watch_ref ref) const;

  expected<scope_stats> stats(context& self) const;

 private:
  explicit scope(std::shared_ptr<detail::scope_shared> shared) : shared_(std::move(shared)) {}
  std::shared_ptr<detail::scope_shared> shared_;
};

}  // namespace weft::actors::pg

// A watch's notification, like down_msg, needs no place in a protocol.
template <>
struct weft::is_system_message<weft::actors::pg::group_change> : std::true_type {};
