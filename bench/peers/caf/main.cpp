// caf-bench: the workloads of bench/SPEC.md on CAF 0.17.
//
//   caf-bench <workload> [key=value ...] [workers=N]
//
// workers=N becomes CAF's scheduler.max-threads (default: hardware threads).
// Prints exactly one JSON line on stdout; diagnostics go to stderr.
#include "bench_common.hpp"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <thread>

namespace caf_bench {

arguments::arguments(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    std::string_view arg{argv[i]};
    auto eq = arg.find('=');
    if (eq == std::string_view::npos || eq == 0)
      throw std::invalid_argument("argument '" + std::string{arg}
                                  + "' is not key=value");
    values_[std::string{arg.substr(0, eq)}] = std::string{arg.substr(eq + 1)};
  }
}

int64_t arguments::get(const std::string& key, int64_t fallback) const {
  auto i = values_.find(key);
  if (i == values_.end())
    return fallback;
  size_t used = 0;
  auto value = std::stoll(i->second, &used);
  if (used != i->second.size())
    throw std::invalid_argument(key + "=" + i->second + " is not an integer");
  return value;
}

double arguments::get_fraction(const std::string& key, double fallback) const {
  auto i = values_.find(key);
  if (i == values_.end())
    return fallback;
  size_t used = 0;
  auto value = std::stod(i->second, &used);
  if (used != i->second.size())
    throw std::invalid_argument(key + "=" + i->second + " is not a number");
  return value;
}

void json_line::key(std::string_view name) {
  if (!body_.empty())
    body_ += ',';
  body_ += '"';
  body_ += name;
  body_ += "\":";
}

json_line& json_line::add(std::string_view name, std::string_view text) {
  key(name);
  body_ += '"';
  for (char c : text) {
    if (c == '"' || c == '\\')
      body_ += '\\';
    body_ += c;
  }
  body_ += '"';
  return *this;
}

json_line& json_line::add(std::string_view name, int64_t number) {
  key(name);
  body_ += std::to_string(number);
  return *this;
}

json_line& json_line::add(std::string_view name, double number) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", number);
  key(name);
  body_ += buf;
  return *this;
}

int64_t status_kb(const char* field) {
  std::ifstream status{"/proc/self/status"};
  std::string line;
  std::string prefix = std::string{field} + ":";
  while (std::getline(status, line))
    if (line.compare(0, prefix.size(), prefix) == 0)
      return std::stoll(line.substr(prefix.size()));
  throw std::runtime_error(std::string{"/proc/self/status has no "} + field);
}

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

void add_rate(json_line& out, int64_t n, double seconds, const char* unit) {
  out.add("n", n)
    .add("seconds", seconds)
    .add("rate", static_cast<double>(n) / seconds)
    .add("unit", unit)
    .add("peak_rss_kb", status_kb("VmHWM"));
}

void await_baseline(caf::actor_system& system, size_t baseline,
                    const char* workload) {
  auto deadline = clock_type::now() + std::chrono::seconds(60);
  size_t running;
  while ((running = system.registry().running()) != baseline) {
    if (clock_type::now() > deadline) {
      std::fprintf(stderr,
                   "caf-bench %s: %zu actors still running 60 s after the "
                   "run (expected %zu); the workload leaks actors\n",
                   workload, running, baseline);
      std::fflush(stderr);
      std::_Exit(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

} // namespace caf_bench

namespace {

using workload_fn = std::function<void(caf::actor_system&,
                                       const caf_bench::arguments&,
                                       caf_bench::json_line&)>;

[[noreturn]] void not_in_caf(const char* reason) {
  throw caf_bench::skipped(reason);
}

const std::map<std::string, workload_fn>& workloads() {
  using namespace caf_bench;
  static const std::map<std::string, workload_fn> table{
    {"pingpong", pingpong},
    {"fanin", fanin},
    {"spawn", spawn},
    {"ring", ring},
    {"idle", idle},
    {"parked", parked},
    {"restart",
     [](auto&, auto&, auto&) {
       not_in_caf("CAF 0.17 has no supervisors (no supervision trees or "
                  "restart strategies)");
     }},
    {"ask", ask},
    {"persist",
     [](auto&, auto&, auto&) {
       not_in_caf("CAF 0.17 has no persistence (no event journal or "
                  "persistent actors)");
     }},
    {"recover",
     [](auto&, auto&, auto&) {
       not_in_caf("CAF 0.17 has no persistence (no journal recovery or "
                  "snapshots)");
     }},
    {"broadcast", broadcast},
    {"server", server},
    {"statem", statem},
    {"pubsub", pubsub},
    {"router", router},
    {"saga",
     [](auto&, auto&, auto&) {
       not_in_caf("CAF 0.17 has no persistence, so no durable sagas");
     }},
    {"ask_backlog",
     [](auto&, auto&, auto&) {
       not_in_caf("not written for CAF: CAF's event-based actors set no "
                  "message aside while they await a response, so a backlog "
                  "needs a blocking_actor client, which this peer does not "
                  "have yet");
     }},
  };
  return table;
}

std::string impl_name() {
  return "caf-" + std::to_string(CAF_MAJOR_VERSION) + "."
         + std::to_string(CAF_MINOR_VERSION) + "."
         + std::to_string(CAF_PATCH_VERSION);
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: caf-bench <workload> [key=value ...] [workers=N]\n");
    return 2;
  }
  std::string workload = argv[1];
  auto entry = workloads().find(workload);
  if (entry == workloads().end()) {
    std::fprintf(stderr, "caf-bench: unknown workload '%s'\n", argv[1]);
    return 2;
  }
  try {
    caf_bench::arguments args{argc, argv, 2};
    auto hardware = static_cast<int64_t>(std::thread::hardware_concurrency());
    auto workers = args.get("workers", hardware > 0 ? hardware : 1);
    caf::actor_system_config cfg;
    cfg.set("scheduler.max-threads", static_cast<size_t>(workers));
    caf::actor_system system{cfg};
    caf_bench::json_line out;
    out.add("bench", workload).add("impl", impl_name()).add("workers", workers);
    try {
      entry->second(system, args, out);
    } catch (const caf_bench::skipped& why) {
      out.add("skipped", why.what());
    }
    std::printf("%s\n", out.str().c_str());
    std::fflush(stdout);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "caf-bench %s: %s\n", workload.c_str(), e.what());
    return 1;
  }
  return 0;
}
