#include "net_support.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

using namespace weft_test;

namespace {

#if defined(WEFT_SANITIZE_THREAD) || defined(WEFT_SANITIZE_ADDRESS)
constexpr int sanitizer_divisor = 5;
#else
constexpr int sanitizer_divisor = 1;
#endif

struct outcome {
  int id;
  weft::error error;  // weft::error() (category none): it went well
  std::string detail;
  bool succeeded() const { return !is_error(error); }
};

// A plain blocking client socket for the test thread (not an actor).
int raw_connect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// An actor that runs `lines` round trips and reports how it went.
void echo_client(weft::context& self, weft::pid report, int id, std::uint16_t port, int lines) {
  auto s = net::socket::connect(self, "127.0.0.1", port, std::chrono::seconds(30));
  if (!s) {
    self.send(report, outcome{id, s.error(), "connect"});
    return;
  }
  for (int i = 0; i < lines; ++i) {
    const std::string line = "client " + std::to_string(id) + " line " + std::to_string(i);
    if (auto w = s->write_all(line + "\n", std::chrono::seconds(60)); !w) {
      self.send(report, outcome{id, w.error(), "write"});
      return;
    }
    auto back = s->read_line(4096, std::chrono::seconds(60));
    if (!back) {
      self.send(report, outcome{id, back.error(), "echo of " + line});
      return;
    }
    if (*back != line) {
      self.send(report, outcome{id, weft::error(net::errc::system, "another line came back"),
                                "echo of " + line + ": " + *back});
      return;
    }
  }
  self.send(report, outcome{id, {}, ""});
}

}  // namespace

TEST_CASE("every line of many concurrent connections is echoed exactly and in order") {
  const int connections = (stress_factor() > 1 ? 10'000 : 1'000) / sanitizer_divisor;
  const int lines = 100;
  REQUIRE(raise_fd_limit(2 * static_cast<std::size_t>(connections) + 256) >=
          2 * static_cast<std::size_t>(connections) + 64);
  fd_baseline fds;
  {
    weft::runtime rt(small_runtime());
    weft::scoped_actor me(rt);
    echo_stats stats;
    const std::uint16_t port = start_echo_server(rt, me, stats);
    REQUIRE(port != 0);
    weft::pid report = me.self();
    for (int id = 0; id < connections; ++id) {
      rt.spawn([report, id, port, lines](weft::context& self) { echo_client(self, report, id, port, lines); });
    }
    int ok = 0;
    for (int i = 0; i < connections; ++i) {
      auto o = me.receive_for<outcome>(std::chrono::seconds(120));
      REQUIRE(o.has_value());
      if (!o->succeeded()) FAIL_CHECK("client " << o->id << ": " << o->error.to_string() << " in " << o->detail);
      ok += o->succeeded() ? 1 : 0;
    }
    CHECK(ok == connections);
    CHECK(stats.lines.load() == connections * lines);
    CHECK(stats.connections.load() == connections);
    CHECK(eventually([&] { return stats.closed.load() == connections; }));
  }
  CHECK(fds.now() == fds.at_start);
}

TEST_CASE("a read from a silent peer times out at its deadline, not before") {
  fd_baseline fds;
  {
    weft::runtime rt(small_runtime());
    weft::scoped_actor me(rt);
    weft::pid report = me.self();
    rt.spawn([report](weft::context& self) {
      auto l = net::listener::listen(self, "127.0.0.1", 0);
      auto client = net::socket::connect(self, "127.0.0.1", l->port(), std::chrono::seconds(5));
      auto server = l->accept(std::chrono::seconds(5));
      const auto start = std::chrono::steady_clock::now();
      auto line = client->read_line(100, std::chrono::milliseconds(100));
      const auto waited = std::chrono::steady_clock::now() - start;
      self.send(report, outcome{static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()),
                                error_of(line), server ? "" : "no accept"});
    });
    auto o = me.receive<outcome>();
    CHECK(o.detail == "");
    CHECK(o.error == net::errc::timeout);
    CHECK(o.id >= 100);
  }
  CHECK(fds.now() == fds.at_start);
}

