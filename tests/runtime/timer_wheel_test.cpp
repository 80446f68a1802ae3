// The timing wheel alone (a pure data structure; runtime/src).
#include "timer_wheel.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <vector>

using weft::detail::timer_node;
using weft::detail::timer_wheel;

TEST_CASE("the wheel fires every timer exactly at its tick, across all levels") {
  timer_wheel wheel(1000);
  std::mt19937_64 rng(7);
  std::vector<timer_node> nodes(20000);
  for (auto& n : nodes) {
    // Deadlines from 1 tick to ~2^30 ticks ahead, log-uniform.
    const int bits = static_cast<int>(rng() % 30);
    n.deadline = 1000 + 1 + (rng() & ((std::uint64_t{1} << bits) - 1));
    REQUIRE(wheel.insert(&n));
  }
  std::vector<std::pair<std::uint64_t, std::uint64_t>> fired;  // (deadline, fired at)
  std::uint64_t now = 1000;
  while (wheel.size() > 0) {
    // Advance in uneven steps, sometimes tiny, sometimes huge.
    now += 1 + rng() % (rng() % 4 == 0 ? 5000000 : 50);
    wheel.advance(now, [&](timer_node* n) { fired.emplace_back(n->deadline, wheel.now()); });
  }
  CHECK(fired.size() == nodes.size());
  for (auto& [deadline, at] : fired) {
    CHECK(at >= deadline);
  }
}

TEST_CASE("advancing tick by tick fires each timer on its exact tick") {
  timer_wheel wheel(0);
  std::vector<timer_node> nodes(300);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    nodes[i].deadline = 1 + i * 37;
    wheel.insert(&nodes[i]);
  }
  std::size_t count = 0;
  for (std::uint64_t t = 1; t <= 300 * 37; ++t) {
    wheel.advance(t, [&](timer_node* n) {
      CHECK(n->deadline == t);
      ++count;
    });
  }
  CHECK(count == nodes.size());
}

TEST_CASE("a cancelled timer does not fire and next_expiry never lies late") {
  timer_wheel wheel(0);
  timer_node a, b;
  a.deadline = 100;
  b.deadline = 5000;
  wheel.insert(&a);
  wheel.insert(&b);
  CHECK(wheel.next_expiry() <= 100);
  wheel.cancel(&a);
  CHECK(wheel.size() == 1);
  CHECK(wheel.next_expiry() <= 5000);
  int fired = 0;
  wheel.advance(10000, [&](timer_node* n) {
    CHECK(n == &b);
    ++fired;
  });
  CHECK(fired == 1);
  CHECK(wheel.next_expiry() == UINT64_MAX);
}

TEST_CASE("a deadline already reached is refused by insert") {
  timer_wheel wheel(50);
  timer_node n;
  n.deadline = 50;
  CHECK_FALSE(wheel.insert(&n));
}
