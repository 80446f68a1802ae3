#pragma once
// Typed protocols: what an actor takes, and what it answers, as types.
//
//   struct get {};
//   struct add { int by = 1; };
//   using counter = weft::protocol<int(get), void(add)>;
//
// A signature R(M) says the actor takes messages of type M: they may be
// sent (self.send), and asked (self.ask), which then yields
// weft::expected<R>. void(M) means nothing comes back but an
// acknowledgement: asking it yields weft::expected<void> once the handler
// has run. A protocol may also be a struct deriving from weft::protocol<...>
// (then its name shows in introspection and compiler messages):
//
//   struct counter : weft::protocol<int(get), void(add)> {};
//
// weft::ref<P> is a pid that knows its actor speaks P. It is what spawning
// a typed actor returns (behavior_of<P>, stateful<P>, behavior.hpp), and
// through it the compiler checks every send and ask:
//
//   weft::ref<counter> c = rt.spawn(weft::stateful<counter>(0, ...));
//   self.send(c, add{2});                      // fine
//   weft::expected<int> n = self.ask(c, get{}); // R deduced: int
//   self.send(c, std::string("x"));            // does not compile
//
// A ref converts to a plain pid (for dynamic code: the shell, routers),
// and to a ref of any protocol it includes (ref<P> -> ref<Q> when every
// signature of Q is in P). The way back from a pid is ref_cast<P>(pid),
// checked at run time against the protocol the actor was spawned with.
//
// Thread safety: refs are values, like pids.

#include <weft/runtime/detail/envelope.hpp>
#include <weft/runtime/expected.hpp>
#include <weft/runtime/pid.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace weft {

template <class... Signatures>
struct protocol {};

// The protocol of an actor whose messages are not described by types (an
// Erlang-style actor, a behavior without a protocol): spawning it yields a
// plain pid.
struct untyped {};

namespace detail {

template <class... Ts>
struct type_list {};

template <class Signature>
struct signature_traits {
  static_assert(std::is_function_v<Signature>,
                "weft::protocol<...> takes signatures R(M): the reply type, then the message type in parentheses");
};
template <class R, class M>
struct signature_traits<R(M)> {
  using message = std::remove_cvref_t<M>;
  using reply = R;
};
template <class R, class... Ms>
struct signature_traits<R(Ms...)> {
  static_assert(sizeof...(Ms) == 1, "weft::protocol signature R(M) takes exactly one message type");
};

// The signatures of P, also when P is a struct deriving from protocol<...>.
template <class... S>
type_list<S...> signatures_of_impl(const protocol<S...>*);
template <class P>
using signatures_of = decltype(signatures_of_impl(static_cast<const P*>(nullptr)));

template <class P>
concept protocol_type = requires { signatures_of_impl(static_cast<const P*>(nullptr)); };

// Lookup of M in a signature list: found, and its reply.
template <class M, class List>
struct lookup;
template <class M>
struct lookup<M, type_list<>> {
  static constexpr bool found = false;
  using reply = void;
};
template <class M, class S, class... Rest>
struct lookup<M, type_list<S, Rest...>> {
  using here = signature_traits<S>;
  static constexpr bool match = std::is_same_v<typename here::message, M>;
  static constexpr bool found = match || lookup<M, type_list<Rest...>>::found;
  using reply = std::conditional_t<match, typename here::reply, typename lookup<M, type_list<Rest...>>::reply>;
};

template <class P, class M>
inline constexpr bool accepts = lookup<std::remove_cvref_t<M>, signatures_of<P>>::found;

// Whether every signature of Small is in Big, with the same reply.
template <class Big, class SmallList>
struct includes_list;
template <class Big, class... S>
struct includes_list<Big, type_list<S...>> {
  static constexpr bool value =
      ((lookup<typename signature_traits<S>::message, signatures_of<Big>>::found &&
        std::is_same_v<typename lookup<typename signature_traits<S>::message, signatures_of<Big>>::reply,
                       typename signature_traits<S>::reply>) &&
       ...);
};

// -- run-time description, for ref_cast and introspection ---------------------

struct protocol_entry {
  const type_tag* message;
  const type_tag* reply;
};

struct protocol_info {
  std::string_view name;
  const protocol_entry* entries;
  std::size_t size;
};

template <class List>
struct entries_of;
template <class... S>
struct entries_of<type_list<S...>> {
  static constexpr protocol_entry value[sizeof...(S) + 1] = {
      {&type_tag_of<typename signature_traits<S>::message>, &type_tag_of<typename signature_traits<S>::reply>}...,
      {nullptr, nullptr}};
};

template <class List>
struct list_size;
template <class... S>
struct list_size<type_list<S...>> {
  static constexpr std::size_t value = sizeof...(S);
};

template <class P>
inline constexpr protocol_info protocol_info_of{type_name_of<P>(), entries_of<signatures_of<P>>::value,
                                                list_size<signatures_of<P>>::value};

// Whether `actor` (what an actor was spawned with) takes every message of
// `wanted` with the same reply. Defined in the runtime.
bool protocol_includes(const protocol_info* actor, const protocol_info& wanted) noexcept;
// The protocol `who` was spawned with (nullptr: untyped).
const protocol_info* protocol_of(const pid& who) noexcept;

template <class List, class... More>
struct extend_list;
template <class... S, class... More>
struct extend_list<type_list<S...>, More...> {
  using type = protocol<S..., More...>;
};

// Compile-time checks with messages that name the types involved: the
// failing instantiation's name and arguments appear in the diagnostic.
template <class Message, class Protocol>
struct message_not_in_protocol {
  static constexpr bool value = false;
};
template <class Message, class Protocol>
constexpr void require_message_in_protocol() {
  if constexpr (!accepts<Protocol, Message>) {
    static_assert(message_not_in_protocol<Message, Protocol>::value,
                  "weft: this message type is not in the actor's protocol: see "
                  "'message_not_in_protocol<Message, Protocol>' below");
  }
}

template <class Asked, class Replied, class Message>
struct ask_with_wrong_reply_type {
  static constexpr bool value = false;
};

}  // namespace detail

