#pragma once
// weft::shell::client — the client side of docs/shell-protocol.md: connect
// to an endpoint, send one request, read its response. Used by weft-shell
// and the tests; other C++ tools may use it too.
//
// Owner: one thread at a time (a client is one connection, in order).

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace weft::shell {

// Where an endpoint listens: a Unix socket path, or "host:port" (TCP).
struct endpoint_address {
  std::string unix_path;
  std::string host;
  int port = 0;
  bool is_tcp() const noexcept { return unix_path.empty(); }
  std::string to_string() const;
};

// "host:port" (port digits, no '/') is TCP; anything else is a socket path.
endpoint_address parse_address(std::string_view text);

// One endpoint found in the socket directory (discovery).
struct discovered_endpoint {
  std::string path;
  std::string program;
  int os_pid = 0;
};

// Endpoints in `dir` (default: default_socket_dir()) whose process is
// alive, sorted by path.
std::vector<discovered_endpoint> discover(const std::string& dir = {});

class client {
 public:
  // Connects; throws std::system_error with the address in its message.
  explicit client(const endpoint_address& address, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Sends one line (a newline is appended) and returns the next response
  // line (without its newline). Throws std::runtime_error if the endpoint
  // closed the connection or did not answer within the timeout.
  std::string call(std::string_view request_line);
  void send_line(std::string_view line);
  std::string read_line();
  int fd() const noexcept { return fd_; }

 private:
  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  std::string buffer_;
};

}  // namespace weft::shell
