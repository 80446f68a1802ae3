#include "harness.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <thread>

#include <stdlib.h>  // mkdtemp (POSIX)

namespace weft_bench {

// -- arguments ----------------------------------------------------------------

arguments::arguments(std::string_view workload, int argc, char** argv, int first) : workload_(workload) {
  for (int i = first; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    const auto eq = arg.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == arg.size()) {
      fail(workload_, "argument '{}' is not key=value", arg);
    }
    values_[std::string(arg.substr(0, eq))] = std::string(arg.substr(eq + 1));
  }
}

void arguments::allow(std::initializer_list<std::string_view> known) const {
  for (const auto& [key, value] : values_) {
    if (key == "workers") continue;
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::string list;
      for (std::string_view k : known) list += fmt::format(" {}=", k);
      fail(workload_, "unknown argument '{}={}'; this workload takes{} workers=", key, value, list);
    }
  }
}

std::int64_t arguments::get(std::string_view key, std::int64_t fallback) const {
  const auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  const std::string& value = it->second;
  char* end = nullptr;
  errno = 0;
  const long long number = std::strtoll(value.c_str(), &end, 10);
  if (errno != 0 || end == value.c_str() || *end != '\0') {
    fail(workload_, "argument '{}={}' is not an integer", key, value);
  }
  return number;
}

double arguments::get_fraction(std::string_view key, double fallback) const {
  const auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  const std::string& value = it->second;
  char* end = nullptr;
  errno = 0;
  const double number = std::strtod(value.c_str(), &end);
  if (errno != 0 || end == value.c_str() || *end != '\0' || !(number > 0.0 && number <= 1.0)) {
    fail(workload_, "argument '{}={}' must be a fraction in (0, 1], like 0.01", key, value);
  }
  return number;
}

std::int64_t arguments::get_at_least(std::string_view key, std::int64_t fallback, std::int64_t minimum) const {
  const std::int64_t value = get(key, fallback);
  if (value < minimum) fail(workload_, "{}={} is out of range: it must be at least {}", key, value, minimum);
  return value;
}

// -- json_line ------------------------------------------------------------------

void json_line::key(std::string_view name) {
  if (!body_.empty()) body_ += ',';
  body_ += '"';
  body_ += name;
  body_ += "\":";
}

json_line& json_line::add(std::string_view name, std::string_view text) {
  key(name);
  body_ += '"';
  for (char c : text) {
    if (c == '"' || c == '\\') {
      body_ += '\\';
      body_ += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      body_ += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    } else {
      body_ += c;
    }
  }
  body_ += '"';
  return *this;
}

json_line& json_line::add(std::string_view name, std::int64_t number) {
  key(name);
  body_ += fmt::format("{}", number);
  return *this;
}

json_line& json_line::add(std::string_view name, double number, int decimals) {
  key(name);
  // JSON has no inf/nan; a zero-length measurement is a bug upstream.
  body_ += std::isfinite(number) ? fmt::format("{:.{}f}", number, decimals) : std::string("null");
  return *this;
}

// -- measurements ---------------------------------------------------------------

std::int64_t status_kb(std::string_view field) {
  std::FILE* status = std::fopen("/proc/self/status", "r");
  if (status == nullptr) fail("harness", "cannot open /proc/self/status: {}", std::strerror(errno));
  char line[256];
  std::int64_t kb = -1;
  while (std::fgets(line, sizeof line, status) != nullptr) {
    const std::string_view text(line);
    if (text.size() > field.size() && text.substr(0, field.size()) == field && text[field.size()] == ':') {
      kb = std::strtoll(line + field.size() + 1, nullptr, 10);
      break;
    }
  }
  std::fclose(status);
  if (kb < 0) fail("harness", "/proc/self/status has no {} line", field);
  return kb;
}

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

void add_rate(json_line& out, std::int64_t n, double seconds, std::string_view unit) {
  out.add("n", n)
      .add("seconds", seconds, 6)
      .add("rate", static_cast<double>(n) / seconds, 1)
      .add("unit", unit)
      .add("peak_rss_kb", status_kb("VmHWM"));
}

std::int64_t bytes_per_actor(std::int64_t rss_before_kb, std::int64_t rss_after_kb, std::int64_t n) {
  return std::llround(static_cast<double>(rss_after_kb - rss_before_kb) * 1024.0 / static_cast<double>(n));
}

double percentile_us(const std::vector<std::int64_t>& sorted_ns, double q) {
  if (sorted_ns.empty()) return 0.0;
  const auto len = sorted_ns.size();
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(len)));
  rank = std::clamp<std::size_t>(rank, 1, len);
  return static_cast<double>(sorted_ns[rank - 1]) / 1000.0;
}

double median(std::vector<double> values) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

scratch_directory::scratch_directory(std::string_view workload) {
  std::error_code error;
  const std::filesystem::path here = std::filesystem::current_path(error);
  if (error) fail(workload, "cannot find the working directory for its scratch files: {}", error.message());
  std::string pattern = (here / fmt::format("weft-bench-{}-XXXXXX", workload)).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    fail(workload, "cannot create a scratch directory {} in the working directory: {}; run from a writable directory",
         pattern, std::strerror(errno));
  }
  path_ = pattern;
}

scratch_directory::~scratch_directory() {
  std::error_code error;
  std::filesystem::remove_all(path_, error);
  if (error) std::fprintf(stderr, "weft-bench: cannot remove %s: %s\n", path_.c_str(), error.message().c_str());
}

void await_baseline(weft::runtime& rt, std::size_t baseline, std::string_view workload,
                    std::chrono::seconds patience) {
  const auto deadline = clock_type::now() + patience;
  for (;;) {
    const std::size_t live = rt.live_actors();
    if (live == baseline) return;
    if (live < baseline) fail(workload, "live actors fell to {}, below the baseline {} (a runtime accounting bug)", live, baseline);
    if (clock_type::now() >= deadline) {
      // What the runtime says about itself, for whoever debugs the leak.
      const weft::runtime_stats stats = rt.stats();
      std::string workers;
      for (const weft::worker_stats& w : stats.workers) {
        workers += fmt::format(" [queue {} parked {} activations {}]", w.run_queue_length, w.parked, w.activations);
      }
      fail(workload,
           "leak: {} actor(s) still alive {} s after the run (baseline {}, now {}); refusing to report a rate. "
           "runtime: fibers in use {}, timers pending {}, global queue {}, workers{}",
           live - baseline, patience.count(), baseline, live, stats.fibers_in_use, stats.timers_pending,
           stats.global_queue_length, workers);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace weft_bench
