#pragma once
// Options for a runtime and for each spawn.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace weft {

class clock;

// What a send does when the receiver's mailbox is full (docs/architecture.md).
enum class overflow_policy : std::uint8_t {
  block,        // the sending actor's fiber waits for room (a thread blocks)
  drop_newest,  // the new message is dropped and counted; send says `dropped`
  drop_oldest,  // the oldest message is dropped and counted (by the owner, if it is in its
                // selective-receive stash; up to twice the capacity may be queued meanwhile)
  reject,       // the send fails with `rejected`; nothing is dropped
};
std::string_view to_string(overflow_policy);

// Mailbox capacity meaning "no limit". Unbounded is an explicit opt-in.
inline constexpr std::size_t unbounded = ~std::size_t{0};

// What the runtime does when senders blocked on full mailboxes form a cycle
// (A waits for room in B's mailbox, B in A's: neither reads, neither ever
// gets room). Only untimed blocking sends count; send_for ends by itself.
enum class send_deadlock_action : std::uint8_t {
  report,  // once per cycle: a line on stderr and an event ("runtime" /
           // "send_deadlock") naming the actors and their mailboxes
  fail,    // report, and the send that closed the cycle returns
           // send_status::deadlock (its message is not delivered), which
           // lets that actor go on and read, freeing the others
  ignore,  // no check at all
};

struct spawn_options {
  // Capacity of the mailbox in messages; 0 means the runtime's default.
  std::size_t mailbox_capacity = 0;
  // Overflow policy; unset means the runtime's default.
  std::optional<overflow_policy> overflow{};
  // Fiber stack size in bytes; 0 means the runtime's default. Only used
  // while the actor runs or blocks: a handler-style actor waiting between
  // messages holds no stack at all.
  std::size_t stack_size = 0;
  // Register under this name atomically with the spawn (empty: none).
  std::string name{};
  // Free text for people reading introspection output (like OTP labels).
  std::string label{};
  // Start with exit trapping on (as if trap_exit(true) were the first call).
  bool trap_exit = false;
};

struct runtime_options {
  // Scheduler threads; 0 means one per hardware thread.
  unsigned workers = 0;
  std::size_t default_mailbox_capacity = 1024;
  overflow_policy default_overflow = overflow_policy::block;
  std::size_t default_stack_size = 128 * 1024;
  // Idle stacks kept for reuse.
  std::size_t max_cached_stacks = 4096;
  // A guard page below every fiber stack (overflow is then reported, not
  // silent memory corruption). Turn off only to measure its cost.
  bool guard_pages = true;
  // Fairness: an actor yields its worker after this many messages or this
  // much time in one activation, whichever comes first.
  unsigned message_budget = 64;
  std::chrono::microseconds time_budget{500};
  // Threads that run blocking calls offloaded with context::blocking().
  unsigned blocking_threads = 8;
  // The clock user timers run on (clock.hpp): send_after, send_interval and
  // everything built on them. Null: real time. A weft::manual_clock here
  // gives tests virtual time.
  std::shared_ptr<weft::clock> clock{};
  // Deadlock detection for blocked sends (send_deadlock_action above). A
  // send blocked longer than deadlock_check_after joins the wait-for graph
  // (runtime/src/deadlock.hpp) and is checked for a cycle once; shorter
  // waits cost nothing. The same delay decides when introspection shows an
  // actor as blocked sending to another (actor_info::blocked_sending_to).
  send_deadlock_action on_send_deadlock = send_deadlock_action::report;
  std::chrono::milliseconds deadlock_check_after{100};
};

}  // namespace weft
