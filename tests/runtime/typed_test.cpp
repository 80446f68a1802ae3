// Typed protocols and refs (protocol.hpp), the three ways to write a
// handler-style actor (behavior.hpp, actor.hpp), and the rule that every
// request gets an answer. What must not compile is in tests/compile_fail.

#include "weft_test.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <type_traits>

using namespace std::chrono_literals;
using weft_test::small_runtime;

namespace {

struct get {};
struct add {
  int by = 1;
};
struct reset {};
struct name_of {};

using counter = weft::protocol<int(get), void(add)>;
struct named_counter : weft::protocol<int(get), void(add), std::string(name_of)> {};

weft::behavior_of<counter> counting(weft::context&) {
  auto n = std::make_shared<int>(0);
  return {[n](add a) { *n += a.by; }, [n](get) { return *n; }};
}

struct counter_actor {
  explicit counter_actor(int start) : n(start) {}
  int n;
  weft::behavior_of<named_counter> make_behavior(weft::context&) {
    return {[this](add a) { n += a.by; }, [this](get) { return n; },
            [](name_of) { return std::string("counter_actor"); }};
  }
};

}  // namespace

TEST_CASE("a typed actor's ref sends and asks with the reply type taken from the protocol") {
  weft::runtime rt(small_runtime());
  weft::ref<counter> c = rt.spawn(counting);
  weft::scoped_actor self(rt);
  CHECK(self.send(c, add{2}) == weft::send_status::ok);
  CHECK(self.send(c, add{40}) == weft::send_status::ok);
  auto n = self.ask(c, get{});
  static_assert(std::is_same_v<decltype(n), weft::expected<int>>);
  REQUIRE(n.has_value());
  CHECK(*n == 42);
  // void(add) asked: an acknowledgement once the handler ran.
  auto ack = self.ask(c, add{1});
  static_assert(std::is_same_v<decltype(ack), weft::expected<void>>);
  CHECK(ack.has_value());
  CHECK(self.ask(c, get{}).value() == 43);
}

TEST_CASE("stateful actors get their state by reference, and the context when a handler asks for it") {
  weft::runtime rt(small_runtime());
  auto c = rt.spawn(weft::stateful<counter>(
      10, [](int& n, add a) { n += a.by; },
      [](weft::context& self, int& n, get) {
        CHECK(self.self());
        return n;
      }));
  static_assert(std::is_same_v<decltype(c), weft::ref<counter>>);
  weft::scoped_actor self(rt);
  self.send(c, add{5});
  CHECK(self.ask(c, get{}).value() == 15);
}

TEST_CASE("the initial state of a stateful actor may be made inside the actor") {
  weft::runtime rt(small_runtime());
  auto c = rt.spawn(weft::stateful<counter>([](weft::context& self) { return static_cast<int>(self.self().id()); },
                                            [](int& n, add a) { n += a.by; }, [](int& n, get) { return n; }));
  weft::scoped_actor self(rt);
  CHECK(self.ask(c, get{}).value() == static_cast<int>(c.id()));
}

TEST_CASE("a class-style typed actor is spawned with its constructor arguments and options last") {
  weft::runtime rt(small_runtime());
  auto c = rt.spawn_actor<counter_actor>(7, weft::spawn_options{.name = "counted"});
  static_assert(std::is_same_v<decltype(c), weft::ref<named_counter>>);
  CHECK(rt.whereis("counted") == c);
  weft::scoped_actor self(rt);
  CHECK(self.ask(c, get{}).value() == 7);
  CHECK(self.ask(c, name_of{}).value() == "counter_actor");
  auto plain = rt.spawn_actor<counter_actor>(1);
  CHECK(self.ask(plain, get{}).value() == 1);
}

TEST_CASE("a ref converts to a ref of a protocol it includes and to a pid; a pid converts back only by a checked cast") {
  weft::runtime rt(small_runtime());
  weft::ref<named_counter> wide = rt.spawn_actor<counter_actor>(3);
  weft::ref<counter> narrow = wide;  // every signature of counter is in named_counter
  weft::pid untyped = narrow;
  CHECK(untyped == wide.to_pid());

  auto back = weft::ref_cast<named_counter>(untyped);
  REQUIRE(back.has_value());
  CHECK(*back == wide);
  auto narrow_back = weft::ref_cast<counter>(untyped);
  CHECK(narrow_back.has_value());

  // An actor spawned with the narrower protocol is not a named_counter.
  weft::pid only_counter = rt.spawn(counting);
  auto refused = weft::ref_cast<named_counter>(only_counter);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error() == weft::ask_errc::wrong_protocol);
  // Nor is an untyped actor anything.
  weft::pid erlang = rt.spawn([](weft::context& self) { self.receive([](int) {}); });
  auto untyped_refused = weft::ref_cast<counter>(erlang);
  REQUIRE_FALSE(untyped_refused.has_value());
  CHECK(untyped_refused.error() == weft::ask_errc::wrong_protocol);
  auto empty_refused = weft::ref_cast<counter>(weft::pid());
  REQUIRE_FALSE(empty_refused.has_value());
  CHECK(empty_refused.error() == weft::ask_errc::no_actor);
  weft::scoped_actor self(rt);
  self.send(erlang, 1);
}

