#include "weft_test.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

using namespace weft_test;

TEST_CASE("selective receive takes the first match and leaves the rest queued in arrival order") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid parent = me.self();
  weft::pid p = rt.spawn([parent](weft::context& self) {
    // Wait for the string first although ints arrive before it.
    std::string s = self.receive<std::string>();
    std::vector<int> order;
    for (int i = 0; i < 3; ++i) order.push_back(self.receive<int>());
    self.send(parent, s);
    self.send(parent, order);
  });
  me.send(p, 1);
  me.send(p, 2);
  me.send(p, std::string("hello"));
  me.send(p, 3);
  CHECK(me.receive<std::string>() == "hello");
  CHECK(me.receive<std::vector<int>>() == std::vector<int>{1, 2, 3});
}

TEST_CASE("receive with several handlers calls the one whose type arrived first") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid parent = me.self();
  weft::pid p = rt.spawn([parent](weft::context& self) {
    std::string log;
    for (int i = 0; i < 3; ++i) {
      self.receive([&](int x) { log += "i" + std::to_string(x); }, [&](const std::string& s) { log += "s" + s; });
    }
    self.send(parent, log);
  });
  me.send(p, 7);
  me.send(p, std::string("x"));
  me.send(p, 8);
  CHECK(me.receive<std::string>() == "i7sxi8");
}

TEST_CASE("receive with a timeout gives up and returns nothing") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid parent = me.self();
  rt.spawn([parent](weft::context& self) {
    const auto start = std::chrono::steady_clock::now();
    std::optional<int> got = self.receive_for<int>(30ms);
    const auto waited = std::chrono::steady_clock::now() - start;
    self.send(parent, !got.has_value() && waited >= 30ms);
  });
  CHECK(me.receive<bool>());
}

TEST_CASE("receive_if waits for a message that satisfies the predicate") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid parent = me.self();
  weft::pid p = rt.spawn([parent](weft::context& self) {
    auto big = self.receive_if<int>([](int x) { return x > 10; });
    auto small = self.receive<int>();
    self.send(parent, std::make_pair(*big, small));
  });
  me.send(p, 1);
  me.send(p, 50);
  auto got = me.receive<std::pair<int, int>>();
  CHECK(got.first == 50);
  CHECK(got.second == 1);
}

TEST_CASE("move-only messages travel by move") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid parent = me.self();
  weft::pid p = rt.spawn([parent](weft::context& self) {
    auto box = self.receive<std::unique_ptr<int>>();
    self.send(parent, *box + 1);
  });
  me.send(p, std::make_unique<int>(41));
  CHECK(me.receive<int>() == 42);
}

TEST_CASE("per-sender FIFO holds for many senders into one receiver") {
  weft::runtime rt(small_runtime());
  constexpr int senders = 8;
  const int per_sender = 20000 * stress_factor();
  weft::scoped_actor me(rt);
  weft::pid parent = me.self();
  weft::pid sink = rt.spawn([parent, per_sender](weft::context& self) {
    std::vector<int> next(senders, 0);
    bool ordered = true;
    for (int i = 0; i < senders * per_sender; ++i) {
      auto m = self.receive<std::pair<int, int>>();
      ordered = ordered && m.second == next[m.first];
      next[m.first] = m.second + 1;
    }
    self.send(parent, ordered);
  }, {.mailbox_capacity = 64});
  for (int s = 0; s < senders; ++s) {
    rt.spawn([sink, s, per_sender](weft::context& self) {
      for (int i = 0; i < per_sender; ++i) {
        self.send(sink, std::make_pair(s, i));
        if (i % 997 == 0) self.yield();
      }
    });
  }
  CHECK(me.receive<bool>());
}

TEST_CASE("a handler-style actor's handlers can become another behavior") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid p = rt.spawn([](weft::context& self) -> weft::behavior {
    return {[&self](int x) {
      self.become({[x](int y) { return x + y; }});
      return -1;
    }};
  });
  CHECK(me.ask<int>(p, 10, 5s).value() == -1);
  CHECK(me.ask<int>(p, 5, 5s).value() == 15);
  CHECK(me.ask<int>(p, 6, 5s).value() == 16);
}

TEST_CASE("a message no handler takes goes to dead letters as unhandled") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid p = rt.spawn([](weft::context&) -> weft::behavior { return {[](int) {}}; });
  me.send(p, std::string("nobody wants me"));
  me.send(p, 1);
  CHECK(eventually([&] { return rt.dead_letters()[weft::dead_letter_cause::unhandled] == 1; }));
}
