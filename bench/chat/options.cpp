// weft-chat-loadgen's command line (see options.hpp).
#include "options.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace chat_bench {

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr,
               "weft-chat-loadgen: %s\n"
               "usage: weft-chat-loadgen --scenario=rooms|one-room|idle|stalled --impl=NAME --port=P\n"
               "       [--server-pid=PID] [--clients=N] [--rooms=R] [--rate=MSGS_PER_S] [--duration=10]\n"
               "       [--warmup=2] [--drain=5] [--payload-bytes=64] [--stalled=1] [--stalled-rcvbuf=4096]\n"
               "       [--threads=1] [--connect-concurrency=200] [--setup-timeout=120] [--host=127.0.0.1]\n"
               "       [--saturation [--sat-factor=1.5] [--sat-step=3] [--sat-warmup=1] [--sat-p99-ms=100]\n"
               "        [--sat-max-steps=20]]\n",
               what.c_str());
  std::exit(1);
}

static double parse_number(std::string_view name, std::string_view text, double lo, double hi) {
  char* end = nullptr;
  const std::string copy(text);
  const double v = std::strtod(copy.c_str(), &end);
  if (copy.empty() || *end != '\0' || !(v >= lo && v <= hi)) {
    usage_error("--" + std::string(name) + "=" + copy + ": expected a number in [" + std::to_string(lo) + ", " +
                std::to_string(hi) + "]");
  }
  return v;
}

static int parse_int(std::string_view name, std::string_view text, int lo, int hi) {
  const double v = parse_number(name, text, lo, hi);
  if (v != std::floor(v)) usage_error("--" + std::string(name) + "=" + std::string(text) + ": expected a whole number");
  return static_cast<int>(v);
}

options parse_options(int argc, char** argv) {
  options o;
  bool have_scenario = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (!arg.starts_with("--")) usage_error("unexpected argument '" + std::string(arg) + "'");
    arg.remove_prefix(2);
    std::string_view name = arg;
    std::string_view value;
    if (arg == "saturation") {
      o.saturation = true;
      continue;
    }
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      usage_error("--" + std::string(name) + " needs a value");
    }
    if (name == "scenario") {
      have_scenario = true;
      if (value == "rooms") o.kind = scenario::rooms;
      else if (value == "one-room") o.kind = scenario::one_room;
      else if (value == "idle") o.kind = scenario::idle;
      else if (value == "stalled") o.kind = scenario::stalled;
      else usage_error("--scenario must be rooms, one-room, idle or stalled, not '" + std::string(value) + "'");
    } else if (name == "impl") o.impl = std::string(value);
    else if (name == "host") o.host = std::string(value);
    else if (name == "port") o.port = parse_int(name, value, 1, 65535);
    else if (name == "server-pid") o.server_pid = parse_int(name, value, 1, 1 << 30);
    else if (name == "clients") o.clients = parse_int(name, value, 1, max_clients);
    else if (name == "rooms") o.rooms = parse_int(name, value, 1, max_clients);
    else if (name == "rate") o.rate = parse_number(name, value, 0.01, 10e6);
    else if (name == "duration") o.duration_s = parse_number(name, value, 0.1, 3600);
    else if (name == "warmup") o.warmup_s = parse_number(name, value, 0, 600);
    else if (name == "drain") o.drain_s = parse_number(name, value, 0.1, 120);
    else if (name == "payload-bytes") o.payload_bytes = parse_int(name, value, min_payload_bytes, max_payload_bytes);
    else if (name == "stalled") o.stalled = parse_int(name, value, 0, max_clients);
    else if (name == "stalled-rcvbuf") o.stalled_rcvbuf = parse_int(name, value, 0, 1 << 26);
    else if (name == "threads") o.threads = parse_int(name, value, 1, max_threads);
    else if (name == "connect-concurrency") o.connect_concurrency = parse_int(name, value, 1, max_clients);
    else if (name == "setup-timeout") o.setup_timeout_s = parse_number(name, value, 1, 3600);
    else if (name == "sat-factor") o.sat_factor = parse_number(name, value, 1.05, 10);
    else if (name == "sat-step") o.sat_step_s = parse_number(name, value, 0.2, 600);
    else if (name == "sat-warmup") o.sat_warmup_s = parse_number(name, value, 0, 60);
    else if (name == "sat-p99-ms") o.sat_p99_ms = parse_number(name, value, 0.01, 60000);
    else if (name == "sat-max-steps") o.sat_max_steps = parse_int(name, value, 1, 100);
    else usage_error("unknown option --" + std::string(name));
  }
  if (!have_scenario) usage_error("--scenario is required");
  if (o.port == 0) usage_error("--port is required");
  for (char c : o.impl) {
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) usage_error("--impl: no quotes, backslashes or control characters");
  }
  // The scenarios' defaults (see the header).
  const bool one_room = o.kind == scenario::one_room || o.kind == scenario::stalled;
  if (o.clients < 0) o.clients = o.kind == scenario::idle ? 10000 : 1000;
  if (o.kind == scenario::idle) {
    if (o.rooms > 0) usage_error("--rooms: the idle scenario joins no rooms");
    if (o.saturation) usage_error("--saturation needs a scenario with load (rooms or one-room)");
    o.rooms = 0;
  } else if (one_room) {
    if (o.rooms > 1) usage_error("--rooms: one-room and stalled use one room");
    o.rooms = 1;
  } else if (o.rooms < 0) {
    o.rooms = std::max(1, o.clients / 10);
  }
  if (o.rooms > o.clients) usage_error("--rooms=" + std::to_string(o.rooms) + " is more than --clients=" + std::to_string(o.clients));
  if (o.stalled < 0) o.stalled = o.kind == scenario::stalled ? 1 : 0;
  if (o.stalled > 0 && o.kind != scenario::stalled) usage_error("--stalled is for the stalled scenario");
  if (o.saturation && o.kind == scenario::stalled) usage_error("--saturation is for rooms or one-room");
  if (o.kind != scenario::idle && o.stalled >= o.clients - 1) usage_error("--stalled leaves fewer than two clients to talk");
  if (o.rate < 0) {
    if (o.kind == scenario::rooms) o.rate = o.saturation ? o.clients * 1.0 : o.clients * 10.0;
    else o.rate = o.saturation ? 20 : 50;
  }
  if (o.threads > o.clients) o.threads = o.clients;
  return o;
}

// Resolves host to a loopback address, or exits: this tool never sends
// traffic off the machine.
sockaddr_storage loopback_address(const options& o, socklen_t& len) {
  sockaddr_storage out{};
  const std::string host = o.host == "localhost" ? "127.0.0.1" : o.host;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    if ((ntohl(v4->sin_addr.s_addr) >> 24) != 127) usage_error("--host=" + host + ": not a loopback address (127.0.0.0/8 or ::1 only)");
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(o.port));
    len = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    if (!IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr)) usage_error("--host=" + host + ": not a loopback address (127.0.0.0/8 or ::1 only)");
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(o.port));
    len = sizeof(sockaddr_in6);
  } else {
    usage_error("--host=" + host + ": not a numeric loopback address (127.0.0.1, ::1)");
  }
  return out;
}

}  // namespace chat_bench
