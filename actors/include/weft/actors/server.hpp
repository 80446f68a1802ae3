#pragma once
// weft::actors::server — OTP's gen_server on weft's typed layer: a class
// holding state, with a handler per request (call), per message without a
// reply (cast), and per other message (info), plus init, continue steps and
// terminate.
//
//   struct get {};                     // a call: answers an int
//   struct add { int by = 1; };        // a cast: answers nothing
//   using counter = weft::protocol<int(get), void(add)>;
//
//   class counter_server {
//    public:
//     using protocol_type = counter;
//     using self_type = weft::actors::server_context<counter_server>;
//     explicit counter_server(int start) : n_(start) {}
//     int handle_call(self_type&, get) { return n_; }
//     void handle_cast(self_type&, add a) { n_ += a.by; }
//    private:
//     int n_;
//   };
//
//   weft::ref<counter> c = rt.spawn(weft::actors::server<counter_server>(0));
//   weft::actors::cast(self, c, add{2});
//   weft::expected<int> n = weft::actors::call(self, c, get{}, 100ms);
//
// Callback contract (all optional but one handler per protocol message;
// every callback runs inside the actor, one at a time, so the members need
// no locks; `self` is a server_context<Impl>&):
//
//   user code (Impl)                              the server
//   ----------------                              ----------
//   Impl(args...)            <------------------- constructed inside the new
//                                                  actor, from copies of the
//                                                  args given to server<Impl>
//   init(self) -> void | expected<void>  <------- then init; an error (or a
//                                                  throw) stops it: the starter
//                                                  gets the error (startup.hpp)
//   handle_call(self, M) -> R | expected<R>  <--- a message of R(M), R not void;
//                        | void                    the return value is the reply,
//                                                  sent at once; void: answer
//                                                  later via self->promise()
//                                                  (gen_server's noreply+reply/2)
//   handle_cast(self, M) -> void  <-------------- a message of void(M) (if asked,
//                                                  acknowledged after the handler)
//   handle_info(self, I) -> void  <-------------- down_msg, exit_msg, dead_letter,
//                                                  and the types in
//                                                  Impl::info_messages (messages
//                                                  it sends itself via its pid)
//   self.continue_with(step) ------------------> after the callback returns (and
//   handle_continue(self, Step)  <-------------    its reply is sent), before the
//                                                  next message is taken
//   terminate(self, const exit_reason&)  <------- the server stops: self->exit(r)
//                                                  from a callback, an exception
//                                                  (r = error(what)), an exit
//                                                  signal, a trapped exit from
//                                                  its parent (OTP's shutdown).
//                                                  Not after kill, nor after a
//                                                  failed init.
//
// `self` is the server's side of the actor: self->... (or self.actor())
// is the actor's weft::context (send, ask, promise, reply, monitor, timers,
// exit, spawn), and self.continue_with(step) is the server's own step. It
// converts to weft::context&, so it is what call/cast and sup:: calls take.
//
// Exits (OTP's rules): a server that traps exits (spawn_options::trap_exit,
// or self->trap_exit(true) in init) and gets exit_msg from its parent (the
// supervisor or starter that spawned it) or from the runtime's shutdown
// stops with that reason, running terminate. Another trapped exit goes to
// handle_info(self, exit_msg) if there is one; without it, an abnormal one
// stops the server (trapping exits to get terminate does not make it
// immune to its links) and a normal one is dropped.
//
// Every request gets an answer: one no handler takes is answered with
// ask_errc::unhandled, one whose handler throws with actor_down, one whose
// promise is dropped with broken_promise.
//
// Hazards:
//   * A handler that blocks (ask, receive, blocking()) holds up every
//     message behind it, as in OTP; answer later with a promise instead.
//   * Two servers calling each other synchronously deadlock until a call
//     times out (OTP has the same hazard).
//   * terminate does not run when the server is killed (sup::shutdown_spec::
//     brutal_kill, exit(kill)), and continue steps requested inside
//     terminate never run.
//
// Differences from OTP: there is no From argument (self->promise() takes
// the right to answer); casts are plain sends (under the default `block`
// overflow policy a cast to a full mailbox waits); there is no hibernate
// (a handler-style actor holds no stack between messages anyway); the
// timeout of gen_server's return tuple is a timer the server files itself
// (self->send_after). terminate also runs when an exit signal stops a server
// that does not trap exits (OTP skips it then).
//
// Cost: a call is one ask (two envelopes); dispatch is one pointer compare
// per protocol message type before the match, then a direct call. Nothing
// is allocated per message by the server itself (continue steps up to 32
// bytes are held inline in a vector that keeps its capacity).

