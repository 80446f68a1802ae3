#pragma once
// Envelopes: how a message of any C++ type travels through a mailbox.
// Internal to weft; public only because the send/receive templates build
// and open envelopes inline.

#include <weft/runtime/detail/small_pool.hpp>
#include <weft/runtime/pid.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <utility>

namespace weft::detail {

// Identity of a message type: the address of type_tag_of<T>. Comparing
// two pointers is all that matching a message against a handler costs.
struct type_tag {
  std::string_view name;
};

template <class T>
constexpr std::string_view type_name_of() {
  std::string_view s = __PRETTY_FUNCTION__;
  const auto start = s.find("T = ") + 4;
  const auto end = s.find_first_of(";]", start);
  return s.substr(start, end - start);
}

template <class T>
inline constexpr type_tag type_tag_of{type_name_of<T>()};

// What an envelope carries. Only `user` messages count against a
// mailbox's capacity; everything else is a signal or the answer to a
// request the receiver made itself, and is never blocked or dropped.
enum class envelope_kind : std::uint8_t {
  user,         // an ordinary message (maybe a request: request_id != 0)
  reply,        // the answer to this actor's ask() number request_id
  exit_signal,  // payload exit_signal_payload
  link,         // payload link_payload
  unlink,       // payload link_payload
  monitor,      // payload monitor_payload
  demonitor,    // payload monitor_payload
  down,         // payload down_msg (user-visible)
  wake,         // payload wake_payload: re-check what you wait for
  call,         // payload call_payload: run a function inside the actor
};

inline bool counts_against_capacity(envelope_kind k) noexcept { return k == envelope_kind::user; }

// Node of the intrusive multi-producer queue (see mailbox.cpp).
struct mpsc_node {
  std::atomic<mpsc_node*> next{nullptr};
};

// Pooled: made by the sender, freed by the receiver, often on another
// worker (detail/small_pool.hpp).
struct envelope : mpsc_node, pooled {
  envelope(const type_tag* t, envelope_kind k) noexcept : tag(t), kind(k) {}
  virtual ~envelope() = default;
  envelope(const envelope&) = delete;
  envelope& operator=(const envelope&) = delete;

  virtual std::size_t payload_size() const noexcept = 0;

  const type_tag* tag;
  envelope_kind kind;
  // For requests: the asker's number for this request, and where the
  // reply goes. For replies: the number being answered.
  std::uint64_t request_id = 0;
  pid reply_to;
};

template <class T>
struct typed_envelope final : envelope {
  template <class... Args>
  explicit typed_envelope(envelope_kind k, Args&&... args)
      : envelope(&type_tag_of<T>, k), value(std::forward<Args>(args)...) {}
  std::size_t payload_size() const noexcept override { return sizeof(T); }
  T value;
};

template <class T>
T& payload(envelope& e) noexcept {
  return static_cast<typed_envelope<T>&>(e).value;
}

template <class T>
bool holds(const envelope& e) noexcept {
  return e.tag == &type_tag_of<T>;
}

struct envelope_deleter {
  void operator()(envelope* e) const noexcept { delete e; }
};

template <class T>
envelope* make_envelope(T&& value, envelope_kind kind = envelope_kind::user) {
  using V = std::decay_t<T>;
  return new typed_envelope<V>(kind, std::forward<T>(value));
}

}  // namespace weft::detail
