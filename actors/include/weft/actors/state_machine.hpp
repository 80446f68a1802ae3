#pragma once
// weft::actors::state_machine — OTP's gen_statem on weft's typed layer: an
// actor whose reaction to each event depends on its state, with state-enter
// calls, postponed and self-inserted events, and three kinds of timeout.
//
//   struct push {}; struct coin {}; struct is_open {};
//   using turnstile_protocol = weft::protocol<void(push), void(coin), bool(is_open)>;
//   struct locked {}; struct open {};
//   struct relock {};                                   // a timeout's event
//
//   class turnstile {
//    public:
//     using protocol_type = turnstile_protocol;
//     using state_type = std::variant<locked, open>;  // states as types (or an enum)
//     using sm_type = weft::actors::state_machine_context<turnstile>;
//
//     state_type init(sm_type&) { return locked{}; }
//     void on_enter(sm_type& sm, open&) { sm.state_timeout(std::chrono::seconds(5), relock{}); }
//     void handle_event(sm_type& sm, locked&, const coin&) { sm.transition(open{}); }
//     void handle_event(sm_type&, open&, const coin&) { ++refunds_; }
//     void handle_event(sm_type& sm, open&, const push&) { sm.transition(locked{}); }
//     void handle_event(sm_type& sm, open&, const relock&) { sm.transition(locked{}); }
//     void handle_event(sm_type& sm, locked&, const push&) { sm.postpone(); }  // retried once open
//     template <class S> bool handle_event(sm_type&, S&, const is_open&) { return std::is_same_v<S, open>; }
//    private:
//     int refunds_ = 0;
//   };
//
//   weft::ref<turnstile_protocol> t = rt.spawn(weft::actors::state_machine<turnstile>());
//
// The state is a std::variant of state structs (each may carry data, and
// handlers get it by mutable reference) or a value (an enum; handlers get
// it by const reference). What OTP calls Data is the implementation's own
// members.
//
// Callback contract (`sm` is a state_machine_context<Impl>&; everything
// runs inside the actor, one callback at a time):
//
//   user code (Impl)                                the state machine
//   ----------------                                -----------------
//   Impl(args...), then                <----------- constructed inside the actor
//   init(sm) -> state | expected<state>              (an error or a throw fails
//                                                    the start, startup.hpp);
//                                                    may set timeouts, next_event
//   on_enter(sm, S&)                   <----------- after init, and after each
//     (optional, per state; or                       state change, before any
//     on_enter(sm, const State&) for                 other event: may set
//     value states)                                  timeouts, and reply to the
//                                                    event that changed state;
//                                                    not transition, postpone,
//                                                    next_event
//   handle_event(sm, S&, const E&)     <----------- one event E in state S: a
//     -> R | expected<R> | void                      protocol message (a call's
//                                                    reply is the return value,
//                                                    sent at once, or sm.reply /
//                                                    sm.promise(); an asked
//                                                    event a void handler leaves
//                                                    unanswered is acknowledged
//                                                    once the machine is done
//                                                    with it: transition, enter
//                                                    call, inserted events),
//                                                    a timeout's event, a
//                                                    next_event, down_msg /
//                                                    exit_msg / dead_letter, or
//                                                    a type of info_messages
//     sm.transition(next) ------------------------> after the handler: the new
//                                                    state; a change (not == the
//                                                    old one, or another variant
//                                                    alternative when the states
//                                                    have no ==) cancels the
//                                                    state timeout, calls
//                                                    on_enter, retries postponed
//     sm.postpone() ------------------------------> keeps this event; retried
//                                                    after the next state change,
//                                                    in original order (a call
//                                                    keeps its right to a reply)
//     sm.next_event(e) ---------------------------> e is handled next, before any
//                                                    queued message (several: in
//                                                    order; then the retried
//                                                    postponed ones)
//   terminate(sm, const exit_reason&)  <----------- as a server's (server.hpp)
//
// Timeouts — each delivers its event to handle_event when it fires, on the
// runtime's clock (a manual_clock in tests):
//
//   kind                     set with                       cancelled by
//   ----                     --------                       ------------
//   state timeout            sm.state_timeout(d, e)         a state change (one
//                                                           set by the handler that
//                                                           changes state is for the
//                                                           new state), or
//                                                           cancel_state_timeout()
//   event timeout            sm.event_timeout(d, e)         any event (a message, a
//                                                           next_event, a retried
//                                                           postponed event, another
//                                                           timeout), or
//                                                           cancel_event_timeout()
//   generic timeout (named)  sm.timeout("name", d, e)       cancel_timeout("name")
//
// Setting one that is running replaces it (time and event). Each timer
// carries a generation: a timeout cancelled or replaced after its message
// was already queued is dropped when that message arrives, never delivered
// as its event.
//
// An event with no handler in the current state: a request is answered at
// once with ask_errc::unhandled naming the event and the state; anything
// else is dropped (and counted: state_machine_context::unhandled_events()).
// Write a template handler to catch events in every state.
//
// Exits follow the server's rules (server.hpp): a trapped exit_msg from the
// parent or the runtime stops the machine; others are events if some state
// handles exit_msg, else an abnormal one stops it.
//
// Hazards:
//   * An event postponed in a state that never changes stays queued forever
//     (so does a call's asker, until its own timeout).
//   * Handlers get events as lvalues: take them by const reference. A
//     handler that moves from an event and then postpones it retries the
//     moved-from event.
//   * Timeout events are held by the machine until they fire; one that is
//     big is allocated (events up to 32 bytes are held inline).
//
// Differences from OTP: events are typed (handle_event overloads, chosen by
// the compiler); there is no event type argument (a timeout delivers the
// event you gave it); a zero timeout goes through the clock like any other
// (on a manual_clock it fires when time is advanced, even by zero);
// repeat_state and hibernate do not exist.
//
// Cost per event: one pointer compare per protocol type before the match,
// one jump through std::visit, the handler; a transition moves the state;
// each timeout set or cancelled is one clock operation (nothing allocated
// for events up to 32 bytes).

