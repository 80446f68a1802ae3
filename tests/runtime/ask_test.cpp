#include "weft_test.hpp"

#include <doctest/doctest.h>

#include <stdexcept>

using namespace weft_test;

namespace {
struct get {};
struct slow {
  std::chrono::milliseconds delay;
};
struct crash_on_request {};
struct defer {};
weft::pid spawn_server(weft::runtime& rt) {
  return rt.spawn([](weft::context& self) -> weft::behavior {
    auto held = std::make_shared<weft::reply_promise>();
    return {
        [](get) { return 42; },
        [&self](slow s) {
          self.sleep_for(s.delay);
          return std::string("late");
        },
        [](crash_on_request) -> int { throw std::runtime_error("crashed mid-request"); },
        [&self, held](defer) { *held = self.promise(); },
        [held](int x) { held->deliver(x); },
        [held](std::string) { *held = weft::reply_promise(); },
    };
  });
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
  weft::pid server = spawn_server(rt);
  auto r = rt.ask<int>(server, get{}, 5s);
  REQUIRE(r.has_value());
  CHECK(*r == 42);
}

TEST_CASE("ask from an actor suspends only that actor") {
  weft::runtime rt(small_runtime(1));
  weft::pid server = spawn_server(rt);
  weft::scoped_actor me(rt);
  weft::pid report = me.self();
  rt.spawn([server, report](weft::context& self) {
    int sum = 0;
    for (int i = 0; i < 1000; ++i) sum += *self.ask<int>(server, get{}, 5s);
    self.send(report, sum);
  });
  CHECK(me->receive<int>() == 42000);
}

TEST_CASE("ask times out, and the late reply is dropped and counted, never given to a later ask") {
  weft::runtime rt(small_runtime());
  weft::pid server = spawn_server(rt);
  weft::scoped_actor me(rt);
  weft::pid report = me.self();
  rt.spawn([server, report](weft::context& self) {
    auto first = self.ask<std::string>(server, slow{50ms}, 5ms);
    auto second = self.ask<int>(server, get{}, 5s);
    self.send(report, std::make_pair(first.has_value() ? -1 : first.error().code(), *second));
    self.sleep_for(100ms);  // the late "late" reply arrives while we sleep
    self.send(report, 0);
  });
  auto got = me->receive<std::pair<int, int>>();
  CHECK(got.first == static_cast<int>(weft::ask_error::timeout));
  CHECK(got.second == 42);
  me->receive<int>();
  CHECK(eventually([&] { return rt.dead_letters()[weft::dead_letter_cause::late_reply] == 1; }));
}

TEST_CASE("ask reports actor_down when the server dies handling the request") {
  weft::runtime rt(small_runtime());
  weft::pid server = spawn_server(rt);
  auto r = rt.ask<int>(server, crash_on_request{}, 5s);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == weft::ask_error::actor_down);
  REQUIRE(eventually([&] { return rt.live_actors() == 0; }));
  auto again = rt.ask<int>(server, get{}, 5s);
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error() == weft::ask_error::no_actor);
}

TEST_CASE("requests still queued when the server exits are answered actor_down") {
  weft::runtime rt(small_runtime());
  weft::pid server = rt.spawn([](weft::context& self) { self.receive([](slow) {}); });
  std::thread asker([&] {
    auto r = rt.ask<int>(server, get{}, 10s);
    CHECK_FALSE(r.has_value());
    CHECK(r.error() == weft::ask_error::actor_down);
  });
  CHECK(reached(rt, server, 1));
  rt.send(server, slow{});
  asker.join();
}

TEST_CASE("a reply_promise answers later; dropping it answers broken_promise") {
  weft::runtime rt(small_runtime());
  weft::pid server = spawn_server(rt);
  std::thread asker([&] {
    auto r = rt.ask<int>(server, defer{}, 10s);
    CHECK(r.has_value());
    if (r) CHECK(*r == 7);
  });
  CHECK(reached(rt, server, 1));
  rt.send(server, 7);
  asker.join();
  std::thread asker2([&] {
    auto r = rt.ask<int>(server, defer{}, 10s);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == weft::ask_error::broken_promise);
  });
  CHECK(reached(rt, server, 3));
  rt.send(server, std::string("drop it"));
  asker2.join();
}

TEST_CASE("ask with the wrong reply type says so") {
  weft::runtime rt(small_runtime());
  weft::pid server = spawn_server(rt);
  auto r = rt.ask<std::string>(server, get{}, 5s);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == weft::ask_error::bad_reply_type);
}

TEST_CASE("ask to a reject-policy server whose mailbox is full fails at once") {
  weft::runtime rt(small_runtime());
  weft::pid server = rt.spawn([](weft::context& self) { self.receive([](slow) {}); },
                              {.mailbox_capacity = 1, .overflow = weft::overflow_policy::reject});
  rt.send(server, 1);
  auto r = rt.ask<int>(server, get{}, 5s);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == weft::ask_error::rejected);
  rt.exit(server, weft::exit_reason::kill());
}
