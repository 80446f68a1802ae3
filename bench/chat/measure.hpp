// Time, latency and the resources of processes, for weft-chat-loadgen.
//
//   now_ns()            CLOCK_MONOTONIC in ns (the clock payloads carry)
//   histogram           latencies, log-linear, fixed memory, mergeable
//   sample_cpu(pid)     CPU seconds of this process, of a server process
//                       and of the whole machine, and the server's VmRSS
//
// Any thread may call the free functions; a histogram belongs to one
// thread until it is merged (after that thread has ended).
#pragma once

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

namespace chat_bench {

using nanos = std::int64_t;

inline nanos now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<nanos>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

constexpr nanos seconds_to_ns(double s) { return static_cast<nanos>(s * 1e9); }

// -- latency histogram --------------------------------------------------------

// Log-linear buckets: values below 128 ns exactly, then 128 buckets per
// power of two, so a reported percentile is within 0.8% of the true one.
class histogram {
 public:
  histogram() : counts_(bucket_count, 0) {}

  void record(nanos v) {
    if (v < 0) v = 0;
    ++counts_[index_of(static_cast<std::uint64_t>(v))];
    ++total_;
    max_ = std::max(max_, v);
  }
  void merge(const histogram& other) {
    for (std::size_t i = 0; i < bucket_count; ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    max_ = std::max(max_, other.max_);
  }
  std::uint64_t count() const { return total_; }
  nanos max() const { return max_; }
  // The value at quantile q (0 < q <= 1): the middle of the bucket holding
  // the ceil(q * count)-th smallest sample; 0 with no samples.
  nanos quantile(double q) const {
    if (total_ == 0) return 0;
    const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_))));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min<nanos>(middle_of(i), max_);
    }
    return max_;
  }

 private:
  static constexpr int sub_bits = 7;
  static constexpr std::uint64_t sub_count = 1u << sub_bits;
  static constexpr std::size_t bucket_count = (64 - sub_bits + 1) * sub_count;

  static std::size_t index_of(std::uint64_t v) {
    if (v < sub_count) return static_cast<std::size_t>(v);
    const int exponent = 63 - std::countl_zero(v);              // >= sub_bits
    const std::uint64_t mantissa = v >> (exponent - sub_bits);  // in [128, 256)
    return static_cast<std::size_t>((exponent - sub_bits + 1) * sub_count + (mantissa - sub_count));
  }
  static nanos middle_of(std::size_t i) {
    if (i < sub_count) return static_cast<nanos>(i);
    const int exponent = static_cast<int>(i / sub_count) + sub_bits - 1;
    const std::uint64_t mantissa = i % sub_count + sub_count;
    const std::uint64_t width = std::uint64_t{1} << (exponent - sub_bits);
    return static_cast<nanos>(mantissa * width + width / 2);
  }

  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  nanos max_ = 0;
};

// -- the server process and the machine ---------------------------------------

// CPU seconds used so far by a process (utime + stime), -1 if unreadable.
inline double process_cpu_seconds(int pid) {
  if (pid <= 0) return -1;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return -1;
  char buf[1024];
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');  // the command name may hold spaces
  unsigned long long utime = 0, stime = 0;
  if (p == nullptr || std::sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return -1;
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// VmRSS of a process in KiB, -1 if unreadable.
inline long resident_kb(int pid) {
  if (pid <= 0) return -1;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/status", pid);
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return -1;
  char line[256];
  long kb = -1;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
  }
  std::fclose(f);
  return kb;
}

// user + nice + system + steal of all CPUs (/proc/stat), in seconds.
inline double machine_cpu_seconds() {
  FILE* f = std::fopen("/proc/stat", "r");
  if (f == nullptr) return -1;
  unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  const int n = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle, &iowait, &irq,
                            &softirq, &steal);
  std::fclose(f);
  if (n != 8) return -1;
  return static_cast<double>(user + nice + system + steal) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

inline double self_cpu_seconds() {
  rusage self{};
  ::getrusage(RUSAGE_SELF, &self);
  return static_cast<double>(self.ru_utime.tv_sec + self.ru_stime.tv_sec) +
         static_cast<double>(self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6;
}

struct cpu_sample {
  nanos at = 0;
  double self_s = 0;
  double server_s = -1;
  double machine_s = -1;
  long server_rss_kb = -1;
};

inline cpu_sample sample_cpu(int server_pid) {
  cpu_sample c;
  c.at = now_ns();
  c.self_s = self_cpu_seconds();
  c.server_s = process_cpu_seconds(server_pid);
  c.machine_s = machine_cpu_seconds();
  c.server_rss_kb = resident_kb(server_pid);
  return c;
}

}  // namespace chat_bench
