// The backoff buffer (backoff_buffer.hpp): messages for a child that is
// down or restarting are held and delivered in order once it has started,
// also when it fails again while starting (akka/akka-core#31814). Backoff
// delays run on a manual clock: no test sleeps.

#include "weft_test.hpp"

#include <weft/actors/backoff_buffer.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <vector>

using namespace weft_test;
namespace wa = weft::actors;

namespace {

struct item {
  int n = 0;
};
struct crash {};
struct query {
  int n = 0;
};
struct handled {
  int n;
};

using sink = weft::protocol<void(item), void(crash), int(query)>;

// What the test controls and observes across the child's incarnations.
struct child_control {
  std::atomic<int> fail_next_inits{0};
  std::atomic<int> inits{0};
};

auto child(std::shared_ptr<child_control> control, weft::pid report) {
  return [control, report](weft::context& self) -> weft::behavior_of<sink> {
    control->inits.fetch_add(1);
    if (control->fail_next_inits.load() > 0) {
      control->fail_next_inits.fetch_sub(1);
      throw std::runtime_error("cannot connect yet");
    }
    return {
        [&self, report](const item& m) { self.send(report, handled{m.n}); },
        [](crash) { throw std::runtime_error("crash requested"); },
        [](const query& q) { return q.n * 10; },
    };
  };
}

struct fixture {
  std::shared_ptr<weft::manual_clock> clock = std::make_shared<weft::manual_clock>();
  weft::runtime rt{[this] {
    weft::runtime_options o = small_runtime();
    o.clock = clock;
    return o;
  }()};
  std::shared_ptr<child_control> control = std::make_shared<child_control>();

  static wa::backoff_buffer_options options(std::size_t capacity = 100) {
    wa::backoff_buffer_options o;
    o.backoff.min_delay = 100ms;
    o.backoff.max_delay = 10s;
    o.backoff.jitter = 0;
    o.buffer_capacity = capacity;
    return o;
  }
};

}  // namespace

TEST_CASE("messages sent during backoff survive a child that fails in its init once more, and arrive in order") {
  fixture f;
  weft::scoped_actor me(f.rt);
  weft::ref<wa::backoff_buffered<sink>> buffer =
      f.rt.spawn(wa::backoff_buffer(child(f.control, me.self()), f.options()));
  me.send(buffer, item{1});
  CHECK(me.receive<handled>().n == 1);

  me.send(buffer, crash{});
  REQUIRE(f.clock->await_timers(1));  // the child is down: the buffer waits out 100 ms
  CHECK_FALSE(me.ask(buffer, wa::get_child{}, 10s).value());
  f.control->fail_next_inits = 1;
  for (int i = 2; i <= 5; ++i) me.send(buffer, item{i});

  f.clock->advance(100ms);  // restart: the new child throws in its init
  REQUIRE(eventually([&] { return f.control->inits.load() == 2; }));
  REQUIRE(f.clock->await_timers(1));  // and the next delay, 200 ms, is filed
  CHECK(f.clock->next_due() - f.clock->now() == 200ms);
  for (int i = 6; i <= 7; ++i) me.send(buffer, item{i});
  CHECK_FALSE(me.receive_for<handled>(20ms).has_value());  // nothing reached a child meanwhile

  f.clock->advance(200ms);  // this start succeeds
  std::vector<int> got;
  for (int i = 0; i < 6; ++i) got.push_back(me.receive<handled>().n);
  CHECK(got == std::vector<int>{2, 3, 4, 5, 6, 7});
  CHECK(f.control->inits.load() == 3);
  CHECK(me.ask(buffer, wa::get_child{}, 10s).value());
  me.send(buffer, item{8});
  CHECK(me.receive<handled>().n == 8);
}

