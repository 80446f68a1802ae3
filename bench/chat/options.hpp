// weft-chat-loadgen's command line: the scenarios, their defaults, and
// the bounds every option is checked against (see loadgen.cpp's header).
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace chat_bench {

// -- options ------------------------------------------------------------------

enum class scenario { rooms, one_room, idle, stalled };

constexpr const char* scenario_name(scenario s) {
  switch (s) {
    case scenario::rooms: return "rooms";
    case scenario::one_room: return "one-room";
    case scenario::idle: return "idle";
    case scenario::stalled: return "stalled";
  }
  return "?";
}

struct options {
  scenario kind = scenario::rooms;
  std::string impl = "unnamed";
  std::string host = "127.0.0.1";
  int port = 0;
  int server_pid = 0;
  int clients = -1;  // -1: the scenario's default
  int rooms = -1;
  double rate = -1;  // messages/s, all senders together
  double duration_s = 10;
  double warmup_s = 2;
  double drain_s = 5;
  int payload_bytes = 64;
  int stalled = -1;
  int stalled_rcvbuf = 4096;
  int threads = 1;
  int connect_concurrency = 200;
  double setup_timeout_s = 120;
  bool saturation = false;
  double sat_factor = 1.5;
  double sat_step_s = 3;
  double sat_warmup_s = 1;
  double sat_p99_ms = 100;
  int sat_max_steps = 20;
};

constexpr int max_clients = 60000;
constexpr int max_threads = 16;
constexpr int min_payload_bytes = 40;  // the header fields and one filler byte
constexpr int max_payload_bytes = 400;  // the line stays under IRC's 512 bytes
constexpr std::size_t max_unsent_bytes = 4u << 20;
constexpr std::size_t max_partial_line = 64u << 10;
constexpr std::uint64_t max_tracking_pairs = 50'000'000;

// Prints what is wrong and the usage to stderr; exits with status 1.
[[noreturn]] void usage_error(const std::string& what);

// Parses argv, applies the scenario's defaults, and checks that the
// combination makes sense; exits through usage_error if not.
options parse_options(int argc, char** argv);

// The server's address, which must be loopback (127.0.0.0/8 or ::1); exits
// through usage_error otherwise: this tool never sends traffic off the machine.
sockaddr_storage loopback_address(const options& o, socklen_t& len);

}  // namespace chat_bench