#include <weft/actors/detail/behaviour.hpp>
#include <weft/actors/startup.hpp>
#include <weft/runtime/actor.hpp>
#include <weft/runtime/behavior.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/detail/backend.hpp>
#include <weft/runtime/error.hpp>
#include <weft/runtime/exit_reason.hpp>
#include <weft/runtime/expected.hpp>
#include <weft/runtime/messages.hpp>
#include <weft/runtime/protocol.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace weft::actors {

template <class Impl>
class server_context;

namespace detail {

template <class Impl>
class server_core;

// -- what an implementation has ----------------------------------------------

template <class Impl, class M>
concept has_handle_call =
    requires(Impl& impl, server_context<Impl>& self, M&& m) { impl.handle_call(self, std::move(m)); };
template <class Impl, class M>
concept has_handle_cast =
    requires(Impl& impl, server_context<Impl>& self, M&& m) { impl.handle_cast(self, std::move(m)); };
template <class Impl, class M>
concept has_handle_info =
    requires(Impl& impl, server_context<Impl>& self, M&& m) { impl.handle_info(self, std::move(m)); };
template <class Impl, class C>
concept has_handle_continue =
    requires(Impl& impl, server_context<Impl>& self, C&& c) { impl.handle_continue(self, std::move(c)); };
template <class Impl>
concept has_server_init = requires(Impl& impl, server_context<Impl>& self) { impl.init(self); };
template <class Impl>
concept has_server_terminate =
    requires(Impl& impl, server_context<Impl>& self, const exit_reason& r) { impl.terminate(self, r); };

template <class Impl>
struct server_info_list {
  using type = messages<>;
};
template <class Impl>
  requires requires { typename Impl::info_messages; }
struct server_info_list<Impl> {
  using type = typename Impl::info_messages;
};

// The messages handle_info takes: system messages it has a handler for,
// and the declared info_messages.
template <class Impl>
using server_infos = join_t<join_t<keep_if<has_handle_info<Impl, down_msg>, down_msg>,
                                   keep_if<has_handle_info<Impl, dead_letter>, dead_letter>>,
                            typename server_info_list<Impl>::type>;

// -- compile-time checks ---------------------------------------------------------
// Each failing check names a struct whose arguments name the types.

template <class Impl>
struct server_without_protocol_type {
  static constexpr bool value = false;
};
template <class Message, class Impl>
struct server_message_without_handler {
  static constexpr bool value = false;
};
template <class Message, class Reply, class Impl>
struct server_request_with_reply_needs_handle_call {
  static constexpr bool value = false;
};
template <class Message, class ProtocolReply, class HandlerReturns>
struct server_handle_call_returns_wrong_type {
  static constexpr bool value = false;
};
template <class Message, class Impl>
struct server_info_message_without_handle_info {
  static constexpr bool value = false;
};
template <class Step, class Impl>
struct server_continue_without_handle_continue {
  static constexpr bool value = false;
};
template <class Impl, class Returns>
struct server_init_returns_neither_void_nor_expected_void {
  static constexpr bool value = false;
};

template <class Impl, class Signature>
constexpr void check_server_signature() {
  using M = typename weft::detail::signature_traits<Signature>::message;
  using R = typename weft::detail::signature_traits<Signature>::reply;
  if constexpr (has_handle_call<Impl, M>) {
    using H = decltype(std::declval<Impl&>().handle_call(std::declval<server_context<Impl>&>(), std::declval<M&&>()));
    if constexpr (!weft::detail::reply_compatible<H, R>()) {
      static_assert(server_handle_call_returns_wrong_type<M, R, H>::value,
                    "weft::actors::server: handle_call returns another type than the protocol's reply: see "
                    "'server_handle_call_returns_wrong_type<Message, ProtocolReply, HandlerReturns>' below");
    }
  } else if constexpr (has_handle_cast<Impl, M> || has_handle_info<Impl, M>) {
    if constexpr (!std::is_void_v<R>) {
      static_assert(server_request_with_reply_needs_handle_call<M, R, Impl>::value,
                    "weft::actors::server: a protocol message with a reply needs handle_call(self, M), not "
                    "handle_cast: see 'server_request_with_reply_needs_handle_call<Message, Reply, Impl>' below");
    }
  } else {
    static_assert(server_message_without_handler<M, Impl>::value,
                  "weft::actors::server: no handle_call / handle_cast for a message of the protocol: see "
                  "'server_message_without_handler<Message, Impl>' below");
  }
}

template <class Impl, class I>
constexpr void check_server_info() {
  if constexpr (!has_handle_info<Impl, I>) {
    static_assert(server_info_message_without_handle_info<I, Impl>::value,
                  "weft::actors::server: a type in info_messages has no handle_info(self, I): see "
                  "'server_info_message_without_handle_info<Message, Impl>' below");
  }
}

template <class Impl>
constexpr bool check_server() {
  if constexpr (!requires { typename Impl::protocol_type; }) {
    static_assert(server_without_protocol_type<Impl>::value,
                  "weft::actors::server<Impl>: Impl needs `using protocol_type = weft::protocol<...>;`");
  } else {
    using P = typename Impl::protocol_type;
    static_assert(weft::detail::protocol_type<P>,
                  "weft::actors::server<Impl>: Impl::protocol_type must be a weft::protocol");
    []<class... S>(weft::detail::type_list<S...>) { (check_server_signature<Impl, S>(), ...); }(
        weft::detail::signatures_of<P>{});
    []<class... I>(messages<I...>) { (check_server_info<Impl, I>(), ...); }(typename server_info_list<Impl>::type{});
    if constexpr (has_server_init<Impl>) {
      using I = decltype(std::declval<Impl&>().init(std::declval<server_context<Impl>&>()));
      if constexpr (!std::is_void_v<I> && !std::is_same_v<I, expected<void>>) {
        static_assert(server_init_returns_neither_void_nor_expected_void<Impl, I>::value,
                      "weft::actors::server: init(self) returns void or weft::expected<void>: see "
                      "'server_init_returns_neither_void_nor_expected_void<Impl, Returns>' below");
      }
    }
  }
  return true;
}

// Answers the request being handled with what a handler returned, as the
// protocol's reply type R (a handler may return something convertible).
template <class R, class H>
void answer_as(context& actor, H&& result) {
  using V = std::remove_cvref_t<H>;
  if constexpr (std::is_void_v<R> || std::is_same_v<V, R> || std::is_same_v<V, error>) {
    actor.reply(std::forward<H>(result));
  } else if constexpr (is_expected_v<V>) {
    if constexpr (std::is_same_v<typename V::value_type, R>) {
      actor.reply(std::forward<H>(result));
    } else if (result.has_value()) {
      actor.reply(R(*std::forward<H>(result)));
    } else {
      actor.reply(std::forward<H>(result).error());
    }
  } else {
    actor.reply(R(std::forward<H>(result)));
  }
}

}  // namespace detail

