#pragma once
// Helpers for weft-chat's tests: the server's tree in this process on a
// free port with a private data directory, and a plain blocking IRC
// client (a socket and a line buffer, nothing of weft) to talk to it as
// any client would.

#include "config.hpp"
#include "server.hpp"
#include "weft_test.hpp"

#include <weft/persistence/file_journal.hpp>
#include <weft/runtime/weft.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace chat_test {

using namespace std::chrono_literals;

// A fresh directory under the system's temp dir, removed at the end.
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           ("weft-chat-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// Test defaults: any free port, no web front, no flood control, fast
// timeouts where a test sets them.
inline chat::config test_config() {
  chat::config cfg;
  cfg.irc_port = 0;
  cfg.bind_address = "127.0.0.1";
  cfg.web = false;
  cfg.input_rate = 0;
  cfg.no_fsync = false;
  return cfg;
}

// The whole server tree in this process. The journal is declared before
// the runtime, so it outlives the actors.
class server {
 public:
  explicit server(chat::config cfg = test_config(), std::filesystem::path data = {}, unsigned workers = 2)
      : cfg_(std::move(cfg)) {
    if (data.empty()) {
      own_dir_ = std::make_unique<temp_dir>();
      data = own_dir_->path;
    }
    cfg_.data = data;
    journal_ = weft::persistence::open_file_journal(data / "journal",
                                                    {.truncate_corrupt_tail = true, .unsafe_no_sync = cfg_.no_fsync});
    weft::runtime_options o;
    o.workers = workers;
    rt_ = std::make_unique<weft::runtime>(o);
    auto started = chat::start_server(*rt_, cfg_, *journal_);
    if (!started) throw std::runtime_error("start_server: " + std::string(started.error().detail()));
    running_ = std::move(*started);
  }
  ~server() { stop(); }

  void stop() {
    if (!rt_) return;
    {
      weft::scoped_actor self(*rt_);
      (void)running_.tree.stop(self, 30s);
    }
    rt_.reset();
    journal_->close();
  }

  std::uint16_t port() const { return running_.irc_port; }
  std::uint16_t ws_port() const { return running_.ws_port; }
  weft::runtime& rt() { return *rt_; }
  const chat::config& cfg() const { return cfg_; }
  const std::filesystem::path& data() const { return cfg_.data; }

 private:
  chat::config cfg_;
  std::unique_ptr<temp_dir> own_dir_;
  std::unique_ptr<weft::persistence::journal> journal_;
  std::unique_ptr<weft::runtime> rt_;
  chat::running_server running_;
};

// A blocking IRC client for tests: send lines, wait for lines.
class client {
 public:
  explicit client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      throw std::runtime_error("connect");
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  client(const client&) = delete;
  client& operator=(const client&) = delete;
  ~client() {
    if (fd_ >= 0) ::close(fd_);
  }

  // Sends raw bytes (add "\r\n" yourself); false if the server closed.
  bool send_raw(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  bool send(std::string_view line) { return send_raw(std::string(line) + "\r\n"); }

  // The next line for which `match` holds (earlier ones are kept in
  // seen()); nullopt after `timeout` or when the server closed.
  std::optional<std::string> wait_for(const std::function<bool(const std::string&)>& match,
                                      std::chrono::milliseconds timeout = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      while (next_ < lines_.size()) {
        const std::string& l = lines_[next_++];
        if (match(l)) return l;
      }
      if (closed_) return std::nullopt;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pump(left);
    }
  }
  // The next line containing `text`.
  std::optional<std::string> wait_for(std::string_view text, std::chrono::milliseconds timeout = 20s) {
    return wait_for([text = std::string(text)](const std::string& l) { return l.find(text) != std::string::npos; },
                    timeout);
  }
  // Whether the server closes the connection within `timeout`.
  bool wait_closed(std::chrono::milliseconds timeout = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!closed_) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pump(left);
    }
    return true;
  }
  // NICK + USER, then waits for 001 (and the end of the MOTD).
  bool register_as(std::string_view nick, std::string_view caps = {}) {
    if (!caps.empty()) send("CAP REQ :" + std::string(caps));
    send("NICK " + std::string(nick));
    send("USER " + std::string(nick) + " 0 * :" + std::string(nick));
    if (!caps.empty()) send("CAP END");
    return wait_for(" 376 ").has_value();
  }
  // JOIN, then waits for the end of NAMES.
  bool join(std::string_view room) {
    send("JOIN " + std::string(room));
    return wait_for(" 366 ").has_value();
  }
  // Every line received so far (CR LF removed).
  const std::vector<std::string>& seen() const { return lines_; }
  bool closed() const { return closed_; }
  int fd() const { return fd_; }
  // Stops reading: the server's output piles up in the kernel, then in
  // its own queue.
  void shrink_receive_buffer() {
    int small = 4096;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  }

 private:
  void pump(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<long>(timeout.count(), 100))) <= 0) return;
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      closed_ = true;
      return;
    }
    partial_.append(buf, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = partial_.find('\n')) != std::string::npos) {
      std::string line = partial_.substr(0, nl);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      lines_.push_back(std::move(line));
      partial_.erase(0, nl + 1);
    }
  }

  int fd_ = -1;
  std::string partial_;
  std::vector<std::string> lines_;
  std::size_t next_ = 0;
  bool closed_ = false;
};

// A field of /proc/self/status in kB: VmRSS (all resident memory),
// RssAnon (the heap and stacks: where a leak shows), RssFile (mapped files).
inline long status_kb(std::string_view field = "VmRSS:") {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  long kb = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::string_view(line).starts_with(field)) kb = std::atol(line + field.size());
  }
  std::fclose(f);
  return kb;
}
inline long rss_kb() { return status_kb("VmRSS:"); }
inline long rss_anon_kb() { return status_kb("RssAnon:"); }

// Open descriptors of this process.
// This process's open descriptors; with `outside` given, only those that
// are not files under that directory (a journal keeps one descriptor per
// segment file, and a long run adds segments: those are counted apart).
inline std::size_t open_fds(const std::filesystem::path& outside = {}) {
  std::size_t n = 0;
  const std::string prefix = outside.empty() ? std::string() : outside.string() + "/";
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    if (!prefix.empty()) {
      std::error_code ec;
      const std::string target = std::filesystem::read_symlink(e.path(), ec).string();
      if (!ec && target.starts_with(prefix)) continue;
    }
    ++n;
  }
  return n;
}

// Descriptors open on files under `dir`.
inline std::size_t open_fds_under(const std::filesystem::path& dir) { return open_fds() - open_fds(dir); }

}  // namespace chat_test
