#pragma once
// What can be spawned, and what spawning it returns.
//
//   definition                                  spawn gives
//   ----------                                  -----------
//   void fn(context&)        Erlang style        pid
//   behavior fn(context&)    handler style       pid
//   behavior_of<P> fn(context&)                  ref<P>
//   stateful<P>(init, handlers...)               ref<P> (pid without P)
//   make_actor<A>(args...)   class style         ref<P> if A::make_behavior
//                                                returns behavior_of<P>
//
// Every definition can be spawned any number of times (a supervisor
// restarts by spawning it again): functions and stateful definitions are
// copied per spawn, make_actor's arguments too. See behavior.hpp for the
// handler contract and the three styles.

#include <weft/runtime/behavior.hpp>
#include <weft/runtime/detail/backend.hpp>
#include <weft/runtime/exit_reason.hpp>
#include <weft/runtime/protocol.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace weft {

class context;

namespace detail {

template <class B>
struct behavior_protocol {
  static constexpr bool is_behavior = false;
  using type = untyped;
};
template <>
struct behavior_protocol<behavior> {
  static constexpr bool is_behavior = true;
  using type = untyped;
};
template <class P>
struct behavior_protocol<behavior_of<P>> {
  static constexpr bool is_behavior = true;
  using type = P;
};

template <class P>
const protocol_info* info_or_null() noexcept {
  if constexpr (std::is_same_v<P, untyped>) {
    return nullptr;
  } else {
    return &protocol_info_of<P>;
  }
}

inline behavior as_untyped(behavior b) { return b; }
template <class P>
behavior as_untyped(behavior_of<P> b) {
  return std::move(b).untyped();
}

template <class F>
struct function_body final : actor_body {
  using result = std::invoke_result_t<F&, context&>;
  static constexpr bool handler_style_v = !std::is_void_v<result>;
  static_assert(std::is_void_v<result> || behavior_protocol<result>::is_behavior,
                "an actor function returns void (Erlang style), weft::behavior or weft::behavior_of<P> (handler style)");

  explicit function_body(F f) : fn(std::move(f)) {}
  bool handler_style() const noexcept override { return handler_style_v; }
  const protocol_info* protocol() const noexcept override {
    if constexpr (handler_style_v) {
      return info_or_null<typename behavior_protocol<result>::type>();
    } else {
      return nullptr;
    }
  }
  behavior init(context& self) override {
    if constexpr (handler_style_v) {
      return as_untyped(fn(self));
    } else {
      (void)self;
      return {};
    }
  }
  void run(context& self) override {
    if constexpr (!handler_style_v) fn(self);
  }
  F fn;
};

// -- class style ----------------------------------------------------------

template <class A>
concept actor_class = requires(A& a, context& self) { a.make_behavior(self); };

template <class A>
struct class_body final : actor_body {
  using result = decltype(std::declval<A&>().make_behavior(std::declval<context&>()));
  static_assert(behavior_protocol<result>::is_behavior,
                "spawn_actor<A>: A::make_behavior(weft::context&) must return weft::behavior or weft::behavior_of<P>");

  template <class... Args>
  explicit class_body(Args&&... args) : object(std::forward<Args>(args)...) {}
  bool handler_style() const noexcept override { return true; }
  const protocol_info* protocol() const noexcept override {
    return info_or_null<typename behavior_protocol<result>::type>();
  }
  behavior init(context& self) override { return as_untyped(object.make_behavior(self)); }
  void on_exit(context& self, const exit_reason& reason) noexcept override {
    if constexpr (requires { object.on_exit(self, reason); }) {
      try {
        object.on_exit(self, reason);
      } catch (...) {  // NOLINT(bugprone-empty-catch): the actor is gone either way
      }
    }
  }
  A object;
};

template <class A, class... Args>
struct class_definition {
  static_assert(actor_class<A>, "spawn_actor<A> / make_actor<A>: A needs a member make_behavior(weft::context&)");
  using protocol_type = typename behavior_protocol<typename class_body<A>::result>::type;
  std::tuple<Args...> args;