// The server's side of the actor, handed to every callback. Owner: the
// server actor, inside its callbacks.
template <class Impl>
class server_context {
 public:
  server_context(const server_context&) = delete;
  server_context& operator=(const server_context&) = delete;

  // The actor's context: send, ask, promise, reply, monitor, timers, exit...
  context& actor() const noexcept { return *actor_; }
  context* operator->() const noexcept { return actor_; }
  operator context&() const noexcept { return *actor_; }  // NOLINT(google-explicit-constructor): for call/cast

  // Runs impl.handle_continue(self, step) once the current callback has
  // returned and its reply is sent, before the next message is taken.
  // Several steps run in the order they were asked for; a step asked for by
  // handle_continue runs after those already waiting.
  template <class Step>
  void continue_with(Step&& step) {
    if constexpr (!detail::has_handle_continue<Impl, std::decay_t<Step>>) {
      static_assert(detail::server_continue_without_handle_continue<std::decay_t<Step>, Impl>::value,
                    "weft::actors::server: continue_with(step) needs handle_continue(self, Step): see "
                    "'server_continue_without_handle_continue<Step, Impl>' below");
    } else {
      core_->add_continue(std::forward<Step>(step));
    }
  }

 private:
  friend class detail::server_core<Impl>;
  server_context(context& actor, detail::server_core<Impl>& core) noexcept : actor_(&actor), core_(&core) {}
  context* actor_;
  detail::server_core<Impl>* core_;
};

namespace detail {

// The running server: its implementation, its context, pending continue
// steps, and the handlers the runtime dispatches to. Owner: the actor.
template <class Impl>
class server_core {
 public:
  using protocol_type = typename Impl::protocol_type;

  explicit server_core(context& actor) : self_(actor, *this) {}
  server_core(const server_core&) = delete;
  server_core& operator=(const server_core&) = delete;

  template <class... Args>
  void construct(std::tuple<Args...>&& args) {
    std::apply([&](Args&... a) { impl_.emplace(std::move(a)...); }, args);
  }

  expected<void> run_init() {
    if constexpr (has_server_init<Impl>) {
      if constexpr (std::is_void_v<decltype(impl_->init(self_))>) {
        impl_->init(self_);
        return {};
      } else {
        return impl_->init(self_);
      }
    } else {
      return {};
    }
  }

