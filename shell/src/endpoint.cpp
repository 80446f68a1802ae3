// The endpoint's I/O thread. One thread, poll() over non-blocking sockets;
// no actor, fiber or worker is involved, so it answers while the actor
// system is stuck. The life of one client connection:
//
//   1. accept: over max_clients, the client gets one error line and is
//      closed (it never holds a slot).
//   2. read: bytes are appended to its input; each complete line is one
//      request. A line (or an unterminated tail) longer than
//      max_request_bytes gets a `too_large` error and the connection is
//      closed after it: there is no reliable way to find the next request.
//   3. dispatch: fast commands answer at once; a slow one (state, trace,
//      restart) runs on a helper thread and the client's further input is
//      not read until it answers, so responses stay in request order and a
//      client has at most one job.
//   4. write: responses are appended to its output and flushed as the
//      socket accepts them (MSG_NOSIGNAL: a client that went away is an
//      EPIPE, never a SIGPIPE). A client whose unsent output exceeds
//      max_output_bytes is not reading: it is dropped.
//   5. close: on EOF the requests already received are still answered
//      (`echo '{"cmd":"ps"}' | nc -U` works), then the connection closes.
//
// TCP connections must present the token (in any request, or with `auth`)
// before anything else; a wrong or missing token is answered and closed.

#include "commands.hpp"

#include <weft/shell/endpoint.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <list>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>

