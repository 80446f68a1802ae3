// weft::net: non-blocking sockets whose waits suspend the calling fiber.
//
// Every call follows the same three steps:
//   1. Try the syscall on the non-blocking descriptor. Done unless EAGAIN.
//   2. Arm the descriptor in the runtime's poller (poller.cpp: registered
//      on the first wait, edge-triggered) with a flag on this frame and the
//      calling actor's pid, unless an edge is pending already (then back to
//      step 1 at once), and wait in await_input with the call's deadline.
//      Messages that arrive meanwhile are stashed for a later receive; the
//      loop waits again until the flag says the descriptor is ready or time
//      is up.
//   3. Withdraw the record (RAII, so an exit unwinding through the wait
//      withdraws it too) before the frame holding the flag goes away, and
//      go back to step 1.

#include <weft/runtime/context.hpp>
#include <weft/runtime/internal.hpp>
#include <weft/runtime/net.hpp>

#include "cell.hpp"
#include "runtime_impl.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace weft::net {

namespace {

using clock = std::chrono::steady_clock;

struct deadline {
  clock::time_point at{};
  bool set = false;
  explicit deadline(std::chrono::nanoseconds timeout) {
    if (timeout.count() >= 0) {
      at = clock::now() + timeout;
      set = true;
    }
  }
  bool passed() const { return set && clock::now() >= at; }
};

// What each code means, for the error's detail text.
const char* meaning(errc e) noexcept {
  switch (e) {
    case errc::timeout: return "timed out";
    case errc::closed: return "connection closed by peer";
    case errc::reset: return "connection reset by peer";
    case errc::too_long: return "line too long";
    case errc::refused: return "connection refused";
    case errc::address_in_use: return "address in use";
    case errc::invalid_address: return "not a numeric IPv4/IPv6 address";
    case errc::not_in_actor: return "socket call made outside an actor of its runtime";
    case errc::system: return "system error";
  }
  return "unknown error";
}

// No error, for the steps below that may also succeed.
constexpr errc ok{};

weft::error fail(errc e, int sys = 0) {
  std::string text = meaning(e);
  if (sys != 0) {
    text += " (";
    text += std::strerror(sys);
    text += ")";
  }
  return weft::error(e, std::move(text), sys);
}

errc from_errno(int e) {
  switch (e) {
    case ECONNRESET:
    case EPIPE:
    case ECONNABORTED:
      return errc::reset;
    case ECONNREFUSED:
      return errc::refused;
    case EADDRINUSE:
      return errc::address_in_use;
    case ETIMEDOUT:
      return errc::timeout;
    default:
      return errc::system;
  }
}

// Steps 2 and 3 of the file comment: waits until fd is ready in `dir`.
// Registers fd in the poller on its first wait (`io` holds the handle).
// errc::none also when an edge was already pending: the caller retries.
errc wait_ready(detail::runtime_impl* rt, int fd, std::uint64_t& io, detail::io_direction dir, const deadline& d) {
  detail::worker* w = detail::current_worker(rt);
  if (w == nullptr || w->running() == nullptr) return errc::not_in_actor;
  if (d.passed()) return errc::timeout;
  if (io == 0 && (io = rt->poller_.add(fd)) == 0) return errc::system;
  detail::cell* self = w->running();
  std::atomic<bool> fired{false};
  switch (rt->poller_.arm(io, dir, detail::io_waiter{detail::pid_of(self), &fired, {}})) {
    case detail::arm_result::ready: return ok;
    case detail::arm_result::refused: return errc::system;
    case detail::arm_result::filed: break;
  }
  struct withdraw {
    detail::poller& p;
    std::uint64_t io;
    detail::io_direction dir;
    std::atomic<bool>& fired;
    // A harvester sets `fired` under the slot lock as it takes the record
    // out, so once it is seen set there is nothing to withdraw; otherwise
    // disarm() takes that lock, after which no harvester touches `fired`.
    ~withdraw() {
      if (!fired.load(std::memory_order_acquire)) p.disarm(io, dir);
    }
  } guard{rt->poller_, io, dir, fired};
  self->status.store(actor_status::waiting, std::memory_order_relaxed);
  // acquire: pairs with the harvester's release store of the flag.
  while (!fired.load(std::memory_order_acquire)) {
    if (!self->await_input(d.at, d.set) && !fired.load(std::memory_order_acquire)) {
      self->status.store(actor_status::running, std::memory_order_relaxed);
      return errc::timeout;
    }
  }
  self->status.store(actor_status::running, std::memory_order_relaxed);
  return ok;
}

bool parse_address(std::string_view text, std::uint16_t port, sockaddr_storage& out, socklen_t& len) {
  std::string host(text);
  if (host.empty() || host == "localhost") host = "127.0.0.1";
  std::memset(&out, 0, sizeof out);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
  if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

std::uint16_t port_of(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (fd < 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
}

void close_fd(detail::runtime_impl* rt, int& fd, std::uint64_t& io) noexcept {
  if (fd < 0) return;
  if (rt != nullptr) rt->poller_.remove(std::exchange(io, 0));
  ::close(fd);
  fd = -1;
}

}  // namespace

std::string_view to_string(errc e) noexcept {
  switch (e) {
    case errc::timeout: return "timeout";
    case errc::closed: return "closed";
    case errc::reset: return "reset";
    case errc::too_long: return "too_long";
    case errc::refused: return "refused";
    case errc::address_in_use: return "address_in_use";
    case errc::invalid_address: return "invalid_address";
    case errc::not_in_actor: return "not_in_actor";
    case errc::system: return "system";
  }
  return "unknown";
}

// -- socket -------------------------------------------------------------------

socket::socket(socket&& other) noexcept
    : rt_(other.rt_),
      fd_(std::exchange(other.fd_, -1)),
      io_(std::exchange(other.io_, 0)),
      notifying_(std::exchange(other.notifying_, false)),
      notifying_out_(std::exchange(other.notifying_out_, false)),
      starved_(other.starved_),
      drained_(other.drained_),
      buffer_(std::move(other.buffer_)) {}

socket& socket::operator=(socket&& other) noexcept {
  if (this != &other) {
    close();
    rt_ = other.rt_;
    fd_ = std::exchange(other.fd_, -1);
    io_ = std::exchange(other.io_, 0);
    notifying_ = std::exchange(other.notifying_, false);
    notifying_out_ = std::exchange(other.notifying_out_, false);
    starved_ = other.starved_;
    drained_ = other.drained_;
    buffer_ = std::move(other.buffer_);
  }
  return *this;
}

socket::~socket() { close(); }

void socket::close() noexcept {
  notifying_ = false;  // remove() drops a filed notify record
  notifying_out_ = false;
  close_fd(rt_, fd_, io_);
  buffer_.clear();
}

void socket::abort() noexcept {
  if (fd_ >= 0) {
    const linger now{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &now, sizeof now);
  }
  close();
}

void socket::shutdown_write() noexcept {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

std::uint16_t socket::local_port() const noexcept { return port_of(fd_); }

expected<socket> socket::connect(context& self, std::string_view address, std::uint16_t port,
                               std::chrono::nanoseconds timeout) {
  const deadline d(timeout);
  sockaddr_storage addr{};
  socklen_t len = 0;
  if (!parse_address(address, port, addr, len)) return fail(errc::invalid_address);
  const int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(errc::system, errno);
  socket s(detail::runtime_of(internal::context_access::cell(self)), fd);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    if (errno != EINPROGRESS) return fail(from_errno(errno), errno);
    if (errc e = wait_ready(s.rt_, fd, s.io_, detail::io_direction::out, d); e != ok) return fail(e);
    int so_error = 0;
    socklen_t so_len = sizeof so_error;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &so_len);
    if (so_error != 0) return fail(from_errno(so_error), so_error);
  }
  return s;
}

// Reads once into buffer_ (at most `max` bytes), waiting if nothing is there.
// Where recv writes before the bytes are appended to a socket's buffer:
// one per thread, not one on each fiber's stack. A 16 KiB array on the
// stack would stay resident in every connection's stack for good (a
// stack's touched pages are not given back while its actor lives), which
// was most of what an idle connection cost. Safe per thread: nothing
// between a recv and its append can switch fibers.
namespace {
constexpr std::size_t scratch_size = 16384;
char* recv_scratch() {
  thread_local char scratch[scratch_size];
  return scratch;
}
}  // namespace

expected<std::size_t> socket::fill(std::size_t max, clock::time_point at, bool has_deadline) {
  if (fd_ < 0) return fail(errc::closed);
  deadline d(forever);
  d.at = at;
  d.set = has_deadline;
  // A read shorter than asked for emptied the kernel's buffer, and any
  // input after it raises an edge that the poller keeps for arm(): so the
  // next read may go straight to waiting, without the recv that would only
  // say EAGAIN. Not when it would not wait at all (a zero timeout must
  // still look at what is there).
  bool try_first = !drained_ || d.passed();
  for (;;) {
    if (std::exchange(try_first, true)) {
      char* chunk = recv_scratch();
      const std::size_t ask = std::min(max, scratch_size);
      const ssize_t n = ::recv(fd_, chunk, ask, 0);
      if (n > 0) {
        starved_ = false;
        drained_ = static_cast<std::size_t>(n) < ask;
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return static_cast<std::size_t>(n);
      }
      drained_ = false;
      if (n == 0) return fail(errc::closed);
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return fail(from_errno(errno), errno);
    }
    if (errc e = wait_ready(rt_, fd_, io_, detail::io_direction::in, d); e != ok) {
      starved_ = e == errc::timeout;
      return fail(e);
    }
  }
}

expected<std::string> socket::read_some(std::size_t max, std::chrono::nanoseconds timeout) {
  const deadline d(timeout);
  if (buffer_.empty()) {
    auto got = fill(max, d.at, d.set);
    if (!got) return std::move(got).error();
  }
  const std::size_t take = std::min(max, buffer_.size());
  std::string out = buffer_.substr(0, take);
  buffer_.erase(0, take);
  return out;
}

expected<std::string> socket::read(std::size_t n, std::chrono::nanoseconds timeout) {
  const deadline d(timeout);
  while (buffer_.size() < n) {
    auto got = fill(n - buffer_.size(), d.at, d.set);
    if (!got) return std::move(got).error();
  }
  std::string out = buffer_.substr(0, n);
  buffer_.erase(0, n);
  return out;
}

expected<std::string> socket::read_line(std::size_t max_length, std::chrono::nanoseconds timeout, char delimiter) {
  const deadline d(timeout);
  std::size_t searched = 0;
  for (;;) {
    const std::size_t at = buffer_.find(delimiter, searched);
    if (at != std::string::npos && at <= max_length) {
      std::string line = buffer_.substr(0, at);
      buffer_.erase(0, at + 1);
      return line;
    }
    if (buffer_.size() > max_length || at != std::string::npos) return fail(errc::too_long);
    searched = buffer_.size();
    // Never read far past the limit: at most one byte beyond it decides.
    auto got = fill(max_length + 1 - buffer_.size(), d.at, d.set);
    if (!got) {
      // Zero timeout means "only what is there": no wait, just timeout.
      return std::move(got).error();
    }
  }
}

expected<void> socket::write_all(std::string_view data, std::chrono::nanoseconds timeout, std::size_t* written) {
  const deadline d(timeout);
  std::size_t sent = 0;
  struct report {
    std::size_t* to;
    const std::size_t& sent;
    ~report() {
      if (to != nullptr) *to = sent;
    }
  } tell{written, sent};
  if (fd_ < 0) return fail(errc::closed);
  while (sent < data.size()) {
    const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n >= 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return fail(from_errno(errno), errno);
    if (errc e = wait_ready(rt_, fd_, io_, detail::io_direction::out, d); e != ok) return fail(e);
  }
  return {};
}

expected<std::size_t> socket::write_some(std::string_view data) {
  if (fd_ < 0) return fail(errc::closed);
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n >= 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    return fail(from_errno(errno), errno);
  }
  return sent;
}