TEST_CASE("introspection names a typed actor's protocol and leaves an untyped actor's empty") {
  weft::runtime rt(small_runtime());
  weft::ref<named_counter> typed = rt.spawn_actor<counter_actor>(0);
  weft::pid untyped = rt.spawn([](weft::context&) -> weft::behavior { return {[](int) {}}; });
  const auto typed_info = rt.info(typed);
  REQUIRE(typed_info.has_value());
  CHECK(typed_info->protocol.find("named_counter") != std::string::npos);
  const auto untyped_info = rt.info(untyped);
  REQUIRE(untyped_info.has_value());
  CHECK(untyped_info->protocol.empty());
  CHECK(untyped_info->mailbox_capacity == rt.options().default_mailbox_capacity);
  weft::pid unbounded = rt.spawn([](weft::context&) -> weft::behavior { return {[](int) {}}; },
                                 {.mailbox_capacity = weft::unbounded});
  CHECK(rt.info(unbounded)->mailbox_capacity == weft::unbounded);
}

TEST_CASE("a request no handler takes is answered at once with unhandled and counted as a dead letter") {
  weft::runtime rt(small_runtime());
  weft::pid c = rt.spawn(counting);
  weft::scoped_actor self(rt);
  const auto before = rt.dead_letters()[weft::dead_letter_cause::unhandled];
  const auto started = std::chrono::steady_clock::now();
  // A day-long timeout: only an answer can end this ask.
  auto r = self.ask<int>(c, std::string("not in the protocol"), std::chrono::hours(24));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == weft::ask_errc::unhandled);
  CHECK(r.error().detail().find("std::__cxx11::basic_string") != std::string_view::npos);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::hours(1));
  CHECK(rt.dead_letters()[weft::dead_letter_cause::unhandled] == before + 1);
}

TEST_CASE("a void handler answers a request with success at once unless it took the promise") {
  weft::runtime rt(small_runtime());
  std::atomic<bool> taken{false};
  weft::pid p = rt.spawn(weft::stateful(
      weft::reply_promise(),
      // An int is acknowledged; a string takes the promise, which a double answers.
      [](weft::reply_promise&, int) {},
      [&taken](weft::context& self, weft::reply_promise& later, std::string) {
        later = self.promise();
        taken.store(true);
      },
      [](weft::reply_promise& later, double) { later.deliver(std::string("later")); }));
  weft::scoped_actor self(rt);
  CHECK(self.ask<void>(p, 1, std::chrono::hours(24)).has_value());
  // Asked for a value, a void handler's acknowledgement is a wrong reply,
  // at once, never a timeout.
  auto wrong = self.ask<int>(p, 1, std::chrono::hours(24));
  REQUIRE_FALSE(wrong.has_value());
  CHECK(wrong.error() == weft::ask_errc::bad_reply_type);

  // The std::string request takes the promise; the double message answers it.
  REQUIRE(self.send(p, 0) == weft::send_status::ok);
  std::thread asker([&] {
    weft::scoped_actor other(rt);
    auto r = other.ask<std::string>(p, std::string("?"), 30s);
    CHECK(r.value_or("none") == "later");
  });
  REQUIRE(weft_test::eventually([&] { return taken.load(); }));
  self.send(p, 1.0);
  asker.join();
}

TEST_CASE("a reply promise dropped unanswered tells the asker broken_promise") {
  weft::runtime rt(small_runtime());
  weft::pid p = rt.spawn([](weft::context& self) -> weft::behavior {
    return {[&self](int) {
      weft::reply_promise dropped = self.promise();
      (void)dropped;
    }};
  });
  weft::scoped_actor self(rt);
  auto r = self.ask<int>(p, 1, std::chrono::hours(24));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == weft::ask_errc::broken_promise);
}

TEST_CASE("a handler that returns an error answers the asker with it") {
  weft::runtime rt(small_runtime());
  enum class bank_errc { insufficient_funds = 1 };
  weft::pid p = rt.spawn([](weft::context&) -> weft::behavior {
    return {[](int amount) -> weft::expected<int> {
      if (amount > 10) return weft::error(weft::ask_errc::rejected, "over the limit");
      return amount;
    }};
  });
  weft::scoped_actor self(rt);
  CHECK(self.ask<int>(p, 5).value() == 5);
  auto r = self.ask<int>(p, 50);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == weft::ask_errc::rejected);
  CHECK(r.error().detail() == "over the limit");
  CHECK(fmt::format("{}", r.error()) == "ask rejected: over the limit");
}

TEST_CASE("an Erlang-style receive of a request acknowledges it, and a handler's own reply wins") {
  weft::runtime rt(small_runtime());
  weft::pid p = rt.spawn([](weft::context& self) {
    self.receive([&](int n) { self.reply(n * 2); });
    (void)self.receive<std::string>();
  });
  weft::scoped_actor self(rt);
  CHECK(self.ask<int>(p, 21).value() == 42);
  CHECK(self.ask<void>(p, std::string("x")).has_value());
}

TEST_CASE("a typed actor may also handle down messages, which are outside every protocol") {
  weft::runtime rt(small_runtime());
  std::atomic<int> downs{0};
  weft::pid doomed = rt.spawn([](weft::context& s) { s.receive([](int) {}); });
  auto watcher = rt.spawn(weft::stateful<counter>(
      [doomed](weft::context& self) {
        self.monitor(doomed);
        return 0;
      },
      [](int& n, add a) { n += a.by; }, [](int& n, get) { return n; },
      [&downs](int&, const weft::down_msg& d) {
        CHECK(d.reason.is_normal());
        downs.fetch_add(1);
      }));
  weft::scoped_actor self(rt);
  REQUIRE(self.ask(watcher, get{}).has_value());  // its monitor is in place
  self.send(doomed, 0);
  CHECK(weft_test::eventually([&] { return downs.load() == 1; }));
}
