// weft-echo-loadgen: a load generator for line echo servers over loopback,
// open-loop at a fixed rate, with latency corrected for coordinated omission.
//
//   weft-echo-loadgen --impl=NAME --port=P [--host=127.0.0.1]
//       [--mode=rate|max] [--connections=100] [--rate=10000] [--depth=1]
//       [--line-bytes=64] [--warmup=2] [--duration=5] [--drain=5]
//       [--threads=1] [--greeting-lines=1] [--server-pid=PID]
//
// Prints ONE JSON line on stdout (diagnostics go to stderr) and exits 0 if
// the run completed, 1 on bad arguments or a failed setup (nobody listening,
// a connection refused), 3 if its own watchdog fired. Lost or garbled lines
// do not change the exit code: they are counted in the JSON, and the caller
// (run-echo.sh smoke) decides.
//
// Only loopback: --host must be 127.0.0.0/8 or ::1 ("localhost" is
// 127.0.0.1); anything else is refused before a socket is made.
//
// The run, step by step:
//   1. Connect. Every connection is opened, then the loadgen waits for the
//      server's greeting (--greeting-lines lines per connection, discarded;
//      weft-echo greets, and so do the C and Erlang peers). This is the
//      barrier: no load starts until every connection is accepted and
//      served, so the accept storm of 1,000 connections is not measured.
//   2. Load, in one of two modes:
//      rate (open loop): the threads share the total rate R; thread t owns
//        connections t, t+T, ... and sends its n-th line to its connection
//        n mod C_t at the scheduled time t0 + t/R + n*T/R, whether or not
//        earlier lines came back. Latency is measured from the SCHEDULED
//        time to the echo's arrival, so when the server (or the loadgen)
//        stalls, every line that should have been sent during the stall is
//        charged the wait: coordinated omission is corrected (Gil Tene,
//        "How NOT to measure latency"; wrk2 does the same). The loadgen's
//        own lateness is reported as send_lag_*: if it is large, the
//        loadgen, not the server, is the bottleneck.
//      max (closed loop): each connection keeps --depth lines in flight and
//        sends the next as soon as one is echoed. Its achieved_rate is the
//        maximum throughput; its latencies are measured from the actual
//        send and are service times under saturation, not CO-corrected.
//        We chose this over a rate sweep because one run finds the
//        saturation point with no search, and every server sees the same
//        offered concurrency (connections x depth).
//   3. Phases: warm-up (--warmup s, sent but not recorded), measurement
//      (--duration s: lines scheduled/sent in it have their latency
//      recorded; echoes arriving in it count toward achieved_rate), drain
//      (no new lines; wait until every line has come back or --drain s
//      passed). A line never echoed is `lost`.
//   4. Checks: every echo must equal, byte for byte, the line sent on that
//      connection in that position (lines carry the connection id, a
//      sequence number and a position-dependent filler). An intact later
//      line means the ones between were dropped: they count as `lost` and
//      checking resumes after it; anything else is `garbled`. errors =
//      lost + garbled + connections the server closed or reset.
//   5. Teardown: connections are closed with a reset (SO_LINGER 0), so
//      repeated runs of 1,000 connections leave no TIME_WAIT behind to
//      exhaust the ephemeral ports.
//
// Bounds: at most 20,000 connections, 64 threads, 600 s of measurement,
// 60 s of warm-up and of drain; a line in flight is at most 4 MiB of unsent
// output or 65,536 lines per connection: past that the run stops sending
// and says "overloaded": true. A watchdog ends the process if a run
// overstays warmup + duration + drain + 30 s.
//
// Output fields besides the obvious: samples (latencies recorded), send_lag_*
// (how late the loadgen sent, rate mode), loadgen_cpu_pct and, with
// --server-pid, server_cpu_pct (CPU time over the measurement window, 100 =
// one core) and other_cpu_pct (what the rest of the machine used meanwhile:
// the noise), connect_ms (step 1's duration: how fast the server accepts).
//
// Latencies go into a log-linear histogram (128 sub-buckets per power of
// two: under 0.8% error, fixed memory at any rate), merged across threads.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <barrier>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using nanos = std::int64_t;

nanos now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<nanos>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

constexpr nanos seconds_to_ns(double s) { return static_cast<nanos>(s * 1e9); }

// -- options ------------------------------------------------------------------

enum class load_mode { rate, max };

