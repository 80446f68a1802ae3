// weft-demo: a tour of the runtime in one small program.
//
//   - a counter written in handler style, asked for its value;
//   - a worker written in Erlang style, linked to a "boss" that traps
//     exits, and monitored by an "observer";
//   - the worker is told to crash: the boss receives the exit signal as a
//     message, the observer a down message, and the counter, linked but
//     not trapping, dies with the same reason;
//   - dead letters and a bounded mailbox with the reject policy;
//   - a debug shell endpoint (read-only) for the whole run: with --serve
//     the demo then starts a small supervision tree and keeps running
//     until Ctrl-C, so a person can attach `weft-shell` to it
//     (docs/guide/debug-shell.md).
//
//   weft-demo [--serve] [--allow-mutations] [--tcp-port PORT]
//   (WEFT_DEMO_ALLOW_MUTATIONS=1 is the same as --allow-mutations)
//
//   --tcp-port PORT also serves the debug shell on 127.0.0.1:PORT (0: any
//   free port; the demo prints the one it got). Clients must send the
//   token: WEFT_SHELL_TOKEN if set, else a random one the demo prints.

#include <weft/runtime/weft.hpp>

#if defined(WEFT_DEMO_HAS_SHELL)
#include <weft/shell/endpoint.hpp>
#endif
#if defined(WEFT_DEMO_HAS_SUPERVISOR)
#include <weft/supervisor/supervisor.hpp>
#endif

#include <fmt/format.h>

#include <signal.h>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

using namespace std::chrono_literals;

namespace {

struct increment {
  int by;
};
struct get_count {};
struct crash {
  std::string why;
};
struct work {
  int n;
};
// The counter's protocol: what it takes and what each request answers.
// Sending it anything else, or asking get_count for a string, does not
// compile.
using counter_protocol = weft::protocol<void(increment), int(get_count)>;

void say(const std::string& who, const std::string& what) { fmt::print("{:>9} | {}\n", who, what); }

// A chat room: takes text commands (std::string), so `weft-shell send`
// can talk to it, and describes its state for `weft-shell state`.
weft::behavior chat_room(weft::context& self) {
  auto lines = std::make_shared<std::vector<std::string>>();
  self.set_describe(
      [lines] { return fmt::format("{} line(s); last: '{}'", lines->size(), lines->empty() ? "" : lines->back()); });
  return {
      [lines](const std::string& text) {
        if (text == "crash") throw std::runtime_error("told to crash by a text command");
        lines->push_back(text);
      },
  };
}

// With --serve: a small service tree to look at with the shell.
void start_service_tree(weft::runtime& rt) {
#if defined(WEFT_DEMO_HAS_SUPERVISOR)
  namespace sup = weft::sup;
  auto started =
      sup::start(rt, {.id = "app",
                      .max_restarts = 10,
                      .max_window = std::chrono::seconds(10),
                      .children = {sup::as_child({.id = "rooms",
                                                  .children = {sup::worker("lobby", chat_room, {.name = "lobby"}),
                                                               sup::worker("games", chat_room, {.name = "games"})},
                                                  .name = "rooms"}),
                                   sup::worker("clock",
                                               [](weft::context& self) {
                                                 for (;;)
                                                   self.sleep_for(std::chrono::milliseconds(100));
                                               },
                                               {.name = "clock"})},
                      .name = "app"});
  if (!started) say("main", fmt::format("service tree failed to start: {}", started.error()));
#else
  rt.spawn(chat_room, {.name = "lobby", .label = "lobby"});
  rt.spawn(chat_room, {.name = "games", .label = "games"});
#endif
}

}  // namespace

int main(int argc, char** argv) {
  bool serve = false;
  bool allow_mutations = std::getenv("WEFT_DEMO_ALLOW_MUTATIONS") != nullptr &&
                         std::strcmp(std::getenv("WEFT_DEMO_ALLOW_MUTATIONS"), "1") == 0;
  std::optional<std::uint16_t> tcp_port;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--serve") == 0) {
      serve = true;
    } else if (std::strcmp(argv[i], "--allow-mutations") == 0) {
      allow_mutations = true;
    } else if (std::strcmp(argv[i], "--tcp-port") == 0 && i + 1 < argc) {
      const std::string_view text = argv[++i];
      std::uint16_t port = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
      if (ec != std::errc() || end != text.data() + text.size()) {
        fmt::print(stderr, "weft-demo: --tcp-port takes a port number from 0 (any free port) to 65535, not '{}'\n",
                   text);
        return 2;
      }
      tcp_port = port;
    } else {
      fmt::print(stderr, "usage: weft-demo [--serve] [--allow-mutations] [--tcp-port PORT]\n");
      return 2;
    }
  }
  // Serving: Ctrl-C is taken by sigwait below, so block it before any
  // thread starts (threads inherit the mask).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (serve) pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  weft::runtime rt({.workers = 2});
  fmt::print("weft demo: {} workers\n\n", rt.options().workers);
