#pragma once
// A connection's two byte streams: requests in (newline-delimited lines)
// and responses out. Both do work linear in the bytes that pass through,
// whatever the client sends: a line is taken by moving an offset, not by
// erasing it from the front of the buffer (which made 2 MiB of bare
// newlines cost seconds), and a response is sent from its own string.
//
// Owner: one thread (the endpoint's I/O thread, or the fuzz target).

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

namespace weft::shell::detail {

class line_buffer {
 public:
  void append(const char* data, std::size_t size);

  // Whether a complete line is waiting. Each byte is searched for '\n'
  // once, however often this is asked while a line is still arriving.
  bool has_line() const noexcept;
  // The next complete line, without its '\n'; nullopt when only a partial
  // line (or nothing) is left. The view is valid until the next append,
  // compact or clear.
  std::optional<std::string_view> next_line() noexcept;

  // Bytes received and not yet taken as lines (without a complete line
  // among them: the request still arriving).
  std::size_t unconsumed() const noexcept { return data_.size() - consumed_; }

  // Forgets the lines already taken. Moves the rest to the front only when
  // it is no longer than what is dropped, so the bytes ever moved are at
  // most the bytes ever taken: linear in the input.
  void compact() noexcept;
  void clear() noexcept;

  // -- for tests: the work compact() has done ------------------------------
  std::uint64_t bytes_moved() const noexcept { return moved_; }
  std::size_t consumed_offset() const noexcept { return consumed_; }

 private:
  static constexpr std::size_t none = ~std::size_t{0};
  std::string data_;
  std::size_t consumed_ = 0;  // [0, consumed_) is taken
  // What has_line() learnt (a cache, hence mutable): [consumed_, scanned_)
  // holds no '\n', and line_end_ is the '\n' at scanned_ once found.
  mutable std::size_t scanned_ = 0;
  mutable std::size_t line_end_ = none;
  std::uint64_t moved_ = 0;
};

class output_queue {
 public:
  void push(std::string bytes);
  std::size_t unsent() const noexcept { return unsent_; }
  bool empty() const noexcept { return unsent_ == 0; }

  // Points up to `max` iovecs at the unsent bytes, oldest first; returns
  // how many it filled.
  std::size_t gather(iovec* out, std::size_t max) const noexcept;
  // The first n unsent bytes went out.
  void sent(std::size_t n) noexcept;
  void clear() noexcept;

 private:
  std::deque<std::string> chunks_;
  std::size_t front_sent_ = 0;  // bytes of chunks_.front() already sent
  std::size_t unsent_ = 0;
};

}  // namespace weft::shell::detail
