// weft-echo: a line echo server, one actor per connection.
//
//   weft-echo [port [workers]]   (default 7777, one worker per core;
//                                try: nc localhost 7777)
//
// Built with the supervisor module, the tree is
//
//   echo (rest_for_one)
//    |- connections  dynamic supervisor; one temporary child per connection
//    '- acceptor     listens, hands each accepted socket to `connections`
//
// A connection that misbehaves (over-long line, reset) ends only its own
// actor; a crashed acceptor is restarted; if `connections` itself fails,
// the acceptor restarts after it (rest_for_one). Without the supervisor
// module (-DWEFT_MODULES=""), the acceptor is a plain actor that spawns the
// connection actors itself (unlinked, so one's crash cannot take it down).
//
// Sockets are owned by the actor that holds them: the accepted socket is
// moved into the connection actor, and its descriptor closes when that
// actor exits, whatever the reason.

#include <weft/runtime/net.hpp>
#include <weft/runtime/weft.hpp>
#if defined(WEFT_ECHO_SUPERVISED)
#include <weft/supervisor/supervisor.hpp>
#endif

#include <fmt/format.h>

#include <csignal>
#include <cstdlib>
#include <memory>
#include <string>

namespace net = weft::net;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t max_line = 4096;
constexpr auto idle_timeout = std::chrono::minutes(10);

// One connection: echo lines until the peer leaves, idles out, or sends a
// line longer than max_line.
void serve(net::socket& s) {
  (void)s.write_all("weft echo: type a line\n", 5s);
  for (;;) {
    auto line = s.read_line(max_line, idle_timeout);
    if (!line) {
      if (line.error == net::error::too_long) {
        (void)s.write_all(fmt::format("error: line longer than {} bytes; closing\n", max_line), 1s);
      }
      return;  // the socket closes as the actor exits
    }
    std::string out = std::move(*line);
    out.push_back('\n');
    // Lines that arrived together are echoed with one write, as an epoll
    // server written for speed would; an over-long one is left for the
    // next read_line to report.
    while (s.has_line()) {
      auto more = s.read_line(max_line, 0s);
      if (!more) break;
      out += *more;
      out.push_back('\n');
    }
    if (!s.write_all(out, 30s)) return;
  }
}

net::listener listen_or_exit(weft::context& self, std::uint16_t port) {
  auto l = net::listener::listen(self, "::", port);
  if (!l) l = net::listener::listen(self, "0.0.0.0", port);  // no IPv6 here
  if (!l) throw std::runtime_error(fmt::format("weft-echo: cannot listen on port {}: {}", port, net::to_string(l.error)));
  fmt::print("weft-echo: listening on port {}\n", l->port());
  std::fflush(stdout);
  return std::move(l.value);
}

}  // namespace

int main(int argc, char** argv) {
  const auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 7777);
  // Workers: one per core by default; bench/echo passes its weft_workers.
  weft::runtime_options options;
  if (argc > 2 && std::atoi(argv[2]) > 0) options.workers = static_cast<unsigned>(std::atoi(argv[2]));
  // Block the stop signals before the workers start, so they inherit the
  // mask and main alone takes them in sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  weft::runtime rt(options);
#if defined(WEFT_ECHO_SUPERVISED)
  namespace sup = weft::sup;
  using owned_socket = std::shared_ptr<net::socket>;  // std::any needs a copyable argument
  sup::supervisor_spec connections;
  connections.id = "connections";
  connections.name = "echo_connections";
  connections.strategy = sup::restart_strategy::dynamic;
  connections.children.push_back(sup::dynamic_worker<owned_socket>(
      "connection",
      [](weft::context&, owned_socket handed) {
        net::socket s = std::move(*handed);
        serve(s);
      },
      {.restart = sup::restart_type::temporary}));
  sup::supervisor_spec top;
  top.id = "echo";
  top.strategy = sup::restart_strategy::rest_for_one;
  top.max_restarts = 5;
  top.children.push_back(sup::as_child(std::move(connections)));
  top.children.push_back(sup::worker("acceptor", [port](weft::context& self) {
    net::listener l = listen_or_exit(self, port);
    const weft::pid connections = self.system().whereis("echo_connections");
    for (;;) {
      auto s = l.accept(net::forever);
      if (!s) {
        // Out of descriptors, say: the listener stays readable, so pause
        // rather than spin, and keep serving the connections we have.
        self.sleep_for(100ms);
        continue;
      }
      auto started = sup::start_child(self, connections, sup::child_args(std::make_shared<net::socket>(std::move(*s))));
      if (!started) fmt::print(stderr, "weft-echo: cannot start a connection: {}\n", started.error);
    }
  }));
  auto tree = sup::start(rt, std::move(top));
  if (!tree) {
    fmt::print(stderr, "weft-echo: {}\n", tree.error);
    return 1;
  }
#else
  rt.spawn([port](weft::context& self) {
    net::listener l = listen_or_exit(self, port);
    for (;;) {
      auto s = l.accept(net::forever);
      if (!s) {
        self.sleep_for(100ms);  // out of descriptors, say: pause, do not spin
        continue;
      }
      self.spawn([s = std::move(*s)](weft::context&) mutable { serve(s); });
    }
  });
#endif
  int signal = 0;
  sigwait(&stop_signals, &signal);
  fmt::print("weft-echo: stopping\n");
  return 0;
}
