// Shared plumbing of caf-bench, the CAF 0.17 peer of weft-bench: argument
// parsing, the one-line JSON result, /proc/self/status readings, the SPEC's
// leak check and the message atoms.
#pragma once

#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace caf_bench {

using done_atom = caf::atom_constant<caf::atom("done")>;
using go_atom = caf::atom_constant<caf::atom("go")>;
using next_atom = caf::atom_constant<caf::atom("next")>;
using ready_atom = caf::atom_constant<caf::atom("ready")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using token_atom = caf::atom_constant<caf::atom("token")>;
using calls_atom = caf::atom_constant<caf::atom("calls")>;
using event_atom = caf::atom_constant<caf::atom("event")>;
using count_atom = caf::atom_constant<caf::atom("count")>;
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
using publish_atom = caf::atom_constant<caf::atom("publish")>;

using clock_type = std::chrono::steady_clock;

// `key=value` arguments after the workload name; values are integers,
// but for fractions such as match=0.01.
class arguments {
public:
  arguments(int argc, char** argv, int first);

  // The value of `key`, or `fallback` when it was not given; throws
  // std::invalid_argument unless the whole value is an integer.
  int64_t get(const std::string& key, int64_t fallback) const;
  // As get, for a decimal fraction.
  double get_fraction(const std::string& key, double fallback) const;

private:
  std::map<std::string, std::string> values_;
};

// One flat JSON object, fields in insertion order.
class json_line {
public:
  json_line& add(std::string_view key, std::string_view text);
  json_line& add(std::string_view key, const char* text) {
    return add(key, std::string_view{text});
  }
  json_line& add(std::string_view key, int64_t number);
  json_line& add(std::string_view key, double number);

  std::string str() const { return "{" + body_ + "}"; }

private:
  void key(std::string_view name);

  std::string body_;
};

// Thrown by a workload CAF cannot express honestly; printed as
// {"skipped": reason}.
struct skipped : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A field of /proc/self/status in kB (VmRSS, VmHWM).
int64_t status_kb(const char* field);

double seconds_since(clock_type::time_point start);

// Appends n, seconds, rate, unit and peak_rss_kb.
void add_rate(json_line& out, int64_t n, double seconds, const char* unit);

// The SPEC's leak rule: waits (bounded) until the running-actor count is
// back to `baseline`; otherwise reports the leak on stderr and exits with
// status 1, since shutting the actor system down would wait forever.
void await_baseline(caf::actor_system& system, size_t baseline,
                    const char* workload);

// Workloads; each appends its result fields to `out` or throws `skipped`.
void pingpong(caf::actor_system& system, const arguments& args, json_line& out);
void fanin(caf::actor_system& system, const arguments& args, json_line& out);
void spawn(caf::actor_system& system, const arguments& args, json_line& out);
void ring(caf::actor_system& system, const arguments& args, json_line& out);
void idle(caf::actor_system& system, const arguments& args, json_line& out);
void parked(caf::actor_system& system, const arguments& args, json_line& out);
void ask(caf::actor_system& system, const arguments& args, json_line& out);
void broadcast(caf::actor_system& system, const arguments& args,
               json_line& out);
void server(caf::actor_system& system, const arguments& args, json_line& out);
void statem(caf::actor_system& system, const arguments& args, json_line& out);
void pubsub(caf::actor_system& system, const arguments& args, json_line& out);
void router(caf::actor_system& system, const arguments& args, json_line& out);

// The q-quantile (0 < q <= 1) of sorted nanosecond samples in microseconds,
// by the nearest-rank method (as in weft-bench and the Erlang peer).
double percentile_us(const std::vector<int64_t>& sorted_ns, double q);

} // namespace caf_bench
