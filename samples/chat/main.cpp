// weft-chat: an IRC server (and a web chat on the same rooms) made of
// weft actors: one per connection, one per room, one for presence, under
// a supervision tree (src/server.hpp), with the rooms' history and topics
// event-sourced in weft's journal.
//
//   weft-chat [--irc-port 6667] [--ws-port 8080] [--data DIR] [--workers N]
//             [--serve-shell] ...           (--help lists every option)
//
// Files: src/config.hpp (every limit), src/server.* (the tree),
// src/irc_connection.* (IRC), src/web.* (HTTP + WebSocket), src/session.*
// (what a user does, whatever the protocol), src/room.* and
// src/history.hpp (rooms), src/presence.* (nicks, away, MONITOR),
// src/event.* (what moves between them), irc/ (the protocol alone).

#include "config.hpp"
#include "server.hpp"

#include <weft/persistence/file_journal.hpp>
#include <weft/runtime/weft.hpp>
#include <weft/shell/endpoint.hpp>

#include <fmt/format.h>

#include <pthread.h>
#include <signal.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace {

constexpr const char* usage = R"(usage: weft-chat [options]

An IRC server (RFC 2812 with IRCv3 message-tags, server-time, msgid,
echo-message, away-notify, batch, draft/chathistory and MONITOR) and a web
chat on the same rooms. Connect with any IRC client (irssi, WeeChat) to
the IRC port, or open http://localhost:<ws-port>/ in a browser.

  --irc-port P        IRC over TCP (default 6667; 0: any free port, printed)
  --ws-port P         the web page and its WebSocket (default 8080; 0: off)
  --bind ADDRESS      listen address (default "::", IPv6 and IPv4)
  --data DIR          rooms' history and topics (default ./weft-chat-data)
  --workers N         scheduler threads (default: one per core)
  --serve-shell       serve the debug shell endpoint (weft-shell attach)
  --allow-mutations   let the debug shell kill, send and restart
  --server-name NAME  the server's name in its lines (default weft.chat)
  --sendq BYTES       unsent output at which a client is cut off (default 1048576)
  --input-rate N      lines per second per client, flood control (default 10; 0: off)
  --input-burst N     lines a client may send at once (default 40)
  --ping-after S      seconds of silence before the server pings (default 30)
  --ping-timeout S    seconds of silence before the client is dropped (default 90)
  --register-timeout S  seconds to register (NICK + USER) (default 30)
  --idle-after S      seconds without input before a user shows idle (default 300)
  --max-connections N (default 20000)
  --no-fsync          do not wait for the disk (benchmarks of something else only)
  --help              this text

Ctrl-C (SIGINT) or SIGTERM stops the server: clients get an ERROR line and
the journal is closed.
)";

struct stop_requested {
  int signal;
};

[[noreturn]] void bad_usage(std::string_view why) {
  fmt::print(stderr, "weft-chat: {}\n(weft-chat --help lists the options)\n", why);
  std::exit(2);
}

template <class T>
T number(std::string_view option, std::string_view text) {
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    bad_usage(fmt::format("{} wants a number, not '{}'", option, text));
  }
  return value;
}

