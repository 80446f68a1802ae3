#pragma once
// The plumbing every weft-bench workload shares: `key=value` arguments, the
// one-line JSON result, /proc/self/status readings, latency percentiles,
// scratch directories and bench/SPEC.md's leak rule.
//
// A workload is one function
//
//   void pingpong(weft::runtime& rt, const arguments& args, json_line& out);
//
// that runs on a started runtime, times only its measured section, appends
// its result fields to `out` (add_rate and friends), or throws `skipped`.
// It must leave the runtime with as many live actors as it found
// (await_baseline), and print nothing: stdout carries the JSON line alone,
// diagnostics go to stderr.

#include <weft/runtime/runtime.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weft_bench {

using clock_type = std::chrono::steady_clock;

// The arguments after the workload name: `key=value`, integer values but
// for fractions read with get_fraction (pubsub's match=0.01).
// `workers` is read by main; every other key must be one the workload
// declares (a typo fails instead of silently running the default).
class arguments {
 public:
  arguments(std::string_view workload, int argc, char** argv, int first);

  // Fails unless every key given is in `known` (or is `workers`).
  void allow(std::initializer_list<std::string_view> known) const;
  std::int64_t get(std::string_view key, std::int64_t fallback) const;
  // As get, and the value must be at least `minimum`.
  std::int64_t get_at_least(std::string_view key, std::int64_t fallback, std::int64_t minimum) const;
  // A decimal fraction in (0, 1].
  double get_fraction(std::string_view key, double fallback) const;
  std::string_view workload() const noexcept { return workload_; }

 private:
  std::string_view workload_;
  std::map<std::string, std::string, std::less<>> values_;
};

// One flat JSON object on one line, fields in the order they are added.
class json_line {
 public:
  json_line& add(std::string_view key, std::string_view text);
  json_line& add(std::string_view key, const char* text) { return add(key, std::string_view(text)); }
  json_line& add(std::string_view key, std::int64_t number);
  // `decimals` digits after the point (fixed notation, valid JSON).
  json_line& add(std::string_view key, double number, int decimals);
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void key(std::string_view name);
  std::string body_;
};

// A workload that cannot run honestly (a module not built yet): printed as
// {"bench":..., "impl":..., "workers":..., "skipped": what()}.
struct skipped : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Reports what went wrong on stderr and ends the process with status 1,
// without running destructors: a runtime in an unknown state could make a
// clean shutdown hang, and the runner must see the failure, not a rate.
template <class... Args>
[[noreturn]] void fail(std::string_view workload, fmt::format_string<Args...> what, Args&&... args) {
  std::fprintf(stderr, "weft-bench %.*s: %s\n", static_cast<int>(workload.size()), workload.data(),
               fmt::format(what, std::forward<Args>(args)...).c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

// A field of /proc/self/status in kB: "VmRSS", "VmHWM".
std::int64_t status_kb(std::string_view field);

double seconds_since(clock_type::time_point start);

// Appends n, seconds, rate (= n / seconds), unit and peak_rss_kb (VmHWM now).
void add_rate(json_line& out, std::int64_t n, double seconds, std::string_view unit);

// (rss_after_kb - rss_before_kb) / n, in bytes, rounded.
std::int64_t bytes_per_actor(std::int64_t rss_before_kb, std::int64_t rss_after_kb, std::int64_t n);

// The q-quantile (0 < q <= 1) of sorted nanosecond samples, in microseconds,
// by the nearest-rank method (the peers use the same).
double percentile_us(const std::vector<std::int64_t>& sorted_ns, double q);

// The median of a few timings (the upper one of an even count).
double median(std::vector<double> values);

// bench/SPEC.md's leak rule. Exiting actors leave asynchronously, so this
// waits (up to `patience`) for the live count to come back to `baseline`;
// if it does not, it names the leak on stderr and exits with status 1.
void await_baseline(weft::runtime& rt, std::size_t baseline, std::string_view workload,
                    std::chrono::seconds patience = std::chrono::seconds(30));

// A fresh, empty directory for a workload's files: mkdtemp under the
// working directory (bench/SPEC.md runs the persistence workloads there, on
// a real disk, rather than in a /tmp that may be a tmpfs where syncs cost
// nothing), removed with its contents when this goes out of scope. A run
// that ends in fail() leaves it behind, since fail skips destructors.
class scratch_directory {
 public:
  explicit scratch_directory(std::string_view workload);
  ~scratch_directory();
  scratch_directory(const scratch_directory&) = delete;
  scratch_directory& operator=(const scratch_directory&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

// Sent to the driver (the main thread's scoped_actor) when a workload's
// measured section is complete.
struct finished {};

// -- the workloads (one file each) --------------------------------------------

using workload_fn = void (*)(weft::runtime&, const arguments&, json_line&);

void pingpong(weft::runtime& rt, const arguments& args, json_line& out);
void fanin(weft::runtime& rt, const arguments& args, json_line& out);
void spawn(weft::runtime& rt, const arguments& args, json_line& out);
void ring(weft::runtime& rt, const arguments& args, json_line& out);
void idle(weft::runtime& rt, const arguments& args, json_line& out);
void parked(weft::runtime& rt, const arguments& args, json_line& out);
void restart(weft::runtime& rt, const arguments& args, json_line& out);
void ask(weft::runtime& rt, const arguments& args, json_line& out);
void ask_backlog(weft::runtime& rt, const arguments& args, json_line& out);
void persist(weft::runtime& rt, const arguments& args, json_line& out);
void recover(weft::runtime& rt, const arguments& args, json_line& out);
void broadcast(weft::runtime& rt, const arguments& args, json_line& out);
void server(weft::runtime& rt, const arguments& args, json_line& out);
void statem(weft::runtime& rt, const arguments& args, json_line& out);
void pubsub(weft::runtime& rt, const arguments& args, json_line& out);
void router(weft::runtime& rt, const arguments& args, json_line& out);
void saga(weft::runtime& rt, const arguments& args, json_line& out);

}  // namespace weft_bench
