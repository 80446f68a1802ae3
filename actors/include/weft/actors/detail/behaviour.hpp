#pragma once
// Pieces shared by the OTP-style behaviours of weft::actors (server.hpp,
// state_machine.hpp). Internal, but for `messages<...>`, which users name
// in their behaviour's `info_messages`.

#include <weft/actors/startup.hpp>
#include <weft/runtime/actor.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/error.hpp>
#include <weft/runtime/exit_reason.hpp>
#include <weft/runtime/expected.hpp>
#include <weft/runtime/messages.hpp>
#include <weft/runtime/protocol.hpp>

#include <concepts>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <tuple>
#include <new>
#include <type_traits>
#include <utility>
#include <variant>

namespace weft::actors {

// A list of message types: what a behaviour takes besides its protocol
// (messages it sends itself through its pid, e.g. with send_after):
//
//   using info_messages = weft::actors::messages<tick, flush>;
template <class... Ts>
struct messages {};

namespace detail {

// -- type lists ------------------------------------------------------------

template <class A, class B>
struct join;
template <class... A, class... B>
struct join<messages<A...>, messages<B...>> {
  using type = messages<A..., B...>;
};
template <class A, class B>
using join_t = typename join<A, B>::type;

// messages<T> if `keep`, else nothing.
template <bool Keep, class T>
using keep_if = std::conditional_t<Keep, messages<T>, messages<>>;

template <class T>
struct is_variant : std::false_type {};
template <class... Ts>
struct is_variant<std::variant<Ts...>> : std::true_type {};
template <class T>
inline constexpr bool is_variant_v = is_variant<std::remove_cvref_t<T>>::value;

// -- an event held for later -------------------------------------------------

// One event of any type, held until `Core::dispatch_boxed(E&)` is called
// with it: a continue step, a self-inserted or postponed event, the event a
// timeout delivers. Events up to `inline_bytes` (nothrow-movable) stay in
// the box; bigger ones go to the heap.
//
// Owner: the actor whose core holds it. Move a box out of any container
// before dispatching it: the handler it runs may grow that container.
template <class Core>
class event_box {
  static constexpr std::size_t inline_bytes = 32;

  struct ops {
    void (*dispatch)(Core& core, void* event);
    void (*relocate)(void* from, void* to) noexcept;  // move-construct at `to`, end `from`
    void (*destroy)(void* event) noexcept;
  };

  template <class E>
  static constexpr bool stays_inline = sizeof(E) <= inline_bytes && alignof(E) <= alignof(std::max_align_t) &&
                                       std::is_nothrow_move_constructible_v<E>;

  template <class E>
  static constexpr ops inline_ops{[](Core& core, void* p) { core.dispatch_boxed(*static_cast<E*>(p)); },
                                  [](void* from, void* to) noexcept {
                                    ::new (to) E(std::move(*static_cast<E*>(from)));
                                    static_cast<E*>(from)->~E();
                                  },
                                  [](void* p) noexcept { static_cast<E*>(p)->~E(); }};
  template <class E>
  static constexpr ops heap_ops{[](Core& core, void* p) { core.dispatch_boxed(**static_cast<E**>(p)); },
                                [](void* from, void* to) noexcept { ::new (to) E*(*static_cast<E**>(from)); },
                                [](void* p) noexcept { delete *static_cast<E**>(p); }};

 public:
  event_box() noexcept = default;
  template <class E>
  static event_box hold(E&& event) {
    using V = std::decay_t<E>;
    event_box box;
    if constexpr (stays_inline<V>) {
      ::new (static_cast<void*>(box.buffer_)) V(std::forward<E>(event));
      box.ops_ = &inline_ops<V>;
    } else {
      ::new (static_cast<void*>(box.buffer_)) V*(new V(std::forward<E>(event)));
      box.ops_ = &heap_ops<V>;
    }
    return box;
  }
  event_box(event_box&& other) noexcept : ops_(std::exchange(other.ops_, nullptr)) {
    if (ops_ != nullptr) ops_->relocate(other.buffer_, buffer_);
  }
  event_box& operator=(event_box&& other) noexcept {
    if (this != &other) {
      reset();
      ops_ = std::exchange(other.ops_, nullptr);
      if (ops_ != nullptr) ops_->relocate(other.buffer_, buffer_);
    }
    return *this;
  }
  event_box(const event_box&) = delete;
  event_box& operator=(const event_box&) = delete;
  ~event_box() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }
  void reset() noexcept {
    if (ops_ != nullptr) std::exchange(ops_, nullptr)->destroy(buffer_);
  }
  // Passes the event, as an lvalue the core may move from, to
  // core.dispatch_boxed. The box keeps (and later destroys) what is left.
  void dispatch(Core& core) { ops_->dispatch(core, buffer_); }

