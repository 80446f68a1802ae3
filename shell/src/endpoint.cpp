// The endpoint's I/O thread. One thread, poll() over non-blocking sockets;
// no actor, fiber or worker is involved, so it answers while the actor
// system is stuck. The protocol of one connection lives in session.cpp;
// this file moves its bytes and keeps its clocks. The life of a connection:
//
//   1. accept: over max_clients, the client gets one error line and is
//      closed (it never holds a slot).
//   2. read: only while the session wants input (not while a slow job
//      answers for it, its unsent output is at output_high_water, or a
//      complete request is still unanswered), at most 16 recv()s a turn.
//      Not reading is the back-pressure: the kernel's buffers fill and the
//      client's writes block.
//   3. answer: at most 64 requests a turn, so a client pipelining thousands
//      cannot hold the loop while others wait; a slow command (state, trace,
//      restart) runs on a helper thread and its client is answered nothing
//      more until it returns, so responses stay in request order.
//   4. write: responses go out as the socket takes them (sendmsg over up to
//      64 of them; MSG_NOSIGNAL: a client that went away is an EPIPE, never
//      a SIGPIPE).
//   5. clocks: a connection that has not completed a request (its first,
//      or one it began) within idle_timeout gets an idle_timeout error and
//      is closed; one whose socket took none of its pending output for
//      output_stall_timeout is not reading and is dropped.
//   6. close: on EOF the requests already received are still answered
//      (`echo '{"cmd":"ps"}' | nc -U` works), then the connection closes.
//
// No exception leaves this thread or a helper thread: a request's is
// answered `internal` by its session; one in the loop's own work closes at
// most the connection it was working for, is logged, and the loop goes on.
//
// TCP connections must present the token (in any request, or with `auth`)
// before anything else; a wrong or missing token is answered and closed.

#include "commands.hpp"
#include "session.hpp"

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

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <list>
#include <map>
#include <new>
#include <system_error>
#include <thread>
#include <vector>

namespace weft::shell {

using detail::json;

namespace {

using clock = std::chrono::steady_clock;

// Per client and turn of the loop: what one client may take before the
// others get their turn.
constexpr int reads_per_turn = 16;
constexpr std::size_t requests_per_turn = 64;
// Slow requests (each on its own helper thread) in flight.
constexpr std::size_t max_jobs = 16;

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
  endpoint_counters counters() const { return tally_.snapshot(); }

 private:
  struct connection {
    connection(int fd_, detail::session session_) : fd(fd_), session(std::move(session_)) {}
    int fd;
    detail::session session;
    std::optional<clock::time_point> waiting_since;  // for idle_timeout
    std::optional<clock::time_point> stalled_since;  // for output_stall_timeout
  };
  using connection_map = std::map<std::uint64_t, connection>;

  struct job {
    std::uint64_t serial = 0;
    std::thread thread;
    std::atomic<bool> done{false};
    json response;               // set by the helper thread before `done`
    std::exception_ptr failure;  // or this
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
      std::fprintf(stderr,
                   "weft: debug shell endpoint (%s) at 127.0.0.1:%u; clients must send its token (weft-shell reads "
                   "it from WEFT_SHELL_TOKEN)\n",
                   mode, static_cast<unsigned>(tcp_port_));
    }
  }

