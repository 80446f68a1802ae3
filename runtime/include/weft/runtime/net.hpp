#pragma once
// weft::net — TCP for actors: calls that block the calling actor's fiber,
// never the worker thread.
//
//   user code (inside an actor)         runtime
//   ---------------------------         -------
//   sock.read_line(4096, 5s) ---------> recv(); data: return it. EAGAIN: arm
//                                       the descriptor in the poller (one
//                                       shot) and suspend this fiber until
//                                       readiness, a deadline, or an exit
//   the poller sees readiness --------> wake signal to that actor only; it
//                                       resumes through the run queues
//   sock.notify_readable(tag) --------> arm in notify mode: when readable,
//                                       the actor gets net::readable{tag}
//                                       as an ordinary message
//   sock.notify_writable(tag) --------> the same for output: net::writable{tag}
//                                       when the kernel can take more bytes
//
// Contract:
//   - Owner only. Call a socket's members from the actor that holds it (the
//     calls find the calling actor through its worker). Hand a socket to
//     another actor by moving it into that actor's function (spawn), never
//     use one from two actors. Calls from a non-actor thread (including a
//     scoped_actor) answer errc::not_in_actor.
//   - Every call that may wait takes a timeout (net::forever to wait without
//     one) measured from the call, for the whole call (a read_line that
//     needs several reads has one deadline). Failures come back as a
//     weft::expected holding a net::errc error (timeout, closed, reset,
//     too_long, refused, ...); nothing here throws except std::bad_alloc.
//   - While a call waits, the actor's messages queue up (they are not lost);
//     an exit signal (kill, or a linked exit when not trapping) ends the
//     wait by unwinding the actor, which closes its sockets.
//   - A socket closes its descriptor when destroyed: keep sockets in the
//     actor's frame or state and the actor's exit closes them.
//   - Back-pressure: write_all waits while the kernel's send buffer is full;
//     there is no user-space output queue. A slow reader slows its writer.
//     An actor that must not wait (a server with many peers, say) keeps its
//     own queue: write_some takes what the kernel accepts now, and
//     notify_writable tells it when to try again.
//   - No DNS: addresses are numeric ("127.0.0.1", "::1"; "localhost" is
//     127.0.0.1). Resolve names with self.blocking(getaddrinfo...).

#include <weft/runtime/behavior.hpp>
#include <weft/runtime/detail/backend.hpp>
#include <weft/runtime/error.hpp>
#include <weft/runtime/expected.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace weft {
class context;
}

namespace weft::net {

// Wait without a deadline.
inline constexpr std::chrono::nanoseconds forever{-1};

// What a socket call fails with (error_category::net). The error's
// os_error() carries errno when a system call produced it.
enum class errc : std::uint8_t {
  timeout = 1,      // the deadline passed first
  closed,           // the peer closed its side (orderly EOF), or the socket is closed
  reset,            // the peer reset the connection (RST, EPIPE)
  too_long,         // read_line: no delimiter within the maximum length
  refused,          // connect: nobody listens there
  address_in_use,   // listen: the port is taken
  invalid_address,  // not a numeric IPv4/IPv6 address
  not_in_actor,     // called from outside an actor of the socket's runtime
  system,           // anything else: see os_error()
};
std::string_view to_string(errc e) noexcept;

// What a socket in notify mode sends its actor (once per notify_readable).
struct readable {
  std::uint64_t tag{};
};
// Once per notify_writable: the kernel's send buffer has room (or the
// socket failed: the next write reports it).
struct writable {
  std::uint64_t tag{};
};

class socket {
 public:
  socket() = default;
  socket(socket&& other) noexcept;
  socket& operator=(socket&& other) noexcept;
  socket(const socket&) = delete;
  socket& operator=(const socket&) = delete;
  ~socket();

  // -- owning actor only -----------------------------------------------------

  // Connects to address:port, IPv4 or IPv6.
  static expected<socket> connect(context& self, std::string_view address, std::uint16_t port,
                                std::chrono::nanoseconds timeout);

