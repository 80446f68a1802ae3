#pragma once
// weft::behavior — the message handlers of a handler-style actor.
//
// A behavior is a set of callables, each taking one message type by value,
// reference or const reference. The runtime matches a message against the
// handlers' parameter types in order and calls the first match. A handler
// that returns a value answers the request it handles (see context::ask);
// for an ordinary message the value is ignored.
//
//   return weft::behavior{
//       [&](const increment& i) { count += i.by; },
//       [&](get_count) { return count; },        // a reply to ask<int>
//   };
//
// Handler-style actors hold no fiber stack between messages: the runtime
// calls a handler on whatever fiber the worker runs, and only if the
// handler blocks (receive, ask, a blocking send) does that fiber stay with
// the actor until the handler returns.

#include <weft/runtime/detail/envelope.hpp>

#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

namespace weft {

class context;

namespace detail {

template <class F>
struct callable_traits : callable_traits<decltype(&F::operator())> {};
template <class C, class R, class A>
struct callable_traits<R (C::*)(A) const> {
  using result = R;
  using arg = A;
};
template <class C, class R, class A>
struct callable_traits<R (C::*)(A)> {
  using result = R;
  using arg = A;
};
template <class C, class R, class A>
struct callable_traits<R (C::*)(A) const noexcept> {
  using result = R;
  using arg = A;
};
template <class C, class R, class A>
struct callable_traits<R (C::*)(A) noexcept> {
  using result = R;
  using arg = A;
};
template <class R, class A>
struct callable_traits<R (*)(A)> {
  using result = R;
  using arg = A;
};

template <class F>
using message_type_of = std::remove_cvref_t<typename callable_traits<std::decay_t<F>>::arg>;
template <class F>
using handler_result_of = typename callable_traits<std::decay_t<F>>::result;

class cell;

// `self` answers request `e` with `reply` (takes ownership). Defined in the runtime.
void answer_request(cell* self, envelope& request, envelope* reply);

template <class F>
bool try_invoke(F& f, envelope& e, cell* self) {
  using M = message_type_of<F>;
  if (!holds<M>(e)) return false;
  using R = handler_result_of<F>;
  if constexpr (std::is_void_v<R>) {
    f(std::move(payload<M>(e)));
  } else {
    R r = f(std::move(payload<M>(e)));
    if (e.request_id != 0 && e.reply_to) answer_request(self, e, make_envelope(std::move(r), envelope_kind::reply));
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
  struct concept_t {
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

}  // namespace weft
