#include "weft_test.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <thread>

using namespace weft_test;

namespace {
struct get {};
struct slow {
  std::chrono::milliseconds delay;
};
struct crash_on_request {};
struct defer {};

// get answers at once, slow after a pause, crash_on_request never (it
// throws); defer hands its answer to a later message: an int delivers it,
// a string drops it unanswered.
using server_protocol =
    weft::protocol<int(get), std::string(slow), int(crash_on_request), int(defer), void(int), void(std::string)>;

weft::ref<server_protocol> spawn_server(weft::runtime& rt) {
  return rt.spawn(weft::stateful<server_protocol>(
      weft::reply_promise(), [](weft::reply_promise&, get) { return 42; },
      [](weft::context& self, weft::reply_promise&, slow s) {
        self.sleep_for(s.delay);
        return std::string("late");
      },
      [](weft::reply_promise&, crash_on_request) -> int { throw std::runtime_error("crashed mid-request"); },
      [](weft::context& self, weft::reply_promise& held, defer) { held = self.promise(); },
      [](weft::reply_promise& held, int x) { held.deliver(x); },
      [](weft::reply_promise& held, const std::string&) { held = weft::reply_promise(); }));
}
// True once `server` holds or has handled `n` messages in all: the asker
// thread's request has reached it, so what the test sends next comes after.
bool reached(weft::runtime& rt, const weft::pid& server, std::uint64_t n) {
  return eventually([&] {
    auto info = rt.info(server);
    return info && info->processed + info->mailbox_length >= n;
  });
}
}  // namespace

TEST_CASE("ask returns the handler's value") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  auto server = spawn_server(rt);
  auto r = self.ask(server, get{}, 5s);
  REQUIRE(r.has_value());
  CHECK(*r == 42);
}

TEST_CASE("ask from an actor suspends only that actor") {
  weft::runtime rt(small_runtime(1));
  auto server = spawn_server(rt);
  weft::scoped_actor me(rt);
  weft::pid report = me.self();
  rt.spawn([server, report](weft::context& self) {
    int sum = 0;
    for (int i = 0; i < 1000; ++i) sum += self.ask(server, get{}, 5s).value_or(0);
    self.send(report, sum);
  });
  CHECK(me.receive<int>() == 42000);
}

TEST_CASE("an asker with messages set aside gets its reply, and the set-aside messages stay, in order") {
  // The reply wait looks only at what arrives after the request (Erlang's
  // receive marker, backend.hpp scan_from): this checks it still sees the
  // reply, takes nothing else, and that messages arriving during the wait
  // are set aside behind the older ones.
  weft::runtime rt(small_runtime());
  auto server = spawn_server(rt);
  weft::scoped_actor me(rt);
  struct go {};
  weft::pid asker = rt.spawn([server, report = me.self()](weft::context& self) {
    self.receive<go>();  // the backlog (ints) is set aside
    int sum = 0;
    for (int i = 0; i < 100; ++i) sum += self.ask(server, get{}, 5s).value_or(0);
    self.send(report, sum);
    for (int i = 0; i < 300; ++i) {
      if (self.receive<int>() != i) {
        self.send(report, -1);
        return;
      }
    }
    self.send(report, 1);
  });
  for (int i = 0; i < 200; ++i) me.send(asker, i);
  me.send(asker, go{});
  for (int i = 200; i < 300; ++i) me.send(asker, i);  // some arrive during the asks
  CHECK(me.receive<int>() == 4200);
  CHECK(me.receive<int>() == 1);
}

TEST_CASE("ask times out, and the late reply is dropped and counted, never given to a later ask") {
  weft::runtime rt(small_runtime());
  auto server = spawn_server(rt);
  weft::scoped_actor me(rt);
  weft::pid report = me.self();
  struct answers {
    weft::expected<std::string> first;
    weft::expected<int> second;
  };
  rt.spawn([server, report](weft::context& self) {
    auto first = self.ask(server, slow{50ms}, 5ms);
    auto second = self.ask(server, get{}, 5s);
    self.send(report, answers{std::move(first), std::move(second)});
    self.sleep_for(100ms);  // the late "late" reply arrives while we sleep
    self.send(report, 0);
  });
  auto got = me.receive<answers>();
  REQUIRE_FALSE(got.first.has_value());
  CHECK(got.first.error() == weft::ask_errc::timeout);
  REQUIRE(got.second.has_value());
  CHECK(*got.second == 42);
  me.receive<int>();
  CHECK(eventually([&] { return rt.dead_letters()[weft::dead_letter_cause::late_reply] == 1; }));
}

TEST_CASE("ask reports actor_down when the server dies handling the request") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  auto server = spawn_server(rt);
  auto r = self.ask(server, crash_on_request{}, 5s);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == weft::ask_errc::actor_down);
  REQUIRE(eventually([&] { return rt.live_actors() == 0; }));
  auto again = self.ask(server, get{}, 5s);
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error() == weft::ask_errc::no_actor);
}

TEST_CASE("requests still queued when the server exits are answered actor_down") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  // Erlang style: its receive takes only `slow`, so the asked `get` stays
  // queued (unmatched, not unhandled) until the actor exits.
  weft::pid server = rt.spawn([](weft::context& s) { s.receive([](slow) {}); });
  std::thread asker([&] {
    weft::scoped_actor asking(rt);
    auto r = asking.ask<int>(server, get{}, 10s);
    CHECK_FALSE(r.has_value());
    if (!r) CHECK(r.error() == weft::ask_errc::actor_down);
  });
  CHECK(reached(rt, server, 1));
  self.send(server, slow{});
  asker.join();
}

TEST_CASE("a reply_promise answers later; dropping it answers broken_promise") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  auto server = spawn_server(rt);
  std::thread asker([&] {
    weft::scoped_actor asking(rt);
    auto r = asking.ask(server, defer{}, 10s);
    CHECK(r.has_value());
    if (r) CHECK(*r == 7);
  });
  CHECK(reached(rt, server, 1));
  self.send(server, 7);
  asker.join();
  std::thread asker2([&] {
    weft::scoped_actor asking(rt);
    auto r = asking.ask(server, defer{}, 10s);
    // Not REQUIRE: it would throw on this thread, where nothing catches it.
    CHECK_FALSE(r.has_value());
    if (!r) CHECK(r.error() == weft::ask_errc::broken_promise);
  });
  CHECK(reached(rt, server, 3));
  self.send(server, std::string("drop it"));
  asker2.join();
}

TEST_CASE("ask with the wrong reply type says so") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  // Through the ref this ask would not compile; a pid is checked at run time.
  weft::pid server = spawn_server(rt);
  auto r = self.ask<std::string>(server, get{}, 5s);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == weft::ask_errc::bad_reply_type);
}

TEST_CASE("ask to a reject-policy server whose mailbox is full fails at once") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  weft::pid server = rt.spawn([](weft::context& s) { s.receive([](slow) {}); },
                              {.mailbox_capacity = 1, .overflow = weft::overflow_policy::reject});
  REQUIRE(self.send(server, 1) == weft::send_status::ok);
  auto r = self.ask<int>(server, get{}, 5s);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == weft::ask_errc::rejected);
  self.exit(server, weft::exit_reason::kill());
}
