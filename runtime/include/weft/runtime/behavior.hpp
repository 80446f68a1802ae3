#pragma once
// Behaviors: the message handlers of a handler-style actor.
//
// A handler is a callable taking one message by value, reference or const
// reference. The runtime matches a message against the handlers' message
// types in order and calls the first match. What a handler returns is the
// answer to a request (an ask) it handles:
//
//   returns            a request gets                   a plain message
//   -------            --------------                   ---------------
//   R                  R                                the value is dropped
//   expected<R>        R, or the error                  dropped
//   void               an acknowledgement, at once,     -
//                      unless the handler answered with
//                      self.reply(...) or took the right
//                      to answer later (self.promise())
//
// So every request gets an answer: one no handler matches is answered at
// once with ask_errc::unhandled (and counted as a dead letter), one whose
// handler throws with actor_down, one whose promise is dropped with
// broken_promise.
//
// Three ways to write a handler-style actor, each spawned with rt.spawn /
// self.spawn (or given to sup::worker):
//
//   1. A function of context& returning the handlers. Typed with a protocol
//      (protocol.hpp), it returns behavior_of<P>, and spawning it gives a
//      ref<P>; the compiler checks that the handlers cover P:
//
//        weft::behavior_of<counter> counting(weft::context& self) { ... }
//
//      It runs once, inside the new actor, at its first activation (before
//      its first message, not at spawn), so it may use `self` (send, link,
//      set_describe...). Handlers may capture `self` by reference: the
//      context lives exactly as long as the actor. They must not capture
//      locals of this function by reference: it has returned before any
//      handler runs.
//
//   2. State passed to the handlers, no shared_ptr needed (stateful):
//
//        auto c = rt.spawn(weft::stateful<counter>(0,
//            [](int& n, add a) { n += a.by; },
//            [](int& n, get) { return n; }));
//
//      A handler takes (State&, M), or (context&, State&, M) when it needs
//      the actor's context. The first argument of stateful is the initial
//      state, or a function of context& that makes it (called inside the
//      actor, like 1).
//
//   3. A class with `make_behavior(context&)` returning behavior or
//      behavior_of<P>, and optionally `on_exit(context&, const
//      exit_reason&)`: rt.spawn_actor<A>(constructor args..., [options]).
//
// A handler-style actor stops itself with self.exit() (normal) or
// self.exit(reason), from any handler; or by returning an empty behavior
// from its setup function.
//
// Handler-style actors hold no fiber stack between messages: the runtime
// calls a handler on whatever fiber the worker runs, and only if the
// handler blocks (receive, ask, a blocking send) does that fiber stay with
// the actor until the handler returns.

#include <weft/runtime/detail/envelope.hpp>
#include <weft/runtime/error.hpp>
#include <weft/runtime/expected.hpp>
#include <weft/runtime/messages.hpp>
#include <weft/runtime/protocol.hpp>

#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

