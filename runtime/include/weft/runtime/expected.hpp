#pragma once
// weft::expected<T, E> — a value or the error that took its place, the
// result type of every weft operation that can fail (an ask, a socket
// read, a supervisor call, a journal write). C++20 has no std::expected;
// this one follows C++23's interface for what weft uses, so code moves to
// std::expected by changing the name:
//
//   weft::expected<int> n = self.ask(counter, get{});
//   if (!n) fmt::print("no count: {}\n", n.error());   // weft::error
//   else    use(*n);
//
// An expected<T> is made from a T, or from an E (here implicitly, as
// weft's handlers return errors that way), or from unexpected(e).
// value() on an error throws bad_expected_access with the error's text.
//
// Thread safety: a value type; as safe as T and E.

#include <weft/runtime/error.hpp>

#include <concepts>
#include <exception>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace weft {

template <class E>
class unexpected {
 public:
  explicit unexpected(E error) : error_(std::move(error)) {}
  const E& error() const& noexcept { return error_; }
  E&& error() && noexcept { return std::move(error_); }

 private:
  E error_;
};

template <class E>
unexpected(E) -> unexpected<E>;

// Thrown by value() when there is no value.
class bad_expected_access : public std::exception {
 public:
  explicit bad_expected_access(std::string what) : what_(std::move(what)) {}
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  std::string what_;
};

namespace detail {
template <class E>
[[noreturn]] void throw_bad_expected_access(const E& e) {
  if constexpr (std::is_same_v<E, error>) {
    throw bad_expected_access("weft::expected has no value: " + e.to_string());
  } else {
    throw bad_expected_access("weft::expected has no value");
  }
}
}  // namespace detail

template <class T, class E = error>
class expected;

template <class T>
struct is_expected : std::false_type {};
template <class T, class E>
struct is_expected<expected<T, E>> : std::true_type {};
template <class T>
inline constexpr bool is_expected_v = is_expected<std::remove_cvref_t<T>>::value;

template <class T, class E>
class [[nodiscard]] expected {
  static_assert(!std::is_reference_v<T>, "weft::expected<T&> is not supported: use a pointer or reference_wrapper");
  static_assert(!std::is_same_v<std::remove_cv_t<T>, E>, "weft::expected<E, E> would be ambiguous");

 public:
  using value_type = T;
  using error_type = E;

  expected()
    requires std::is_default_constructible_v<T>
      : v_(std::in_place_index<0>) {}
  template <class U = T>
    requires(std::is_constructible_v<T, U &&> && !std::is_same_v<std::remove_cvref_t<U>, expected> &&
             !std::is_same_v<std::remove_cvref_t<U>, E> && !std::is_same_v<std::remove_cvref_t<U>, unexpected<E>>)
  expected(U&& value)  // NOLINT(google-explicit-constructor): a T is an expected<T>
      : v_(std::in_place_index<0>, std::forward<U>(value)) {}
  expected(E error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT(google-explicit-constructor)
  template <class G>
  expected(unexpected<G> u) : v_(std::in_place_index<1>, E(std::move(u).error())) {}  // NOLINT

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & {
    check();
    return std::get<0>(v_);
  }
  const T& value() const& {
    check();
    return std::get<0>(v_);
  }
  T&& value() && {
    check();
    return std::get<0>(std::move(v_));
  }
  // Precondition: has_value() (unchecked, as in std::expected).
  T& operator*() & noexcept { return *std::get_if<0>(&v_); }
  const T& operator*() const& noexcept { return *std::get_if<0>(&v_); }
  T&& operator*() && noexcept { return std::move(*std::get_if<0>(&v_)); }
  T* operator->() noexcept { return std::get_if<0>(&v_); }
  const T* operator->() const noexcept { return std::get_if<0>(&v_); }

  // Precondition: !has_value().
  const E& error() const& noexcept { return *std::get_if<1>(&v_); }
  E&& error() && noexcept { return std::move(*std::get_if<1>(&v_)); }

  template <class U>
  T value_or(U&& fallback) const& {
    return has_value() ? std::get<0>(v_) : static_cast<T>(std::forward<U>(fallback));
  }
  template <class U>
  T value_or(U&& fallback) && {
    return has_value() ? std::get<0>(std::move(v_)) : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  void check() const {
    if (!has_value()) detail::throw_bad_expected_access(std::get<1>(v_));
  }
  std::variant<T, E> v_;
};

// An expected equals a value when it holds one equal to it (as in C++23).
template <class T, class E, class U>
  requires(!is_expected_v<U> && requires(const T& t, const U& u) {
    { t == u } -> std::convertible_to<bool>;
  })
bool operator==(const expected<T, E>& x, const U& value) {
  return x.has_value() && *x == value;
}

template <class E>
class [[nodiscard]] expected<void, E> {
 public:
  using value_type = void;
  using error_type = E;

  expected() noexcept = default;
  expected(E error) : error_(std::move(error)), has_error_(true) {}  // NOLINT(google-explicit-constructor)
  template <class G>
  expected(unexpected<G> u) : error_(E(std::move(u).error())), has_error_(true) {}  // NOLINT

  bool has_value() const noexcept { return !has_error_; }
  explicit operator bool() const noexcept { return has_value(); }
  void value() const {
    if (has_error_) detail::throw_bad_expected_access(error_);
  }
  void operator*() const noexcept {}
  const E& error() const& noexcept { return error_; }
  E&& error() && noexcept { return std::move(error_); }

 private:
  E error_{};
  bool has_error_ = false;
};



}  // namespace weft