  std::unique_ptr<actor_body> make_body() const& {
    return std::apply([](const Args&... a) { return std::make_unique<class_body<A>>(a...); }, args);
  }
  std::unique_ptr<actor_body> make_body() && {
    return std::apply([](Args&... a) { return std::make_unique<class_body<A>>(std::move(a)...); }, args);
  }
};

// -- stateful -------------------------------------------------------------

template <class Init>
struct state_of {
  using type = Init;
};
template <class Init>
  requires std::is_invocable_v<Init&, context&>
struct state_of<Init> {
  using type = std::remove_cvref_t<std::invoke_result_t<Init&, context&>>;
};

template <class State, class F, class Args = handler_args<F>>
struct stateful_handler_form {
  static constexpr int value = 0;  // not a stateful handler
};
template <class State, class F, class S, class M>
struct stateful_handler_form<State, F, type_list<S, M>> {
  static constexpr int value = std::is_same_v<S, State&> ? 2 : 0;
};
template <class State, class F, class C, class S, class M>
struct stateful_handler_form<State, F, type_list<C, S, M>> {
  static constexpr int value = (std::is_same_v<C, context&> && std::is_same_v<S, State&>) ? 3 : 0;
};

template <class State, class Handler>
struct stateful_handler_has_wrong_parameters {
  static constexpr bool value = false;
};

template <class P, class Init, class... Fs>
struct stateful_body final : actor_body {
  using state_type = typename state_of<Init>::type;

  stateful_body(Init i, std::tuple<Fs...> h) : init_(std::move(i)), handlers_(std::move(h)) {}
  bool handler_style() const noexcept override { return true; }
  const protocol_info* protocol() const noexcept override { return info_or_null<P>(); }
  behavior init(context& self) override {
    if constexpr (std::is_invocable_v<Init&, context&>) {
      state_.emplace(std::invoke(init_, self));
    } else {
      state_.emplace(std::move(init_));
    }
    return std::apply([&](Fs&... f) { return behavior(wrap(f, self)...); }, handlers_);
  }

 private:
  // The runtime calls handlers with one message; these pass the state too.
  // They capture `this`: the runtime drops the behavior before the body.
  template <class F>
  auto wrap(F& f, context& self) {
    using M = message_type_of<F>;
    using R = handler_result_of<F>;
    if constexpr (stateful_handler_form<state_type, F>::value == 3) {
      return [this, &f, &self](M message) -> R { return f(self, *state_, std::move(message)); };
    } else {
      return [this, &f](M message) -> R { return f(*state_, std::move(message)); };
    }
  }

  Init init_;
  std::tuple<Fs...> handlers_;
  std::optional<state_type> state_;
};

template <class P, class Init, class... Fs>
struct stateful_definition {
  using protocol_type = P;
  using state_type = typename state_of<Init>::type;
  Init init;
  std::tuple<Fs...> handlers;