namespace weft::shell {

using detail::json;

namespace {

std::string program_name() {
  std::ifstream comm("/proc/self/comm");
  std::string name;
  std::getline(comm, name);
  return name.empty() ? std::string("weft") : name;
}

std::string random_token() {
  unsigned char bytes[16] = {};
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  urandom.read(reinterpret_cast<char*>(bytes), sizeof bytes);
  if (!urandom) throw std::system_error(errno, std::generic_category(), "weft shell: cannot read /dev/urandom");
  static constexpr char hex[] = "0123456789abcdef";
  std::string token;
  for (unsigned char b : bytes) {
    token += hex[b >> 4];
    token += hex[b & 15];
  }
  return token;
}

bool same_token(const std::string& a, const std::string& b) {
  // Constant time in the content, so timing does not reveal a prefix.
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

[[noreturn]] void fail(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

}  // namespace

class endpoint::impl {
 public:
  impl(runtime& rt, endpoint_options options)
      : rt_(rt), options_(std::move(options)), commands_(rt, options_, [this] { return counters(); }) {
    if (options_.program.empty()) options_.program = program_name();
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) fail("weft shell: eventfd");
    try {
      if (options_.unix_socket) open_unix();
      if (options_.tcp_port) open_tcp();
    } catch (...) {
      close_listeners();
      ::close(wake_fd_);
      throw;
    }
    if (options_.announce) announce();
    io_thread_ = std::thread([this] {
      ::pthread_setname_np(::pthread_self(), "weft-shell-io");
      run();
    });
  }

  ~impl() {
    stopping_.store(true, std::memory_order_release);
    wake();
    io_thread_.join();
    for (auto& j : jobs_)
      j->thread.join();
    for (auto& [serial, c] : connections_)
      ::close(c.fd);
    close_listeners();
    ::close(wake_fd_);
  }

  const std::string& socket_path() const noexcept { return socket_path_; }
  std::uint16_t tcp_port() const noexcept { return tcp_port_; }
  const std::string& tcp_token() const noexcept { return options_.tcp_token; }
  bool mutations_allowed() const noexcept { return options_.allow_mutations; }
  endpoint_counters counters() const {
    std::lock_guard lock(counters_mutex_);
    return counters_;
  }

 private:
  struct connection {
    int fd = -1;
    bool tcp = false;
    bool authenticated = false;
    bool busy = false;         // a slow job is answering for it
    bool read_closed = false;  // EOF seen
    bool closing = false;      // close once `out` is flushed
    std::string in;
    std::string out;
    std::size_t out_sent = 0;
  };

  struct job {
    std::uint64_t serial;
    std::thread thread;
    std::atomic<bool> done{false};
    json response;
  };

  void open_unix() {
    socket_path_ = options_.socket_path.empty()
                       ? default_socket_dir() + "/" + options_.program + "-" + std::to_string(::getpid()) + ".sock"
                       : options_.socket_path;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path_.size() >= sizeof addr.sun_path) {
      errno = ENAMETOOLONG;
      fail("weft shell: socket path " + socket_path_ + " is too long for a Unix socket");
    }
    std::memcpy(addr.sun_path, socket_path_.c_str(), socket_path_.size() + 1);
    unix_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (unix_fd_ < 0) fail("weft shell: socket(AF_UNIX)");
    // A socket file left by a dead process is replaced; a live one is not.
    if (::connect(unix_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      errno = EADDRINUSE;
      fail("weft shell: " + socket_path_ + " is in use by a running endpoint");
    }
    ::close(unix_fd_);
    unix_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (unix_fd_ < 0) fail("weft shell: socket(AF_UNIX)");
    ::unlink(socket_path_.c_str());
    // chmod right after bind rather than umask around it: umask is
    // process-wide and would race with other threads creating files. The
    // default directory is 0700, so the moment between the two is closed
    // to other users anyway; listen() comes only after the chmod.
    if (::bind(unix_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      fail("weft shell: cannot bind " + socket_path_);
    }
    owns_socket_file_ = true;
    if (::chmod(socket_path_.c_str(), 0600) != 0) fail("weft shell: chmod 0600 " + socket_path_);
    if (::listen(unix_fd_, 128) != 0) fail("weft shell: listen on " + socket_path_);
  }

  void open_tcp() {
    if (options_.tcp_token.empty()) options_.tcp_token = random_token();
    tcp_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (tcp_fd_ < 0) fail("weft shell: socket(AF_INET)");
    const int one = 1;
    ::setsockopt(tcp_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // loopback only, by design
    addr.sin_port = htons(*options_.tcp_port);
    if (::bind(tcp_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      fail("weft shell: cannot bind 127.0.0.1:" + std::to_string(*options_.tcp_port));
    }
    socklen_t len = sizeof addr;
    ::getsockname(tcp_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    tcp_port_ = ntohs(addr.sin_port);
    if (::listen(tcp_fd_, 128) != 0) fail("weft shell: listen on 127.0.0.1");
  }

  void close_listeners() {
    if (unix_fd_ >= 0) ::close(unix_fd_);
    if (tcp_fd_ >= 0) ::close(tcp_fd_);
    unix_fd_ = tcp_fd_ = -1;
    if (owns_socket_file_) ::unlink(socket_path_.c_str());
    owns_socket_file_ = false;
  }

  void announce() {
    const char* mode = options_.allow_mutations ? "mutations allowed" : "read-only";
    if (!socket_path_.empty()) {
      std::fprintf(stderr, "weft: debug shell endpoint (%s) at %s\nweft: attach with: weft-shell attach %s\n", mode,
                   socket_path_.c_str(), socket_path_.c_str());
    }
    if (tcp_port_ != 0) {
      std::fprintf(stderr, "weft: debug shell endpoint (%s) at 127.0.0.1:%u (token in WEFT_SHELL_TOKEN)\n", mode,
                   static_cast<unsigned>(tcp_port_));
    }
  }

  void wake() {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  }

  template <class F>
  void count(F&& f) {
    std::lock_guard lock(counters_mutex_);
    f(counters_);
  }

  void run() {
    std::vector<pollfd> fds;
    std::vector<std::uint64_t> serials;
    while (!stopping_.load(std::memory_order_acquire)) {
      fds.clear();
      serials.clear();
      fds.push_back({wake_fd_, POLLIN, 0});
      if (unix_fd_ >= 0) fds.push_back({unix_fd_, POLLIN, 0});
      if (tcp_fd_ >= 0) fds.push_back({tcp_fd_, POLLIN, 0});
      const std::size_t first_client = fds.size();
      for (auto& [serial, c] : connections_) {
        short events = 0;
        if (!c.busy && !c.read_closed && !c.closing) events |= POLLIN;
        if (c.out_sent < c.out.size()) events |= POLLOUT;
        // Nothing wanted (a job is answering): leave it out of the poll, or
        // a hang-up would wake the loop over and over until the job ends.
        fds.push_back({events != 0 ? c.fd : -1, events, 0});
        serials.push_back(serial);
      }
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        std::perror("weft shell: poll");
        return;
      }
      if (fds[0].revents != 0) {
        std::uint64_t n;
        [[maybe_unused]] auto r = ::read(wake_fd_, &n, sizeof n);
        reap_jobs();
      }
      for (std::size_t i = 1; i < first_client; ++i) {
        if (fds[i].revents != 0) accept_all(fds[i].fd, fds[i].fd == tcp_fd_);
      }
      for (std::size_t i = first_client; i < fds.size(); ++i) {
        auto it = connections_.find(serials[i - first_client]);
        if (it == connections_.end()) continue;
        connection& c = it->second;
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) read_from(c);
        handle_requests(it->first, c);
        flush(c);
        maybe_close(it);
      }
    }
  }

  void accept_all(int listener, bool tcp) {
    for (;;) {
      const int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or a transient error (EMFILE): try again on the next poll
      if (connections_.size() >= options_.max_clients) {
        const std::string line =
            detail::error_response(
                nullptr, "too_many_clients",
                "the endpoint already serves " + std::to_string(options_.max_clients) + " clients; close one and retry")
                .dump() +
            "\n";
        [[maybe_unused]] auto n = ::send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        ::close(fd);
        count([](endpoint_counters& k) { ++k.refused_too_many; });
        continue;
      }
      connection c;
      c.fd = fd;
      c.tcp = tcp;
      connections_.emplace(next_serial_++, std::move(c));
      count([&](endpoint_counters& k) {
        ++k.accepted;
        k.active = connections_.size();
      });
    }
  }

  void read_from(connection& c) {
    char buf[16384];
    // Bounded per wake-up so one fast client cannot starve the others.
    for (int rounds = 0; rounds < 16; ++rounds) {
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        c.in.append(buf, static_cast<std::size_t>(n));
        if (c.in.size() > options_.max_request_bytes && c.in.find('\n') == std::string::npos) return;
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        c.read_closed = true;
        if (n < 0) c.closing = true;  // reset by peer: nothing more to say
      }
      return;
    }
  }

  void respond(connection& c, const json& response) {
    c.out += response.dump(-1, ' ', false, json::error_handler_t::replace);
    c.out += '\n';
  }

  void handle_requests(std::uint64_t serial, connection& c) {
    while (!c.busy && !c.closing) {
      const auto newline = c.in.find('\n');
      if (newline == std::string::npos) {
        if (c.in.size() > options_.max_request_bytes) reject_oversized(c);
        return;
      }
      if (newline > options_.max_request_bytes) {
        reject_oversized(c);
        return;
      }
      std::string line = c.in.substr(0, newline);
      c.in.erase(0, newline + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      count([](endpoint_counters& k) { ++k.requests; });
      handle_line(serial, c, line);
    }
  }

  void reject_oversized(connection& c) {
    respond(c, detail::error_response(nullptr, "too_large",
                                      "request longer than " + std::to_string(options_.max_request_bytes) +
                                          " bytes; closing the connection"));
    c.in.clear();
    c.closing = true;
    count([](endpoint_counters& k) { ++k.bad_requests; });
  }

  void handle_line(std::uint64_t serial, connection& c, const std::string& line) {
    json request;
    try {
      request = json::parse(line);
    } catch (const json::parse_error& e) {
      respond(c, detail::error_response(nullptr, "bad_json", std::string("malformed JSON: ") + e.what()));
      count([](endpoint_counters& k) { ++k.bad_requests; });
      return;
    }
    if (c.tcp && !c.authenticated) {
      const auto token = request.is_object() ? request.find("token") : request.end();
      if (token != request.end() && token->is_string() && same_token(token->get<std::string>(), options_.tcp_token)) {
        c.authenticated = true;
      } else {
        respond(c, detail::error_response(request.is_object() && request.contains("id") ? request["id"] : json(),
                                          "unauthorized",
                                          "TCP clients must send the endpoint's token (\"token\" in the request; "
                                          "weft-shell reads WEFT_SHELL_TOKEN)"));
        c.closing = true;
        count([](endpoint_counters& k) { ++k.bad_requests; });
        return;
      }
    }
    detail::dispatch_result r = commands_.dispatch(request);
    if (r.slow) {
      if (jobs_.size() >= max_jobs) {
        respond(c, detail::error_response(request.value("id", json()), "busy",
                                          "too many slow requests (state, trace, restart) in flight; retry"));
        return;
      }
      c.busy = true;
      auto j = std::make_unique<job>();
      j->serial = serial;
      job* raw = j.get();
      j->thread = std::thread([this, raw, fn = std::move(r.slow)] {
        try {
          raw->response = fn();
        } catch (const std::exception& e) {
          raw->response = detail::error_response(nullptr, "internal", e.what());
        }
        raw->done.store(true, std::memory_order_release);
        wake();
      });
      jobs_.push_back(std::move(j));
      return;
    }
    if (!r.response.value("ok", false)) count([](endpoint_counters& k) { ++k.bad_requests; });
    respond(c, r.response);
  }

  void reap_jobs() {
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      job& j = **it;
      // Acquire pairs with the release store in the job thread: its
      // response is visible once done reads true.
      if (!j.done.load(std::memory_order_acquire)) {
        ++it;
        continue;
      }
      j.thread.join();
      auto conn = connections_.find(j.serial);
      if (conn != connections_.end()) {
        conn->second.busy = false;
        respond(conn->second, j.response);
        handle_requests(conn->first, conn->second);
        flush(conn->second);
        maybe_close(conn);
      }
      it = jobs_.erase(it);
    }
  }

  void flush(connection& c) {
    while (c.out_sent < c.out.size()) {
      const ssize_t n = ::send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        c.out_sent += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
      c.out.clear();  // EPIPE, ECONNRESET: the client went away mid-response
      c.out_sent = 0;
      c.closing = true;
      return;
    }
    if (c.out_sent == c.out.size()) {
      c.out.clear();
      c.out_sent = 0;
    } else if (c.out_sent > 64 * 1024) {
      c.out.erase(0, c.out_sent);
      c.out_sent = 0;
    }
    if (c.out.size() - c.out_sent > options_.max_output_bytes) {
      c.out.clear();
      c.out_sent = 0;
      c.closing = true;
      count([](endpoint_counters& k) { ++k.dropped_slow; });
    }
  }

  void maybe_close(std::map<std::uint64_t, connection>::iterator it) {
    connection& c = it->second;
    if (c.busy) return;  // its job will answer (or find it gone)
    const bool flushed = c.out_sent == c.out.size();
    const bool done_reading = c.closing || (c.read_closed && c.in.find('\n') == std::string::npos);
    if (!(flushed && done_reading)) return;
    ::close(c.fd);
    connections_.erase(it);
    count([&](endpoint_counters& k) {
      ++k.disconnected;
      k.active = connections_.size();
    });
  }

  static constexpr std::size_t max_jobs = 16;

  runtime& rt_;
  endpoint_options options_;
  detail::command_table commands_;
  int wake_fd_ = -1;
  int unix_fd_ = -1;
  int tcp_fd_ = -1;
  bool owns_socket_file_ = false;
  std::string socket_path_;
  std::uint16_t tcp_port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread io_thread_;
  // -- I/O thread only --
  std::map<std::uint64_t, connection> connections_;
  std::uint64_t next_serial_ = 1;
  std::list<std::unique_ptr<job>> jobs_;
  // -- any thread --
  mutable std::mutex counters_mutex_;
  endpoint_counters counters_;
};

endpoint::endpoint(runtime& rt, endpoint_options options) : impl_(std::make_unique<impl>(rt, std::move(options))) {}
endpoint::~endpoint() = default;
const std::string& endpoint::socket_path() const noexcept {
  return impl_->socket_path();
}
std::uint16_t endpoint::tcp_port() const noexcept {
  return impl_->tcp_port();
}
const std::string& endpoint::tcp_token() const noexcept {
  return impl_->tcp_token();
}
bool endpoint::mutations_allowed() const noexcept {
  return impl_->mutations_allowed();
}
endpoint_counters endpoint::counters() const {
  return impl_->counters();
}

}  // namespace weft::shell
