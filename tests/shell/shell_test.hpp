#pragma once
// Helpers for the debug shell's tests: a private socket directory, a raw
// TCP connection, and requests as JSON values.

#include <weft/shell/client.hpp>
#include <weft/shell/endpoint.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace shell_test {

using json = nlohmann::json;

// A fresh directory under /tmp, removed at the end of the test.
// A raw TCP connection to 127.0.0.1:port, with Nagle off so each send()
// leaves as its own segment.
inline int tcp_connect(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

class temp_dir {
 public:
  temp_dir() {
    char pattern[] = "/tmp/weft-shell-test-XXXXXX";
    path_ = ::mkdtemp(pattern);
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string socket() const { return path_ + "/test.sock"; }

 private:
  std::string path_;
};

inline weft::shell::endpoint_options options_in(const temp_dir& dir, bool allow_mutations = false) {
  weft::shell::endpoint_options o;
  o.socket_path = dir.socket();
  o.allow_mutations = allow_mutations;
  o.announce = false;
  o.program = "shell-test";
  return o;
}

inline json call(weft::shell::client& c, const json& request) {
  return json::parse(c.call(request.dump()));
}

inline json call(const std::string& socket, const json& request) {
  weft::shell::client c(weft::shell::parse_address(socket));
  return call(c, request);
}

}  // namespace shell_test