// Edge-triggered like the input side: a record filed now is told of the
// next EPOLLOUT edge, which comes when the send buffer drains below its low
// mark after being full. If an edge came since the last wait (arm says
// ready), there may be room already: tell the actor at once and let its
// next write_some find out.
expected<void> socket::notify_writable(std::uint64_t tag) {
  if (fd_ < 0) return fail(errc::closed);
  detail::worker* w = detail::current_worker(rt_);
  if (w == nullptr || w->running() == nullptr) return fail(errc::not_in_actor);
  pid me = detail::pid_of(w->running());
  if (std::exchange(notifying_out_, false)) rt_->poller_.disarm(io_, detail::io_direction::out);
  if (io_ == 0 && (io_ = rt_->poller_.add(fd_)) == 0) return fail(errc::system, errno);
  detail::io_waiter waiter{me, nullptr, [tag] { return detail::make_envelope(writable{tag}); }};
  switch (rt_->poller_.arm(io_, detail::io_direction::out, std::move(waiter))) {
    case detail::arm_result::filed: notifying_out_ = true; return {};
    case detail::arm_result::ready:
      detail::as_cell(me)->deliver(nullptr, detail::make_envelope(writable{tag}), detail::send_mode::try_once,
                                   detail::no_timeout);
      return {};
    case detail::arm_result::refused: return fail(errc::system, EBADF);
  }
  return {};
}

