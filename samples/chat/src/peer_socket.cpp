// Peer naming and the kernel send buffer (peer_socket.hpp).

#include "peer_socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace chat {

std::string peer_host(const weft::net::socket& sock, std::string_view fallback) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(sock.native_handle(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) return std::string(fallback);
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr, text, sizeof text);
  } else if (addr.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    const bool mapped = IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr);  // an IPv4 client on the "::" listener
    ::inet_ntop(mapped ? AF_INET : AF_INET6, mapped ? &v6->sin6_addr.s6_addr[12] : &v6->sin6_addr.s6_addr[0], text,
                sizeof text);
  }
  std::string host = text;
  if (host.empty()) return std::string(fallback);
  if (host.front() == ':') host.insert(host.begin(), '0');
  return host;
}

void pin_send_buffer(const weft::net::socket& sock) noexcept {
  (void)::setsockopt(sock.native_handle(), SOL_SOCKET, SO_SNDBUF, &kernel_send_buffer, sizeof kernel_send_buffer);
}

}  // namespace chat
