// 10,000 concurrent echo connections, 100 lines each, with randomized
// pauses in the clients so reads and writes interleave differently on every
// run. The clients run in a forked child process with its own runtime, so
// each process holds 10,000 connection descriptors (a hard RLIMIT_NOFILE of
// 20,000 cannot hold both ends in one process).

#include "../runtime/net_support.hpp"

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <string>

using namespace weft_test;

namespace {

#if defined(WEFT_SANITIZE_THREAD) || defined(WEFT_SANITIZE_ADDRESS)
constexpr int connections = 1'000;
#else
constexpr int connections = 10'000;
#endif
constexpr int lines = 100;

struct client_done {
  int id;
  bool ok;
};

// The child process: connects every client, returns how many were echoed
// exactly. No doctest assertions here: the parent judges.
int run_clients(std::uint16_t port) {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid report = me.self();
  for (int id = 0; id < connections; ++id) {
    rt.spawn([report, id, port](weft::context& self) {
      std::minstd_rand rng(static_cast<unsigned>(id) * 7919u + 1);
      auto s = net::socket::connect(self, "127.0.0.1", port, std::chrono::seconds(60));
      bool ok = s.has_value();
      for (int i = 0; ok && i < lines; ++i) {
        const std::string line = std::to_string(id) + ":" + std::to_string(i) + std::string(rng() % 64, '.');
        if (rng() % 50 == 0) self.sleep_for(std::chrono::milliseconds(rng() % 5));
        if (rng() % 10 == 0) self.yield();
        ok = s->write_all(line + "\n", std::chrono::seconds(120)).has_value();
        if (!ok) break;
        auto back = s->read_line(4096, std::chrono::seconds(120));
        ok = back.has_value() && *back == line;
      }
      self.send(report, client_done{id, ok});
    });
  }
  int ok = 0;
  for (int i = 0; i < connections; ++i) {
    auto done = me.receive_for<client_done>(std::chrono::seconds(300));
    if (!done) break;
    ok += done->ok ? 1 : 0;
  }
  return ok;
}

}  // namespace

TEST_CASE("10,000 connections of 100 lines each, with random pauses, are echoed exactly and in order") {
  const std::size_t needed = connections + 256;
  const std::size_t limit = raise_fd_limit(needed);
  REQUIRE_MESSAGE(limit >= needed, "RLIMIT_NOFILE is " << limit << "; this test needs " << needed);
  fd_baseline fds;
  int port_pipe[2];
  int result_pipe[2];
  REQUIRE(::pipe(port_pipe) == 0);
  REQUIRE(::pipe(result_pipe) == 0);
  // Fork before any runtime exists: the child starts with one thread.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(port_pipe[1]);
    ::close(result_pipe[0]);
    std::uint16_t port = 0;
    int ok = -1;
    if (::read(port_pipe[0], &port, sizeof port) == sizeof port && port != 0) ok = run_clients(port);
    [[maybe_unused]] auto w = ::write(result_pipe[1], &ok, sizeof ok);
    ::_exit(0);
  }
  ::close(port_pipe[0]);
  ::close(result_pipe[1]);
  int ok = -1;
  {
    weft::runtime rt(small_runtime());
    weft::scoped_actor me(rt);
    echo_stats stats;
    const std::uint16_t port = start_echo_server(rt, me, stats);
    const auto start = std::chrono::steady_clock::now();
    [[maybe_unused]] auto w = ::write(port_pipe[1], &port, sizeof port);
    ::close(port_pipe[1]);
    REQUIRE(port != 0);
    REQUIRE(::read(result_pipe[0], &ok, sizeof ok) == sizeof ok);
    MESSAGE(connections << " connections x " << lines << " lines in "
                        << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count()
                        << " ms");
    CHECK(ok == connections);
    CHECK(stats.connections.load() == connections);
    CHECK(stats.lines.load() == connections * lines);
    CHECK(eventually([&] { return stats.closed.load() == connections; }, std::chrono::seconds(60)));
  }
  ::close(result_pipe[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(fds.now() == fds.at_start);
}