TEST_CASE("connecting to a closed port is refused; to a full backlog, times out") {
  fd_baseline fds;
  {
    weft::runtime rt(small_runtime());
    weft::scoped_actor me(rt);
    weft::pid report = me.self();
    rt.spawn([report](weft::context& self) {
      std::uint16_t port = 0;
      {
        auto l = net::listener::listen(self, "127.0.0.1", 0);
        port = l->port();
      }
      auto refused = net::socket::connect(self, "127.0.0.1", port, std::chrono::seconds(5));
      self.send(report, outcome{0, error_of(refused), ""});
      // A listener that never accepts: once its queue is full the kernel
      // drops further SYNs, and connect can only time out.
      net::listen_options tiny;
      tiny.backlog = 0;
      auto l = net::listener::listen(self, "127.0.0.1", 0, tiny);
      std::vector<net::socket> held;
      weft::error last;
      for (int i = 0; i < 16 && !is_error(last); ++i) {
        auto s = net::socket::connect(self, "127.0.0.1", l->port(), std::chrono::milliseconds(150));
        last = error_of(s);
        if (s) held.push_back(std::move(*s));
      }
      self.send(report, outcome{1, last, ""});
    });
    CHECK(me.receive<outcome>().error == net::errc::refused);
    CHECK(me.receive<outcome>().error == net::errc::timeout);
  }
  CHECK(fds.now() == fds.at_start);
}

TEST_CASE("a peer that resets mid-line and one that sends an over-long line are cut off; others are still served") {
  fd_baseline fds;
  {
    weft::runtime rt(small_runtime());
    weft::scoped_actor me(rt);
    echo_stats stats;
    const std::uint16_t port = start_echo_server(rt, me, stats, 1024);
    weft::pid report = me.self();
    rt.spawn([report, port](weft::context& self) {
      auto s = net::socket::connect(self, "127.0.0.1", port, std::chrono::seconds(5));
      (void)s->write_all("half a li", std::chrono::seconds(5));
      self.sleep_for(std::chrono::milliseconds(20));
      s->abort();
      self.send(report, outcome{0, {}, ""});
    });
    CHECK(me.receive<outcome>().id == 0);
    CHECK(eventually([&] { return stats.reset.load() == 1; }));
    rt.spawn([report, port](weft::context& self) {
      auto s = net::socket::connect(self, "127.0.0.1", port, std::chrono::seconds(5));
      (void)s->write_all(std::string(5000, 'x'), std::chrono::seconds(5));
      auto answer = s->read_line(4096, std::chrono::seconds(5));
      self.send(report, outcome{1, error_of(answer), ""});
    });
    const auto cut = me.receive<outcome>();
    CHECK((cut.error == net::errc::closed || cut.error == net::errc::reset));
    CHECK(stats.too_long.load() == 1);
    rt.spawn([report, port](weft::context& self) { echo_client(self, report, 2, port, 10); });
    CHECK(me.receive<outcome>().succeeded());
    CHECK(stats.lines.load() == 10);
  }
  CHECK(fds.now() == fds.at_start);
}

