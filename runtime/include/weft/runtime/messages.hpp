#pragma once
// Messages the runtime itself delivers to actors, and the result types of
// sending and asking (asking: weft::expected, expected.hpp).

#include <weft/runtime/exit_reason.hpp>
#include <weft/runtime/expected.hpp>
#include <weft/runtime/pid.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace weft {

// Identifies one monitor, to cancel it or to match its down_msg.
struct monitor_ref {
  std::uint64_t value = 0;
  explicit operator bool() const noexcept { return value != 0; }
  friend bool operator==(monitor_ref, monitor_ref) = default;
};

// Delivered to an actor that traps exits when a linked actor exits (or
// someone calls exit(pid, reason) on it). Not trapping, a non-normal
// reason stops the receiver instead.
struct exit_msg {
  pid from{};
  exit_reason reason{};
};

// Delivered to the monitoring actor when the monitored one exits.
// `noproc` if it was already dead when monitored.
struct down_msg {
  monitor_ref ref{};
  pid who{};
  exit_reason reason{};
};

// How a send went. Sends to a live actor with room always return ok.
enum class send_status : std::uint8_t {
  ok,
  dropped,   // overflow policy drop_newest dropped this message
  rejected,  // overflow policy reject: the mailbox is full
  dead,      // no such actor (it exited, or the pid is empty)
  timeout,   // send_for with policy block: no room before the deadline
  stopping,  // the runtime stopped accepting messages from outside
  deadlock,  // runtime_options::on_send_deadlock == fail: this blocked send
             // closed a cycle of senders blocked on each other's full mailboxes
};
std::string_view to_string(send_status);

// Why a message ended up in dead letters.
enum class dead_letter_cause : std::uint8_t {
  dead_actor,      // sent to an actor that had exited
  exited_unread,   // still queued when its receiver exited
  dropped_newest,  // overflow: drop_newest discarded the new message
  dropped_oldest,  // overflow: drop_oldest discarded an old message
  rejected,        // overflow: reject refused it
  late_reply,      // a reply that arrived after its ask gave up
  unhandled,       // a handler-style actor had no handler for its type (a request
                   // among them was also answered with ask_errc::unhandled)
  count_
};
std::string_view to_string(dead_letter_cause);

// What a dead-letter subscriber receives (the message itself is gone).
struct dead_letter {
  dead_letter_cause cause{};
  pid target{};
  std::string type_name{};
};

}  // namespace weft
