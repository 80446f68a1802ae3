#pragma once
// weft::shell::client — the client side of docs/shell-protocol.md: connect
// to an endpoint, send one request, read its response. Used by weft-shell
// and the tests; other C++ tools may use it too.
//
// Owner: one thread at a time (a client is one connection, in order).

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace weft::shell {

// Where an endpoint listens: a Unix socket path, or "host:port" (TCP).
struct endpoint_address {
  std::string unix_path{};
  std::string host{};
  int port = 0;
  bool is_tcp() const noexcept { return unix_path.empty(); }
  std::string to_string() const;
};

// "host:port" (port digits, no '/') is TCP; anything else is a socket path.
endpoint_address parse_address(std::string_view text);

// One endpoint found in the socket directory (discovery).
struct discovered_endpoint {
  std::string path{};
  std::string program{};
  int os_pid = 0;
};

// Endpoints in `dir` (default: default_socket_dir()) whose process is
// alive, sorted by path.
std::vector<discovered_endpoint> discover(const std::string& dir = {});

// A response line longer than the client's cap (max_line_bytes). The
// client stopped reading at the cap and shut its connection down: the
// rest of that line is never read, and the client refuses further calls.
struct line_too_long : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class client {
 public:
  // The longest response line read unless the caller says otherwise: an
  // endpoint's `ps` takes some 480 bytes an actor, 48 MB for 100,000. The
  // memory a line costs is its length plus what parsing it takes.
  static constexpr std::size_t default_max_line_bytes = std::size_t{64} << 20;

  // Connects; throws std::system_error with the address in its message.
  explicit client(const endpoint_address& address, std::chrono::milliseconds timeout = std::chrono::seconds(10),
                  std::size_t max_line_bytes = default_max_line_bytes);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Sends one line (a newline is appended) and returns the next response
  // line (without its newline). Throws std::runtime_error if the endpoint
  // closed the connection or did not answer within the timeout, and
  // line_too_long if the line passed max_line_bytes (then the connection
  // is shut down: calls after that throw std::runtime_error).
  std::string call(std::string_view request_line);
  void send_line(std::string_view line);
  std::string read_line();
  int fd() const noexcept { return fd_; }

  // The cap on a response line's length, newline excluded: at least 1, at
  // most what a std::string can hold.
  void set_max_line_bytes(std::size_t bytes) noexcept;
  std::size_t max_line_bytes() const noexcept { return max_line_bytes_; }

 private:
  void abandon();

  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  std::size_t max_line_bytes_;
  bool abandoned_ = false;  // a line passed the cap: the stream is out of step
  std::string buffer_;      // received, not yet returned
};

}  // namespace weft::shell