  void run_terminate(const exit_reason& reason) noexcept {
    if constexpr (has_server_terminate<Impl>) {
      try {
        impl_->terminate(self_, reason);
      } catch (...) {  // NOLINT(bugprone-empty-catch): the server is stopping either way
      }
    }
  }

  weft::behavior make_behavior() { return build(weft::detail::signatures_of<protocol_type>{}, server_infos<Impl>{}); }

  template <class Step>
  void add_continue(Step&& step) {
    continues_.push_back(event_box<server_core>::hold(std::forward<Step>(step)));
  }

  // After a successful init (behaviour_body): the continue steps init asked for.
  void started() {
    if (!continues_.empty()) run_continues();
  }

  void run_continues() {
    while (!continues_.empty()) {
      // Taken out first: the step may ask for more.
      event_box<server_core> step = std::move(continues_.front());
      continues_.erase(continues_.begin());
      step.dispatch(*this);
    }
  }

  // event_box's callback: a continue step.
  template <class Step>
  void dispatch_boxed(Step& step) {
    impl_->handle_continue(self_, std::move(step));
  }

 private:
  template <class... S, class... I>
  weft::behavior build(weft::detail::type_list<S...>, messages<I...>) {
    return weft::behavior(protocol_handler<S>()..., exit_handler(), info_handler<I>()...);
  }

  template <class Signature>
  auto protocol_handler() {
    using M = typename weft::detail::signature_traits<Signature>::message;
    using R = typename weft::detail::signature_traits<Signature>::reply;
    return [this](M message) { on_protocol<M, R>(message); };
  }

  template <class M, class R>
  void on_protocol(M& message) {
    if constexpr (has_handle_call<Impl, M>) {
      if constexpr (std::is_void_v<decltype(impl_->handle_call(self_, std::move(message)))>) {
        impl_->handle_call(self_, std::move(message));
        answer_before_continuing();
      } else {
        // Answered here, not by the runtime after we return: the reply must
        // go out before the continue steps run.
        answer_as<R>(self_.actor(), impl_->handle_call(self_, std::move(message)));
      }
    } else if constexpr (has_handle_cast<Impl, M>) {
      impl_->handle_cast(self_, std::move(message));
      answer_before_continuing();
    } else {
      impl_->handle_info(self_, std::move(message));
      answer_before_continuing();
    }
    if (!continues_.empty()) run_continues();
  }

  // A request the handler neither answered nor took is acknowledged when
  // its handling ends; with continue steps pending, that is now.
  void answer_before_continuing() {
    if (!continues_.empty()) self_.actor().promise().deliver();
  }

  auto exit_handler() {
    return [this](exit_msg exit) {
      if (is_stop_order(self_.actor(), exit)) self_.actor().exit(exit.reason);
      if constexpr (has_handle_info<Impl, exit_msg>) {
        impl_->handle_info(self_, std::move(exit));
        if (!continues_.empty()) run_continues();
      } else if (!exit.reason.is_normal()) {
        self_.actor().exit(exit.reason);
      }
    };
  }

  template <class I>
  auto info_handler() {
    return [this](I message) {
      impl_->handle_info(self_, std::move(message));
      if (!continues_.empty()) run_continues();
    };
  }

  server_context<Impl> self_;
  std::optional<Impl> impl_;
  std::vector<event_box<server_core>> continues_;
};

template <class Impl, class... Args>
using server_definition = behaviour_definition<server_core<Impl>, Impl, Args...>;

}  // namespace detail

// A server definition: Impl is constructed, inside the actor, from copies
// of `args` at every spawn (a supervisor's restart makes a fresh one).
template <class Impl, class... Args>
auto server(Args&&... args) {
  static_assert(detail::check_server<Impl>());
  return detail::server_definition<Impl, std::decay_t<Args>...>{
      std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...)};
}

// -- the client side ---------------------------------------------------------------

// A synchronous request (gen_server:call): the reply of the protocol's R(M),
// or the error (ask_errc::timeout, actor_down, unhandled, ..., or the one
// the handler answered with). The timeout is real time, like any ask's; a
// reply that comes after it is dropped by the runtime (counted as the dead
// letter late_reply), never delivered to the caller's mailbox.
template <class P, class M>
expected<reply_type_t<P, std::remove_cvref_t<M>>> call(context& self, const ref<P>& server, M&& request,
                                                       std::chrono::nanoseconds timeout = default_ask_timeout) {
  return self.ask(server, std::forward<M>(request), timeout);
}

// An asynchronous message (gen_server:cast): a send, checked against P.
template <class P, class M>
send_status cast(context& self, const ref<P>& server, M&& message) {
  return self.send(server, std::forward<M>(message));
}

}  // namespace weft::actors
