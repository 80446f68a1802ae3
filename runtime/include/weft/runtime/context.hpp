#pragma once
// weft::context — an actor's view of itself and the world.
//
// Every actor gets a `context&` (call it `self`). All its members are
// owner-only: call them from the actor's own code (its function, its
// handlers), never from another actor or thread. Calls that wait (receive,
// ask, a send into a full mailbox, sleep_for, blocking) suspend only the
// actor's fiber; the worker thread runs other actors meanwhile.
//
//   user code                         runtime
//   ---------                         -------
//   self.send(p, m) ---------------> enqueue; wake p if it was idle
//   self.receive(handlers...) -----> scan queue for the first match; if
//                                    none, suspend the fiber until a new
//                                    message (or the deadline) arrives
//   self.ask<R>(p, req, 1s) -------> send req tagged with a number; wait
//                                    for the reply with that number
//   return from the function ------> exit(normal): links and monitors
//   throw std::runtime_error ------> exit(error "what()")
//
// Exiting unwinds the actor's stack with an internal exception that does
// not derive from std::exception: `catch (...)` blocks must rethrow.

#include <weft/runtime/behavior.hpp>
#include <weft/runtime/detail/backend.hpp>
#include <weft/runtime/detail/envelope.hpp>
#include <weft/runtime/exit_reason.hpp>
#include <weft/runtime/messages.hpp>
#include <weft/runtime/options.hpp>
#include <weft/runtime/pid.hpp>

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
class actor;

struct timer_ref {
  std::uint64_t id = 0;
  explicit operator bool() const noexcept { return id != 0; }
};

// The right to answer one request later (gen_server's "noreply" + reply/2).
// Dropping it unanswered tells the asker `broken_promise`.
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
  template <class R>
  void deliver(R&& value) {
    if (request_id_ == 0) return;
    detail::send_reply(to_, std::exchange(request_id_, 0),
                       detail::make_envelope(std::forward<R>(value), detail::envelope_kind::reply));
  }

 private:
  void abandon() noexcept;
  pid to_;
  std::uint64_t request_id_ = 0;
};

class context {
 public:
  explicit context(detail::cell* c) noexcept : cell_(c) {}
  context(const context&) = delete;
  context& operator=(const context&) = delete;

  // -- owning actor only ---------------------------------------------------

  pid self() const;
  runtime& system() const;

  // Sends a message. Under overflow_policy::block a full mailbox suspends
  // this actor until there is room — two actors doing that to each other
  // deadlock (docs/architecture.md); send_for is the escape.
  template <class T>
  send_status send(const pid& to, T&& message) {
    return detail::send_envelope(detail::runtime_of(cell_), cell_, to, detail::make_envelope(std::forward<T>(message)),
                                 detail::send_mode::blocking, detail::no_timeout);
  }
  template <class T>
  send_status send_for(const pid& to, T&& message, std::chrono::nanoseconds timeout) {
    return detail::send_envelope(detail::runtime_of(cell_), cell_, to, detail::make_envelope(std::forward<T>(message)), detail::send_mode::timed,
                                 timeout);
  }
  // Never waits: a full block-policy mailbox answers `rejected`.
  template <class T>
  send_status try_send(const pid& to, T&& message) {
    return detail::send_envelope(detail::runtime_of(cell_), cell_, to, detail::make_envelope(std::forward<T>(message)),
                                 detail::send_mode::try_once, detail::no_timeout);
  }

  // Selective receive: waits for the oldest queued message whose type one
  // of the handlers takes, calls that handler, and leaves every other
  // message queued in arrival order.
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
  // Waits for the oldest queued T and returns it.
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

  // Request/reply: sends `request` and waits for the answer of type R.
  template <class R, class T>
  result<R> ask(const pid& to, T&& request, std::chrono::nanoseconds timeout) {
    ask_error error{};
    detail::envelope* reply =
        detail::ask_envelope(cell_, to, detail::make_envelope(std::forward<T>(request)), timeout, error);
    if (reply == nullptr) return error;
    std::unique_ptr<detail::envelope, detail::envelope_deleter> hold(reply);
    if (!detail::holds<R>(*reply)) return ask_error::bad_reply_type;
    return result<R>(std::move(detail::payload<R>(*reply)));
  }
  // Answers the request being handled now (no-op for plain messages).
  template <class R>
  void reply(R&& value) {
    detail::reply_current(cell_, detail::make_envelope(std::forward<R>(value), detail::envelope_kind::reply));
  }
  // Takes over the answer to the request being handled now.
  reply_promise promise() {
    pid to;
    std::uint64_t id = 0;
    if (!detail::take_current_request(cell_, to, id)) return {};
    return reply_promise(std::move(to), id);
  }