expected<void> socket::notify_readable(std::uint64_t tag) {
  if (fd_ < 0) return fail(errc::closed);
  detail::worker* w = detail::current_worker(rt_);
  if (w == nullptr || w->running() == nullptr) return fail(errc::not_in_actor);
  pid me = detail::pid_of(w->running());
  if (std::exchange(notifying_, false)) rt_->poller_.disarm(io_, detail::io_direction::in);
  auto notify_now = [&] {
    detail::as_cell(me)->deliver(nullptr, detail::make_envelope(readable{tag}), detail::send_mode::try_once,
                                 detail::no_timeout);
    return expected<void>();
  };
  // Buffered bytes the last read could not use (a partial line) are no
  // reason to notify: only new input is.
  if (!buffer_.empty() && !starved_) return notify_now();
  // Edge triggering reports new input only, so look at what the kernel
  // holds first: input left there by an exact-length read, say, would
  // otherwise never be announced.
  for (;;) {
    char* chunk = recv_scratch();
    const ssize_t n = ::recv(fd_, chunk, scratch_size, 0);
    drained_ = false;
    if (n > 0) {
      starved_ = false;
      buffer_.append(chunk, static_cast<std::size_t>(n));
      return notify_now();
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return notify_now();  // the read reports it
    if (io_ == 0 && (io_ = rt_->poller_.add(fd_)) == 0) return fail(errc::system, errno);
    detail::io_waiter waiter{me, nullptr, [tag] { return detail::make_envelope(readable{tag}); }};
    switch (rt_->poller_.arm(io_, detail::io_direction::in, std::move(waiter))) {
      case detail::arm_result::filed: notifying_ = true; return {};
      case detail::arm_result::ready: continue;  // an edge came meanwhile: look again
      case detail::arm_result::refused: return fail(errc::system, EBADF);
    }
  }
}

// -- listener -----------------------------------------------------------------

listener::listener(listener&& other) noexcept
    : rt_(other.rt_), fd_(std::exchange(other.fd_, -1)), io_(std::exchange(other.io_, 0)) {}

listener& listener::operator=(listener&& other) noexcept {
  if (this != &other) {
    close();
    rt_ = other.rt_;
    fd_ = std::exchange(other.fd_, -1);
    io_ = std::exchange(other.io_, 0);
  }
  return *this;
}

listener::~listener() { close(); }

void listener::close() noexcept { close_fd(rt_, fd_, io_); }

std::uint16_t listener::port() const noexcept { return port_of(fd_); }

expected<listener> listener::listen(context& self, std::string_view address, std::uint16_t port,
                                  listen_options options) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  if (!parse_address(address, port, addr, len)) return fail(errc::invalid_address);
  listener l;
  l.rt_ = detail::runtime_of(internal::context_access::cell(self));
  l.fd_ = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (l.fd_ < 0) return fail(errc::system, errno);
  const int one = 1;
  if (options.reuse_address) ::setsockopt(l.fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (addr.ss_family == AF_INET6) {
    const int v6_only = options.v6_only ? 1 : 0;
    ::setsockopt(l.fd_, IPPROTO_IPV6, IPV6_V6ONLY, &v6_only, sizeof v6_only);
  }
  if (::bind(l.fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(l.fd_, options.backlog) != 0) {
    const int saved = errno;
    return fail(from_errno(saved), saved);
  }
  return l;
}

expected<socket> listener::accept(std::chrono::nanoseconds timeout) {
  const deadline d(timeout);
  if (fd_ < 0) return fail(errc::closed);
  for (;;) {
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return socket(rt_, fd);
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return fail(from_errno(errno), errno);
    if (errc e = wait_ready(rt_, fd_, io_, detail::io_direction::in, d); e != ok) return fail(e);
  }
}

}  // namespace weft::net

namespace weft::detail {
std::string_view net_errc_name(int code) noexcept { return net::to_string(static_cast<net::errc>(code)); }
}  // namespace weft::detail
