#pragma once
// weft::shell::endpoint — a local introspection endpoint for one runtime,
// the server side of the debug shell (`weft-shell`, docs/guide/debug-shell.md)
// and of any tool that speaks docs/shell-protocol.md.
//
//   user code                                  the endpoint
//   ---------                                  ------------
//   weft::runtime rt;
//   weft::shell::endpoint ep(rt, {...}); ----> creates the socket (0600, in a
//                                              0700 per-user directory), starts
//                                              its own I/O thread
//   ...                                        one thread, poll() over non-
//                                              blocking sockets: reads newline-
//                                              delimited JSON requests, answers
//                                              from runtime snapshots
//                                              slow commands (state, trace,
//                                              restart) run on a helper thread
//   ~endpoint() (before ~runtime) -----------> closes every client, removes
//                                              the socket file, joins threads
//
// Why not an actor: the endpoint must keep answering when the actor system
// is stuck (a worker in a CPU loop, a deadlock), which is exactly when a
// person attaches a shell. So it uses no actor, no fiber and no worker
// thread; snapshots read actors with relaxed loads and never wait on them.
// Why a separate module: JSON and sockets stay out of the runtime core.
//
// Safety: read-only unless allow_mutations (kill, send, restart are refused
// with an error saying so). Every input is bounded: request size and
// nesting, clients, each client's unsent output (the endpoint stops
// answering a client that does not read, and drops it if it never does),
// the time a connection may take to complete a request. No bad line, and
// no exception while answering one, ends the program: the request gets an
// error response and the endpoint goes on. The TCP listener binds
// 127.0.0.1 only and requires a token.
//
// Lifetime: destroy the endpoint before its runtime (declare it after).
//
// Thread safety: construction and destruction from one thread; the
// accessors below are callable from any thread.

#include <weft/runtime/runtime.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace weft::shell {

inline constexpr int protocol_version = 1;

struct endpoint_options {
  // Serve on a Unix domain socket (the normal way).
  bool unix_socket = true;
  // Its path; empty: <default_socket_dir()>/<program>-<os pid>.sock.
  std::string socket_path{};
  // Also serve on TCP 127.0.0.1:<port> (unset: no TCP; tcp_any_port: a free
  // port, read back with tcp_port()). Clients must send the token.
  std::optional<std::uint16_t> tcp_port{};
  // The token TCP clients must send; empty: a random one (tcp_token()).
  std::string tcp_token{};
  // Allow kill, send and restart.
  bool allow_mutations = false;
  // Print where the endpoint listens (and how to attach) to stderr.
  bool announce = true;
  // Limits (see docs/shell-protocol.md, "Limits").
  std::size_t max_request_bytes = 64 * 1024;
  // The largest single response; a larger one is replaced by a
  // response_too_large error (ask for less: ps --limit, tree --depth).
  std::size_t max_output_bytes = 8 * 1024 * 1024;
  // A client's unsent output at which the endpoint stops answering (and
  // reading) its requests until it reads: a client that never reads costs
  // at most this plus one response.
  std::size_t output_high_water = 1024 * 1024;
  // A client whose socket takes none of its pending output for this long is
  // not reading: it is dropped (dropped_slow).
  std::chrono::milliseconds output_stall_timeout{30000};
  // How long a connection may take to complete a request line: its first
  // one after connecting, and any later one from its first byte. Past it
  // the client gets an idle_timeout error and is closed (dropped_idle). A
  // client that has completed a request may then stay connected idle (an
  // interactive shell), as it is the same user (Unix socket) or holds the
  // token (TCP).
  std::chrono::milliseconds idle_timeout{10000};
  std::size_t max_clients = 128;
  // How long state/restart wait for an actor or supervisor to answer, and
  // the longest trace a client may ask for.
  std::chrono::milliseconds call_timeout{2000};
  std::chrono::milliseconds max_trace_duration{30000};
  // Name shown by `hello` and used in the default socket file name; empty:
  // the program's name.
  std::string program{};
};

inline constexpr std::uint16_t tcp_any_port = 0;

// What the endpoint has seen (for tests and for `stats`).
struct endpoint_counters {
  std::uint64_t accepted = 0;
  std::uint64_t refused_too_many = 0;  // over max_clients: told so and closed
  std::uint64_t requests = 0;
  std::uint64_t bad_requests = 0;         // malformed, unknown, oversized, unauthorized
  std::uint64_t dropped_slow = 0;         // clients dropped for not reading (output_stall_timeout)
  std::uint64_t dropped_idle = 0;         // clients dropped for not completing a request (idle_timeout)
  std::uint64_t disconnected = 0;         // clients that went away (any cause)
  std::uint64_t internal_errors = 0;      // exceptions caught while answering (answered `internal`)
  std::uint64_t responses_too_large = 0;  // responses over max_output_bytes, replaced by an error
  std::uint64_t output_pauses = 0;        // times a client's requests waited for it to read (output_high_water)
  std::size_t active = 0;
  std::size_t output_buffered = 0;  // unsent output held for all clients, in bytes
};

// $XDG_RUNTIME_DIR/weft if set, else /tmp/weft-<uid>. Created mode 0700 if
// missing; if it exists it must be a directory owned by this user and not
// accessible to others, else std::system_error says what is wrong.
std::string default_socket_dir(bool create = true);

class endpoint {
 public:
  // Starts serving; throws std::system_error naming the path or port that
  // failed (socket in use, directory unsafe, ...).
  endpoint(runtime& rt, endpoint_options options = {});
  ~endpoint();
  endpoint(const endpoint&) = delete;
  endpoint& operator=(const endpoint&) = delete;

  // -- any thread ------------------------------------------------------------
  const std::string& socket_path() const noexcept;  // empty: no Unix socket
  std::uint16_t tcp_port() const noexcept;          // 0: no TCP
  const std::string& tcp_token() const noexcept;
  bool mutations_allowed() const noexcept;
  endpoint_counters counters() const;

  class impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace weft::shell
