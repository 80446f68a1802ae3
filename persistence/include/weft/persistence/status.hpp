#pragma once

// Errors of the storage layer. Asynchronous completions receive a
// storage_status; blocking wrappers and open functions throw storage_error.
// Messages name what failed, where, and what to do about it.

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace weft::persistence {

enum class storage_errc {
  ok = 0,
  io_error,           // a read, write or sync system call failed
  disk_full,          // ENOSPC, EDQUOT or EFBIG while writing
  sequence_conflict,  // an append does not continue the persistence id's sequence
  invalid_argument,   // empty batch, non-consecutive numbers, oversized record
  corrupt,            // stored data failed a checksum or format check
  journal_failed,     // an earlier error left the store unusable; reopen it
  closed,             // the store was closed before the request ran
  already_open,       // another store (in this or another process) holds the directory's lock
};

std::string_view to_string(storage_errc code) noexcept;

class storage_status {
 public:
  storage_status() = default;
  storage_status(storage_errc code, std::string message)
      : code_(code), message_(std::move(message)) {}

  bool ok() const noexcept { return code_ == storage_errc::ok; }
  explicit operator bool() const noexcept { return ok(); }
  storage_errc code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }

 private:
  storage_errc code_ = storage_errc::ok;
  std::string message_;
};

class storage_error : public std::runtime_error {
 public:
  storage_error(storage_errc code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  explicit storage_error(const storage_status& status)
      : storage_error(status.code(), status.message()) {}

  storage_errc code() const noexcept { return code_; }

 private:
  storage_errc code_;
};

}  // namespace weft::persistence