struct options {
  std::string impl = "unnamed";
  std::string host = "127.0.0.1";
  int port = 0;
  load_mode mode = load_mode::rate;
  int connections = 100;
  double rate = 10000;  // lines per second, all connections together
  int depth = 1;        // max mode: lines in flight per connection
  int line_bytes = 64;  // including the '\n'
  double warmup_s = 2;
  double duration_s = 5;
  double drain_s = 5;
  int threads = 1;
  int greeting_lines = 1;
  int server_pid = 0;  // if set, its CPU use in the window is reported
};

constexpr int max_connections = 20000;
constexpr int max_threads = 64;
constexpr int min_line_bytes = 24;    // room for the id and the sequence number
constexpr int max_line_bytes = 4097;  // weft-echo's limit: 4096 bytes and '\n'
constexpr std::size_t max_unsent_bytes = 4u << 20;
constexpr std::size_t max_in_flight_lines = 65536;
constexpr std::size_t max_greeting_bytes = 4096;

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr,
               "weft-echo-loadgen: %s\n"
               "usage: weft-echo-loadgen --impl=NAME --port=P [--host=127.0.0.1] [--mode=rate|max]\n"
               "       [--connections=100] [--rate=10000] [--depth=1] [--line-bytes=64]\n"
               "       [--warmup=2] [--duration=5] [--drain=5] [--threads=1] [--greeting-lines=1]\n"
               "       [--server-pid=PID]\n",
               what.c_str());
  std::exit(1);
}

double parse_number(std::string_view name, std::string_view text, double lo, double hi) {
  char* end = nullptr;
  const std::string copy(text);
  const double v = std::strtod(copy.c_str(), &end);
  if (copy.empty() || *end != '\0' || !(v >= lo && v <= hi)) {
    usage_error("--" + std::string(name) + "=" + copy + ": expected a number in [" + std::to_string(lo) + ", " +
                std::to_string(hi) + "]");
  }
  return v;
}

options parse_options(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (!arg.starts_with("--")) usage_error("unexpected argument '" + std::string(arg) + "'");
    arg.remove_prefix(2);
    std::string_view name = arg;
    std::string_view value;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      usage_error("--" + std::string(name) + " needs a value");
    }
    if (name == "impl") o.impl = std::string(value);
    else if (name == "host") o.host = std::string(value);
    else if (name == "port") o.port = static_cast<int>(parse_number(name, value, 1, 65535));
    else if (name == "mode") {
      if (value == "rate") o.mode = load_mode::rate;
      else if (value == "max") o.mode = load_mode::max;
      else usage_error("--mode must be rate or max, not '" + std::string(value) + "'");
    } else if (name == "connections") o.connections = static_cast<int>(parse_number(name, value, 1, max_connections));
    else if (name == "rate") o.rate = parse_number(name, value, 1, 20e6);
    else if (name == "depth") o.depth = static_cast<int>(parse_number(name, value, 1, 1024));
    else if (name == "line-bytes") o.line_bytes = static_cast<int>(parse_number(name, value, min_line_bytes, max_line_bytes));
    else if (name == "warmup") o.warmup_s = parse_number(name, value, 0, 60);
    else if (name == "duration") o.duration_s = parse_number(name, value, 0.1, 600);
    else if (name == "drain") o.drain_s = parse_number(name, value, 0.1, 60);
    else if (name == "threads") o.threads = static_cast<int>(parse_number(name, value, 1, max_threads));
    else if (name == "greeting-lines") o.greeting_lines = static_cast<int>(parse_number(name, value, 0, 16));
    else if (name == "server-pid") o.server_pid = static_cast<int>(parse_number(name, value, 1, 1 << 30));
    else usage_error("unknown option --" + std::string(name));
  }
  if (o.port == 0) usage_error("--port is required");
  if (o.threads > o.connections) o.threads = o.connections;
  for (char c : o.impl) {
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) usage_error("--impl: no quotes, backslashes or control characters");
  }
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
    const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(q * static_cast<double>(total_) + 0.999999));
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
    const int exponent = 63 - std::countl_zero(v);  // >= sub_bits
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

// -- CPU use ------------------------------------------------------------------

// CPU seconds used so far by this process (all threads), by the server
// process if its pid is known, and by the whole machine (-1: unreadable).
struct cpu_sample {
  double self_s = 0;
  double server_s = -1;
  double machine_s = -1;
};