TEST_CASE("slow-loris connections trickling a byte at a time do not stop other clients being served") {
  const int slow = 1'000 / sanitizer_divisor;
  REQUIRE(raise_fd_limit(2 * static_cast<std::size_t>(slow) + 256) >= 2 * static_cast<std::size_t>(slow) + 64);
  fd_baseline fds;
  {
    weft::runtime rt(small_runtime());
    weft::scoped_actor me(rt);
    echo_stats stats;
    // Room for the longest a slow-loris line can grow (a byte per trickle
    // for as long as the fast client takes).
    constexpr std::size_t max_line = 1 << 16;
    const std::uint16_t port = start_echo_server(rt, me, stats, max_line);
    weft::pid report = me.self();
    std::atomic<int> slow_connected{0};
    std::atomic<bool> fast_done{false};
    std::atomic<int> slow_finished{0};
    const auto trickle = std::chrono::milliseconds(100);
    const int bytes = 20 * stress_factor();  // at least 2 s (20 s under WEFT_STRESS)
    for (int id = 0; id < slow; ++id) {
      rt.spawn([&, port, id, bytes, trickle](weft::context& self) {
        auto s = net::socket::connect(self, "127.0.0.1", port, std::chrono::seconds(30));
        if (!s) return;
        ++slow_connected;
        const std::string line = "slow " + std::to_string(id);
        std::string sent;
        // Trickles until the fast client is through, not for a fixed time,
        // so that its whole run overlaps every unfinished slow line however
        // slow the machine: a server that served lines one connection at a
        // time would never serve it (and the wait for it below would fail).
        for (int i = 0; i < bytes || !fast_done.load(); ++i) {
          self.sleep_for(trickle);
          sent += line[static_cast<std::size_t>(i) % line.size()];
          (void)s->write_all(sent.substr(sent.size() - 1), net::forever);
        }
        (void)s->write_all("\n", net::forever);
        auto back = s->read_line(max_line, std::chrono::seconds(30));
        if (back && *back == sent) ++slow_finished;
      });
    }
    REQUIRE(eventually([&] { return slow_connected.load() == slow; }));
    const auto start = std::chrono::steady_clock::now();
    rt.spawn([report, port](weft::context& self) { echo_client(self, report, 0, port, 100); });
    auto fast_client = me.receive_for<outcome>(std::chrono::seconds(120));
    REQUIRE(fast_client.has_value());
    CHECK(fast_client->succeeded());
    const auto fast = std::chrono::steady_clock::now() - start;
    MESSAGE("100 round trips beside " << slow << " slow-loris connections: "
                                      << std::chrono::duration_cast<std::chrono::milliseconds>(fast).count() << " ms");
    // Served while every slow-loris connection was open, mid-line: no line
    // but the fast client's was echoed, and none was cut off.
    CHECK(stats.connections.load() == slow + 1);
    CHECK(stats.lines.load() == 100);
    CHECK(stats.too_long.load() + stats.reset.load() + stats.other.load() == 0);
    CHECK(stats.closed.load() <= 1);  // the fast client's own, once it is through
    fast_done.store(true);
    CHECK(eventually([&] { return slow_finished.load() == slow; }, std::chrono::seconds(60)));
  }
  CHECK(fds.now() == fds.at_start);
}

TEST_CASE("a slow reader makes the writer wait; the kernel buffers bound what is in flight") {
  fd_baseline fds;
  {
    weft::runtime rt(small_runtime());
    weft::scoped_actor me(rt);
    weft::pid report = me.self();
    rt.spawn([report](weft::context& self) {
      std::string address = "::1";
      auto l = net::listener::listen(self, address, 0);
      if (!l) {  // no IPv6 loopback here: IPv4 then
        address = "127.0.0.1";
        l = net::listener::listen(self, address, 0);
      }
      auto client = net::socket::connect(self, address, l->port(), std::chrono::seconds(5));
      auto server = l->accept(std::chrono::seconds(5));
      const std::string big(64 << 20, 'b');
      std::size_t stalled_bytes = 0;
      auto stalled = client->write_all(big, std::chrono::milliseconds(200), &stalled_bytes);
      self.send(report, outcome{static_cast<int>(stalled_bytes >> 10), error_of(stalled), ""});
      // A reader appears: the rest goes through.
      std::atomic<std::size_t> received{0};
      weft::pid me_too = self.self();
      self.spawn([s = std::move(*server), &received, me_too](weft::context& reader) mutable {
        weft::error last;
        for (;;) {
          auto chunk = s.read_some(1 << 16, std::chrono::seconds(30));
          if (!chunk) {
            last = chunk.error();
            break;
          }
          received += chunk->size();
        }
        reader.send(me_too, outcome{0, last, ""});
      });
      std::size_t rest_bytes = 0;
      auto rest = client->write_all(std::string_view(big).substr(stalled_bytes), std::chrono::seconds(30), &rest_bytes);
      client->close();
      // The reader ends on the writer's EOF (not on its 30 s timeout).
      const auto reader_end = self.receive<outcome>();
      self.send(report, outcome{static_cast<int>((received.load() + rest_bytes) >> 10), error_of(rest),
                                received.load() != big.size()           ? "short"
                                : reader_end.error != net::errc::closed ? reader_end.error.to_string()
                                                                        : "all"});
    });
    const auto stalled = me.receive<outcome>();
    CHECK(stalled.error == net::errc::timeout);
    CHECK(stalled.id > 0);
    CHECK(stalled.id < (64 << 10));
    MESSAGE("in flight when the writer stalled: " << stalled.id << " KiB");
    const auto rest = me.receive<outcome>();
    CHECK(rest.succeeded());
    CHECK(rest.detail == "all");
  }
  CHECK(fds.now() == fds.at_start);
}

namespace {
struct room_message {
  std::string text;
};
}  // namespace

