// The examples of docs/guide/getting-started.md, compiled and run. Each
// region between "// [name]" and "// [/name]" appears verbatim in the
// guide (tests/docs/check_snippets.cmake compares them).

#include <weft/runtime/weft.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <optional>
#include <string>

using namespace std::chrono_literals;

// [protocol]
struct increment { int by = 1; };
struct get {};
using counter = weft::protocol<void(increment), int(get)>;
// [/protocol]

TEST_CASE("getting started: a typed counter, sent to and asked from main") {
  // [first]
  weft::runtime rt;                     // one worker thread per core
  weft::scoped_actor self(rt);          // main's own pid and mailbox

  weft::ref<counter> c = rt.spawn(weft::stateful<counter>(
      0,                                               // the initial state
      [](int& n, increment i) { n += i.by; },          // void(increment)
      [](int& n, get) { return n; }));                 // int(get): answers asks

  self.send(c, increment{5});
  weft::expected<int> n = self.ask(c, get{});          // waits up to 5 s
  if (n) std::printf("count: %d\n", *n);               // count: 5
  // [/first]
  CHECK(n == 5);
}

// [setup]
struct hello { weft::pid reply_to; };
using greeter = weft::protocol<void(hello)>;

weft::behavior_of<greeter> greeting(weft::context& self) {
  // Runs inside the new actor, once, at its first activation: before its
  // first message, not during spawn. It may use `self` already.
  self.set_label("greeter");
  std::string text = "hello";
  // Handlers may capture `self` by reference: the context lives exactly as
  // long as the actor. Locals of this function are captured by value: it
  // has returned before any handler runs, so `&text` would dangle.
  return {[&self, text](hello h) { self.send(h.reply_to, text); }};
}
// [/setup]

TEST_CASE("getting started: a setup function returning behavior_of") {
  weft::runtime rt;
  weft::scoped_actor self(rt);
  weft::ref<greeter> g = rt.spawn(greeting);
  self.send(g, hello{self.self()});
  CHECK(self.receive_for<std::string>(20s) == std::optional<std::string>("hello"));
  CHECK(rt.info(g)->label == "greeter");
}

// [class]
class ledger {
 public:
  explicit ledger(int opening) : balance_(opening) {}
  weft::behavior_of<counter> make_behavior(weft::context&) {
    return {[this](increment i) { balance_ += i.by; }, [this](get) { return balance_; }};
  }
  void on_exit(weft::context&, const weft::exit_reason& why) { std::printf("ledger stopped: %s\n", why.to_string().c_str()); }

 private:
  int balance_;
};
// [/class]

TEST_CASE("getting started: a class-style actor, options last") {
  weft::runtime rt;
  weft::scoped_actor self(rt);
  // [spawn-class]
  auto l = rt.spawn_actor<ledger>(100, weft::spawn_options{.name = "ledger"});
  // [/spawn-class]
  self.send(l, increment{5});
  CHECK(self.ask(l, get{}) == 105);
  CHECK(rt.whereis("ledger") == l);
}

struct stop {};
using stoppable = weft::protocol<void(stop)>;

TEST_CASE("getting started: a handler-style actor stops itself with self.exit()") {
  weft::runtime rt;
  weft::scoped_actor self(rt);
  // [stop]
  auto worker = rt.spawn(weft::stateful<stoppable>(
      0, [](weft::context& me, int&, stop) { me.exit(); }));  // or me.exit(reason)
  // [/stop]
  weft::monitor_ref watch = self.monitor(worker);
  self.send(worker, stop{});
  auto down = self.receive_for<weft::down_msg>(20s);
  REQUIRE(down.has_value());
  CHECK(down->ref == watch);
  CHECK(down->reason.is_normal());
}

TEST_CASE("getting started: Erlang style, selective receive") {
  weft::runtime rt;
  weft::scoped_actor self(rt);
  std::atomic<int> seen{0};
  // [erlang]
  weft::pid logger = rt.spawn([&seen](weft::context& me) {
    for (;;) {
      me.receive(
          [&](const std::string& line) { std::puts(line.c_str()); ++seen; },
          [&](int code) { if (code == 0) me.exit(); });
    }
  });
  // [/erlang]
  self.send(logger, std::string("hello"));
  self.send(logger, 0);
  weft::monitor_ref watch = self.monitor(logger);
  auto down = self.receive_for<weft::down_msg>(20s);
  REQUIRE(down.has_value());
  CHECK(down->ref == watch);
  CHECK(seen.load() == 1);
}

TEST_CASE("getting started: every request gets an answer") {
  weft::runtime rt;
  weft::scoped_actor self(rt);
  weft::pid p = rt.spawn(weft::stateful(0, [](int& n, int by) { n += by; }));
  // [answers]
  auto unknown = self.ask<int>(p, std::string("?"));      // no handler for std::string
  // unknown.error() == weft::ask_errc::unhandled, at once, not after 5 s
  auto ack = self.ask<void>(p, 2);                        // a void handler: acknowledged
  if (!unknown) std::printf("%s\n", fmt::format("{}", unknown.error()).c_str());
  // [/answers]
  CHECK(unknown.error() == weft::ask_errc::unhandled);
  CHECK(ack.has_value());
}

TEST_CASE("getting started: links and monitors") {
  weft::runtime rt;
  // [links]
  weft::pid boss = rt.spawn([](weft::context& self) {
    self.trap_exit(true);                                   // exits become messages
    weft::pid worker = self.spawn_link([](weft::context&) {
      throw std::runtime_error("oops");                     // exits with error "oops"
    });
    auto e = self.receive<weft::exit_msg>();                // e.from == worker
    (void)worker;
    (void)e;
  });

  weft::scoped_actor me(rt);
  weft::monitor_ref ref = me.monitor(boss);
  weft::down_msg d = me.receive<weft::down_msg>();          // d.reason: normal
  // [/links]
  CHECK(d.ref == ref);
  CHECK(d.reason.is_normal());
}