TEST_CASE("a child that fails in its very first init loses nothing sent to it before it started") {
  fixture f;
  weft::scoped_actor me(f.rt);
  f.control->fail_next_inits = 2;
  weft::ref<wa::backoff_buffered<sink>> buffer =
      f.rt.spawn(wa::backoff_buffer(child(f.control, me.self()), f.options()));
  for (int i = 1; i <= 3; ++i) me.send(buffer, item{i});
  REQUIRE(f.clock->await_timers(1));
  f.clock->advance_to_next();  // second init fails too
  REQUIRE(eventually([&] { return f.control->inits.load() == 2; }));
  REQUIRE(f.clock->await_timers(1));
  f.clock->advance_to_next();
  for (int i = 1; i <= 3; ++i) CHECK(me.receive<handled>().n == i);
}

TEST_CASE("a request asked while the child is down is answered by the restarted child") {
  fixture f;
  weft::scoped_actor me(f.rt);
  weft::ref<sink> buffer = f.rt.spawn(wa::backoff_buffer(child(f.control, me.self()), f.options()));
  me.send(buffer, crash{});
  REQUIRE(f.clock->await_timers(1));
  weft::pid report = me.self();
  f.rt.spawn([buffer, report](weft::context& self) {
    auto r = self.ask(buffer, query{4}, 10s);
    self.send(report, r.has_value() ? *r : -1);
  });
  CHECK_FALSE(me.receive_for<int>(20ms).has_value());
  f.clock->advance_to_next();
  CHECK(me.receive<int>() == 40);
}

TEST_CASE("past its capacity the buffer refuses: requests get stash_full, plain messages become dead letters") {
  fixture f;
  weft::scoped_actor me(f.rt);
  weft::ref<sink> buffer = f.rt.spawn(wa::backoff_buffer(child(f.control, me.self()), f.options(2)));
  me.send(buffer, crash{});
  REQUIRE(f.clock->await_timers(1));
  const auto dead_before = f.rt.dead_letters().total();
  for (int i = 1; i <= 3; ++i) me.send(buffer, item{i});
  auto refused = me.ask(buffer, query{1}, 10s);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error() == wa::delivery_errc::stash_full);
  CHECK(f.rt.dead_letters().total() == dead_before + 1);
  f.clock->advance_to_next();
  CHECK(me.receive<handled>().n == 1);
  CHECK(me.receive<handled>().n == 2);
  CHECK_FALSE(me.receive_for<handled>(20ms).has_value());
}

TEST_CASE("the backoff grows while the child keeps failing and the buffer outlives every failure") {
  fixture f;
  weft::scoped_actor me(f.rt);
  f.control->fail_next_inits = 1000;
  weft::ref<sink> buffer = f.rt.spawn(wa::backoff_buffer(child(f.control, me.self()), f.options()));
  std::vector<std::chrono::nanoseconds> delays;
  for (int attempt = 0; attempt < 8; ++attempt) {
    REQUIRE(f.clock->await_timers(1));
    delays.push_back(f.clock->next_due() - f.clock->now());
    me.send(buffer, item{attempt});
    f.clock->advance_to_next();
    REQUIRE(eventually([&] { return f.control->inits.load() == attempt + 2; }));
  }
  using ms = std::chrono::milliseconds;
  CHECK(delays == std::vector<std::chrono::nanoseconds>{ms(100), ms(200), ms(400), ms(800), ms(1600), ms(3200),
                                                         ms(6400), ms(10000)});
  f.control->fail_next_inits = 0;
  REQUIRE(f.clock->await_timers(1));
  f.clock->advance_to_next();
  for (int i = 0; i < 8; ++i) CHECK(me.receive<handled>().n == i);
}

TEST_CASE("a child that stops normally stops the buffer with it") {
  fixture f;
  weft::scoped_actor me(f.rt);
  struct done {};
  using stoppable = weft::protocol<void(done)>;
  weft::ref<stoppable> buffer = f.rt.spawn(wa::backoff_buffer([](weft::context& self) -> weft::behavior_of<stoppable> {
    return {[&self](done) { self.exit(); }};
  }));
  me.monitor(buffer);
  me.send(buffer, done{});
  weft::down_msg down = me.receive<weft::down_msg>();
  CHECK(down.reason.is_normal());
}

TEST_CASE("a buffer of capacity 0 is refused when it is defined") {
  fixture f;
  CHECK_THROWS_AS(wa::backoff_buffer(child(f.control, weft::pid()), f.options(0)), std::invalid_argument);
}
