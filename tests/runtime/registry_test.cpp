#include "weft_test.hpp"

#include <doctest/doctest.h>

#include <stdexcept>

using namespace weft_test;

namespace {
struct stop {};
}

TEST_CASE("a registered name finds its actor and is released when the actor dies") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid p = rt.spawn([](weft::context& self) { self.receive([](stop) {}); });
  CHECK(rt.register_name("rooms", p));
  CHECK(rt.whereis("rooms") == p);
  CHECK(rt.registered_names() == std::vector<std::string>{"rooms"});
  me.send(p, stop{});
  CHECK(eventually([&] { return !rt.whereis("rooms"); }));
  weft::pid q = rt.spawn([](weft::context& self) { self.receive([](stop) {}); });
  CHECK(rt.register_name("rooms", q));
  me.send(q, stop{});
}

TEST_CASE("registering a taken name fails and keeps the first owner") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid a = rt.spawn([](weft::context& self) { self.receive([](stop) {}); });
  weft::pid b = rt.spawn([](weft::context& self) { self.receive([](stop) {}); });
  CHECK(rt.register_name("db", a));
  CHECK_FALSE(rt.register_name("db", b));
  CHECK(rt.whereis("db") == a);
  CHECK(rt.unregister_name("db"));
  CHECK_FALSE(rt.unregister_name("db"));
  CHECK(rt.register_name("db", b));
  me.send(a, stop{});
  me.send(b, stop{});
}

TEST_CASE("spawning with a taken name throws and starts nothing") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid a = rt.spawn([](weft::context& self) { self.receive([](stop) {}); }, {.name = "solo"});
  CHECK(rt.whereis("solo") == a);
  CHECK_THROWS_AS(rt.spawn([](weft::context&) {}, {.name = "solo"}), std::invalid_argument);
  CHECK(rt.live_actors() == 1);
  me.send(a, stop{});
}

TEST_CASE("a dead actor cannot register a name") {
  weft::runtime rt(small_runtime());
  weft::pid p = rt.spawn([](weft::context&) {});
  REQUIRE(eventually([&] { return rt.live_actors() == 0; }));
  CHECK_FALSE(rt.register_name("ghost", p));
  CHECK_FALSE(rt.whereis("ghost"));
}
