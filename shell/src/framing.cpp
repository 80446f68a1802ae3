#include "framing.hpp"

#include <cstring>

namespace weft::shell::detail {

namespace {
// What an emptied input buffer may keep of its allocation: one recv batch
// of ordinary requests. A burst (a 256 KiB batch of pipelined requests) is
// given back once it has been handled.
constexpr std::size_t kept_input_capacity = 64 * 1024;
}  // namespace

void line_buffer::append(const char* data, std::size_t size) {
  compact();
  data_.append(data, size);
}

bool line_buffer::has_line() const noexcept {
  if (line_end_ != none) return true;
  if (scanned_ == data_.size()) return false;
  const void* newline = std::memchr(data_.data() + scanned_, '\n', data_.size() - scanned_);
  if (newline == nullptr) {
    scanned_ = data_.size();
    return false;
  }
  line_end_ = static_cast<std::size_t>(static_cast<const char*>(newline) - data_.data());
  scanned_ = line_end_;
  return true;
}

std::optional<std::string_view> line_buffer::next_line() noexcept {
  if (!has_line()) return std::nullopt;
  std::string_view line(data_.data() + consumed_, line_end_ - consumed_);
  consumed_ = line_end_ + 1;
  scanned_ = consumed_;
  line_end_ = none;
  return line;
}

void line_buffer::compact() noexcept {
  if (consumed_ == 0) return;
  if (consumed_ == data_.size()) {
    clear();
    return;
  }
  const std::size_t rest = data_.size() - consumed_;
  if (rest > consumed_) return;  // moving it now would cost more than it frees
  data_.erase(0, consumed_);
  moved_ += rest;
  scanned_ -= consumed_;
  if (line_end_ != none) line_end_ -= consumed_;
  consumed_ = 0;
}

void line_buffer::clear() noexcept {
  if (data_.capacity() > kept_input_capacity) {
    std::string().swap(data_);  // gives the burst's memory back, allocating nothing
  } else {
    data_.clear();
  }
  consumed_ = scanned_ = 0;
  line_end_ = none;
}

void output_queue::push(std::string bytes) {
  if (bytes.empty()) return;
  unsent_ += bytes.size();
  chunks_.push_back(std::move(bytes));
}

std::size_t output_queue::gather(iovec* out, std::size_t max) const noexcept {
  std::size_t n = 0;
  for (auto it = chunks_.begin(); it != chunks_.end() && n < max; ++it, ++n) {
    const std::size_t skip = it == chunks_.begin() ? front_sent_ : 0;
    out[n].iov_base = const_cast<char*>(it->data() + skip);
    out[n].iov_len = it->size() - skip;
  }
  return n;
}

void output_queue::sent(std::size_t n) noexcept {
  unsent_ -= n;
  while (n > 0) {
    const std::size_t left = chunks_.front().size() - front_sent_;
    if (n < left) {
      front_sent_ += n;
      return;
    }
    n -= left;
    chunks_.pop_front();
    front_sent_ = 0;
  }
}

void output_queue::clear() noexcept {
  chunks_.clear();
  front_sent_ = 0;
  unsent_ = 0;
}

}  // namespace weft::shell::detail
