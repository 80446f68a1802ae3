// Pools (pool.hpp): workers started and restarted under a supervisor,
// grown on backlog and shrunk after idleness, with checks on a manual
// clock: no test sleeps to wait for one.

#include "weft_test.hpp"

#include <weft/actors/pool.hpp>

#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace weft_test;
namespace wa = weft::actors;

namespace {

struct job {
  int n = 0;
  bool hold = false;  // wait for a `release` before answering
};
struct crash {};
struct keyed {
  int key = 0;
};
struct release {};

using work = weft::protocol<int(job), void(crash), std::uint64_t(keyed)>;

weft::behavior_of<work> worker(weft::context& self) {
  return {
      [&self](const job& j) {
        if (j.hold) self.receive([](release) {});
        return j.n;
      },
      [](crash) { throw std::runtime_error("crash requested"); },
      [&self](const keyed&) { return self.self().id(); },
  };
}

struct fixture {
  std::shared_ptr<weft::manual_clock> clock = std::make_shared<weft::manual_clock>();
  weft::runtime rt{[this] {
    weft::runtime_options o = small_runtime();
    o.clock = clock;
    return o;
  }()};
};

template <class P>
std::size_t workers_of(weft::scoped_actor& me, const weft::ref<wa::pooled<P>>& p) {
  return me.ask(p, wa::get_routees{}, 10s).value().size();
}

bool all_idle(const std::vector<weft::ref<work>>& ws) {
  for (const auto& w : ws) {
    if (wa::detail::queued_messages(w) != 0) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("the scaling policy grows above the backlog threshold and shrinks after a full idle period") {
  using namespace std::chrono;
  wa::pool_options o;
  o.min_workers = 1;
  o.max_workers = 3;
  o.scale_up_backlog = 2.0;
  o.scale_down_after = seconds(10);
  const steady_clock::time_point t0{};
  std::optional<steady_clock::time_point> idle;
  using wa::detail::pool_decision;
  using wa::detail::pool_step;

  CHECK(pool_decision(o, 1, 2, t0, idle) == pool_step::none);  // 2 per worker: not above
  CHECK(pool_decision(o, 1, 3, t0, idle) == pool_step::grow);
  CHECK(pool_decision(o, 2, 5, t0, idle) == pool_step::grow);
  CHECK(pool_decision(o, 3, 100, t0, idle) == pool_step::none);  // at max
  CHECK_FALSE(idle.has_value());

  CHECK(pool_decision(o, 3, 0, t0, idle) == pool_step::none);  // idle from t0
  CHECK(idle == t0);
  CHECK(pool_decision(o, 3, 0, t0 + seconds(9), idle) == pool_step::none);
  CHECK(pool_decision(o, 3, 0, t0 + seconds(10), idle) == pool_step::shrink);
  CHECK(pool_decision(o, 2, 0, t0 + seconds(15), idle) == pool_step::none);  // the idle clock restarted at 10
  CHECK(pool_decision(o, 2, 1, t0 + seconds(16), idle) == pool_step::none);  // busy: the idle run is broken
  CHECK_FALSE(idle.has_value());
  CHECK(pool_decision(o, 2, 0, t0 + seconds(17), idle) == pool_step::none);
  CHECK(pool_decision(o, 2, 0, t0 + seconds(27), idle) == pool_step::shrink);
  CHECK(pool_decision(o, 1, 0, t0 + seconds(99), idle) == pool_step::none);  // at min
}

TEST_CASE("bad pool options are refused when the pool is defined") {
  wa::pool_options o;
  o.min_workers = 0;
  CHECK_THROWS_AS(wa::pool(worker, o), std::invalid_argument);
  o.min_workers = 4;
  o.max_workers = 2;
  CHECK_THROWS_AS(wa::pool(worker, o), std::invalid_argument);
  o.max_workers = 4;
  o.check_interval = std::chrono::nanoseconds::zero();
  CHECK_THROWS_AS(wa::pool(worker, o), std::invalid_argument);
}

TEST_CASE("a pool starts min_workers workers, and its workers answer requests routed through it") {
  fixture f;
  weft::scoped_actor me(f.rt);
  wa::pool_options o;
  o.min_workers = 3;
  weft::ref<wa::pooled<work>> p = f.rt.spawn(wa::pool(worker, o));
  CHECK(workers_of(me, p) == 3);
  weft::ref<work> as_work = p;
  for (int i = 0; i < 10; ++i) CHECK(me.ask(as_work, job{i}, 10s).value() == i);
}

TEST_CASE("a pool grows by one worker per check while the backlog per worker is above the threshold, up to max") {
  fixture f;
  weft::scoped_actor me(f.rt);
  wa::pool_options o;
  o.min_workers = 1;
  o.max_workers = 2;
  o.scale_up_backlog = 1.0;
  o.check_interval = 1s;
  o.scale_down_after = 3s;
  weft::ref<wa::pooled<work>> p = f.rt.spawn(wa::pool(worker, o));
  REQUIRE(f.clock->await_timers(1));  // the periodic check
  std::vector<weft::ref<work>> first = me.ask(p, wa::get_routees{}, 10s).value();
  REQUIRE(first.size() == 1);

  // One worker, holding, with four more behind: five queued.
  me.send(p, job{0, true});
  for (int i = 1; i <= 4; ++i) me.send(p, job{i});
  REQUIRE(eventually([&] { return wa::detail::queued_messages(first[0]) == 5; }));

  f.clock->advance(1s);
  CHECK(workers_of(me, p) == 2);
  f.clock->advance(1s);  // still 2.5 per worker, but at max
  CHECK(workers_of(me, p) == 2);

  // Drained: three idle checks keep both (3 s from the first), the fourth
  // removes one; min_workers stays.
  me.send(first[0].to_pid(), release{});
  std::vector<weft::ref<work>> both = me.ask(p, wa::get_routees{}, 10s).value();
  REQUIRE(eventually([&] { return all_idle(both); }));
  for (int i = 0; i < 3; ++i) {
    f.clock->advance(1s);
    CHECK(workers_of(me, p) == 2);
  }
  f.clock->advance(1s);
  CHECK(workers_of(me, p) == 1);
  for (int i = 0; i < 10; ++i) f.clock->advance(1s);
  CHECK(workers_of(me, p) == 1);
}

TEST_CASE("a pool keeps every worker while any of them has a backlog, even when others are idle") {
  fixture f;
  weft::scoped_actor me(f.rt);
  wa::pool_options o;
  o.min_workers = 2;
  o.max_workers = 3;
  o.scale_up_backlog = 1.0;
  o.check_interval = 1s;
  o.scale_down_after = 1s;
  weft::ref<wa::pooled<work>> p = f.rt.spawn(wa::pool(worker, o));
  REQUIRE(f.clock->await_timers(1));
  // Three holding jobs round robin over two workers: 2 and 1 queued, 1.5
  // per worker: the check adds a third.
  for (int i = 0; i < 3; ++i) me.send(p, job{i, true});
  std::vector<weft::ref<work>> two = me.ask(p, wa::get_routees{}, 10s).value();
  REQUIRE(eventually([&] { return wa::detail::queued_messages(two[0]) + wa::detail::queued_messages(two[1]) == 3; }));
  f.clock->advance(1s);
  REQUIRE(workers_of(me, p) == 3);
  // Release the first worker's two jobs: it is idle, the second still holds.
  me.send(two[0].to_pid(), release{});
  me.send(two[0].to_pid(), release{});
  REQUIRE(eventually([&] { return wa::detail::queued_messages(two[0]) == 0; }));
  // Backlog 1 over 3 workers: no growth, and not idle: nobody goes.
  for (int i = 0; i < 5; ++i) f.clock->advance(1s);
  std::vector<weft::ref<work>> now = me.ask(p, wa::get_routees{}, 10s).value();
  CHECK(now.size() == 3);
  CHECK(std::find(now.begin(), now.end(), two[1]) != now.end());
  me.send(two[1].to_pid(), release{});
}

TEST_CASE("a worker that crashes is restarted by the pool's supervisor and rejoins the routees") {
  fixture f;
  weft::scoped_actor me(f.rt);
  wa::pool_options o;
  o.min_workers = 2;
  weft::ref<wa::pooled<work>> p = f.rt.spawn(wa::pool(worker, o));
  std::vector<weft::ref<work>> before = me.ask(p, wa::get_routees{}, 10s).value();
  REQUIRE(before.size() == 2);
  me.send(before[0], crash{});
  std::vector<weft::ref<work>> after;
  REQUIRE(eventually([&] {
    after = me.ask(p, wa::get_routees{}, 10s).value();
    return after.size() == 2 && std::find(after.begin(), after.end(), before[0]) == after.end();
  }));
  CHECK(std::find(after.begin(), after.end(), before[1]) != after.end());
  for (int i = 0; i < 4; ++i) CHECK(me.ask(p, job{i}, 10s).value() == i);
}

TEST_CASE("in a consistent-hashing pool a restarted worker takes back exactly the keys of the one it replaces") {
  fixture f;
  weft::scoped_actor me(f.rt);
  wa::pool_options o;
  o.min_workers = 4;
  weft::ref<wa::pooled<work>> p =
      f.rt.spawn(wa::pool(worker, o, wa::consistent_hashing([](const auto& m) -> int {
                            if constexpr (requires { m.key; }) {
                              return m.key;
                            } else {
                              return 0;
                            }
                          })));
  auto owners = [&] {
    std::vector<std::uint64_t> out;
    for (int k = 0; k < 500; ++k) out.push_back(me.ask(p, keyed{k}, 10s).value());
    return out;
  };
  std::vector<weft::ref<work>> ws = me.ask(p, wa::get_routees{}, 10s).value();
  const std::vector<std::uint64_t> before = owners();
  const std::uint64_t victim = ws[1].id();
  me.send(ws[1], crash{});
  REQUIRE(eventually([&] {
    auto now = me.ask(p, wa::get_routees{}, 10s).value();
    return now.size() == 4 && std::find(now.begin(), now.end(), ws[1]) == now.end();
  }));
  const std::vector<std::uint64_t> after = owners();
  std::uint64_t replacement = 0;
  int victim_keys = 0;
  for (std::size_t k = 0; k < before.size(); ++k) {
    if (before[k] != victim) {
      CHECK(after[k] == before[k]);
      continue;
    }
    ++victim_keys;
    if (replacement == 0) replacement = after[k];
    CHECK(after[k] == replacement);
  }
  CHECK(victim_keys > 0);
  CHECK(replacement != victim);
}
