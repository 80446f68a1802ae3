#pragma once
// Helpers for the networking tests: descriptor counting, the fd limit, and
// a line-echo server built on weft::net.

#include "weft_test.hpp"

#include <weft/runtime/net.hpp>

#include <dirent.h>
#include <doctest/doctest.h>
#include <sys/resource.h>

#include <atomic>
#include <cstddef>
#include <string>

// A failed CHECK on an error prints its text, not "{?}".
template <>
struct doctest::StringMaker<weft::error> {
  static doctest::String convert(const weft::error& e) { return e.to_string().c_str(); }
};

namespace weft_test {

namespace net = weft::net;

// The error of a socket call, or weft::error() (category none) if it worked:
// what the tests' reports carry.
template <class T>
weft::error error_of(const weft::expected<T>& r) {
  return r.has_value() ? weft::error() : r.error();
}
inline bool is_error(const weft::error& e) {
  return e.category() != weft::error_category::none;
}

// Open descriptors of this process (the directory's own is not counted).
inline std::size_t open_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  std::size_t n = 0;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n - 1;
}

// Raises RLIMIT_NOFILE to at least `wanted` if allowed; returns the limit.
inline std::size_t raise_fd_limit(std::size_t wanted) {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur >= wanted) return limit.rlim_cur;
  rlimit raised{wanted, std::max<rlim_t>(wanted, limit.rlim_max)};
  if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) {
    raised = {limit.rlim_max, limit.rlim_max};
    ::setrlimit(RLIMIT_NOFILE, &raised);
  }
  ::getrlimit(RLIMIT_NOFILE, &limit);
  return limit.rlim_cur;
}

// Checks, when it goes out of scope, that the process holds exactly the
// descriptors it held when it was made. Declare it before the runtime.
struct fd_baseline {
  std::size_t at_start = open_fds();
  std::size_t now() const { return open_fds(); }
};

struct echo_stats {
  std::atomic<int> lines{0};
  std::atomic<int> too_long{0};
  std::atomic<int> reset{0};
  std::atomic<int> closed{0};
  std::atomic<int> other{0};
  std::atomic<int> connections{0};
};

struct server_port {
  std::uint16_t port;
};

// One connection: echo each line until the peer goes or misbehaves.
inline void echo_lines(net::socket& s, echo_stats& stats, std::size_t max_line) {
  for (;;) {
    auto line = s.read_line(max_line, std::chrono::seconds(120));
    if (!line) {
      const weft::error& e = line.error();
      if (e == net::errc::too_long) {
        ++stats.too_long;
      } else if (e == net::errc::reset) {
        ++stats.reset;
      } else if (e == net::errc::closed) {
        ++stats.closed;
      } else {
        ++stats.other;
      }
      return;
    }
    ++stats.lines;
    line->push_back('\n');
    if (!s.write_all(*line, std::chrono::seconds(120))) return;
  }
}

// Spawns a listener on 127.0.0.1 (a free port) that gives every connection
// its own actor; returns the port (0 if listening failed).
inline std::uint16_t start_echo_server(weft::runtime& rt, weft::scoped_actor& me, echo_stats& stats,
                                       std::size_t max_line = 1024) {
  weft::pid report = me.self();
  rt.spawn([report, &stats, max_line](weft::context& self) {
    net::listen_options options;
    options.backlog = 4096;
    auto listening = net::listener::listen(self, "127.0.0.1", 0, options);
    self.send(report, server_port{listening ? listening->port() : std::uint16_t{0}});
    if (!listening) return;
    for (;;) {
      auto accepted = listening->accept(net::forever);
      if (!accepted) return;
      ++stats.connections;
      self.spawn([s = std::move(*accepted), &stats, max_line](weft::context&) mutable {
        echo_lines(s, stats, max_line);
      });
    }
  });
  return me.receive<server_port>().port;
}

}  // namespace weft_test