 private:
  alignas(std::max_align_t) unsigned char buffer_[inline_bytes];
  const ops* ops_ = nullptr;
};

// -- exits ---------------------------------------------------------------------

// Whether a trapped exit is the order to stop (OTP's rule for a behaviour
// whose parent exits): it comes from the actor's parent (its spawner: a
// supervisor, the starter), or from no actor (the runtime shutting down).
// Defined in src/startup.cpp.
bool is_stop_order(context& self, const exit_msg& exit);

// -- states ----------------------------------------------------------------------

// Whether a state type compares with `==` (a variant: all of its
// alternatives do; std::variant's own operator== is declared regardless).
template <class T>
struct comparable_state : std::bool_constant<std::equality_comparable<T>> {};
template <class... Ts>
struct comparable_state<std::variant<Ts...>> : std::bool_constant<(std::equality_comparable<Ts> && ...)> {};

// Whether moving from `a` to `b` is a change of state (state_machine.hpp):
// by `==` where the state type has it, else by the variant's alternative.
template <class State>
bool same_state(const State& a, const State& b) {
  if constexpr (comparable_state<State>::value) {
    return a == b;
  } else if constexpr (is_variant_v<State>) {
    return a.index() == b.index();
  } else {
    return false;
  }
}

// The actor body of a behaviour (server.hpp, state_machine.hpp): makes the
// Core inside the new actor, runs the user's init under the start
// handshake (startup.hpp: the starter hears exactly once how init went),
// then gives the runtime Core's handlers. Core provides
// construct(tuple<Args...>&&), run_init() -> expected<void>,
// make_behavior(), started() (what runs before the first message: a
// server's continue steps, a state machine's first enter call) and
// run_terminate(reason).
template <class Core, class Impl, class... Args>
class behaviour_body final : public weft::detail::actor_body {
 public:
  behaviour_body(std::tuple<Args...> args, startup_config startup)
      : args_(std::move(args)), startup_(std::move(startup)) {}

  bool handler_style() const noexcept override { return true; }
  const weft::detail::protocol_info* protocol() const noexcept override {
    return &weft::detail::protocol_info_of<typename Impl::protocol_type>;
  }

  weft::behavior init(context& actor) override {
    core_.emplace(actor);
    startup_handshake handshake;
    handshake.begin(actor, startup_);
    try {
      core_->construct(std::move(args_));
      expected<void> ready = core_->run_init();
      if (!ready) {
        error why = std::move(ready).error();
        handshake.fail(why);
        actor.exit(exit_reason::error("init failed: " + why.to_string()));
      }
    } catch (const std::exception& e) {
      handshake.fail(error(ask_errc::actor_down, "init of " + actor.self().to_string() + " threw: " + e.what()));
      throw;
    }
    initialized_ = true;
    handshake.succeed();
    weft::behavior handlers = core_->make_behavior();
    core_->started();
    return handlers;
  }

  void on_exit(context&, const exit_reason& reason) noexcept override {
    if (initialized_) core_->run_terminate(reason);
  }

 private:
  std::tuple<Args...> args_;
  startup_config startup_;
  std::optional<Core> core_;
  bool initialized_ = false;
};

// What server<Impl>(args...) and state_machine<Impl>(args...) return:
// spawn it (rt.spawn, self.spawn, sup::worker) for a
// ref<Impl::protocol_type>, or start it (startup.hpp).
template <class Core, class Impl, class... Args>
struct behaviour_definition {
  using protocol_type = typename Impl::protocol_type;
  std::tuple<Args...> args;
  startup_config startup{};

  std::unique_ptr<weft::detail::actor_body> make_body() const& {
    return std::make_unique<behaviour_body<Core, Impl, Args...>>(args, startup);
  }
  std::unique_ptr<weft::detail::actor_body> make_body() && {
    return std::make_unique<behaviour_body<Core, Impl, Args...>>(std::move(args), std::move(startup));
  }
};

}  // namespace detail
}  // namespace weft::actors