  void wake() noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  }

  // Something failed outside any one request. Logged (at most once a
  // second, with how many were not) and counted; the loop goes on.
  void report(const char* where, std::exception_ptr error) noexcept {
    tally_.add(detail::endpoint_tally::internal_errors);
    const auto now = clock::now();
    if (now - last_report_ < std::chrono::seconds(1)) {
      ++unreported_;
      return;
    }
    std::fprintf(stderr, "weft shell: internal error in %s: %s (%llu more not shown); the endpoint goes on\n", where,
                 detail::what_of(error), static_cast<unsigned long long>(unreported_));
    last_report_ = now;
    unreported_ = 0;
  }

  void run() noexcept {
    while (!stopping_.load(std::memory_order_acquire)) {
      try {
        turn();
      } catch (...) {
        report("the I/O loop", std::current_exception());
        // Whatever failed (most likely memory) may fail again at once: do
        // not spin on it.
        ::poll(nullptr, 0, 10);
      }
    }
  }

  void turn() {
    fds_.clear();
    serials_.clear();
    fds_.push_back({wake_fd_, POLLIN, 0});
    if (unix_fd_ >= 0) fds_.push_back({unix_fd_, POLLIN, 0});
    if (tcp_fd_ >= 0) fds_.push_back({tcp_fd_, POLLIN, 0});
    const std::size_t first_client = fds_.size();
    bool work_waiting = false;
    for (auto& [serial, c] : connections_) {
      short events = 0;
      if (c.session.wants_input()) events |= POLLIN;
      if (!c.session.output().empty()) events |= POLLOUT;
      work_waiting = work_waiting || c.session.ready_to_handle();
      // Nothing wanted (a job is answering): leave it out of the poll, or
      // a hang-up would wake the loop over and over until the job ends.
      fds_.push_back({events != 0 ? c.fd : -1, events, 0});
      serials_.push_back(serial);
    }
    if (::poll(fds_.data(), fds_.size(), work_waiting ? 0 : poll_timeout(clock::now())) < 0) {
      if (errno == EINTR) return;
      throw std::system_error(errno, std::generic_category(), "poll");
    }
    if (fds_[0].revents != 0) {
      std::uint64_t n;
      [[maybe_unused]] auto r = ::read(wake_fd_, &n, sizeof n);
      reap_jobs();
    }
    for (std::size_t i = 1; i < first_client; ++i) {
      if (fds_[i].revents != 0) accept_all(fds_[i].fd, fds_[i].fd == tcp_fd_);
    }
    const auto now = clock::now();
    for (std::size_t i = first_client; i < fds_.size(); ++i) {
      auto it = connections_.find(serials_[i - first_client]);
      if (it == connections_.end()) continue;
      try {
        if (fds_[i].revents & (POLLIN | POLLHUP | POLLERR)) read_from(it->second);
        serve(it->first, it->second);
        check_clocks(it->second, now);
      } catch (...) {
        // The session answers its requests' exceptions itself; this is the
        // I/O around it. The connection's state is unknown: close it.
        report("a client connection", std::current_exception());
        it->second.session.abort();
      }
      close_if_finished(it);
    }
    std::size_t buffered = 0;
    for (auto& [serial, c] : connections_)
      buffered += c.session.output().unsent();
    tally_.set_output_buffered(buffered);
  }

  // Milliseconds until the nearest idle or stall deadline; -1: none.
  int poll_timeout(clock::time_point now) const {
    std::optional<clock::time_point> nearest;
    auto consider = [&](const std::optional<clock::time_point>& since, std::chrono::milliseconds limit) {
      if (since && (!nearest || *since + limit < *nearest)) nearest = *since + limit;
    };
    for (const auto& [serial, c] : connections_) {
      consider(c.waiting_since, options_.idle_timeout);
      consider(c.stalled_since, options_.output_stall_timeout);
    }
    if (!nearest) return -1;
    if (*nearest <= now) return 0;
    // Rounded up, so the loop does not wake just before the deadline.
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(*nearest - now).count();
    return static_cast<int>(std::min<long long>(ms, 60'000));
  }

  void accept_all(int listener, bool tcp) {
    for (;;) {
      const int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or a transient error (EMFILE): try again on the next poll
      if (connections_.size() >= options_.max_clients) {
        refuse_client(fd);
        continue;
      }
      try {
        auto [it, inserted] = connections_.try_emplace(
            next_serial_++, fd,
            detail::session([this](const json& request) { return commands_.dispatch(request); }, options_, tally_,
                            tcp));
        it->second.waiting_since = clock::now();
      } catch (...) {
        ::close(fd);
        throw;
      }
      tally_.add(detail::endpoint_tally::accepted);
      tally_.set_active(connections_.size());
    }
  }

  void refuse_client(int fd) noexcept {
    try {
      const std::string line =
          detail::error_response(
              nullptr, "too_many_clients",
              "the endpoint already serves " + std::to_string(options_.max_clients) + " clients; close one and retry")
              .dump() +
          "\n";
      [[maybe_unused]] auto n = ::send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    } catch (...) {
      // The refusal line is a courtesy; the close below is the refusal.
    }
    ::close(fd);
    tally_.add(detail::endpoint_tally::refused_too_many);
  }

  void read_from(connection& c) {
    char buf[16384];
    for (int rounds = 0; rounds < reads_per_turn && c.session.wants_input(); ++rounds) {
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        c.session.received(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) {
        c.session.end_of_input();
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        c.session.abort();  // reset by peer: nothing more to say
      }
      return;
    }
  }

  // Answers what it may this turn and sends what the socket takes.
  void serve(std::uint64_t serial, connection& c) {
    std::size_t budget = requests_per_turn;
    while (auto job = c.session.handle_requests(budget)) {
      if (start_job(serial, c, std::move(*job))) break;
    }
    flush(c);
  }

  // False if the job did not start (the session has answered it already).
  bool start_job(std::uint64_t serial, connection& c, detail::slow_job&& work) {
    if (jobs_.size() >= max_jobs) {
      c.session.job_refused("busy", "too many slow requests (state, trace, restart) in flight; retry");
      return false;
    }
    try {
      auto j = std::make_unique<job>();
      j->serial = serial;
      job* raw = j.get();
      // Nothing in the thread's body can throw: the job's own exceptions
      // are kept for the I/O thread, which answers them as `internal`.
      j->thread = std::thread([this, raw, run = std::move(work.run)]() noexcept {
        ::pthread_setname_np(::pthread_self(), "weft-shell-job");
        try {
          raw->response = run();
        } catch (...) {
          raw->failure = std::current_exception();
        }
        // Release pairs with the acquire load in reap_jobs: the response
        // is visible to the I/O thread once it sees `done`.
        raw->done.store(true, std::memory_order_release);
        wake();
      });
      jobs_.push_back(std::move(j));
    } catch (...) {
      // No thread (EAGAIN) or no memory for the job: the request is
      // answered now instead.
      c.session.job_failed(std::current_exception());
      return false;
    }
    return true;
  }

  void reap_jobs() {
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      job& j = **it;
      if (!j.done.load(std::memory_order_acquire)) {
        ++it;
        continue;
      }
      j.thread.join();
      auto conn = connections_.find(j.serial);
      if (conn != connections_.end()) {
        if (j.failure) {
          conn->second.session.job_failed(j.failure);
        } else {
          conn->second.session.job_done(std::move(j.response));
        }
      }
      it = jobs_.erase(it);
      // The connection is served in this turn's loop over the clients.
    }
  }

  void flush(connection& c) {
    detail::output_queue& out = c.session.output();
    bool progressed = false;
    while (!out.empty()) {
      iovec iov[64];
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = out.gather(iov, std::size(iov));
      const ssize_t n = ::sendmsg(c.fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        out.sent(static_cast<std::size_t>(n));
        progressed = true;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
      c.session.abort();  // EPIPE, ECONNRESET: the client went away mid-response
      break;
    }
    if (out.empty()) {
      c.stalled_since.reset();
    } else if (progressed || !c.stalled_since) {
      c.stalled_since = clock::now();
    }
  }

  void check_clocks(connection& c, clock::time_point now) {
    if (!c.session.waiting_for_request()) {
      c.waiting_since.reset();
    } else if (!c.waiting_since) {
      c.waiting_since = now;
    } else if (now - *c.waiting_since >= options_.idle_timeout) {
      c.session.close_with("idle_timeout",
                           "no complete request line within " + std::to_string(options_.idle_timeout.count()) +
                               " ms (of connecting, or of the request's first byte); closing the connection");
      flush(c);
      c.session.abort();  // whatever the socket did not take now is not waited for
      c.waiting_since.reset();
      tally_.add(detail::endpoint_tally::dropped_idle);
      return;
    }
    if (c.stalled_since && now - *c.stalled_since >= options_.output_stall_timeout) {
      c.session.abort();
      c.stalled_since.reset();
      tally_.add(detail::endpoint_tally::dropped_slow);
    }
  }

  void close_if_finished(connection_map::iterator it) noexcept {
    connection& c = it->second;
    if (!c.session.finished()) return;
    ::close(c.fd);
    connections_.erase(it);
    tally_.add(detail::endpoint_tally::disconnected);
    tally_.set_active(connections_.size());
  }

  runtime& rt_;
  endpoint_options options_;
  detail::command_table commands_;
  detail::endpoint_tally tally_;
  int wake_fd_ = -1;
  int unix_fd_ = -1;
  int tcp_fd_ = -1;
  bool owns_socket_file_ = false;
  std::string socket_path_;
  std::uint16_t tcp_port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread io_thread_;
  // -- I/O thread only --
  connection_map connections_;
  std::uint64_t next_serial_ = 1;
  std::list<std::unique_ptr<job>> jobs_;
  std::vector<pollfd> fds_;
  std::vector<std::uint64_t> serials_;
  clock::time_point last_report_{};
  std::uint64_t unreported_ = 0;
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