#include <weft/actors/detail/state_machine_core.hpp>
#include <weft/actors/server.hpp>  // call and cast: the client side of a state machine too
#include <weft/actors/startup.hpp>
#include <weft/runtime/context.hpp>

#include <chrono>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <utility>

namespace weft::actors {

// The state machine's side of the actor, handed to every callback. Owner:
// the machine's actor, inside its callbacks.
template <class Impl>
class state_machine_context {
  using core_type = detail::state_machine_core<Impl>;

 public:
  using state_type = typename Impl::state_type;

  state_machine_context(const state_machine_context&) = delete;
  state_machine_context& operator=(const state_machine_context&) = delete;

  // The actor's context: send, ask, monitor, timers, exit...
  context& actor() const noexcept { return *actor_; }
  context* operator->() const noexcept { return actor_; }
  operator context&() const noexcept { return *actor_; }  // NOLINT(google-explicit-constructor): for call/cast

  // The current state (during a handler: the one it was called in; not
  // before init has returned it).
  const state_type& state() const { return core_->state(); }

  // -- handle_event only --
  // The state after this handler (a state_type, or one of its alternatives).
  template <class S>
  void transition(S&& next) {
    core_->transition(std::forward<S>(next));
  }
  // Keeps this event until the next state change.
  void postpone() { core_->postpone(); }
  // (also in init) Handles `event` next, before any queued message.
  template <class E>
  void next_event(E&& event) {
    detail::require_handled<Impl, std::decay_t<E>>();
    core_->next_event(std::forward<E>(event));
  }

  // -- init, handle_event and on_enter --
  template <class E>
  void state_timeout(std::chrono::nanoseconds after, E&& event) {
    detail::require_handled<Impl, std::decay_t<E>>();
    core_->set_state_timeout(after, std::forward<E>(event));
  }
  void cancel_state_timeout() { core_->cancel_state_timeout(); }
  template <class E>
  void event_timeout(std::chrono::nanoseconds after, E&& event) {
    detail::require_handled<Impl, std::decay_t<E>>();
    core_->set_event_timeout(after, std::forward<E>(event));
  }
  void cancel_event_timeout() { core_->cancel_event_timeout(); }
  template <class E>
  void timeout(std::string_view name, std::chrono::nanoseconds after, E&& event) {
    detail::require_handled<Impl, std::decay_t<E>>();
    core_->set_generic_timeout(name, after, std::forward<E>(event));
  }
  void cancel_timeout(std::string_view name) { core_->cancel_generic_timeout(name); }

  // Answers the event being handled (if it came as a request; also a
  // postponed one, now retried): as a handler's return value would.
  template <class R>
  void reply(R&& value) {
    reply_promise answer = promise();
    answer.deliver(std::forward<R>(value));
  }
  // Takes the right to answer the event being handled later.
  reply_promise promise() { return core_->take_answer(); }

  // Events that found no handler in their state (requests among them were
  // answered with ask_errc::unhandled).
  std::uint64_t unhandled_events() const noexcept { return core_->unhandled_events(); }

 private:
  friend class detail::state_machine_core<Impl>;
  state_machine_context(context& actor, core_type& core) noexcept : actor_(&actor), core_(&core) {}
  context* actor_;
  core_type* core_;
};


// A state machine definition: Impl is constructed, inside the actor, from
// copies of `args` at every spawn.
template <class Impl, class... Args>
auto state_machine(Args&&... args) {
  static_assert(detail::check_state_machine<Impl>());
  return detail::state_machine_definition<Impl, std::decay_t<Args>...>{
      std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...)};
}

}  // namespace weft::actors