  std::unique_ptr<actor_body> make_body() const& { return std::make_unique<stateful_body<P, Init, Fs...>>(init, handlers); }
  std::unique_ptr<actor_body> make_body() && {
    return std::make_unique<stateful_body<P, Init, Fs...>>(std::move(init), std::move(handlers));
  }
};

template <class State, class F>
constexpr bool check_stateful_handler() {
  if constexpr (stateful_handler_form<State, F>::value == 0) {
    static_assert(stateful_handler_has_wrong_parameters<State, F>::value,
                  "weft::stateful: a handler must take (State&, Message) or (weft::context&, State&, Message), "
                  "State being the type of the initial state: see "
                  "'stateful_handler_has_wrong_parameters<State, Handler>' below");
  }
  return true;
}

// -- any definition -------------------------------------------------------

template <class D>
concept definition_object = requires(const D& d) {
  typename D::protocol_type;
  { d.make_body() } -> std::same_as<std::unique_ptr<actor_body>>;
};

template <class D>
struct definition_traits {
  static_assert(std::is_invocable_v<D&, context&>,
                "spawn takes an actor function of weft::context&, weft::stateful(...) or weft::make_actor<A>(...)");
  using protocol_type = typename behavior_protocol<std::invoke_result_t<D&, context&>>::type;
};
template <definition_object D>
struct definition_traits<D> {
  using protocol_type = typename D::protocol_type;
};

template <class D>
using definition_protocol = typename definition_traits<std::decay_t<D>>::protocol_type;

// What spawning D returns.
template <class D>
using spawned_t = std::conditional_t<std::is_same_v<definition_protocol<D>, untyped>, pid, ref<definition_protocol<D>>>;

template <class D>
std::unique_ptr<actor_body> make_body(D&& d) {
  using Def = std::decay_t<D>;
  if constexpr (definition_object<Def>) {
    return std::forward<D>(d).make_body();
  } else {
    return std::make_unique<function_body<Def>>(std::forward<D>(d));
  }
}

// The spawn's pid as what spawning D returns: a typed actor's protocol was
// checked when its behavior was built, so the ref needs no cast.
template <class D>
spawned_t<D> as_spawned(pid p) {
  if constexpr (std::is_same_v<spawned_t<D>, pid>) {
    return p;
  } else {
    return spawned_t<D>::adopt_checked(std::move(p));
  }
}

template <class D>
spawned_t<D> spawn_definition(runtime_impl* rt, cell* parent, D&& d, spawn_options options, bool link) {
  return as_spawned<D>(spawn_body(rt, parent, make_body(std::forward<D>(d)), std::move(options), link));
}

template <class... Args>
struct ends_with_spawn_options : std::false_type {};
template <class... Args>
  requires(sizeof...(Args) > 0)
struct ends_with_spawn_options<Args...>
    : std::is_same<std::remove_cvref_t<typename last_of<type_list<Args...>>::type>, spawn_options> {};

// spawn_actor<A>(args..., [spawn_options]): options, if given, come last.
template <class A, class Spawn, class... Args>
auto spawn_class(Spawn&& spawn, Args&&... args) {
  if constexpr (ends_with_spawn_options<Args...>::value) {
    auto all = std::forward_as_tuple(std::forward<Args>(args)...);
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return spawn(class_definition<A, std::decay_t<std::tuple_element_t<I, std::tuple<Args&&...>>>...>{
                       {std::get<I>(std::move(all))...}},
                   std::get<sizeof...(Args) - 1>(std::move(all)));
    }(std::make_index_sequence<sizeof...(Args) - 1>{});
  } else {
    return spawn(class_definition<A, std::decay_t<Args>...>{{std::forward<Args>(args)...}}, spawn_options{});
  }
}

}  // namespace detail

// An actor with state handed to its handlers by reference (behavior.hpp):
//
//   weft::stateful<counter>(0, [](int& n, add a) { n += a.by; },
//                              [](int& n, get) { return n; })
//
// `init` is the initial state, or a function of context& returning it
// (called in the actor, before its first message). P is the protocol the
// handlers are checked against (omit it for an untyped actor).
template <class P = untyped, class Init, class... Fs>
auto stateful(Init&& init, Fs&&... handlers) {
  using state = typename detail::state_of<std::decay_t<Init>>::type;
  static_assert((detail::check_stateful_handler<state, std::decay_t<Fs>>() && ...));
  static_assert(detail::check_behavior<P, detail::shape_of<std::decay_t<Fs>>...>());
  return detail::stateful_definition<P, std::decay_t<Init>, std::decay_t<Fs>...>{
      std::forward<Init>(init), std::tuple<std::decay_t<Fs>...>(std::forward<Fs>(handlers)...)};
}

// A class-style actor as a definition (for sup::worker and spawn): A is
// constructed from copies of `args` at every start.
template <class A, class... Args>
auto make_actor(Args&&... args) {
  return detail::class_definition<A, std::decay_t<Args>...>{{std::forward<Args>(args)...}};
}

}  // namespace weft