TEST_CASE("an EOF that comes with the last bytes is reported by the next read, without waiting") {
  // The server reads before the client writes, so its socket is registered
  // and its wait is woken by the edge that carries the data (and, often, the
  // FIN with it). It takes the bytes with a short recv; the EOF has no edge
  // of its own, so the poller must keep it, or the last read would sleep
  // until its deadline and report a timeout.
  fd_baseline fds;
  {
    weft::runtime rt(small_runtime());
    weft::scoped_actor me(rt);
    weft::pid report = me.self();
    const int rounds = 100 / sanitizer_divisor;
    rt.spawn([report, rounds](weft::context& self) {
      auto l = net::listener::listen(self, "127.0.0.1", 0);
      int closed = 0;
      std::string failure;
      for (int i = 0; i < rounds && failure.empty(); ++i) {
        self.spawn([port = l->port(), i](weft::context& peer) {
          auto c = net::socket::connect(peer, "127.0.0.1", port, std::chrono::seconds(5));
          peer.sleep_for(std::chrono::milliseconds(1 + i % 3));
          (void)c->write_all("last words", std::chrono::seconds(5));
          c->close();
        });
        auto s = l->accept(std::chrono::seconds(5));
        std::string got;
        while (got.size() < 10) {  // the bytes may come in pieces
          auto more = s->read_some(1 << 16, std::chrono::seconds(5));
          if (!more) break;
          got += *more;
        }
        auto end = s->read_some(1 << 16, std::chrono::seconds(5));
        if (got != "last words") {
          failure = "read '" + got + "'";
        } else if (end) {
          failure = "data after the last words";
        } else if (end.error() != net::errc::closed) {
          failure = "after the last words: " + end.error().to_string();
        } else {
          ++closed;
        }
      }
      self.send(report, outcome{closed, {}, failure});
    });
    const auto result = me.receive<outcome>();
    CHECK(result.detail == "");
    CHECK(result.id == rounds);
  }
  CHECK(fds.now() == fds.at_start);
}

TEST_CASE("in notify mode a line from the socket and a message from a room arrive in one receive") {
  fd_baseline fds;
  {
    weft::runtime rt(small_runtime());
    weft::scoped_actor me(rt);
    weft::pid report = me.self();
    rt.spawn([report](weft::context& self) {
      auto l = net::listener::listen(self, "127.0.0.1", 0);
      auto client = net::socket::connect(self, "127.0.0.1", l->port(), std::chrono::seconds(5));
      auto conn = l->accept(std::chrono::seconds(5));
      std::vector<std::string> seen;
      CHECK(conn->notify_readable(7).has_value());
      weft::pid me_actor = self.self();
      self.spawn([me_actor](weft::context& room) {
        room.sleep_for(std::chrono::milliseconds(20));
        room.send(me_actor, room_message{"hello from the room"});
      });
      while (seen.size() < 3) {
        self.receive(
            [&](const room_message& m) {
              seen.push_back("room: " + m.text);
              (void)client->write_all("first\nsecond\n", std::chrono::seconds(5));
            },
            [&](const net::readable& r) {
              for (;;) {
                auto line = conn->read_line(1024, std::chrono::nanoseconds::zero());
                if (!line) break;
                seen.push_back("line " + std::to_string(r.tag) + ": " + *line);
              }
              (void)conn->notify_readable(r.tag);
            });
      }
      std::string all;
      for (auto& s : seen) all += s + "|";
      self.send(report, outcome{0, {}, all});
    });
    CHECK(me.receive<outcome>().detail == "room: hello from the room|line 7: first|line 7: second|");
  }
  CHECK(fds.now() == fds.at_start);
}

TEST_CASE("in notify mode a partial line notifies once, then waits for the rest") {
  fd_baseline fds;
  {
    weft::runtime rt(small_runtime());
    weft::scoped_actor me(rt);
    weft::pid report = me.self();
    rt.spawn([report](weft::context& self) {
      auto l = net::listener::listen(self, "127.0.0.1", 0);
      auto client = net::socket::connect(self, "127.0.0.1", l->port(), std::chrono::seconds(5));
      auto conn = l->accept(std::chrono::seconds(5));
      (void)client->write_all("par", std::chrono::seconds(5));
      (void)conn->notify_readable(1);
      (void)self.receive<net::readable>();
      const auto partial = conn->read_line(1024, std::chrono::nanoseconds::zero());
      (void)conn->notify_readable(2);
      const bool early = self.receive_for<net::readable>(std::chrono::milliseconds(50)).has_value();
      (void)client->write_all("tial\n", std::chrono::seconds(5));
      const auto again = self.receive_for<net::readable>(std::chrono::seconds(5));
      const auto line = conn->read_line(1024, std::chrono::nanoseconds::zero());
      self.send(report, outcome{again ? static_cast<int>(again->tag) : 0, error_of(partial),
                                (early ? "early " : "") + (line ? *line : "no line: " + line.error().to_string())});
    });
    const auto o = me.receive<outcome>();
    CHECK(o.error == net::errc::timeout);
    CHECK(o.id == 2);
    CHECK(o.detail == "partial");
  }
  CHECK(fds.now() == fds.at_start);
}