// user + nice + system + steal of all CPUs from /proc/stat. Interrupt and
// softirq time are left out: loopback TCP spends its softirq time there on
// behalf of the server and the loadgen without it being charged to them.
double machine_cpu_seconds() {
  FILE* f = std::fopen("/proc/stat", "r");
  if (f == nullptr) return -1;
  unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  const int n = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle, &iowait, &irq,
                            &softirq, &steal);
  std::fclose(f);
  if (n != 8) return -1;
  return static_cast<double>(user + nice + system + steal) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double process_cpu_seconds(int pid) {
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

cpu_sample sample_cpu(int server_pid) {
  cpu_sample c;
  rusage self{};
  ::getrusage(RUSAGE_SELF, &self);
  c.self_s = static_cast<double>(self.ru_utime.tv_sec + self.ru_stime.tv_sec) +
             static_cast<double>(self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6;
  if (server_pid > 0) c.server_s = process_cpu_seconds(server_pid);
  c.machine_s = machine_cpu_seconds();
  return c;
}

// -- lines --------------------------------------------------------------------

// "<id:7> <seq:12> <filler>\n", exactly line_bytes long. The filler depends
// on the position so a shifted or mixed-up echo does not compare equal.
void make_line(char* out, int line_bytes, std::uint32_t connection_id, std::uint64_t seq) {
  auto digits = [](char* at, int width, std::uint64_t v) {
    for (int i = width - 1; i >= 0; --i, v /= 10) at[i] = static_cast<char>('0' + v % 10);
  };
  digits(out, 7, connection_id);
  out[7] = ' ';
  digits(out + 8, 12, seq);
  out[20] = ' ';
  for (int i = 21; i < line_bytes - 1; ++i) out[i] = static_cast<char>('a' + (seq + static_cast<std::uint64_t>(i)) % 26);
  out[line_bytes - 1] = '\n';
}

// -- one thread's share of the load ----------------------------------------------

struct connection {
  int fd = -1;
  std::uint32_t id = 0;
  bool connected = false;
  bool open = false;        // connected and not closed by the server
  bool want_write = false;  // EPOLLOUT armed: unsent output waits
  int greeting_left = 0;
  std::string unsent;       // output the kernel has not taken yet
  std::size_t unsent_off = 0;
  std::string partial;      // input after the last '\n'
  std::uint64_t next_send_seq = 0;
  std::uint64_t next_recv_seq = 0;
  std::deque<nanos> in_flight;  // scheduled (rate) or actual (max) send times, oldest first
};

struct thread_result {
  histogram latency;
  histogram send_lag;
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::uint64_t received_in_window = 0;
  std::uint64_t lost = 0;
  std::uint64_t garbled = 0;
  std::uint64_t closed_by_server = 0;
  bool overloaded = false;
  std::string setup_error;  // non-empty: this thread could not connect
  // Thread 0 only: CPU use at the start and end of the measurement window.
  cpu_sample cpu_at_start;
  cpu_sample cpu_at_end;
  nanos connect_time = 0;  // from the first connect to the last greeting
};

struct shared_state {
  const options* opt = nullptr;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::atomic<nanos> t0{0};
  std::atomic<bool> setup_failed{false};
};

// Runs once all threads have connected: the load starts 10 ms later, for all at once.
struct start_clock {
  shared_state* shared;
  void operator()() noexcept { shared->t0.store(now_ns() + 10'000'000); }
};
using start_barrier = std::barrier<start_clock>;

class load_thread {
 public:
  load_thread(shared_state& shared, int index, thread_result& result)
      : shared_(shared), opt_(*shared.opt), index_(index), result_(result) {}

  void run(start_barrier& ready) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) fail_setup("epoll_create1: " + std::string(std::strerror(errno)));
    if (result_.setup_error.empty()) connect_all();
    if (!result_.setup_error.empty()) shared_.setup_failed.store(true);
    ready.arrive_and_wait();  // everyone connected and greeted, or someone failed
    if (!shared_.setup_failed.load()) load();
    for (connection& c : conns_) {
      if (c.fd < 0) continue;
      const linger reset{1, 0};
      ::setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
      ::close(c.fd);
    }
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
  }

 private:
  void fail_setup(const std::string& what) {
    if (result_.setup_error.empty()) result_.setup_error = what;
  }

  void set_events(connection& c, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u32 = static_cast<std::uint32_t>(&c - conns_.data());
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  // Step 1: open this thread's connections and wait for their greetings.
  void connect_all() {
    for (int id = index_; id < opt_.connections; id += opt_.threads) {
      connection c;
      c.id = static_cast<std::uint32_t>(id);
      c.greeting_left = opt_.greeting_lines;
      conns_.push_back(std::move(c));
    }
    for (connection& c : conns_) {
      c.fd = ::socket(shared_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (c.fd < 0) return fail_setup("socket: " + std::string(std::strerror(errno)));
      const int one = 1;
      ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&shared_.addr), shared_.addr_len) != 0 && errno != EINPROGRESS) {
        return fail_setup("connect to port " + std::to_string(opt_.port) + ": " + std::strerror(errno));
      }
      epoll_event ev{};
      ev.events = EPOLLOUT | EPOLLIN;
      ev.data.u32 = static_cast<std::uint32_t>(&c - conns_.data());
      if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev) != 0) return fail_setup("epoll_ctl: " + std::string(std::strerror(errno)));
    }
    std::size_t pending = conns_.size();
    const nanos connect_start = now_ns();
    const nanos give_up = connect_start + seconds_to_ns(15);
    std::array<epoll_event, 256> events;
    while (pending > 0) {
      const nanos left = give_up - now_ns();
      if (left <= 0) {
        return fail_setup(std::to_string(pending) + " of " + std::to_string(conns_.size()) +
                          " connections not connected and greeted within 15 s (is the server accepting? backlog?)");
      }
      const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), static_cast<int>(left / 1'000'000 + 1));
      for (int i = 0; i < n; ++i) {
        connection& c = conns_[events[static_cast<std::size_t>(i)].data.u32];
        const bool was_ready = c.connected && c.greeting_left == 0;
        if (!c.connected) {
          int so_error = 0;
          socklen_t len = sizeof so_error;
          ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
          if (so_error != 0) return fail_setup("connect to port " + std::to_string(opt_.port) + ": " + std::strerror(so_error));
          if (!(events[static_cast<std::size_t>(i)].events & EPOLLOUT)) continue;
          c.connected = true;
          c.open = true;
          set_events(c, EPOLLIN);
        }
        if (c.greeting_left > 0 && (events[static_cast<std::size_t>(i)].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
          if (!read_greeting(c)) return fail_setup("connection " + std::to_string(c.id) + ": closed or garbled before its greeting");
        }
        if (!was_ready && c.connected && c.greeting_left == 0) --pending;
      }
    }
    result_.connect_time = now_ns() - connect_start;
  }

  // Reads greeting lines only: a byte at a time past the last one would be
  // slow, so it reads what is there and keeps what follows the greeting.
  bool read_greeting(connection& c) {
    char buf[4096];
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n == 0) return false;
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    c.partial.append(buf, static_cast<std::size_t>(n));
    while (c.greeting_left > 0) {
      const auto nl = c.partial.find('\n');
      if (nl == std::string::npos) break;
      c.partial.erase(0, nl + 1);
      --c.greeting_left;
    }
    if (c.greeting_left > 0 && c.partial.size() > max_greeting_bytes) return false;
    // A server must not echo before it is sent anything: leftover bytes are garbage.
    return c.greeting_left > 0 || c.partial.empty();
  }

  // Step 2.
  void load() {
    const nanos t0 = shared_.t0.load();
    window_start_ = t0 + seconds_to_ns(opt_.warmup_s);
    window_end_ = window_start_ + seconds_to_ns(opt_.duration_s);
    const nanos drain_end = window_end_ + seconds_to_ns(opt_.drain_s);
    line_.resize(static_cast<std::size_t>(opt_.line_bytes));
    expected_.resize(static_cast<std::size_t>(opt_.line_bytes));

    // Rate mode: this thread's share, interleaved with the other threads.
    const double total_period = 1e9 / opt_.rate;
    const double period = total_period * opt_.threads;
    const double offset = total_period * index_;
    std::uint64_t next_index = 0;
    auto scheduled = [&](std::uint64_t n) { return t0 + static_cast<nanos>(offset + static_cast<double>(n) * period); };

    bool sending = true;
    bool primed = false;  // max mode: the first `depth` lines went out
    // Thread 0 samples CPU use as the window opens and closes (a wake-up is
    // scheduled for each, so the sample is at most a loop turn late).
    bool cpu_started = index_ != 0;
    bool cpu_ended = index_ != 0;
    std::array<epoll_event, 512> events;
    for (;;) {
      nanos now = now_ns();
      if (!cpu_started && now >= window_start_) {
        cpu_started = true;
        result_.cpu_at_start = sample_cpu(opt_.server_pid);
      }
      if (!cpu_ended && now >= window_end_) {
        cpu_ended = true;
        result_.cpu_at_end = sample_cpu(opt_.server_pid);
      }
      if (sending && (now >= window_end_ || result_.overloaded)) sending = false;
      if (sending) {
        if (opt_.mode == load_mode::rate) {
          while (!result_.overloaded) {
            const nanos at = scheduled(next_index);
            if (at > now || at >= window_end_) break;
            connection& c = conns_[next_index % conns_.size()];
            ++next_index;
            if (!c.open) continue;
            if (at >= window_start_) result_.send_lag.record(now - at);
            queue_line(c, at);
          }
        } else if (!primed && now >= t0) {
          primed = true;
          for (connection& c : conns_) {
            for (int k = 0; k < opt_.depth && c.open; ++k) queue_line(c, now);
          }
        }
        flush_dirty();
      }
      if (!sending && outstanding() == 0 && cpu_ended) break;
      if (now >= drain_end) break;

      nanos wake = drain_end;
      if (sending) {
        wake = window_end_;
        if (opt_.mode == load_mode::rate) wake = std::min(wake, scheduled(next_index));
        else if (!primed) wake = std::min(wake, t0);
      }
      if (!cpu_started) wake = std::min(wake, window_start_);
      if (!cpu_ended) wake = std::min(wake, window_end_);
      const int n = wait(events, wake - now);
      now = now_ns();
      for (int i = 0; i < n; ++i) {
        const epoll_event& ev = events[static_cast<std::size_t>(i)];
        connection& c = conns_[ev.data.u32];
        if (!c.open) continue;
        if (ev.events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_echoes(c, now, sending && opt_.mode == load_mode::max);
        if (c.open && (ev.events & EPOLLOUT)) write_some(c);
      }
      flush_dirty();
    }
    for (connection& c : conns_) result_.lost += c.in_flight.size();
  }

  std::size_t outstanding() const {
    std::size_t n = 0;
    for (const connection& c : conns_) n += c.open ? c.in_flight.size() : 0;
    return n;
  }

  int wait(std::array<epoll_event, 512>& events, nanos timeout) {
    if (timeout < 0) timeout = 0;
    timespec ts{static_cast<time_t>(timeout / 1'000'000'000), static_cast<long>(timeout % 1'000'000'000)};
    int n = ::epoll_pwait2(epoll_fd_, events.data(), static_cast<int>(events.size()), &ts, nullptr);
    if (n < 0 && errno == ENOSYS) {  // kernels before 5.11: millisecond timeouts, rounded up
      n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), static_cast<int>((timeout + 999'999) / 1'000'000));
    }
    return std::max(n, 0);
  }

  void queue_line(connection& c, nanos stamp) {
    if (c.in_flight.size() >= max_in_flight_lines || c.unsent.size() - c.unsent_off >= max_unsent_bytes) {
      result_.overloaded = true;
      return;
    }
    make_line(line_.data(), opt_.line_bytes, c.id, c.next_send_seq++);
    if (c.unsent_off == c.unsent.size()) {
      c.unsent.clear();
      c.unsent_off = 0;
      dirty_.push_back(static_cast<std::uint32_t>(&c - conns_.data()));
    }
    c.unsent.append(line_.data(), line_.size());
    c.in_flight.push_back(stamp);
    ++result_.sent;
  }

  void flush_dirty() {
    for (std::uint32_t i : dirty_) {
      connection& c = conns_[i];
      if (c.open && !c.want_write) write_some(c);
    }
    dirty_.clear();
  }

  void write_some(connection& c) {
    while (c.unsent_off < c.unsent.size()) {
      const ssize_t n = ::send(c.fd, c.unsent.data() + c.unsent_off, c.unsent.size() - c.unsent_off, MSG_NOSIGNAL);
      if (n > 0) {
        c.unsent_off += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!c.want_write) {
          c.want_write = true;
          set_events(c, EPOLLIN | EPOLLOUT);
        }
        return;
      }
      return server_closed(c);
    }
    c.unsent.clear();
    c.unsent_off = 0;
    if (c.want_write) {
      c.want_write = false;
      set_events(c, EPOLLIN);
    }
  }

  void server_closed(connection& c) {
    c.open = false;
    ++result_.closed_by_server;
    result_.lost += c.in_flight.size();
    c.in_flight.clear();
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
  }

  void read_echoes(connection& c, nanos now, bool refill) {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n == 0) return server_closed(c);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        return server_closed(c);
      }
      std::string_view data(buf, static_cast<std::size_t>(n));
      std::size_t start = 0;
      while (start < data.size()) {
        const std::size_t nl = data.find('\n', start);
        if (nl == std::string_view::npos) {
          c.partial.append(data.substr(start));
          if (c.partial.size() > static_cast<std::size_t>(max_line_bytes)) {  // no newline where one must be
            ++result_.garbled;
            c.partial.clear();
          }
          break;
        }
        if (c.partial.empty()) {
          echoed(c, data.substr(start, nl + 1 - start), now, refill);
        } else {
          c.partial.append(data.substr(start, nl + 1 - start));
          echoed(c, c.partial, now, refill);
          c.partial.clear();
        }
        start = nl + 1;
      }
      if (static_cast<std::size_t>(n) < sizeof buf) return;  // level-triggered: the rest is reported again
    }
  }

  void echoed(connection& c, std::string_view line, nanos now, bool refill) {
    if (c.in_flight.empty()) {  // an echo of nothing we sent
      ++result_.garbled;
      return;
    }
    ++result_.received;
    make_line(expected_.data(), opt_.line_bytes, c.id, c.next_recv_seq);
    if (line != std::string_view(expected_.data(), expected_.size())) {
      // A later line of ours, intact: the ones before it were dropped.
      // Count them lost and carry on from there, rather than calling every
      // line after a gap garbled.
      const std::uint64_t seq = sequence_of(line);
      const bool later_line = seq > c.next_recv_seq && seq < c.next_send_seq &&
                              (make_line(expected_.data(), opt_.line_bytes, c.id, seq),
                               line == std::string_view(expected_.data(), expected_.size()));
      if (!later_line) {
        ++result_.garbled;
        c.in_flight.pop_front();
        ++c.next_recv_seq;
        if (refill) queue_line(c, now);
        return;
      }
      for (; c.next_recv_seq < seq; ++c.next_recv_seq) {
        c.in_flight.pop_front();
        ++result_.lost;
      }
    }
    const nanos stamp = c.in_flight.front();
    c.in_flight.pop_front();
    ++c.next_recv_seq;
    if (now >= window_start_ && now < window_end_) ++result_.received_in_window;
    if (stamp >= window_start_ && stamp < window_end_) result_.latency.record(now - stamp);
    if (refill) queue_line(c, now);
  }

  // The sequence number a line claims (make_line's layout), or 0.
  static std::uint64_t sequence_of(std::string_view line) {
    if (line.size() < 21 || line[7] != ' ' || line[20] != ' ') return 0;
    std::uint64_t seq = 0;
    const auto [end, ec] = std::from_chars(line.data() + 8, line.data() + 20, seq);
    return ec == std::errc{} && end == line.data() + 20 ? seq : 0;
  }

  shared_state& shared_;
  const options& opt_;
  const int index_;
  thread_result& result_;
  int epoll_fd_ = -1;
  std::vector<connection> conns_;
  std::vector<std::uint32_t> dirty_;
  std::string line_;
  std::string expected_;
  nanos window_start_ = 0;
  nanos window_end_ = 0;
};

