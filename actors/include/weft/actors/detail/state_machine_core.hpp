#pragma once
// The inside of weft::actors::state_machine (state_machine.hpp): the
// timers, the compile-time checks, the running machine and its actor body.
// Internal: users include state_machine.hpp.

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
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace weft::actors {

// Defined in state_machine.hpp; the core below holds one.
template <class Impl>
class state_machine_context;


namespace detail {

template <class Impl>
class state_machine_core;

// -- timers ------------------------------------------------------------------------

enum class timeout_kind : std::uint8_t { state, event, generic };

// What the clock delivers to the machine itself when a timeout falls due.
struct timeout_fired {
  timeout_kind kind;
  std::uint64_t generation;
};

// Files a timer on the runtime's clock that delivers timeout_fired{kind,
// generation} to `self` after `after` (src/state_machine.cpp).
timer_ref file_timeout(context& self, std::chrono::nanoseconds after, timeout_kind kind, std::uint64_t generation);

template <class Core>
struct timeout_slot {
  std::uint64_t generation = 0;  // 0: not running
  timer_ref timer;
  event_box<Core> event;
  bool running() const noexcept { return generation != 0; }
};

template <class Core>
struct named_timeout {
  std::string name;
  timeout_slot<Core> slot;
};

// An event waiting in the machine's own queue (inserted or postponed),
// with the right to answer it if it came as a request.
template <class Core>
struct queued_event {
  event_box<Core> event;
  reply_promise answer;
};

// -- what an implementation has ------------------------------------------------

// A handler for event E in state S (S const-qualified for value states).
template <class Impl, class S, class E>
concept has_state_handler = requires(Impl& impl, state_machine_context<Impl>& sm, S& s, E& e) {
  impl.handle_event(sm, s, e);
};
template <class Impl, class S>
concept has_state_enter = requires(Impl& impl, state_machine_context<Impl>& sm, S& s) { impl.on_enter(sm, s); };
template <class Impl>
concept has_machine_terminate =
    requires(Impl& impl, state_machine_context<Impl>& sm, const exit_reason& r) { impl.terminate(sm, r); };

// Whether some state handles E.
template <class Impl, class State, class E>
struct handled_in_some_state : std::bool_constant<has_state_handler<Impl, const State, E>> {};
template <class Impl, class... S, class E>
struct handled_in_some_state<Impl, std::variant<S...>, E> : std::bool_constant<(has_state_handler<Impl, S, E> || ...)> {
};
template <class Impl, class E>
inline constexpr bool handles_event = handled_in_some_state<Impl, typename Impl::state_type, E>::value;

template <class Impl>
struct machine_info_list {
  using type = messages<>;
};
template <class Impl>
  requires requires { typename Impl::info_messages; }
struct machine_info_list<Impl> {
  using type = typename Impl::info_messages;
};

template <class Impl>
using machine_infos = join_t<join_t<keep_if<handles_event<Impl, down_msg>, down_msg>,
                                    keep_if<handles_event<Impl, dead_letter>, dead_letter>>,
                             typename machine_info_list<Impl>::type>;

// -- compile-time checks ---------------------------------------------------------

template <class Impl>
struct state_machine_without_protocol_or_state_type {
  static constexpr bool value = false;
};
template <class Impl>
struct state_machine_without_init_returning_its_state {
  static constexpr bool value = false;
};
template <class Event, class Impl>
struct state_machine_event_without_handler_in_any_state {
  static constexpr bool value = false;
};
template <class Event, class ProtocolReply, class HandlerReturns>
struct state_machine_handler_returns_wrong_type {
  static constexpr bool value = false;
};

template <class Impl, class E>
constexpr void require_handled() {
  if constexpr (!handles_event<Impl, E>) {
    static_assert(state_machine_event_without_handler_in_any_state<E, Impl>::value,
                  "weft::actors::state_machine: no state has handle_event(sm, S&, const E&) for this event: see "
                  "'state_machine_event_without_handler_in_any_state<Event, Impl>' below");
  }
}

template <class Impl, class R>
constexpr bool init_returns_state() {
  using S = typename Impl::state_type;
  if constexpr (is_expected_v<R>) {
    return std::is_constructible_v<S, typename R::value_type>;
  } else {
    return std::is_constructible_v<S, R>;
  }
}

template <class Impl>
constexpr bool check_state_machine() {
  if constexpr (!requires {
                  typename Impl::protocol_type;
                  typename Impl::state_type;
                }) {
    static_assert(state_machine_without_protocol_or_state_type<Impl>::value,
                  "weft::actors::state_machine<Impl>: Impl needs `using protocol_type = weft::protocol<...>;` and "
                  "`using state_type = std::variant<...>;` (or an enum)");
  } else if constexpr (!requires(Impl& impl, state_machine_context<Impl>& sm) { impl.init(sm); }) {
    static_assert(state_machine_without_init_returning_its_state<Impl>::value,
                  "weft::actors::state_machine<Impl>: Impl needs init(sm) returning the initial state");
  } else {
    using R = decltype(std::declval<Impl&>().init(std::declval<state_machine_context<Impl>&>()));
    if constexpr (!init_returns_state<Impl, R>()) {
      static_assert(state_machine_without_init_returning_its_state<Impl>::value,
                    "weft::actors::state_machine<Impl>: init(sm) must return the initial state (a state_type, "
                    "one of its alternatives, or weft::expected of it)");
    }
    []<class... S>(weft::detail::type_list<S...>) {
      (require_handled<Impl, typename weft::detail::signature_traits<S>::message>(), ...);
    }(weft::detail::signatures_of<typename Impl::protocol_type>{});
    []<class... I>(messages<I...>) { (require_handled<Impl, I>(), ...); }(typename machine_info_list<Impl>::type{});
  }
  return true;
}



// The running machine. Owner: the actor.
//
// One event, start to end (process):
//   1. any running event timeout is cancelled (this is an event);
//   2. the handler for (state, event) runs; a request it returned a value
//      for is answered at once (before the enter call, as OTP sends reply
//      actions before it);
//   3. a postponed event joins the postponed list, with its answer;
//   4. a transition to another state: cancel the state timeout (unless the
//      handler set or cancelled it), call on_enter, move the postponed list
//      to the front of the machine's queue;
//   5. the handler's next_events go in front of those;
//   6. a request still unanswered (a void handler) is acknowledged: a queued
//      one now, one from the mailbox by the runtime once step 7 is done;
//   7. (for a message) the queue is drained, each event through 1-6, before
//      the runtime hands the actor its next message.
template <class Impl>
class state_machine_core {
 public:
  using state_type = typename Impl::state_type;
  using protocol_type = typename Impl::protocol_type;
  using box = event_box<state_machine_core>;

  explicit state_machine_core(context& actor) : sm_(actor, *this) {}
  state_machine_core(const state_machine_core&) = delete;
  state_machine_core& operator=(const state_machine_core&) = delete;
  // Timers still filed die with the machine (a 30-day one would otherwise
  // keep the clock's entry, and the pid, for 30 days).
  ~state_machine_core() {
    cancel_slot(state_timeout_);
    cancel_slot(event_timeout_);
    for (auto& named : generic_) cancel_slot(named.slot);
  }

  template <class... Args>
  void construct(std::tuple<Args...>&& args) {
    std::apply([&](Args&... a) { impl_.emplace(std::move(a)...); }, args);
  }

  expected<void> run_init() {
    phase_ = phase::init;
    using R = decltype(impl_->init(sm_));
    if constexpr (is_expected_v<R>) {
      R initial = impl_->init(sm_);
      if (!initial) return std::move(initial).error();
      state_.emplace(std::move(*initial));
    } else {
      state_.emplace(impl_->init(sm_));
    }
    phase_ = phase::idle;
    return {};
  }

  // After a successful init (behaviour_body): the initial state's enter
  // call, then the events init inserted.
  void started() {
    enter();
    queue_front(false);
    drain();
  }

  void run_terminate(const exit_reason& reason) noexcept {
    if constexpr (has_machine_terminate<Impl>) {
      phase_ = phase::terminate;
      try {
        impl_->terminate(sm_, reason);
      } catch (...) {  // NOLINT(bugprone-empty-catch): the machine is stopping either way
      }
    }
  }

  weft::behavior make_behavior() {
    return build(weft::detail::signatures_of<protocol_type>{}, machine_infos<Impl>{});
  }

  // -- state_machine_context's operations ---------------------------------------

  const state_type& state() const {
    require(state_.has_value(), "state()", "init has not returned the first state yet");
    return *state_;
  }
  std::uint64_t unhandled_events() const noexcept { return unhandled_; }

  template <class S>
  void transition(S&& next) {
    require(phase_ == phase::event, "transition", "only a handle_event may change state (init returns the first)");
    next_.emplace(std::forward<S>(next));
  }
  void postpone() {
    require(phase_ == phase::event, "postpone", "only an event being handled can be postponed");
    postpone_ = true;
  }
  template <class E>
  void next_event(E&& event) {
    require(phase_ == phase::event || phase_ == phase::init, "next_event", "only in handle_event or init");
    inserted_.push_back(queued_event<state_machine_core>{box::hold(std::forward<E>(event)), reply_promise{}});
  }
  template <class E>
  void set_state_timeout(std::chrono::nanoseconds after, E&& event) {
    require_timers("state_timeout");
    arm(state_timeout_, timeout_kind::state, after, box::hold(std::forward<E>(event)));
    if (phase_ == phase::event) state_timeout_decided_ = true;
  }
  void cancel_state_timeout() {
    cancel_slot(state_timeout_);
    if (phase_ == phase::event) state_timeout_decided_ = true;
  }
  template <class E>
  void set_event_timeout(std::chrono::nanoseconds after, E&& event) {
    require_timers("event_timeout");
    arm(event_timeout_, timeout_kind::event, after, box::hold(std::forward<E>(event)));
  }
  void cancel_event_timeout() { cancel_slot(event_timeout_); }
  template <class E>
  void set_generic_timeout(std::string_view name, std::chrono::nanoseconds after, E&& event) {
    require_timers("timeout");
    named_timeout<state_machine_core>* named = find_named(name);
    if (named == nullptr) named = &generic_.emplace_back(named_timeout<state_machine_core>{std::string(name), {}});
    arm(named->slot, timeout_kind::generic, after, box::hold(std::forward<E>(event)));
  }
  void cancel_generic_timeout(std::string_view name) {
    for (auto it = generic_.begin(); it != generic_.end(); ++it) {
      if (it->name == name) {
        cancel_slot(it->slot);
        generic_.erase(it);
        return;
      }
    }
  }
  reply_promise take_answer() {
    if (boxed_answer_ != nullptr) return std::move(*boxed_answer_);
    return sm_.actor().promise();
  }

  // event_box's callback: a queued event or a timeout's event.
  template <class E>
  void dispatch_boxed(E& event) {
    process(event);
  }

 private:
  enum class phase : std::uint8_t { init, idle, event, enter, terminate };

  static void require(bool ok, const char* operation, const char* rule) {
    if (!ok) {
      throw std::logic_error(std::string("weft::actors::state_machine: ") + operation +
                             " here is not allowed: " + rule);
    }
  }
  void require_timers(const char* operation) const {
    require(phase_ != phase::terminate, operation, "not in terminate (the machine is stopping)");
  }

  template <class... S, class... I>
  weft::behavior build(weft::detail::type_list<S...>, messages<I...>) {
    return weft::behavior(message_handler<typename weft::detail::signature_traits<S>::message>()...,
                          timeout_handler(), exit_handler(), message_handler<I>()...);
  }

  template <class M>
  auto message_handler() {
    return [this](M message) {
      process(message);
      if (!queue_.empty()) drain();
    };
  }

  auto timeout_handler() {
    return [this](timeout_fired fired) {
      fire(fired);
      if (!queue_.empty()) drain();
    };
  }

  auto exit_handler() {
    return [this](exit_msg exit) {
      if (is_stop_order(sm_.actor(), exit)) sm_.actor().exit(exit.reason);
      if constexpr (handles_event<Impl, exit_msg>) {
        process(exit);
        if (!queue_.empty()) drain();
      } else if (!exit.reason.is_normal()) {
        sm_.actor().exit(exit.reason);
      }
    };
  }

  // Steps 1-5 for one event; `boxed_answer_` is its answer if it came from
  // the machine's queue (nullptr: the runtime's current request, if any).
  template <class E>
  void process(E& event) {
    if (event_timeout_.running()) cancel_slot(event_timeout_);
    phase_ = phase::event;
    postpone_ = false;
    state_timeout_decided_ = false;
    const bool handled = invoke(event);
    phase_ = phase::idle;
    if (postpone_) {
      postponed_.push_back(queued_event<state_machine_core>{box::hold(std::move(event)), take_answer()});
    } else if (!handled) {
      ++unhandled_;
      reply_promise answer = take_answer();
      if (answer.pending()) answer.deliver(unhandled_error<E>());
    }
    // on_enter may still answer this event (sm.reply, sm.promise()).
    const bool retry = next_.has_value() && apply_transition();
    if (retry || !inserted_.empty()) queue_front(retry);
    // A request its handler neither answered nor took is acknowledged once
    // the machine is done with it: after its transition and enter call. (One
    // from the mailbox is acknowledged by the runtime when its handling
    // ends, after the events it inserted too.)
    if (boxed_answer_ != nullptr && boxed_answer_->pending()) boxed_answer_->deliver();
    boxed_answer_ = nullptr;
  }

  template <class E>
  static constexpr bool accepts = weft::detail::accepts<protocol_type, E>;

  template <class E>
  bool invoke(E& event) {
    if constexpr (is_variant_v<state_type>) {
      return std::visit([&](auto& s) { return invoke_in<std::remove_reference_t<decltype(s)>>(s, event); }, *state_);
    } else {
      return invoke_in<const state_type>(std::as_const(*state_), event);
    }
  }

  template <class S, class E>
  bool invoke_in(S& s, E& event) {
    if constexpr (has_state_handler<Impl, S, E>) {
      using H = decltype(impl_->handle_event(sm_, s, event));
      if constexpr (std::is_void_v<H>) {
        impl_->handle_event(sm_, s, event);
      } else if constexpr (accepts<E>) {
        using R = weft::reply_type_t<protocol_type, E>;
        if constexpr (!weft::detail::reply_compatible<H, R>()) {
          static_assert(state_machine_handler_returns_wrong_type<E, R, H>::value,
                        "weft::actors::state_machine: handle_event returns another type than the protocol's reply: "
                        "see 'state_machine_handler_returns_wrong_type<Event, ProtocolReply, HandlerReturns>' below");
        }
        H result = impl_->handle_event(sm_, s, event);
        if (!postpone_) {
          reply_promise answer = take_answer();
          if (answer.pending()) deliver_as<R>(answer, std::move(result));
        }
      } else {
        (void)impl_->handle_event(sm_, s, event);  // not a request: nobody to answer
      }
      return true;
    } else {
      (void)s;
      (void)event;
      return false;
    }
  }

  // Delivers what a handler returned as the protocol's reply type R.
  template <class R, class H>
  static void deliver_as(reply_promise& answer, H&& result) {
    using V = std::remove_cvref_t<H>;
    if constexpr (std::is_void_v<R> || std::is_same_v<V, R> || std::is_same_v<V, error>) {
      answer.deliver(std::forward<H>(result));
    } else if constexpr (is_expected_v<V>) {
      if constexpr (std::is_same_v<typename V::value_type, R>) {
        answer.deliver(std::forward<H>(result));
      } else if (result.has_value()) {
        answer.deliver(R(*std::forward<H>(result)));
      } else {
        answer.deliver(std::forward<H>(result).error());
      }
    } else {
      answer.deliver(R(std::forward<H>(result)));
    }
  }

  template <class E>
  error unhandled_error() const {
    std::string_view state_name = "?";
    if constexpr (is_variant_v<state_type>) {
      std::visit([&](const auto& s) { state_name = weft::detail::type_name_of<std::remove_cvref_t<decltype(s)>>(); },
                 *state_);
    } else {
      state_name = weft::detail::type_name_of<state_type>();
    }
    return error(ask_errc::unhandled, sm_.actor().self().to_string() + " (" +
                                          std::string(weft::detail::type_name_of<Impl>()) + ") has no handler for " +
                                          std::string(weft::detail::type_name_of<E>()) + " in state " +
                                          std::string(state_name));
  }

  // Step 4; true if postponed events are to be retried.
  bool apply_transition() {
    const bool changed = !same_state(*state_, *next_);
    *state_ = std::move(*next_);
    next_.reset();
    if (!changed) return false;
    if (!state_timeout_decided_) cancel_slot(state_timeout_);
    enter();
    return !postponed_.empty();
  }

  void enter() {
    phase_ = phase::enter;
    if constexpr (is_variant_v<state_type>) {
      std::visit(
          [&](auto& s) {
            if constexpr (has_state_enter<Impl, std::remove_reference_t<decltype(s)>>) impl_->on_enter(sm_, s);
          },
          *state_);
    } else if constexpr (has_state_enter<Impl, const state_type>) {
      impl_->on_enter(sm_, std::as_const(*state_));
    }
    phase_ = phase::idle;
  }

  // Step 5 (and 4's retry): inserted events first, then the postponed ones,
  // then what was queued before.
  void queue_front(bool retry_postponed) {
    if (retry_postponed) {
      for (auto it = postponed_.rbegin(); it != postponed_.rend(); ++it) queue_.push_front(std::move(*it));
      postponed_.clear();
    }
    for (auto it = inserted_.rbegin(); it != inserted_.rend(); ++it) queue_.push_front(std::move(*it));
    inserted_.clear();
  }

  void drain() {
    while (!queue_.empty()) {
      queued_event<state_machine_core> next = std::move(queue_.front());
      queue_.pop_front();
      boxed_answer_ = &next.answer;
      next.event.dispatch(*this);
      boxed_answer_ = nullptr;
    }
  }

  // -- timeouts ----------------------------------------------------------------

  void arm(timeout_slot<state_machine_core>& slot, timeout_kind kind, std::chrono::nanoseconds after, box event) {
    if (slot.timer) sm_.actor().cancel_timer(slot.timer);
    slot.generation = ++generations_;
    slot.event = std::move(event);
    slot.timer = file_timeout(sm_.actor(), after, kind, slot.generation);
  }

  void cancel_slot(timeout_slot<state_machine_core>& slot) noexcept {
    if (!slot.running()) return;
    // If it already fired, its message is queued: the generation, now 0,
    // no longer matches it.
    if (slot.timer) sm_.actor().cancel_timer(slot.timer);
    slot.generation = 0;
    slot.timer = {};
    slot.event.reset();
  }

  named_timeout<state_machine_core>* find_named(std::string_view name) {
    for (auto& named : generic_) {
      if (named.name == name) return &named;
    }
    return nullptr;
  }

  void fire(const timeout_fired& fired) {
    box event;
    switch (fired.kind) {
      case timeout_kind::state:
        event = take_if_current(state_timeout_, fired.generation);
        break;
      case timeout_kind::event:
        event = take_if_current(event_timeout_, fired.generation);
        break;
      case timeout_kind::generic:
        for (auto it = generic_.begin(); it != generic_.end(); ++it) {
          if (it->slot.generation == fired.generation) {
            event = take_if_current(it->slot, fired.generation);
            generic_.erase(it);
            break;
          }
        }
        break;
    }
    if (!event) return;  // stale: cancelled or replaced after it fired
    boxed_answer_ = nullptr;
    event.dispatch(*this);
  }

  static box take_if_current(timeout_slot<state_machine_core>& slot, std::uint64_t generation) {
    if (!slot.running() || slot.generation != generation) return {};
    slot.generation = 0;
    slot.timer = {};
    return std::move(slot.event);
  }

  state_machine_context<Impl> sm_;
  std::optional<Impl> impl_;
  std::optional<state_type> state_;
  phase phase_ = phase::init;

  // The event being handled.
  std::optional<state_type> next_;
  bool postpone_ = false;
  bool state_timeout_decided_ = false;  // the handler set or cancelled the state timeout
  reply_promise* boxed_answer_ = nullptr;

  std::vector<queued_event<state_machine_core>> inserted_;
  std::vector<queued_event<state_machine_core>> postponed_;
  std::deque<queued_event<state_machine_core>> queue_;

  timeout_slot<state_machine_core> state_timeout_;
  timeout_slot<state_machine_core> event_timeout_;
  std::vector<named_timeout<state_machine_core>> generic_;
  std::uint64_t generations_ = 0;
  std::uint64_t unhandled_ = 0;
};

template <class Impl, class... Args>
using state_machine_definition = behaviour_definition<state_machine_core<Impl>, Impl, Args...>;

}  // namespace detail
}  // namespace weft::actors