namespace weft {

class context;

// Messages an actor may handle whatever its protocol: what the runtime
// itself delivers (exit_msg when trapping exits, down_msg when monitoring,
// dead_letter to a dead-letter subscriber). Other modules add theirs
// (net::readable).
template <class M>
struct is_system_message : std::false_type {};
template <>
struct is_system_message<exit_msg> : std::true_type {};
template <>
struct is_system_message<down_msg> : std::true_type {};
template <>
struct is_system_message<dead_letter> : std::true_type {};

namespace detail {

template <class F>
struct callable_traits : callable_traits<decltype(&F::operator())> {};
template <class C, class R, class... A>
struct callable_traits<R (C::*)(A...) const> {
  using result = R;
  using args = type_list<A...>;
};
template <class C, class R, class... A>
struct callable_traits<R (C::*)(A...)> : callable_traits<R (C::*)(A...) const> {};
template <class C, class R, class... A>
struct callable_traits<R (C::*)(A...) const noexcept> : callable_traits<R (C::*)(A...) const> {};
template <class C, class R, class... A>
struct callable_traits<R (C::*)(A...) noexcept> : callable_traits<R (C::*)(A...) const> {};
template <class R, class... A>
struct callable_traits<R (*)(A...)> {
  using result = R;
  using args = type_list<A...>;
};
template <class R, class... A>
struct callable_traits<R (*)(A...) noexcept> : callable_traits<R (*)(A...)> {};

template <class List>
struct last_of;
template <class T>
struct last_of<type_list<T>> {
  using type = T;
};
template <class T, class... Ts>
  requires(sizeof...(Ts) > 0)
struct last_of<type_list<T, Ts...>> : last_of<type_list<Ts...>> {};

template <class F>
using handler_args = typename callable_traits<std::decay_t<F>>::args;
// The message a handler takes: its last parameter.
template <class F>
using message_type_of = std::remove_cvref_t<typename last_of<handler_args<F>>::type>;
template <class F>
using handler_result_of = typename callable_traits<std::decay_t<F>>::result;

class cell;

// The reply to a request whose handler returned void.
struct ack_reply {};
// The reply to a request that failed (the asker's expected gets the error).
struct reply_error {
  error cause;
};

// Answers request `e` with `reply` (takes ownership). Defined in the runtime.
void answer_request(cell* self, envelope& request, envelope* reply);

inline bool request_pending(const envelope& e) noexcept { return e.request_id != 0 && static_cast<bool>(e.reply_to); }

// Turns what a handler returned into the answer to a pending request.
template <class R>
void answer_with(cell* self, envelope& e, R&& r) {
  using V = std::remove_cvref_t<R>;
  if constexpr (is_expected_v<V>) {
    if (!r.has_value()) {
      answer_request(self, e, make_envelope(reply_error{std::forward<R>(r).error()}, envelope_kind::reply));
    } else if constexpr (std::is_void_v<typename V::value_type>) {
      answer_request(self, e, make_envelope(ack_reply{}, envelope_kind::reply));
    } else {
      answer_request(self, e, make_envelope(*std::forward<R>(r), envelope_kind::reply));
    }
  } else {
    answer_request(self, e, make_envelope(std::forward<R>(r), envelope_kind::reply));
  }
}

// Calls f if e holds its message type; false if not. f takes one message.
template <class F>
bool try_invoke(F& f, envelope& e, cell* self) {
  using M = message_type_of<F>;
  if (!holds<M>(e)) return false;
  using R = handler_result_of<F>;
  if constexpr (std::is_void_v<R>) {
    // A request it neither answered (self.reply) nor took (self.promise) is
    // acknowledged when its handling ends (handling_scope).
    f(std::move(payload<M>(e)));
  } else {
    R r = f(std::move(payload<M>(e)));
    if (request_pending(e)) answer_with(self, e, std::move(r));
  }
  return true;
}

// A fixed set of handlers, matched in order.
template <class... Fs>
struct handler_set {
  std::tuple<Fs...> handlers;

  static bool matches(const envelope& e) noexcept { return (holds<message_type_of<Fs>>(e) || ...); }
  bool invoke(envelope& e, cell* self) {
    return std::apply([&](auto&... f) { return (try_invoke(f, e, self) || ...); }, handlers);
  }
};

// -- compile-time checks of a typed behavior ------------------------------
// Each failing check instantiates a struct whose name says what is wrong
// and whose arguments name the types: GCC and Clang print both.

template <class Message, class Protocol>
struct protocol_message_without_handler {
  static constexpr bool value = false;
};
template <class Message, class Protocol>
struct handler_for_message_outside_protocol {
  static constexpr bool value = false;
};
template <class Message, class ProtocolReply, class HandlerReturns>
struct handler_reply_does_not_match_protocol {
  static constexpr bool value = false;
};

// Whether a handler returning H answers a request whose protocol reply is R.
template <class H, class R>
constexpr bool reply_compatible() {
  if constexpr (std::is_void_v<H>) {
    return true;  // answers later (promise/reply), or acknowledges a void(M)
  } else if constexpr (is_expected_v<H>) {
    using V = typename std::remove_cvref_t<H>::value_type;
    if constexpr (std::is_void_v<R>) return std::is_void_v<V>;
    else if constexpr (std::is_void_v<V>) return false;
    else return std::is_convertible_v<V, R>;
  } else if constexpr (std::is_void_v<R>) {
    return false;  // a value for a request that promises none
  } else {
    return std::is_convertible_v<H, R>;
  }
}

// (message, returns) of a handler list, the first handler of M first.
template <class M, class... Hs>
struct first_handler_result;
template <class M>
struct first_handler_result<M> {
  static constexpr bool found = false;
  using type = void;
};
template <class M, class H, class... Hs>
struct first_handler_result<M, H, Hs...> {
  static constexpr bool match = std::is_same_v<typename H::message, M>;
  static constexpr bool found = match || first_handler_result<M, Hs...>::found;
  using type = std::conditional_t<match, typename H::returns, typename first_handler_result<M, Hs...>::type>;
};

template <class M, class R>
struct handler_shape {
  using message = M;
  using returns = R;
};

template <class Protocol, class Signature, class... Hs>
constexpr void require_covered() {
  using M = typename signature_traits<Signature>::message;
  using R = typename signature_traits<Signature>::reply;
  using found = first_handler_result<M, Hs...>;
  if constexpr (!found::found) {
    static_assert(protocol_message_without_handler<M, Protocol>::value,
                  "weft: the behavior has no handler for a message of its protocol: see "
                  "'protocol_message_without_handler<Message, Protocol>' below");
  } else if constexpr (!reply_compatible<typename found::type, R>()) {
    static_assert(handler_reply_does_not_match_protocol<M, R, typename found::type>::value,
                  "weft: a handler returns another type than the protocol's reply for its message: see "
                  "'handler_reply_does_not_match_protocol<Message, ProtocolReply, HandlerReturns>' below");
  }
}

template <class Protocol, class H>
constexpr void require_in_protocol() {
  using M = typename H::message;
  if constexpr (!accepts<Protocol, M> && !is_system_message<M>::value) {
    static_assert(handler_for_message_outside_protocol<M, Protocol>::value,
                  "weft: a handler takes a message that is not in the behavior's protocol: see "
                  "'handler_for_message_outside_protocol<Message, Protocol>' below (add it to the protocol)");
  }
}

template <class Protocol, class... Hs>
constexpr bool check_behavior() {
  if constexpr (!std::is_same_v<Protocol, untyped>) {
    (require_in_protocol<Protocol, Hs>(), ...);
    []<class... S>(type_list<S...>) { (require_covered<Protocol, S, Hs...>(), ...); }(signatures_of<Protocol>{});
  }
  return true;
}

template <class F>
using shape_of = handler_shape<message_type_of<F>, handler_result_of<F>>;

}  // namespace detail

class behavior {
 public:
  behavior() = default;

