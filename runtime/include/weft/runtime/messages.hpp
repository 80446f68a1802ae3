#pragma once
// Messages the runtime itself delivers to actors, and the result types of
// sending and asking.

#include <weft/runtime/exit_reason.hpp>
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
  pid from;
  exit_reason reason;
};

// Delivered to the monitoring actor when the monitored one exits.
// `noproc` if it was already dead when monitored.
struct down_msg {
  monitor_ref ref;
  pid who;
  exit_reason reason;
};

// How a send went. Sends to a live actor with room always return ok.
enum class send_status : std::uint8_t {
  ok,
  dropped,   // overflow policy drop_newest dropped this message
  rejected,  // overflow policy reject: the mailbox is full
  dead,      // no such actor (it exited, or the pid is empty)
  timeout,   // send_for with policy block: no room before the deadline
  stopping,  // the runtime stopped accepting messages from outside
};
std::string_view to_string(send_status);

// Why an ask() has no reply.
enum class ask_error : std::uint8_t {
  timeout,         // no reply before the deadline (a later one is dropped)
  actor_down,      // the server exited before replying
  rejected,        // the server's mailbox was full (reject / drop policy)
  no_actor,        // the pid was dead or empty when asked
  broken_promise,  // the server dropped its reply_promise unanswered
  bad_reply_type,  // the server replied with another type than asked for
  stopping,        // the runtime is shutting down
};
std::string_view to_string(ask_error);

// The outcome of an ask: a value or an ask_error (std::expected is C++23).
template <class T>
class result {
 public:
  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  result(ask_error e) : v_(std::in_place_index<1>, e) {}

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& value() const& { return std::get<0>(v_); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  ask_error error() const { return std::get<1>(v_); }

 private:
  std::variant<T, ask_error> v_;
};

// Why a message ended up in dead letters.
enum class dead_letter_cause : std::uint8_t {
  dead_actor,      // sent to an actor that had exited
  exited_unread,   // still queued when its receiver exited
  dropped_newest,  // overflow: drop_newest discarded the new message
  dropped_oldest,  // overflow: drop_oldest discarded an old message
  rejected,        // overflow: reject refused it
  late_reply,      // a reply that arrived after its ask gave up
  unhandled,       // a handler-style actor had no handler for its type
  count_
};
std::string_view to_string(dead_letter_cause);

// What a dead-letter subscriber receives (the message itself is gone).
struct dead_letter {
  dead_letter_cause cause;
  pid target;
  std::string type_name;
};

}  // namespace weft
