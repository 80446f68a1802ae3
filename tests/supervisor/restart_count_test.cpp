// The restart count that introspection (and the debug shell's `info`)
// shows for a supervised child is set before the restarted child is
// visible, so it never lags behind its pid. Issue #11 saw `restarts 0`
// right after two kills: the supervisor used to set the count after the
// spawn, when the new pid was already registered under the child's name.

#include "sup_test.hpp"

using namespace sup_test;

TEST_CASE("a restarted child is visible by name only with its full restart count") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto s = sup::start(rt, {.id = "s", .max_restarts = 1000, .children = {worker("w", {.name = "w"})}});
  REQUIRE(s);
  const int kills = 200 * weft_test::stress_factor();
  weft::pid current = rt.whereis("w");
  REQUIRE(current);
  for (int n = 1; n <= kills; ++n) {
    self.exit(current, weft::exit_reason::kill());
    weft::pid next;
    // The first sight of the new pid, by name, as a shell's `info w` gets it.
    REQUIRE(weft_test::eventually([&] {
      next = rt.whereis("w");
      return next && next != current;
    }));
    auto info = rt.info(next);
    REQUIRE(info.has_value());
    CHECK(info->restarts == static_cast<std::uint32_t>(n));
    if (info->restarts != static_cast<std::uint32_t>(n)) break;
    current = next;
  }
  auto listed = children(self, *s);
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].restarts == static_cast<std::uint32_t>(kills));
}
