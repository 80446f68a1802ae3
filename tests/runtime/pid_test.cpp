#include "weft_test.hpp"

#include <doctest/doctest.h>

#include <unordered_set>

using namespace weft_test;

TEST_CASE("a pid is a small copyable handle that compares by identity") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid a = rt.spawn([](weft::context& self) { self.receive([](int) {}); });
  weft::pid b = rt.spawn([](weft::context& self) { self.receive([](int) {}); });
  weft::pid a2 = a;
  CHECK(sizeof(weft::pid) == sizeof(void*));
  CHECK(a == a2);
  CHECK_FALSE(a == b);
  CHECK(a.id() != b.id());
  CHECK(a.to_string() == "<0." + std::to_string(a.id()) + ".0>");
  std::unordered_set<weft::pid> set{a, a2, b};
  CHECK(set.size() == 2);
  me.send(a, 1);
  me.send(b, 1);
}

TEST_CASE("a pid of a dead actor stays dead even after many newer actors exist") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid dead = rt.spawn([](weft::context&) {});
  REQUIRE(eventually([&] { return rt.live_actors() == 0; }));
  for (int i = 0; i < 1000; ++i) rt.spawn([](weft::context&) {});
  REQUIRE(eventually([&] { return rt.live_actors() == 0; }));
  const auto before = rt.dead_letters()[weft::dead_letter_cause::dead_actor];
  CHECK(me.send(dead, 42) == weft::send_status::dead);
  CHECK(rt.dead_letters()[weft::dead_letter_cause::dead_actor] == before + 1);
  CHECK(me.send(weft::pid(), 42) == weft::send_status::dead);
}