  // Up to `max` bytes, as soon as any are there (buffered bytes first).
  expected<std::string> read_some(std::size_t max, std::chrono::nanoseconds timeout);
  // Exactly `n` bytes.
  expected<std::string> read(std::size_t n, std::chrono::nanoseconds timeout);
  // The bytes up to the delimiter, which is consumed and not returned (a
  // '\r' before a '\n' is kept). errc::too_long if `max_length` bytes came
  // without a delimiter: the socket is then unusable for lines, close it.
  // With a timeout of zero it only returns a line already available.
  expected<std::string> read_line(std::size_t max_length, std::chrono::nanoseconds timeout, char delimiter = '\n');
  // Whether a whole line is buffered already, so that read_line returns it
  // without a syscall or a wait: a server can gather pipelined requests and
  // answer them with one write_all.
  bool has_line(char delimiter = '\n') const noexcept { return buffer_.find(delimiter) != std::string::npos; }
  // Writes all of `data`, waiting while the peer is slow. `written`, if
  // given, receives how many bytes went out, also when it fails (a
  // timeout: write the rest later).
  expected<void> write_all(std::string_view data, std::chrono::nanoseconds timeout, std::size_t* written = nullptr);
  // Writes as much of `data` as the kernel takes now, never waiting: how
  // many bytes went (0 when its buffer is full). Errors: closed, reset.
  expected<std::size_t> write_some(std::string_view data);

  // Notify mode ({active, once}): the next time the socket has input (or
  // EOF or an error), send this actor net::readable{tag} — once. Handle it
  // in the same receive as other messages, read with a zero timeout until
  // errc::timeout, then ask again. If input is already buffered the
  // message is sent now (unless the last read already found it wanting:
  // a partial line waits for more input).
  expected<void> notify_readable(std::uint64_t tag);
  // Notify mode for output: the next time the kernel's send buffer has
  // room after a write_some that could not send everything, send this
  // actor net::writable{tag} — once. Ask after such a short write_some:
  // the notice answers the next edge (room that appears later), so asking
  // while the buffer has room already is answered at once.
  expected<void> notify_writable(std::uint64_t tag);

  // No more writes; the peer reads EOF.
  void shutdown_write() noexcept;
  // Closes now (also done by the destructor). Withdraws a pending notify.
  void close() noexcept;
  // Closes with a reset (SO_LINGER 0): the peer sees errc::reset, and no
  // TIME_WAIT is left behind.
  void abort() noexcept;

  bool is_open() const noexcept { return fd_ >= 0; }
  int native_handle() const noexcept { return fd_; }
  std::uint16_t local_port() const noexcept;

 private:
  friend class listener;
  socket(detail::runtime_impl* rt, int fd) noexcept : rt_(rt), fd_(fd) {}
  expected<std::size_t> fill(std::size_t max, std::chrono::steady_clock::time_point deadline, bool has_deadline);

  detail::runtime_impl* rt_ = nullptr;
  int fd_ = -1;
  std::uint64_t io_ = 0;    // the runtime poller's handle, once registered
  bool notifying_ = false;  // a notify_readable record may be filed
  bool notifying_out_ = false;  // a notify_writable record may be filed
  bool starved_ = false;  // the last read waited in vain: buffer_ is not enough
  bool drained_ = false;  // the last recv was short: the kernel had no more
  std::string buffer_;  // read ahead of the caller (read_line)
};

struct listen_options {
  int backlog = 1024;
  bool reuse_address = true;  // SO_REUSEADDR: restart on a port in TIME_WAIT
  bool v6_only = false;       // for "::": also accept IPv4 unless set
};

class listener {
 public:
  listener() = default;
  listener(listener&& other) noexcept;
  listener& operator=(listener&& other) noexcept;
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;
  ~listener();

  // -- owning actor only -----------------------------------------------------

  // Binds and listens on address:port; port 0 picks a free one (see port()).
  static expected<listener> listen(context& self, std::string_view address, std::uint16_t port,
                                 listen_options options = {});
  // The next connection.
  expected<socket> accept(std::chrono::nanoseconds timeout);
  void close() noexcept;

  std::uint16_t port() const noexcept;
  bool is_open() const noexcept { return fd_ >= 0; }

 private:
  detail::runtime_impl* rt_ = nullptr;
  int fd_ = -1;
  std::uint64_t io_ = 0;  // the runtime poller's handle, once registered
};

}  // namespace weft::net

namespace weft::detail {
std::string_view net_errc_name(int code) noexcept;
inline constexpr error_domain net_domain{error_category::net, &net_errc_name};
}  // namespace weft::detail

template <>
struct weft::error_code_traits<weft::net::errc> {
  static constexpr const error_domain* domain = &weft::detail::net_domain;
};
// An actor may handle readable notices whatever its protocol.
template <>
struct weft::is_system_message<weft::net::readable> : std::true_type {};
template <>
struct weft::is_system_message<weft::net::writable> : std::true_type {};