TEST_CASE("killing an actor blocked in a read wakes it, and its sockets are closed") {
  fd_baseline fds;
  {
    weft::runtime rt(small_runtime());
    weft::scoped_actor me(rt);
    weft::pid report = me.self();
    weft::pid blocked = rt.spawn([report](weft::context& self) {
      auto l = net::listener::listen(self, "127.0.0.1", 0);
      auto client = net::socket::connect(self, "127.0.0.1", l->port(), std::chrono::seconds(5));
      auto conn = l->accept(std::chrono::seconds(5));
      self.send(report, outcome{0, {}, ""});
      (void)conn->read_line(1024, net::forever);
      self.send(report, outcome{1, weft::error(net::errc::system), "the read returned"});
    });
    CHECK(me.receive<outcome>().id == 0);
    CHECK(fds.now() == fds.at_start + 2 + 3);  // epoll, eventfd; listener and both ends
    me.exit(blocked, weft::exit_reason::kill());
    CHECK(eventually([&] { return rt.live_actors() == 0; }));
    CHECK(fds.now() == fds.at_start + 2);
    CHECK_FALSE(me.receive_for<outcome>(std::chrono::milliseconds(20)).has_value());
  }
  CHECK(fds.now() == fds.at_start);
}

TEST_CASE("descriptors return to baseline after many connect/close cycles") {
  const int cycles = 100'000 / sanitizer_divisor / (stress_factor() > 1 ? 1 : 1);
  const int clients = 4;
  fd_baseline fds;
  {
    weft::runtime rt(small_runtime());
    weft::scoped_actor me(rt);
    weft::pid report = me.self();
    std::atomic<int> accepted{0};
    std::uint16_t port = 0;
    rt.spawn([report, &accepted](weft::context& self) {
      net::listen_options options;
      options.backlog = 4096;
      auto l = net::listener::listen(self, "127.0.0.1", 0, options);
      self.send(report, server_port{l->port()});
      for (;;) {
        auto s = l->accept(net::forever);
        if (!s) return;
        ++accepted;  // and closed here, as `s` goes
      }
    });
    port = me.receive<server_port>().port;
    for (int c = 0; c < clients; ++c) {
      rt.spawn([report, port, cycles, c](weft::context& self) {
        for (int i = 0; i < cycles / clients; ++i) {
          auto s = net::socket::connect(self, "127.0.0.1", port, std::chrono::seconds(10));
          if (!s) {
            self.send(report, outcome{c, s.error(), "connect " + std::to_string(i)});
            return;
          }
          s->abort();  // no TIME_WAIT: 100,000 cycles would exhaust the ephemeral ports
        }
        self.send(report, outcome{c, {}, ""});
      });
    }
    for (int c = 0; c < clients; ++c) {
      auto o = me.receive_for<outcome>(std::chrono::seconds(300));
      REQUIRE(o.has_value());
      CHECK_MESSAGE(o->succeeded(), o->detail << ": " << o->error.to_string());
    }
    CHECK(eventually([&] { return accepted.load() == cycles; }));
    // listener, epoll, eventfd
    CHECK(eventually([&] { return fds.now() == fds.at_start + 3; }));
  }
  CHECK(fds.now() == fds.at_start);
}

