#include "weft_test.hpp"

#include <doctest/doctest.h>

using namespace weft_test;

TEST_CASE("dead letters are counted by cause and a subscriber sees each one") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid subscriber = me.self();
  rt.subscribe_dead_letters(subscriber);
  weft::pid dead = rt.spawn([](weft::context&) {});
  REQUIRE(eventually([&] { return rt.live_actors() == 0; }));
  me.send(dead, 3.5);
  auto letter = me.receive<weft::dead_letter>();
  CHECK(letter.cause == weft::dead_letter_cause::dead_actor);
  CHECK(letter.target == dead);
  CHECK(letter.type_name == "double");
  weft::pid full = rt.spawn([](weft::context& self) { self.receive([](bool) {}); },
                            {.mailbox_capacity = 1, .overflow = weft::overflow_policy::drop_newest});
  REQUIRE(me.send(full, 1) == weft::send_status::ok);
  CHECK(me.send(full, 2) == weft::send_status::dropped);
  auto dropped = me.receive<weft::dead_letter>();
  CHECK(dropped.cause == weft::dead_letter_cause::dropped_newest);
  CHECK(dropped.type_name == "int");
  const auto stats = rt.dead_letters();
  CHECK(stats[weft::dead_letter_cause::dead_actor] == 1);
  CHECK(stats[weft::dead_letter_cause::dropped_newest] == 1);
  CHECK(stats.total() == 2);
  me.exit(full, weft::exit_reason::kill());
}
