#pragma once
// weft::context — how an actor (or a thread, through scoped_actor) talks
// to the world. It is weft's one caller: every operation that sends,
// asks, spawns, links or waits is a member here, and works the same from
// an actor's handlers and from a plain thread holding a scoped_actor
// (runtime.hpp). Functions that need to talk take a `weft::context&`.
//
// Every actor gets a `context&` (call it `self`). All members are
// owner-only: call them from the actor's own code (its function, its
// handlers), or from the thread that owns the scoped_actor, never from
// another actor or thread. Calls that wait (receive, ask, a send into a
// full mailbox, sleep_for, blocking) suspend only the actor's fiber; the
// worker thread runs other actors meanwhile. From a scoped_actor they
// block its thread.
//
//   user code                         runtime
//   ---------                         -------
//   self.send(to, m) --------------> enqueue; wake `to` if it was idle
//   self.receive(handlers...) -----> scan the queue for the first match;
//                                    if none, suspend the fiber until a new
//                                    message (or the deadline) arrives
//   self.ask(to, req) -------------> send req tagged with a number; wait
//                                    for the reply with that number
//   return from the function ------> exit(normal): links and monitors
//   throw std::runtime_error ------> exit(error "what()")
//
// `to` is a weft::ref<P> (protocol.hpp: the compiler checks the message
// and derives the reply type) or a plain pid (checked at run time:
// ask<R>(pid, ...) spells the reply type).
//
// Exiting unwinds the actor's stack with an internal exception that does
// not derive from std::exception: `catch (...)` blocks must rethrow.
//
// Selective receive costs: a receive first scans the messages it skipped
// earlier (the stash) in order, then each new message once. With n
// skipped messages queued, a receive that matches the newest costs O(n)
// type checks (a pointer compare each); a handler-style actor never
// skips, so it never pays this.