#if defined(WEFT_DEMO_HAS_SHELL)
  // The debug shell endpoint prints its socket path and how to attach.
  std::unique_ptr<weft::shell::endpoint> shell;
  const char* token_variable = std::getenv("WEFT_SHELL_TOKEN");
  const bool token_given = token_variable != nullptr && *token_variable != '\0';
  try {
    shell = std::make_unique<weft::shell::endpoint>(
        rt, weft::shell::endpoint_options{.tcp_port = tcp_port,
                                          .tcp_token = token_given ? token_variable : "",
                                          .allow_mutations = allow_mutations,
                                          .program = "weft-demo"});
  } catch (const std::exception& e) {
    fmt::print(stderr, "weft demo: no debug shell endpoint: {}\n", e.what());
  }
  if (shell && shell->tcp_port() != 0) {
    // A random token is printed so a person can use it; one from the
    // environment is not repeated.
    say("main", fmt::format("debug shell over TCP at 127.0.0.1:{}; attach with: WEFT_SHELL_TOKEN={} weft-shell "
                            "attach 127.0.0.1:{}",
                            shell->tcp_port(), token_given ? "<your token>" : shell->tcp_token(), shell->tcp_port()));
    std::fflush(stdout);
  }
#else
  (void)allow_mutations;
  if (tcp_port) fmt::print(stderr, "weft demo: built without weft::shell; --tcp-port ignored\n");
#endif

  // Everything main says to actors goes through its scoped_actor.
  weft::scoped_actor main_actor(rt);

  // A typed, handler-style counter: state plus handlers; no stack while idle.
  weft::ref<counter_protocol> counter = rt.spawn(
      [](weft::context& self) -> weft::behavior_of<counter_protocol> {
        auto count = std::make_shared<int>(0);
        self.register_name("counter");
        return {
            [count](increment i) { *count += i.by; },
            [count](get_count) { return *count; },
        };
      },
      {.name = ""});

  for (int i = 1; i <= 10; ++i) main_actor.send(counter, increment{i});
  weft::expected<int> total = main_actor.ask(counter, get_count{}, 1s);
  say("main", fmt::format("asked {} for its count: {}", counter.to_string(), total ? std::to_string(*total) : "error"));

  // A boss that traps exits and spawns a linked worker, an observer that
  // monitors it, and the counter linked to the worker too.
  weft::pid me = main_actor.self();
  weft::pid boss = rt.spawn([me, counter](weft::context& self) {
    self.trap_exit(true);
    weft::pid worker = self.spawn_link([](weft::context& w) {
      for (;;) {
        w.receive([&](work job) { say("worker", fmt::format("did job {}", job.n)); },
                  [&](crash c) {
                    say("worker", "told to crash: throwing");
                    throw std::runtime_error(c.why);
                  });
      }
    });
    self.spawn([worker](weft::context& o) {
      weft::monitor_ref ref = o.monitor(worker);
      o.receive([&](const weft::down_msg& d) {
        say("observer", fmt::format("down from {} (ref {}): {}", d.who.to_string(), ref.value, d.reason.to_string()));
      });
    });
    self.send(me, worker);
    for (int i = 1; i <= 3; ++i) self.send(worker, work{i});
    self.send(worker, crash{"division by zero (on purpose)"});
    self.receive([&](const weft::exit_msg& e) {
      say("boss", fmt::format("trapped exit from {}: {}", e.from.to_string(), e.reason.to_string()));
    });
    self.send(me, std::string("boss done"));
    (void)counter;
  });

  weft::pid worker = main_actor.receive<weft::pid>();
  weft::monitor_ref counter_watch = main_actor.monitor(counter);
  // A go-between linked to both: when the worker's crash reaches it (or,
  // if the worker is already gone, linking to it fails with noproc), it
  // dies, and its link takes the non-trapping counter down with it.
  rt.spawn([counter, worker](weft::context& self) {
    self.link(counter);
    self.link(worker);
    self.receive([](int) {});  // never comes: dies when the worker does
  });
  say("main", main_actor.receive<std::string>());
  main_actor.receive([&](const weft::down_msg& d) {
    say("main", fmt::format("counter {} went down via its link: {} (ref {})", d.who.to_string(),
                            d.reason.to_string(), d.ref == counter_watch ? "matches" : "other"));
  });

  // Bounded mailboxes: a reject-policy actor of capacity 2, never reading.
  weft::pid full = rt.spawn([](weft::context& self) { self.receive([](get_count) {}); },
                            {.mailbox_capacity = 2, .overflow = weft::overflow_policy::reject});
  for (int i = 0; i < 4; ++i) {
    say("main", fmt::format("send {} to a capacity-2 reject mailbox: {}", i, weft::to_string(main_actor.send(full, work{i}))));
  }
  main_actor.send(full, get_count{});  // rejected too: it is still full
  main_actor.exit(full, weft::exit_reason::kill());
  rt.wait_quiescent(1s);
  main_actor.send(full, work{99});  // to a dead actor

  const weft::dead_letter_stats dead = rt.dead_letters();
  say("main", fmt::format("dead letters: {} rejected, {} to dead actors, {} unread at exit",
                          dead[weft::dead_letter_cause::rejected], dead[weft::dead_letter_cause::dead_actor],
                          dead[weft::dead_letter_cause::exited_unread]));
  if (serve) {
    start_service_tree(rt);
    say("main", "serving until Ctrl-C; attach with: weft-shell attach");
    std::fflush(stdout);  // a person may be watching through a pipe
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    fmt::print("\n");
  }
  say("main", fmt::format("live actors before shutdown: {}", rt.live_actors()));
#if defined(WEFT_DEMO_HAS_SHELL)
  shell.reset();  // before the runtime it inspects
#endif
  const bool clean = rt.shutdown(weft::shutdown_mode::drain, 5s);
  say("main", fmt::format("shutdown {}; live actors: {}", clean ? "drained" : "forced", rt.live_actors()));
  return 0;
}
