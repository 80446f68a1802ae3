#pragma once
// Every limit and timeout of weft-chat in one place, with the command-line
// option that sets it (main.cpp parses them; --help lists them).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace chat {

using namespace std::chrono_literals;

struct config {
  std::uint16_t irc_port = 6667;         // --irc-port (0 here: any free port; tests)
  std::uint16_t ws_port = 8080;          // --ws-port (on the command line 0 turns the web front off)
  bool web = true;                       // the web front runs (ws_port 0 then: any free port)
  std::string bind_address = "::";       // --bind (IPv6 and IPv4; falls back to 0.0.0.0)
  std::filesystem::path data = "weft-chat-data";  // --data: the journal of rooms' history and topics
  unsigned workers = 0;                  // --workers (0: one per core)
  bool serve_shell = false;              // --serve-shell: the debug shell endpoint
  bool allow_mutations = false;          // --allow-mutations: the shell may kill/send (tests inject crashes so)
  std::string server_name = "weft.chat"; // --server-name: the prefix of the server's own lines
  std::string network = "weft";          // NETWORK= in 005

  // A client whose unsent output passes this many bytes is disconnected
  // ("SendQ exceeded"); everyone else is unaffected. --sendq
  std::size_t sendq_bytes = 1u << 20;
  // Input flood control (token bucket per connection): this many lines
  // per second on average, bursts of input_burst. Over it, lines wait;
  // a client that stays over it by abuse_lines is disconnected ("Excess
  // Flood"). --input-rate 0 turns it off (benchmarks). --input-rate, --input-burst
  double input_rate = 10;
  std::size_t input_burst = 40;
  std::size_t abuse_lines = 400;  // lines waiting for tokens before the client is cut off

  // Silence: after ping_after without a line the server sends PING; after
  // ping_timeout without one the client is dropped ("Ping timeout").
  // --ping-after, --ping-timeout (seconds)
  std::chrono::milliseconds ping_after = 30s;
  std::chrono::milliseconds ping_timeout = 90s;
  // A connection must register (NICK + USER) within this. --register-timeout
  std::chrono::milliseconds register_timeout = 30s;
  // A registered user without input for this long is shown idle (auto-away)
  // to MONITOR and away-notify watchers. --idle-after
  std::chrono::milliseconds idle_after = 300s;

  std::size_t max_connections = 20000;      // --max-connections (each holds a descriptor)
  std::size_t channels_per_user = 50;       // CHANLIMIT
  std::size_t monitor_limit = 100;          // MONITOR=
  std::size_t history_in_memory = 256;      // per room: CHATHISTORY and catch-up without a disk read
  std::size_t history_page = 100;           // CHATHISTORY= : the most lines one request returns
  // A room without members stops after this (its history stays in the journal).
  std::chrono::milliseconds idle_room_stop = 60s;
  // The room supervisor's restart intensity: this many crashes of rooms in
  // restart_window, then the whole server stops (it is broken).
  int room_restarts = 100;
  std::chrono::seconds restart_window = 10s;
  // Skip fdatasync (tests that measure something else only). --no-fsync
  bool no_fsync = false;
};

}  // namespace chat