chat::config parse(int argc, char** argv) {
  chat::config cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(usage, stdout);
      std::exit(0);
    }
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) bad_usage(fmt::format("{} needs a value", arg));
      return argv[++i];
    };
    auto seconds = [&]() { return std::chrono::milliseconds(static_cast<long>(number<double>(arg, value()) * 1000)); };
    if (arg == "--irc-port") {
      cfg.irc_port = number<std::uint16_t>(arg, value());
    } else if (arg == "--ws-port") {
      cfg.ws_port = number<std::uint16_t>(arg, value());
      cfg.web = cfg.ws_port != 0;
    } else if (arg == "--bind") {
      cfg.bind_address = value();
    } else if (arg == "--data") {
      cfg.data = std::string(value());
    } else if (arg == "--workers") {
      cfg.workers = number<unsigned>(arg, value());
    } else if (arg == "--serve-shell") {
      cfg.serve_shell = true;
    } else if (arg == "--allow-mutations") {
      cfg.allow_mutations = true;
    } else if (arg == "--server-name") {
      cfg.server_name = value();
    } else if (arg == "--sendq") {
      cfg.sendq_bytes = number<std::size_t>(arg, value());
    } else if (arg == "--input-rate") {
      cfg.input_rate = number<double>(arg, value());
    } else if (arg == "--input-burst") {
      cfg.input_burst = std::max<std::size_t>(1, number<std::size_t>(arg, value()));
    } else if (arg == "--ping-after") {
      cfg.ping_after = seconds();
    } else if (arg == "--ping-timeout") {
      cfg.ping_timeout = seconds();
    } else if (arg == "--register-timeout") {
      cfg.register_timeout = seconds();
    } else if (arg == "--idle-after") {
      cfg.idle_after = seconds();
    } else if (arg == "--max-connections") {
      cfg.max_connections = number<std::size_t>(arg, value());
    } else if (arg == "--no-fsync") {
      cfg.no_fsync = true;
    } else {
      bad_usage(fmt::format("unknown option '{}'", arg));
    }
  }
  return cfg;
}

}  // namespace

int main(int argc, char** argv) {
  const chat::config cfg = parse(argc, argv);

  // The stop signals go to one thread (below), whatever thread the
  // kernel picks: block them before any thread starts.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A client that resets while we write must not kill the server.
  signal(SIGPIPE, SIG_IGN);

  // The journal outlives the runtime (declared first, destroyed last). A
  // torn tail (a kill -9 during a write) held nothing acknowledged: it is
  // cut off and reported.
  std::unique_ptr<weft::persistence::journal> journal;
  try {
    std::filesystem::create_directories(cfg.data);
    journal = weft::persistence::open_file_journal(
        cfg.data / "journal",
        {.truncate_corrupt_tail = true,
         .unsafe_no_sync = cfg.no_fsync,
         .on_warning = [](std::string_view w) { fmt::print(stderr, "weft-chat: journal: {}\n", w); }});
  } catch (const std::exception& e) {
    fmt::print(stderr, "weft-chat: cannot open the journal in {}: {}\n", cfg.data.string(), e.what());
    return 1;
  }

  int status = 0;
  {
    weft::runtime_options options;
    if (cfg.workers > 0) options.workers = cfg.workers;
    weft::runtime rt(options);
    std::unique_ptr<weft::shell::endpoint> shell;
    if (cfg.serve_shell) {
      try {
        shell = std::make_unique<weft::shell::endpoint>(
            rt, weft::shell::endpoint_options{.allow_mutations = cfg.allow_mutations, .program = "weft-chat"});
      } catch (const std::exception& e) {
        fmt::print(stderr, "weft-chat: no debug shell endpoint: {}\n", e.what());
      }
    }
    auto server = chat::start_server(rt, cfg, *journal);
    if (!server) {
      fmt::print(stderr, "weft-chat: {}\n", server.error().detail());
      return 1;
    }
    fmt::print("weft-chat: IRC on port {}\n", server->irc_port);
    if (server->ws_port != 0) fmt::print("weft-chat: web on http://localhost:{}/\n", server->ws_port);
    fmt::print("weft-chat: data in {}; Ctrl-C stops\n", cfg.data.string());
    std::fflush(stdout);

    weft::scoped_actor self(rt);
    self.monitor(server->tree);
    std::thread signals([&rt, &stop_signals, waiter = self.self()] {
      int signal = 0;
      sigwait(&stop_signals, &signal);
      weft::scoped_actor(rt).send(waiter, stop_requested{signal});
    });
    self.receive([](stop_requested) { fmt::print("weft-chat: stopping\n"); },
                 [&status](const weft::down_msg& down) {
                   fmt::print(stderr, "weft-chat: the supervision tree stopped ({}); exiting\n",
                              down.reason.to_string());
                   status = 1;
                 });
    pthread_kill(signals.native_handle(), SIGTERM);
    signals.join();
    // Connections first (they say goodbye), then the rooms, then the rest:
    // stopping the tree stops its children in reverse start order.
    (void)server->tree.stop(self, std::chrono::seconds(30));
    shell.reset();
  }
  journal->close();
  std::fflush(stdout);
  return status;
}
