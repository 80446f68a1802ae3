#include <weft/shell/client.hpp>

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace weft::shell {

std::string endpoint_address::to_string() const {
  return is_tcp() ? host + ":" + std::to_string(port) : unix_path;
}

endpoint_address parse_address(std::string_view text) {
  endpoint_address a;
  const auto colon = text.rfind(':');
  if (colon != std::string_view::npos && text.find('/') == std::string_view::npos && colon + 1 < text.size() &&
      text.substr(colon + 1).find_first_not_of("0123456789") == std::string_view::npos) {
    a.host = std::string(text.substr(0, colon));
    if (a.host.empty()) a.host = "127.0.0.1";
    a.port = std::stoi(std::string(text.substr(colon + 1)));
    return a;
  }
  a.unix_path = std::string(text);
  return a;
}

client::client(const endpoint_address& address, std::chrono::milliseconds timeout, std::size_t max_line_bytes)
    : timeout_(timeout) {
  set_max_line_bytes(max_line_bytes);
  if (!address.is_tcp()) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (address.unix_path.size() >= sizeof addr.sun_path) {
      throw std::system_error(std::make_error_code(std::errc::filename_too_long), "weft-shell: " + address.unix_path);
    }
    std::memcpy(addr.sun_path, address.unix_path.c_str(), address.unix_path.size() + 1);
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      const int e = errno;
      if (fd_ >= 0) ::close(fd_);
      throw std::system_error(
          e, std::generic_category(),
          "weft-shell: cannot connect to " + address.unix_path +
              (e == ENOENT || e == ECONNREFUSED ? " (is the program running? 'weft-shell list')" : ""));
    }
    return;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(address.port);
  if (const int rc = ::getaddrinfo(address.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    throw std::runtime_error("weft-shell: cannot resolve " + address.host + ": " + ::gai_strerror(rc));
  }
  int last_errno = 0;
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    fd_ = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd_ >= 0 && ::connect(fd_, ai->ai_addr, ai->ai_addrlen) == 0) break;
    last_errno = errno;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  ::freeaddrinfo(found);
  if (fd_ < 0) {
    throw std::system_error(last_errno, std::generic_category(),
                            "weft-shell: cannot connect to " + address.to_string());
  }
}

void client::set_max_line_bytes(std::size_t bytes) noexcept {
  max_line_bytes_ = std::clamp<std::size_t>(bytes, 1, std::string().max_size() - 1);
}

client::~client() {
  if (fd_ >= 0) ::close(fd_);
}

void client::send_line(std::string_view line) {
  if (abandoned_) {
    throw std::runtime_error("weft-shell: this connection was given up after an answer longer than the cap");
  }
  std::string data(line);
  data += '\n';
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "weft-shell: sending to the endpoint");
    }
    sent += static_cast<std::size_t>(n);
  }
}

void client::abandon() {
  abandoned_ = true;
  std::string().swap(buffer_);
  // The endpoint's further writes fail at once (it sees EPIPE) instead of
  // filling a socket nobody reads.
  ::shutdown(fd_, SHUT_RDWR);
}

std::string client::read_line() {
  if (abandoned_) {
    throw std::runtime_error("weft-shell: this connection was given up after an answer longer than the cap");
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  // Bytes of buffer_ already searched for a newline: each byte is looked
  // at once, however many reads a long line takes.
  std::size_t searched = 0;
  for (;;) {
    const auto newline = buffer_.find('\n', searched);
    const bool too_long = (newline == std::string::npos ? buffer_.size() : newline) > max_line_bytes_;
    if (too_long) {
      const std::size_t cap = max_line_bytes_;
      abandon();
      throw line_too_long("weft-shell: the endpoint's answer is longer than " + std::to_string(cap) +
                          " bytes, the client's cap; stopped reading it");
    }
    if (newline != std::string::npos) {
      std::string line;
      if (newline + 1 == buffer_.size()) {
        line.swap(buffer_);  // the usual case: no copy of a long line
        line.pop_back();
      } else {
        line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
      }
      return line;
    }
    searched = buffer_.size();
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      throw std::runtime_error(
          "weft-shell: the endpoint did not answer within " + std::to_string(timeout_.count()) + " ms" +
          (buffer_.empty() ? std::string() : " (" + std::to_string(buffer_.size()) + " bytes of an answer came)"));
    }
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    // Read no further than one byte past the cap: a line with no end in
    // sight costs at most the cap, never what the endpoint keeps sending.
    char buf[65536];
    const std::size_t room = max_line_bytes_ + 1 - buffer_.size();
    const ssize_t n = ::recv(fd_, buf, std::min(sizeof buf, room), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      throw std::runtime_error(buffer_.empty()
                                   ? std::string("weft-shell: the endpoint closed the connection")
                                   : "weft-shell: the endpoint closed the connection in the middle of an answer (" +
                                         std::to_string(buffer_.size()) + " bytes without a newline)");
    }
    // Past 1 MiB, room for the longest line allowed is reserved at once,
    // so the string is not copied again as it grows: a long line costs
    // what arrived, not twice that (an untouched reservation is address
    // space, not memory). Caps past 1 GiB grow the usual way, so a huge
    // cap is not a huge reservation the system may refuse.
    const std::size_t size = buffer_.size() + static_cast<std::size_t>(n);
    if (size > buffer_.capacity() && size > (std::size_t{1} << 20) && max_line_bytes_ < (std::size_t{1} << 30)) {
      buffer_.reserve(max_line_bytes_ + 1);
    }
    buffer_.append(buf, static_cast<std::size_t>(n));
  }
}

std::string client::call(std::string_view request_line) {
  send_line(request_line);
  return read_line();
}

}  // namespace weft::shell
