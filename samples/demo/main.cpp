// weft-demo: a tour of the runtime in one small program.
//
//   - a counter written in handler style, asked for its value;
//   - a worker written in Erlang style, linked to a "boss" that traps
//     exits, and monitored by an "observer";
//   - the worker is told to crash: the boss receives the exit signal as a
//     message, the observer a down message, and the counter, linked but
//     not trapping, dies with the same reason;
//   - dead letters and a bounded mailbox with the reject policy.

#include <weft/runtime/weft.hpp>

#include <fmt/format.h>

#include <chrono>
#include <stdexcept>
#include <string>

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

void say(const std::string& who, const std::string& what) { fmt::print("{:>9} | {}\n", who, what); }

}  // namespace

int main() {
  weft::runtime rt({.workers = 2});
  fmt::print("weft demo: {} workers\n\n", rt.options().workers);

  // A handler-style counter: state plus handlers; no stack while idle.
  weft::pid counter = rt.spawn(
      [](weft::context& self) -> weft::behavior {
        auto count = std::make_shared<int>(0);
        self.register_name("counter");
        return {
            [count](increment i) { *count += i.by; },
            [count](get_count) { return *count; },
        };
      },
      {.name = ""});

  for (int i = 1; i <= 10; ++i) rt.send(counter, increment{i});
  weft::result<int> total = rt.ask<int>(counter, get_count{}, 1s);
  say("main", fmt::format("asked {} for its count: {}", counter.to_string(), total ? std::to_string(*total) : "error"));

  // A boss that traps exits and spawns a linked worker, an observer that
  // monitors it, and the counter linked to the worker too.
  weft::scoped_actor main_actor(rt);
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

  weft::pid worker = main_actor->receive<weft::pid>();
  weft::monitor_ref counter_watch = main_actor->monitor(counter);
  // A go-between linked to both: when the worker's crash reaches it (or,
  // if the worker is already gone, linking to it fails with noproc), it
  // dies, and its link takes the non-trapping counter down with it.
  rt.spawn([counter, worker](weft::context& self) {
    self.link(counter);
    self.link(worker);
    self.receive([](int) {});  // never comes: dies when the worker does
  });
  say("main", main_actor->receive<std::string>());
  main_actor->receive([&](const weft::down_msg& d) {
    say("main", fmt::format("counter {} went down via its link: {} (ref {})", d.who.to_string(),
                            d.reason.to_string(), d.ref == counter_watch ? "matches" : "other"));
  });

  // Bounded mailboxes: a reject-policy actor of capacity 2, never reading.
  weft::pid full = rt.spawn([](weft::context& self) { self.receive([](get_count) {}); },
                            {.mailbox_capacity = 2, .overflow = weft::overflow_policy::reject});
  for (int i = 0; i < 4; ++i) {
    say("main", fmt::format("send {} to a capacity-2 reject mailbox: {}", i, weft::to_string(rt.send(full, work{i}))));
  }
  rt.send(full, get_count{});  // rejected too: it is still full
  rt.exit(full, weft::exit_reason::kill());
  rt.wait_quiescent(1s);
  rt.send(full, work{99});  // to a dead actor

  const weft::dead_letter_stats dead = rt.dead_letters();
  say("main", fmt::format("dead letters: {} rejected, {} to dead actors, {} unread at exit",
                          dead[weft::dead_letter_cause::rejected], dead[weft::dead_letter_cause::dead_actor],
                          dead[weft::dead_letter_cause::exited_unread]));
  say("main", fmt::format("live actors before shutdown: {}", rt.live_actors()));
  const bool clean = rt.shutdown(weft::shutdown_mode::drain, 5s);
  say("main", fmt::format("shutdown {}; live actors: {}", clean ? "drained" : "forced", rt.live_actors()));
  return 0;
}