void raise_descriptor_limit(int connections) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  const rlim_t need = static_cast<rlim_t>(connections) + 64;
  if (lim.rlim_cur >= need) return;
  lim.rlim_cur = std::min(need, lim.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < need) {
    std::fprintf(stderr, "weft-echo-loadgen: %d connections need %llu descriptors, the hard limit is %llu; raise it (ulimit -Hn)\n",
                 connections, static_cast<unsigned long long>(need), static_cast<unsigned long long>(lim.rlim_max));
    std::exit(1);
  }
}

void on_watchdog(int) {
  static const char message[] = "weft-echo-loadgen: watchdog: the run overstayed its time limit; giving up\n";
  [[maybe_unused]] auto r = ::write(2, message, sizeof message - 1);
  ::_exit(3);
}

}  // namespace

int main(int argc, char** argv) {
  const options opt = parse_options(argc, argv);
  shared_state shared;
  shared.opt = &opt;
  shared.addr = loopback_address(opt, shared.addr_len);
  raise_descriptor_limit(opt.connections);
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGALRM, on_watchdog);
  ::alarm(static_cast<unsigned>(opt.warmup_s + opt.duration_s + opt.drain_s) + 30 + 15);  // + 15 s connect limit
  // Sleeps to a scheduled send time are late by the timer slack (50 us by
  // default); 1 us keeps the loadgen's own lag small next to the latency.
  ::prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);

  std::vector<thread_result> results(static_cast<std::size_t>(opt.threads));
  start_barrier ready(opt.threads, start_clock{&shared});
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < opt.threads; ++t) {
      threads.emplace_back([&, t] {
        if (t > 0) ::prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
        load_thread(shared, t, results[static_cast<std::size_t>(t)]).run(ready);
      });
    }
  }
  thread_result total;
  const double window_s = opt.duration_s;
  const cpu_sample& cpu0 = results[0].cpu_at_start;
  const cpu_sample& cpu1 = results[0].cpu_at_end;
  const double loadgen_cpu_pct = 100.0 * (cpu1.self_s - cpu0.self_s) / window_s;
  const double server_cpu_pct =
      (cpu0.server_s < 0 || cpu1.server_s < 0) ? -1.0 : 100.0 * (cpu1.server_s - cpu0.server_s) / window_s;
  // What everything else on the machine used meanwhile: the noise.
  const double machine_cpu_pct = cpu0.machine_s < 0 ? -1.0 : 100.0 * (cpu1.machine_s - cpu0.machine_s) / window_s;
  const double other_cpu_pct = machine_cpu_pct < 0 || server_cpu_pct < 0
                                   ? -1.0
                                   : std::max(0.0, machine_cpu_pct - loadgen_cpu_pct - server_cpu_pct);
  for (thread_result& r : results) {
    if (!r.setup_error.empty()) {
      std::fprintf(stderr, "weft-echo-loadgen: %s: %s\n", opt.impl.c_str(), r.setup_error.c_str());
      return 1;
    }
    total.latency.merge(r.latency);
    total.send_lag.merge(r.send_lag);
    total.sent += r.sent;
    total.received += r.received;
    total.received_in_window += r.received_in_window;
    total.lost += r.lost;
    total.garbled += r.garbled;
    total.closed_by_server += r.closed_by_server;
    total.overloaded = total.overloaded || r.overloaded;
    total.connect_time = std::max(total.connect_time, r.connect_time);
  }
  auto us = [](nanos v) { return static_cast<double>(v) / 1000.0; };
  const std::uint64_t errors = total.lost + total.garbled + total.closed_by_server;
  std::printf(
      "{\"impl\":\"%s\",\"mode\":\"%s\",\"connections\":%d,\"threads\":%d,\"line_bytes\":%d,\"depth\":%d,"
      "\"target_rate\":%.0f,\"achieved_rate\":%.1f,\"duration_s\":%.3f,\"warmup_s\":%.3f,"
      "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"samples\":%" PRIu64 ","
      "\"send_lag_p99_us\":%.1f,\"send_lag_max_us\":%.1f,"
      "\"sent\":%" PRIu64 ",\"received\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"garbled\":%" PRIu64
      ",\"closed_by_server\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"overloaded\":%s,"
      "\"loadgen_cpu_pct\":%.1f,\"server_cpu_pct\":%.1f,\"other_cpu_pct\":%.1f,\"connect_ms\":%.1f}\n",
      opt.impl.c_str(), opt.mode == load_mode::rate ? "rate" : "max", opt.connections, opt.threads, opt.line_bytes,
      opt.mode == load_mode::max ? opt.depth : 0, opt.mode == load_mode::rate ? opt.rate : 0.0,
      static_cast<double>(total.received_in_window) / opt.duration_s, opt.duration_s, opt.warmup_s,
      us(total.latency.quantile(0.50)), us(total.latency.quantile(0.99)), us(total.latency.quantile(0.999)),
      us(total.latency.max()), total.latency.count(), us(total.send_lag.quantile(0.99)), us(total.send_lag.max()),
      total.sent, total.received, total.lost, total.garbled, total.closed_by_server, errors,
      total.overloaded ? "true" : "false", loadgen_cpu_pct, server_cpu_pct, other_cpu_pct,
      static_cast<double>(total.connect_time) / 1e6);
  return 0;
}