  template <class... Fs>
    requires(sizeof...(Fs) > 0 && (!std::is_same_v<std::decay_t<Fs>, behavior> && ...))
  behavior(Fs&&... handlers)  // NOLINT(google-explicit-constructor): a behavior is its handlers
      : impl_(std::make_unique<model<std::decay_t<Fs>...>>(std::forward<Fs>(handlers)...)) {}

  explicit operator bool() const noexcept { return impl_ != nullptr; }

  // Calls the first matching handler; false if none matches. (Runtime use.)
  bool invoke(detail::envelope& e, detail::cell* self) { return impl_ && impl_->invoke(e, self); }

 private:
  // Pooled (detail/small_pool.hpp): a spawned actor's behavior is made on
  // the spawner's worker and freed wherever the actor ends.
  struct concept_t : detail::pooled {
    virtual ~concept_t() = default;
    virtual bool invoke(detail::envelope&, detail::cell*) = 0;
  };
  template <class... Fs>
  struct model final : concept_t {
    template <class... As>
    explicit model(As&&... as) : set{std::tuple<Fs...>(std::forward<As>(as)...)} {}
    bool invoke(detail::envelope& e, detail::cell* self) override { return set.invoke(e, self); }
    detail::handler_set<Fs...> set;
  };
  std::unique_ptr<concept_t> impl_;
};

// A behavior for protocol P: its handlers are checked at compile time to
// take every message of P (with a reply of P's type) and nothing else (but
// for system messages, is_system_message). Spawning a function that
// returns one gives a ref<P>.
template <class P>
class behavior_of {
 public:
  using protocol_type = P;

  // Empty: the actor stops (normal) instead of starting.
  behavior_of() = default;
  template <class... Fs>
    requires(sizeof...(Fs) > 0 && (!std::is_same_v<std::decay_t<Fs>, behavior_of> && ...) &&
             (!std::is_same_v<std::decay_t<Fs>, behavior> && ...))
  behavior_of(Fs&&... handlers)  // NOLINT(google-explicit-constructor): a behavior is its handlers
      : impl_(checked<std::decay_t<Fs>...>(std::forward<Fs>(handlers)...)) {}

  explicit operator bool() const noexcept { return static_cast<bool>(impl_); }
  behavior& untyped() & noexcept { return impl_; }
  behavior&& untyped() && noexcept { return std::move(impl_); }

 private:
  template <class... Ds, class... Fs>
  static behavior checked(Fs&&... handlers) {
    static_assert(detail::check_behavior<P, detail::shape_of<Ds>...>());
    return behavior(std::forward<Fs>(handlers)...);
  }
  behavior impl_;
};

}  // namespace weft
