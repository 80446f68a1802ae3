#pragma once

// Errors of the storage layer, in weft's one error vocabulary (weft::error,
// category storage). Asynchronous completions receive a storage_status, a
// weft::expected<void>; blocking wrappers and open functions throw
// storage_error, which carries the same weft::error. Messages name what
// failed, where, and what to do about it.

#include <weft/runtime/error.hpp>
#include <weft/runtime/expected.hpp>

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace weft::persistence {

enum class storage_errc : std::uint8_t {
  io_error = 1,       // a read, write or sync system call failed
  disk_full,          // ENOSPC, EDQUOT or EFBIG while writing
  sequence_conflict,  // an append does not continue the persistence id's sequence
  invalid_argument,   // empty batch, non-consecutive numbers, oversized record
  corrupt,            // stored data failed a checksum or format check
  journal_failed,     // an earlier error left the store unusable; reopen it
  closed,             // the store was closed before the request ran
  already_open,       // another store (in this or another process) holds the directory's lock
};

std::string_view to_string(storage_errc code) noexcept;

namespace detail {
std::string_view storage_errc_name(int code) noexcept;
inline constexpr error_domain storage_domain{error_category::storage, &storage_errc_name};
}  // namespace detail

}  // namespace weft::persistence

template <>
struct weft::error_code_traits<weft::persistence::storage_errc> {
  static constexpr const error_domain* domain = &weft::persistence::detail::storage_domain;
};

namespace weft::persistence {

// Success, or the error (category storage) a storage request failed with.
using storage_status = weft::expected<void>;

// The storage code of a failed status (or of any storage error).
inline storage_errc storage_code(const weft::error& e) noexcept { return static_cast<storage_errc>(e.code()); }

class storage_error : public std::runtime_error {
 public:
  storage_error(storage_errc code, const std::string& message)
      : std::runtime_error(message), error_(code, message) {}
  explicit storage_error(weft::error e) : std::runtime_error(std::string(e.detail())), error_(std::move(e)) {}

  storage_errc code() const noexcept { return storage_code(error_); }
  const weft::error& error() const noexcept { return error_; }

 private:
  weft::error error_;
};

}  // namespace weft::persistence