TEST_CASE("an idle server with many open idle connections uses almost no CPU") {
  const int connections = (stress_factor() > 1 ? 10'000 : 1'000) / sanitizer_divisor;
  REQUIRE(raise_fd_limit(static_cast<std::size_t>(connections) + 256) >= static_cast<std::size_t>(connections) + 64);
  fd_baseline fds;
  // The idle clients live in a forked child (plain blocking sockets, no
  // runtime), so this process holds only the server's ends and the CPU
  // measured is the server's alone. Forked before the runtime exists.
  int port_pipe[2];
  int ready_pipe[2];
  REQUIRE(::pipe(port_pipe) == 0);
  REQUIRE(::pipe(ready_pipe) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(port_pipe[1]);
    ::close(ready_pipe[0]);
    std::uint16_t port = 0;
    if (::read(port_pipe[0], &port, sizeof port) != sizeof port) ::_exit(1);
    int connected = 0;
    for (int i = 0; i < connections; ++i) connected += raw_connect(port) >= 0 ? 1 : 0;
    [[maybe_unused]] auto w = ::write(ready_pipe[1], &connected, sizeof connected);
    char eof = 0;
    [[maybe_unused]] auto r = ::read(port_pipe[0], &eof, 1);  // until the parent closes it
    ::_exit(0);                                                 // closes every client
  }
  ::close(port_pipe[0]);
  ::close(ready_pipe[1]);
  {
    weft::runtime rt(small_runtime());
    weft::scoped_actor me(rt);
    echo_stats stats;
    const std::uint16_t port = start_echo_server(rt, me, stats);
    [[maybe_unused]] auto w = ::write(port_pipe[1], &port, sizeof port);
    int connected = 0;
    REQUIRE(::read(ready_pipe[0], &connected, sizeof connected) == sizeof connected);
    REQUIRE(connected == connections);
    REQUIRE(eventually([&] { return stats.connections.load() == connections; }));
    // Every connection's actor must have reached its blocking read before
    // the measurement starts: under a sanitizer on a loaded machine, 1,000
    // actors starting up take longer than any fixed pause (CI once measured
    // their start-up as 190 ms of "idle" CPU after a 200 ms pause).
    REQUIRE(rt.wait_quiescent(std::chrono::seconds(60)));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    // The workers' CPU (weft_test.hpp), not a sanitizer's own threads.
    int workers = 0;
    const double before = worker_cpu_seconds(&workers);
    CHECK(workers == 2);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const double used = worker_cpu_seconds() - before;
    MESSAGE(connections << " idle connections: " << used * 1000.0 << " ms CPU in 1 s");
    CHECK(used < 0.05);
    ::close(port_pipe[1]);  // the child exits, closing every client
    CHECK(eventually([&] { return stats.closed.load() == connections; }));
  }
  ::close(ready_pipe[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(fds.now() == fds.at_start);
}

TEST_CASE("write_some never waits; notify_writable says when a full send buffer has room again") {
  fd_baseline fds;
  {
    weft::runtime rt(small_runtime());
    weft::scoped_actor me(rt);
    weft::pid report = me.self();
    rt.spawn([report](weft::context& self) {
      auto l = net::listener::listen(self, "127.0.0.1", 0);
      auto client = net::socket::connect(self, "127.0.0.1", l->port(), std::chrono::seconds(5));
      auto conn = l->accept(std::chrono::seconds(5));
      // Fill the kernel's buffers: write_some takes less, then nothing.
      const std::string chunk(64 * 1024, 'x');
      std::size_t queued = 0;
      int calls = 0;
      for (;;) {
        auto n = conn->write_some(chunk);
        REQUIRE(n.has_value());
        ++calls;
        queued += *n;
        if (*n == 0) break;
      }
      CHECK(queued > 0);
      REQUIRE(conn->notify_writable(3).has_value());
      // Nothing is read yet: no notice (a notice now would be spurious
      // at most once: a write_some retries and re-arms).
      int notices = 0;
      std::size_t drained = 0;
      while (drained < queued) {
        auto got = client->read_some(1 << 20, std::chrono::seconds(5));
        REQUIRE(got.has_value());
        drained += got->size();
        while (self.receive_for(std::chrono::nanoseconds::zero(), [&](const net::writable& n) {
          CHECK(n.tag == 3);
          ++notices;
        })) {
        }
      }
      // The reader emptied everything: the notice has come, and the socket
      // takes bytes again.
      if (notices == 0) {
        CHECK(self.receive_for(std::chrono::seconds(5), [&](const net::writable&) { ++notices; }));
      }
      CHECK(notices >= 1);
      auto more = conn->write_some("after");
      CHECK((more.has_value() && *more == 5));
      self.send(report, outcome{0, {}, "done"});
    });
    CHECK(me.receive<outcome>().detail == "done");
  }
  CHECK(fds.now() == fds.at_start);
}
