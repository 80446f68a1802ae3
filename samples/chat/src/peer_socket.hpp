#pragma once
// What the IRC and the web connection both do with a client's socket when
// they take it over: name the peer, and bound what the kernel may hold
// for it.
//
// Who may call: a connection actor, on the socket it owns.

#include <weft/runtime/net.hpp>

#include <string>
#include <string_view>

namespace chat {

// The peer's address as the host part of an IRC prefix ("127.0.0.1",
// "0::1": a host must not start with ':'), or `fallback` if it has none.
std::string peer_host(const weft::net::socket& sock, std::string_view fallback);

// What the kernel may hold unsent for one client (Linux doubles it). Left
// alone, Linux grows a slow reader's send buffer up to tcp_wmem's maximum
// (4 MiB by default), four times the default sendq: output would pile up
// there, unseen by the sendq check. Pinned, the queue the sendq bounds is
// where a slow client's output waits, and what a slow client costs is
// bounded in the kernel too. A failure is ignored: the client then has
// the kernel's default, which is only less strict.
inline constexpr int kernel_send_buffer = 64 * 1024;
void pin_send_buffer(const weft::net::socket& sock) noexcept;

}  // namespace chat
