// libFuzzer target for the endpoint's request handling
// (scripts/fuzz-endpoint.sh). Arbitrary bytes go through the same session
// class the endpoint's I/O thread drives (shell/src/session.hpp), split
// into reads at arbitrary points, with the real commands answering from a
// real runtime with a few actors. Slow commands run inline here instead of
// on a helper thread.
//
// The first input byte picks the endpoint's configuration: bit 0 a TCP
// connection (token required), bit 1 tiny limits (so too_large, the
// high-water pause and response_too_large are reachable in short inputs),
// bit 2 mutations allowed; the higher bits and the following bytes seed
// the read sizes and when the client reads its output.
//
// What must hold, whatever the bytes (each violation aborts):
//   - nothing throws out of the session;
//   - every output line is one JSON response object {"v":1,"ok":bool,...},
//     with an error code and message when ok is false;
//   - unless the session closed (too_large, unauthorized), every complete
//     non-blank request line got exactly one response; if it closed, at most
//     one more response than requests (the reason it closed);
//   - no exception was answered `internal`: the commands handle every
//     request shape themselves;
//   - while a complete request waits unanswered and nothing else stops it,
//     the session is paused on its unsent output (back-pressure holds);
//   - after the input ends and its output is read, the session finishes.

#include "commands.hpp"
#include "session.hpp"

#include <weft/runtime/weft.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

using weft::shell::detail::json;

[[noreturn]] void violated(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "endpoint fuzz: %s: %.*s\n", what, static_cast<int>(std::min<std::size_t>(detail.size(), 500)),
               detail.data());
  std::abort();
}

weft::behavior chat_room(weft::context& self) {
  auto lines = std::make_shared<std::size_t>(0);
  self.set_describe([lines] { return std::to_string(*lines) + " line(s)"; });
  return {[lines](const std::string&) { ++*lines; }, [](int n) { return n; }};
}

// One runtime for the whole run, as a program has one; actors the input
// killed (kill, restart) are respawned before the next input, so each
// input meets the same world.
struct world {
  weft::runtime rt{weft::runtime_options{.workers = 1}};
  std::vector<std::string> names{"lobby", "games", "echo"};
  void restore() {
    for (const auto& name : names) {
      if (!rt.whereis(name)) rt.spawn(chat_room, {.name = name, .label = "fuzz " + name});
    }
  }
};

world& the_world() {
  static world w;
  return w;
}

// Counts what a client sent: complete request lines that are not blank.
std::size_t requests_in(std::string_view bytes) {
  std::size_t count = 0;
  for (auto newline = bytes.find('\n'); newline != std::string_view::npos; newline = bytes.find('\n')) {
    std::string_view line = bytes.substr(0, newline);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") != std::string_view::npos) ++count;
    bytes.remove_prefix(newline + 1);
  }
  return count;
}

struct client_side {
  std::string pending;
  std::size_t responses = 0;
  std::size_t longest_allowed = 0;

  void read(weft::shell::detail::output_queue& out, std::size_t at_most) {
    iovec iov[8];
    while (!out.empty() && at_most > 0) {
      const std::size_t n = out.gather(iov, 8);
      std::size_t taken = 0;
      for (std::size_t i = 0; i < n && taken < at_most; ++i) {
        const std::size_t part = std::min(iov[i].iov_len, at_most - taken);
        pending.append(static_cast<const char*>(iov[i].iov_base), part);
        taken += part;
      }
      out.sent(taken);
      at_most -= taken;
    }
    for (auto newline = pending.find('\n'); newline != std::string::npos; newline = pending.find('\n')) {
      check(std::string_view(pending).substr(0, newline));
      pending.erase(0, newline + 1);
    }
  }

  void check(std::string_view line) {
    if (line.size() > longest_allowed) violated("response longer than the limit allows", line);
    json r;
    try {
      r = json::parse(line);
    } catch (const json::exception&) {
      violated("response is not JSON", line);
    }
    if (!r.is_object() || r.value("v", 0) != 1 || !r.contains("id") || !r["ok"].is_boolean()) {
      violated("response is not a protocol response", line);
    }
    if (r["ok"] == false &&
        (!r["error"].is_object() || !r["error"]["code"].is_string() || !r["error"]["message"].is_string())) {
      violated("error response without code and message", line);
    }
    ++responses;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

  world& w = the_world();
  w.restore();
  weft::shell::endpoint_options o;
  o.announce = false;
  o.program = "endpoint-fuzz";
  o.tcp_token = "fuzz-token-0123456789abcdef";
  o.allow_mutations = (mode & 4) != 0;
  o.call_timeout = std::chrono::milliseconds(20);
  o.max_trace_duration = std::chrono::milliseconds(1);
  if ((mode & 2) != 0) {
    o.max_request_bytes = 200;
    o.max_output_bytes = 1500;
    o.output_high_water = 600;
  }
  weft::shell::detail::endpoint_tally tally;
  weft::shell::detail::command_table commands(w.rt, o, [&] { return tally.snapshot(); });
  weft::shell::detail::session s([&](const json& request) { return commands.dispatch(request); }, o, tally,
                                 (mode & 1) != 0);
  client_side client;
  // An error response may carry the request's id (up to a request long).
  client.longest_allowed = o.max_output_bytes + o.max_request_bytes + 1024;

  auto drive = [&] {
    while (auto job = s.handle_requests()) {
      try {
        s.job_done(job->run());
      } catch (...) {
        s.job_failed(std::current_exception());
      }
    }
    if (!s.busy() && !s.closing() && s.ready_to_handle() && !s.paused()) {
      violated("a complete request is left unanswered with nothing stopping it");
    }
  };

  // Reads of 1-64 bytes; the client reads its output only on some rounds.
  std::uint32_t seed = mode >> 3;
  std::size_t offset = 0;
  while (offset < input.size()) {
    seed = seed * 1103515245u + 12345u;
    const std::size_t chunk = std::min<std::size_t>(1 + (seed >> 16) % 64, input.size() - offset);
    s.received(input.data() + offset, chunk);
    offset += chunk;
    drive();
    if ((seed >> 8) % 3 != 0) client.read(s.output(), (seed >> 4) % 4096);
  }
  s.end_of_input();
  for (int rounds = 0; !s.finished(); ++rounds) {
    if (rounds > 100000) violated("the session never finishes");
    drive();
    client.read(s.output(), ~std::size_t{0});
  }

  const std::size_t requests = requests_in(input);
  if (!s.closing() && client.responses != requests) {
    violated("responses do not match requests one for one",
             std::to_string(client.responses) + " responses to " + std::to_string(requests) + " requests");
  }
  if (s.closing() && client.responses > requests + 1) violated("more responses than requests");
  if (tally.snapshot().internal_errors != 0) violated("a request was answered `internal`");
  return 0;
}
