// weft-echo: a line echo server, one actor per connection, under a
// supervision tree.
//
//   weft-echo [port [workers]]   (default 7777, one worker per core;
//                                try: nc localhost 7777)
//
//   echo (rest_for_one)
//    |- connections  dynamic supervisor; one temporary child per connection
//    '- acceptor     listens, hands each accepted socket to `connections`
//
// A connection that misbehaves (an over-long line, a reset) ends only its
// own actor (connection.hpp); a crashed acceptor is restarted; if
// `connections` itself fails, the acceptor restarts after it
// (rest_for_one), as it holds the old one's handle. If the tree gives up
// (limits.hpp: max_restarts), weft-echo exits with status 1.
//
// Files: limits.hpp (every limit and timeout), connection.{hpp,cpp} and
// acceptor.{hpp,cpp} (one actor type each), this file (the tree, and the
// process: signals and exit status).

#include "acceptor.hpp"
#include "connection.hpp"
#include "limits.hpp"

#include <weft/runtime/weft.hpp>
#include <weft/supervisor/supervisor.hpp>

#include <fmt/format.h>

#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <string>
#include <thread>

namespace sup = weft::sup;

namespace {

// The name the acceptor finds the connections supervisor by.
constexpr const char* connections_name = "echo_connections";

sup::supervisor_spec echo_tree(std::uint16_t port) {
  return {
      .id = "echo",
      .strategy = sup::restart_strategy::rest_for_one,
      .max_restarts = echo::max_restarts,
      .max_window = echo::restart_window,
      .children = {sup::as_child({.id = "connections",
                                  .strategy = sup::restart_strategy::dynamic,
                                  .children = {sup::dynamic_worker<echo::handed_socket>(
                                      "connection", echo::connection, {.restart = sup::restart_type::temporary})},
                                  .name = connections_name}),
                   echo::acceptor(port, connections_name)},
  };
}

// What the signal thread tells main.
struct stop_requested {
  int signal;
};

}  // namespace

int main(int argc, char** argv) {
  const auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : echo::default_port);
  // Workers: one per core by default; bench/echo passes its weft_workers.
  weft::runtime_options options;
  if (argc > 2 && std::atoi(argv[2]) > 0) options.workers = static_cast<unsigned>(std::atoi(argv[2]));
  // Block the stop signals before any thread starts, so every thread
  // inherits the mask and only the signal thread below takes them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  weft::runtime rt(options);
  auto tree = sup::start(rt, echo_tree(port));
  if (!tree) {
    fmt::print(stderr, "weft-echo: {}\n", tree.error().detail());  // names the child and why
    return 1;
  }

  // Main waits for whichever comes first: a stop signal, or the tree
  // giving up (its down message).
  weft::scoped_actor self(rt);
  self.monitor(*tree);
  std::thread signals([&rt, &stop_signals, waiter = self.self()] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    weft::scoped_actor(rt).send(waiter, stop_requested{signal});
  });
  int status = 0;
  self.receive([](stop_requested) { fmt::print("weft-echo: stopping\n"); },
               [&status](const weft::down_msg& down) {
                 fmt::print(stderr, "weft-echo: the supervision tree stopped ({}); exiting\n", down.reason.to_string());
                 status = 1;
               });
  // Wakes the signal thread if it is still waiting (the tree stopped).
  pthread_kill(signals.native_handle(), SIGTERM);
  signals.join();
  return status;  // the runtime's destructor stops the tree, children first
}