// The reply type of M in protocol P (void for void(M)).
template <class P, class M>
using reply_type_t = typename detail::lookup<std::remove_cvref_t<M>, detail::signatures_of<P>>::reply;

// A protocol with more signatures: extend<counter, std::string(name)>.
template <class P, class... More>
using extend = typename detail::extend_list<detail::signatures_of<P>, More...>::type;

template <class P>
class ref {
  static_assert(detail::protocol_type<P>, "weft::ref<P>: P must be a weft::protocol<...> (or derive from one)");

 public:
  using protocol_type = P;

  ref() noexcept = default;
  // A ref to a protocol that includes all of P's signatures is a ref to P.
  template <class Q>
    requires(!std::is_same_v<Q, P> && detail::includes_list<Q, detail::signatures_of<P>>::value)
  ref(const ref<Q>& other) noexcept : pid_(other.to_pid()) {}  // NOLINT(google-explicit-constructor)

  // Untyped code may use a ref as a pid.
  operator const pid&() const noexcept { return pid_; }  // NOLINT(google-explicit-constructor)
  const pid& to_pid() const noexcept { return pid_; }
  explicit operator bool() const noexcept { return static_cast<bool>(pid_); }
  std::uint64_t id() const noexcept { return pid_.id(); }
  std::string to_string() const { return pid_.to_string(); }

  friend bool operator==(const ref& a, const ref& b) noexcept { return a.pid_ == b.pid_; }
  friend auto operator<=>(const ref& a, const ref& b) noexcept { return a.pid_ <=> b.pid_; }

  // For the runtime's spawn and for ref_cast, which have checked the protocol.
  static ref adopt_checked(pid p) noexcept {
    ref r;
    r.pid_ = std::move(p);
    return r;
  }

 private:
  pid pid_;
};

// The checked way from a pid to a ref: the actor must have been spawned with
// a protocol that includes every signature of P. Errors: no_actor (empty
// pid, or the actor has exited), wrong_protocol.
template <class P>
expected<ref<P>> ref_cast(const pid& who) {
  if (!who) return error(ask_errc::no_actor, "ref_cast: the pid is empty");
  const detail::protocol_info* has = detail::protocol_of(who);
  if (!detail::protocol_includes(has, detail::protocol_info_of<P>)) {
    return error(ask_errc::wrong_protocol,
                 "ref_cast: " + who.to_string() + " speaks " +
                     (has != nullptr ? std::string(has->name) : std::string("no typed protocol")) + ", not " +
                     std::string(detail::type_name_of<P>()));
  }
  return ref<P>::adopt_checked(who);
}

template <class T>
struct is_ref : std::false_type {};
template <class P>
struct is_ref<ref<P>> : std::true_type {};
template <class T>
inline constexpr bool is_ref_v = is_ref<std::remove_cvref_t<T>>::value;

}  // namespace weft

template <class P>
struct std::hash<weft::ref<P>> {
  std::size_t operator()(const weft::ref<P>& r) const noexcept { return std::hash<weft::pid>{}(r.to_pid()); }
};