  // Handler style only: replace the handlers from the next message on.
  void become(behavior next);

  // Links and monitors (Erlang semantics; docs/guide/getting-started.md).
  void link(const pid& other);
  void unlink(const pid& other);
  monitor_ref monitor(const pid& other);
  void demonitor(monitor_ref ref);
  void trap_exit(bool on);
  bool trapping_exits() const;
  // Stops this actor with `reason` (unwinds its stack; never returns).
  [[noreturn]] void exit(exit_reason reason);
  // Sends an exit signal to `target` (kill cannot be trapped).
  void exit(const pid& target, exit_reason reason);

  template <class F>
  pid spawn(F&& fn, spawn_options options = {}) {
    return detail::spawn_body(detail::runtime_of(cell_), cell_, detail::make_function_body(std::forward<F>(fn)),
                              std::move(options), false);
  }
  // Spawns and links atomically: the child cannot die unlinked.
  template <class F>
  pid spawn_link(F&& fn, spawn_options options = {}) {
    return detail::spawn_body(detail::runtime_of(cell_), cell_, detail::make_function_body(std::forward<F>(fn)),
                              std::move(options), true);
  }
  template <class A, class... Args>
  pid spawn_actor(spawn_options options, Args&&... args);

  // Timers: deliver `message` to `to` after `delay` (a normal send that
  // never blocks: a full mailbox applies drop/reject, block counts as reject).
  template <class T>
  timer_ref send_after(std::chrono::nanoseconds delay, const pid& to, T&& message) {
    auto holder = std::make_shared<std::decay_t<T>>(std::forward<T>(message));
    return {detail::start_timer(detail::runtime_of(cell_), delay, std::chrono::nanoseconds::zero(), to,
                                [holder]() { return detail::make_envelope(std::move(*holder)); })};
  }
  // Delivers a copy of `message` every `period`, until cancelled or `to` dies.
  template <class T>
  timer_ref send_interval(std::chrono::nanoseconds period, const pid& to, T message) {
    return {detail::start_timer(detail::runtime_of(cell_), period, period, to,
                                [message = std::move(message)]() { return detail::make_envelope(T(message)); })};
  }
  bool cancel_timer(timer_ref ref) { return detail::cancel_timer(detail::runtime_of(cell_), ref.id); }

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
    std::exception_ptr error;
    if constexpr (std::is_void_v<R>) {
      detail::run_blocking(cell_, [&] {
        try {
          fn();
        } catch (...) {
          error = std::current_exception();
        }
      });
      if (error) std::rethrow_exception(error);
    } else {
      std::optional<R> out;
      detail::run_blocking(cell_, [&] {
        try {
          out.emplace(fn());
        } catch (...) {
          error = std::current_exception();
        }
      });
      if (error) std::rethrow_exception(error);
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

  detail::cell* cell() const noexcept { return cell_; }

 private:
  detail::cell* cell_;
};

// Base class for handler-style actors written as classes.
//
//   struct counter : weft::actor {
//     int n = 0;
//     weft::behavior make_behavior(weft::context& self) override {
//       return {[this](int by) { n += by; }, [this](get) { return n; }};
//     }
//   };
//   pid c = rt.spawn_actor<counter>();
class actor {
 public:
  virtual ~actor() = default;
  // Called once, on the actor, before its first message.
  virtual behavior make_behavior(context& self) = 0;
  // Called on the actor as it exits, for any reason but kill.
  virtual void on_exit(context& self, const exit_reason& reason) {
    (void)self;
    (void)reason;
  }
};

namespace detail {
template <class A>
struct class_body final : actor_body {
  template <class... Args>
  explicit class_body(Args&&... args) : object(std::forward<Args>(args)...) {}
  bool handler_style() const noexcept override { return true; }
  behavior init(context& self) override { return object.make_behavior(self); }
  void on_exit(context& self, const exit_reason& reason) noexcept override {
    try {
      object.on_exit(self, reason);
    } catch (...) {  // NOLINT(bugprone-empty-catch): the actor is gone either way
    }
  }
  A object;
};
}  // namespace detail

template <class A, class... Args>
pid context::spawn_actor(spawn_options options, Args&&... args) {
  static_assert(std::is_base_of_v<actor, A>, "spawn_actor<A>: A derives from weft::actor");
  return detail::spawn_body(detail::runtime_of(cell_), cell_,
                            std::make_unique<detail::class_body<A>>(std::forward<Args>(args)...), std::move(options),
                            false);
}

}  // namespace weft
