#pragma once
// weft::error — the one error type of weft: a category, a code of that
// category, and optional detail text (and, for system calls, errno).
//
//   category    codes                                    from
//   --------    -----                                    ----
//   ask         weft::ask_errc      timeout, actor_down,  asking an actor
//                                   unhandled, ...
//   net         weft::net::errc     timeout, closed, ...  net.hpp
//   storage     persistence::storage_errc                 journals, snapshots
//   command     persistence::command_errc                 persistent actors
//   supervisor  sup::errc           not_found, ...        supervisor calls
//   user        your own enum                             your handlers
//   actors      actors::delivery_errc, flow_errc,         weft/actors
//               pubsub::errc, pg::errc, registry_errc
//
// Every fallible weft operation returns weft::expected<T> (expected.hpp)
// holding either its value or an error. Compare an error with a code of
// any category:
//
//   if (r.error() == weft::ask_errc::timeout) ...
//   fmt::print("{}\n", r.error());   // "ask timeout: no reply within 1000 ms"
//
// A code enum joins the vocabulary by specializing error_code_traits (see
// ask_errc below); an application's own enum uses error_category::user.
//
// Thread safety: a value type. Copies are cheap (the text is shared).

#include <fmt/format.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

namespace weft {

enum class error_category : std::uint8_t { none, ask, net, storage, command, supervisor, user, actors };
std::string_view to_string(error_category c) noexcept;

// Everything an error needs to know about its code's enum.
struct error_domain {
  error_category category{};
  std::string_view (*name)(int code) noexcept = nullptr;  // the code's name, e.g. "timeout"
};

// Specialize for a code enum: `static constexpr const error_domain* domain`.
template <class E>
struct error_code_traits;

template <class E>
concept error_code_enum = std::is_enum_v<E> && requires {
  { error_code_traits<E>::domain } -> std::convertible_to<const error_domain*>;
};

// Why an ask (request/reply) has no reply. Also the runtime's own codes.
enum class ask_errc : std::uint8_t {
  timeout = 1,     // no reply before the deadline (a later one is dropped)
  actor_down,      // the server exited before replying
  rejected,        // the server's mailbox was full (reject or drop policy)
  no_actor,        // the pid was dead or empty when asked
  broken_promise,  // the server dropped its reply_promise unanswered
  bad_reply_type,  // the server replied with another type than asked for
  stopping,        // the runtime is shutting down
  unhandled,       // the server has no handler for the request's type
  wrong_protocol,  // ref_cast: the actor does not speak that protocol
};
std::string_view to_string(ask_errc e) noexcept;

namespace detail {
std::string_view ask_errc_name(int code) noexcept;
inline constexpr error_domain ask_domain{error_category::ask, &ask_errc_name};
}  // namespace detail

template <>
struct error_code_traits<ask_errc> {
  static constexpr const error_domain* domain = &detail::ask_domain;
};

class error {
 public:
  // No error (category none); what a default-constructed expected<void> holds.
  error() noexcept = default;

  template <error_code_enum E>
  error(E code, std::string detail = {}, int os_error = 0)  // NOLINT(google-explicit-constructor): a code is an error
      : domain_(error_code_traits<E>::domain), code_(static_cast<int>(code)), os_error_(os_error) {
    if (!detail.empty()) detail_ = std::make_shared<const std::string>(std::move(detail));
  }

  error_category category() const noexcept { return domain_ != nullptr ? domain_->category : error_category::none; }
  // The code as a number of its category's enum.
  int code() const noexcept { return code_; }
  // The code's name, e.g. "timeout".
  std::string_view code_name() const noexcept { return domain_ != nullptr ? domain_->name(code_) : "none"; }
  // What went wrong in words (may be empty), e.g. "no reply within 1000 ms".
  std::string_view detail() const noexcept { return detail_ ? std::string_view(*detail_) : std::string_view(); }
  // errno of the system call that failed, 0 if none.
  int os_error() const noexcept { return os_error_; }
  // "<category> <code>: <detail>", e.g. "ask timeout: no reply within 1000 ms".
  std::string to_string() const;

  // Whether this is `code` (of its category).
  template <error_code_enum E>
  bool is(E code) const noexcept {
    return domain_ == error_code_traits<E>::domain && code_ == static_cast<int>(code);
  }
  template <error_code_enum E>
  friend bool operator==(const error& a, E code) noexcept {
    return a.is(code);
  }
  friend bool operator==(const error& a, const error& b) noexcept {
    return a.domain_ == b.domain_ && a.code_ == b.code_;
  }

 private:
  const error_domain* domain_ = nullptr;
  int code_ = 0;
  int os_error_ = 0;
  std::shared_ptr<const std::string> detail_;
};

inline std::string to_string(const error& e) { return e.to_string(); }

}  // namespace weft

template <>
struct fmt::formatter<weft::error> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(const weft::error& e, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(e.to_string(), ctx);
  }
};