#include <weft/runtime/actor.hpp>
#include <weft/runtime/behavior.hpp>
#include <weft/runtime/detail/backend.hpp>
#include <weft/runtime/detail/envelope.hpp>
#include <weft/runtime/error.hpp>
#include <weft/runtime/exit_reason.hpp>
#include <weft/runtime/expected.hpp>
#include <weft/runtime/messages.hpp>
#include <weft/runtime/options.hpp>
#include <weft/runtime/pid.hpp>
#include <weft/runtime/protocol.hpp>

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace weft {

class runtime;
class scoped_actor;
namespace internal {
struct context_access;
}

// How long an ask waits when the caller does not say (OTP's call default).
inline constexpr std::chrono::seconds default_ask_timeout{5};

struct timer_ref {
  std::uint64_t id = 0;
  explicit operator bool() const noexcept { return id != 0; }
};

// The right to answer one request later (gen_server's "noreply" + reply/2),
// taken with self.promise() inside the request's handler. deliver() may be
// called from any thread, once; dropping it unanswered tells the asker
// ask_errc::broken_promise.
class reply_promise {
 public:
  reply_promise() = default;
  reply_promise(pid to, std::uint64_t request_id) : to_(std::move(to)), request_id_(request_id) {}
  reply_promise(reply_promise&& other) noexcept
      : to_(std::move(other.to_)), request_id_(std::exchange(other.request_id_, 0)) {}
  reply_promise& operator=(reply_promise&& other) noexcept {
    if (this != &other) {
      abandon();
      to_ = std::move(other.to_);
      request_id_ = std::exchange(other.request_id_, 0);
    }
    return *this;
  }
  ~reply_promise() { abandon(); }

  bool pending() const noexcept { return request_id_ != 0; }

  // -- any thread --
  // The answer: a value, an expected (its error reaches the asker as
  // such), a weft::error, or nothing (an acknowledgement).
  template <class R>
  void deliver(R&& value) {
    if (request_id_ == 0) return;
    using V = std::remove_cvref_t<R>;
    if constexpr (std::is_same_v<V, error>) {
      send(detail::make_envelope(detail::reply_error{std::forward<R>(value)}, detail::envelope_kind::reply));
    } else if constexpr (is_expected_v<V>) {
      if (!value.has_value()) {
        send(detail::make_envelope(detail::reply_error{std::forward<R>(value).error()}, detail::envelope_kind::reply));
      } else if constexpr (std::is_void_v<typename V::value_type>) {
        deliver();
      } else {
        deliver(*std::forward<R>(value));
      }
    } else {
      send(detail::make_envelope(std::forward<R>(value), detail::envelope_kind::reply));
    }
  }
  void deliver() {
    if (request_id_ != 0) send(detail::make_envelope(detail::ack_reply{}, detail::envelope_kind::reply));
  }

 private:
  void send(detail::envelope* e) { detail::send_reply(to_, std::exchange(request_id_, 0), e); }
  void abandon() noexcept;
  pid to_;
  std::uint64_t request_id_ = 0;
};

namespace detail {

struct deduced_reply {};

template <class R, class To, class M>
struct ask_result {
  // An untyped pid: R as spelled.
  using type = R;
};
template <class To, class M>
struct ask_result<deduced_reply, To, M> {
  using type = void;  // an error below says why
};
template <class R, class P, class M>
struct ask_result<R, ref<P>, M> {
  using type = R;
};
template <class P, class M>
struct ask_result<deduced_reply, ref<P>, M> {
  using type = reply_type_t<P, M>;
};

template <class To>
struct ask_of_untyped_pid_needs_reply_type {
  static constexpr bool value = false;
};

// Compile-time checks of a send or an ask to `To` (a ref or a pid).
template <class To, class M>
constexpr void check_message() {
  if constexpr (is_ref_v<To>) {
    require_message_in_protocol<std::remove_cvref_t<M>, typename std::remove_cvref_t<To>::protocol_type>();
  }
}
template <class R, class To, class M>
constexpr void check_ask() {
  using target = std::remove_cvref_t<To>;
  if constexpr (is_ref_v<target>) {
    using P = typename target::protocol_type;
    require_message_in_protocol<std::remove_cvref_t<M>, P>();
    if constexpr (!std::is_same_v<R, deduced_reply> && accepts<P, M> && !std::is_same_v<R, reply_type_t<P, M>>) {
      static_assert(ask_with_wrong_reply_type<R, reply_type_t<P, M>, std::remove_cvref_t<M>>::value,
                    "weft: asked for another reply type than the protocol's: see "
                    "'ask_with_wrong_reply_type<Asked, Replied, Message>' below (or let ask deduce it)");
    }
  } else if constexpr (std::is_same_v<R, deduced_reply>) {
    static_assert(ask_of_untyped_pid_needs_reply_type<target>::value,
                  "weft: asking a plain pid needs the reply type, self.ask<int>(pid, get{}); or ask a weft::ref<P>");
  }
}

template <class To>
const pid& target_of(const To& to) noexcept {
  if constexpr (is_ref_v<To>) {
    return to.to_pid();
  } else {
    return to;  // a pid, or something that converts to one
  }
}

}  // namespace detail

class context {
 public:
  context(const context&) = delete;
  context& operator=(const context&) = delete;

  // -- owning actor (or scoped_actor thread) only --------------------------

  pid self() const;
  runtime& system() const;

  // Sends a message. Under overflow_policy::block a full mailbox suspends
  // this actor until there is room — two actors doing that to each other
  // deadlock (docs/architecture.md); send_for is the escape.
  template <class To, class M>
  send_status send(const To& to, M&& message) {
    detail::check_message<To, M>();
    return post(detail::target_of(to), detail::make_envelope(std::forward<M>(message)), detail::send_mode::blocking,
                detail::no_timeout);
  }
  template <class To, class M>
  send_status send_for(const To& to, M&& message, std::chrono::nanoseconds timeout) {
    detail::check_message<To, M>();
    return post(detail::target_of(to), detail::make_envelope(std::forward<M>(message)), detail::send_mode::timed,
                timeout);
  }
  // Never waits: a full block-policy mailbox answers `rejected`.
  template <class To, class M>
  send_status try_send(const To& to, M&& message) {
    detail::check_message<To, M>();
    return post(detail::target_of(to), detail::make_envelope(std::forward<M>(message)), detail::send_mode::try_once,
                detail::no_timeout);
  }

  // Request/reply: sends `request` and waits for its answer. To a ref<P>
  // the reply type comes from P; to a pid it is spelled, ask<R>(pid, m).
  // Errors (weft::ask_errc): timeout, actor_down, no_actor, rejected,
  // unhandled, bad_reply_type, broken_promise, stopping, or whatever error
  // the handler answered with.
  template <class R = detail::deduced_reply, class To, class M>
  expected<typename detail::ask_result<R, std::remove_cvref_t<To>, std::remove_cvref_t<M>>::type> ask(
      const To& to, M&& request, std::chrono::nanoseconds timeout = default_ask_timeout) {
    detail::check_ask<R, To, M>();
    using reply = typename detail::ask_result<R, std::remove_cvref_t<To>, std::remove_cvref_t<M>>::type;
    error failure;
    detail::envelope* answer =
        detail::ask_envelope(cell_, detail::target_of(to), detail::make_envelope(std::forward<M>(request)), timeout,
                             failure);
    if (answer == nullptr) return failure;
    std::unique_ptr<detail::envelope, detail::envelope_deleter> hold(answer);
    return detail::open_reply<reply>(*answer);
  }

  // Selective receive (Erlang style): waits for the oldest queued message
  // whose type one of the handlers takes, calls that handler, and leaves
  // every other message queued in arrival order. A request received this
  // way is answered as in a behavior (behavior.hpp).
  template <class... Fs>
  void receive(Fs&&... handlers) {
    (void)receive_for(detail::no_timeout, std::forward<Fs>(handlers)...);
  }
  // As receive, but gives up after `timeout`; false if it did.
  template <class... Fs>
  bool receive_for(std::chrono::nanoseconds timeout, Fs&&... handlers) {
    static_assert(sizeof...(Fs) > 0, "receive needs at least one handler");
    detail::handler_set<Fs&...> set{std::tuple<Fs&...>(handlers...)};
    detail::matcher m{[](const void*, const detail::envelope& e) { return detail::handler_set<Fs&...>::matches(e); },
                      nullptr};
    detail::envelope* e = detail::receive_envelope(cell_, m, timeout);
    if (e == nullptr) return false;
    detail::handling_scope scope(cell_, e);
    set.invoke(*e, cell_);
    return true;
  }
  // Waits for the oldest queued T and returns it. (A request received this
  // way is acknowledged at once: answer requests with handlers instead.)
  template <class T>
  T receive() {
    return std::move(*receive_if<T>([](const T&) { return true; }, detail::no_timeout));
  }
  template <class T>
  std::optional<T> receive_for(std::chrono::nanoseconds timeout) {
    return receive_if<T>([](const T&) { return true; }, timeout);
  }
  // Waits for the oldest queued T that satisfies pred.
  template <class T, class Pred>
  std::optional<T> receive_if(Pred pred, std::chrono::nanoseconds timeout = detail::no_timeout) {
    struct state {
      Pred* pred;
    } st{&pred};
    detail::matcher m{[](const void* arg, const detail::envelope& e) {
                        return detail::holds<T>(e) &&
                               (*static_cast<const state*>(arg)->pred)(detail::payload<T>(const_cast<detail::envelope&>(e)));
                      },
                      &st};
    detail::envelope* e = detail::receive_envelope(cell_, m, timeout);
    if (e == nullptr) return std::nullopt;
    detail::handling_scope scope(cell_, e);
    return std::optional<T>(std::move(detail::payload<T>(*e)));
  }

  // Answers the request being handled now (no-op for plain messages), as
  // a handler's return value would: a value, an expected, an error.
  template <class R>
  void reply(R&& value) {
    reply_promise p = promise();
    p.deliver(std::forward<R>(value));
  }
  // Takes over the answer to the request being handled now: answer it
  // later, from anywhere, with deliver(). Empty for a plain message.
  reply_promise promise() {
    pid to;
    std::uint64_t id = 0;
    if (!detail::take_current_request(cell_, to, id)) return {};
    return reply_promise(std::move(to), id);
  }

  // Handler style only: replace the handlers from the next message on.
  void become(behavior next);
  template <class P>
  void become(behavior_of<P> next) {
    become(std::move(next).untyped());
  }

  // Links and monitors (Erlang semantics; docs/guide/getting-started.md).
  void link(const pid& other);
  void unlink(const pid& other);
  monitor_ref monitor(const pid& other);
  void demonitor(monitor_ref ref);
  void trap_exit(bool on);
  bool trapping_exits() const;
  // Stops this actor with `reason` (unwinds its stack; never returns):
  // how an actor, in any style, stops itself.
  [[noreturn]] void exit(exit_reason reason = exit_reason::normal());
  // Sends an exit signal to `target` (kill cannot be trapped).
  void exit(const pid& target, exit_reason reason);

  // Spawns `definition` (actor.hpp) as a child of this actor: a pid, or a
  // ref<P> for a typed actor.
  template <class D>
  detail::spawned_t<D> spawn(D&& definition, spawn_options options = {}) {
    return detail::spawn_definition(runtime_impl(), cell_, std::forward<D>(definition), std::move(options), false);
  }
  // Spawns and links atomically: the child cannot die unlinked.
  template <class D>
  detail::spawned_t<D> spawn_link(D&& definition, spawn_options options = {}) {
    return detail::spawn_definition(runtime_impl(), cell_, std::forward<D>(definition), std::move(options), true);
  }
  // A class-style actor: spawn_actor<A>(constructor args..., [spawn_options]).
  template <class A, class... Args>
  auto spawn_actor(Args&&... args) {
    return detail::spawn_class<A>(
        [this](auto&& definition, spawn_options options) { return spawn(std::move(definition), std::move(options)); },
        std::forward<Args>(args)...);
  }

  // Timers: deliver `message` to `to` after `delay` (a normal send that
  // never blocks: a full mailbox applies drop/reject, block counts as reject).
  template <class To, class M>
  timer_ref send_after(std::chrono::nanoseconds delay, const To& to, M&& message) {
    detail::check_message<To, M>();
    auto holder = std::make_shared<std::decay_t<M>>(std::forward<M>(message));
    return {detail::start_timer(runtime_impl(), delay, std::chrono::nanoseconds::zero(), detail::target_of(to),
                                [holder]() { return detail::make_envelope(std::move(*holder)); })};
  }
  // Delivers a copy of `message` every `period`, until cancelled or `to` dies.
  template <class To, class M>
  timer_ref send_interval(std::chrono::nanoseconds period, const To& to, M message) {
    detail::check_message<To, M>();
    return {detail::start_timer(runtime_impl(), period, period, detail::target_of(to),
                                [message = std::move(message)]() { return detail::make_envelope(M(message)); })};
  }
  bool cancel_timer(timer_ref ref) { return detail::cancel_timer(runtime_impl(), ref.id); }

  // Suspends this actor for `duration`; messages keep queueing.
  void sleep_for(std::chrono::nanoseconds duration);
  // Lets other actors on this worker run first.
  void yield();

  // Runs fn on the runtime's blocking-call threads and suspends this actor
  // until it returns (its value or exception comes back here). Use it for
  // calls that block the thread: file I/O, DNS, a C library. The actor
  // cannot be stopped while fn runs; an exit signal takes effect after.
  template <class F>
  auto blocking(F&& fn) -> std::invoke_result_t<F&> {
    using R = std::invoke_result_t<F&>;
    std::exception_ptr failure;
    if constexpr (std::is_void_v<R>) {
      detail::run_blocking(cell_, [&] {
        try {
          fn();
        } catch (...) {
          failure = std::current_exception();
        }
      });
      if (failure) std::rethrow_exception(failure);
    } else {
      std::optional<R> out;
      detail::run_blocking(cell_, [&] {
        try {
          out.emplace(fn());
        } catch (...) {
          failure = std::current_exception();
        }
      });
      if (failure) std::rethrow_exception(failure);
      return std::move(*out);
    }
  }

  // Registers this actor under `name`; false if the name is taken.
  bool register_name(std::string name);
  void set_label(std::string label);
  // How this actor renders its state for runtime::describe (the debug
  // shell's `state`): called inside the actor, between messages or while
  // it waits in a receive.
  void set_describe(std::function<std::string()> describe);

 private:
  friend class detail::cell;
  friend struct detail::cell_owned;  // where an actor's own context lives
  friend class scoped_actor;
  friend struct internal::context_access;  // weft's own modules (internal.hpp)
  explicit context(detail::cell* c) noexcept : cell_(c) {}
  ~context() = default;

  detail::runtime_impl* runtime_impl() const noexcept { return detail::runtime_of(cell_); }
  send_status post(const pid& to, detail::envelope* e, detail::send_mode mode, std::chrono::nanoseconds timeout) {
    return detail::send_envelope(runtime_impl(), cell_, to, e, mode, timeout);
  }

  detail::cell* cell_;
};

}  // namespace weft
