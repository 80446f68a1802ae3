#pragma once
// What the runtime can tell about its actors while they run: a snapshot of
// one actor or all of them, an actor's own description of its state, and
// a bounded trace of the messages it sends and receives. The debug shell
// is built on these; so can any monitoring tool.
//
// Cost and locking: taking a snapshot reads each actor's counters with
// relaxed atomic loads (senders are never blocked) and its links, monitors
// and name under that actor's own small metadata lock; the list of actors
// is walked shard by shard. Nothing stops the world and nothing costs
// anything unless asked.

#include <weft/runtime/options.hpp>
#include <weft/runtime/pid.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace weft {

enum class actor_status : std::uint8_t {
  runnable,   // in a run queue
  running,    // on a worker now
  waiting,    // idle between messages, or blocked (send, sleep, blocking call)
  receiving,  // suspended in a selective receive for a message it lacks
  exiting,
  dead,
};
std::string_view to_string(actor_status);

struct actor_info {
  pid self{};
  std::string name{};   // registered name, or empty
  std::string label{};  // free text set by the actor or its spawner
  pid parent{};         // the spawner (a supervisor for supervised children)
  std::vector<pid> links{};
  std::vector<pid> monitored_by{};
  std::size_t monitors = 0;  // monitors this actor holds on others
  actor_status status = actor_status::runnable;
  // The actor whose full mailbox this one has been waiting to send into for
  // longer than runtime_options::deadlock_check_after (an untimed send);
  // empty otherwise. Status is then `waiting`.
  pid blocked_sending_to{};
  bool handler_style = false;
  // The protocol a typed actor was spawned with (its type's name, e.g.
  // "counter_protocol"); empty for an untyped actor.
  std::string protocol{};
  bool trap_exit = false;
  std::size_t mailbox_length = 0;
  std::size_t mailbox_capacity = 0;  // weft::unbounded (options.hpp) for an unbounded mailbox
  overflow_policy overflow = overflow_policy::block;
  std::uint64_t dropped = 0;
  std::uint64_t rejected = 0;
  std::uint64_t processed = 0;
  double messages_per_second = 0;  // processed / lifetime; sample twice for a current rate
  std::uint32_t restarts = 0;      // set by the supervisor that restarted it
  std::chrono::system_clock::time_point spawned_at{};
  std::size_t stack_size = 0;      // of its fiber, when it holds one (blocked or Erlang style)
  bool holds_fiber = false;
  // Stack bytes from the top down to the saved stack pointer: what it holds
  // now if suspended (holds_fiber), and the most it held at any suspension
  // (a high-water mark measured where the actor waits; deeper calls that
  // returned before it waited are not seen). 0 for an actor never suspended.
  std::size_t stack_in_use = 0;
  std::size_t stack_high_water = 0;
};

// One message seen by a trace (contents only on request, never by default).
struct trace_event {
  enum class direction : std::uint8_t { in, out };
  direction dir{};
  std::chrono::system_clock::time_point when{};
  pid from{};
  pid to{};
  std::string type_name{};
  std::size_t size = 0;  // bytes of the message object (not what it points to)
};

}  // namespace weft
