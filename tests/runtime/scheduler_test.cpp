#include "weft_test.hpp"

#include <doctest/doctest.h>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>

using namespace weft_test;

namespace {
struct flood {};
struct ping {};
using int_function = weft::protocol<int(int)>;
}  // namespace

TEST_CASE("an idle runtime parks its workers and uses almost no CPU") {
  weft::runtime rt(small_runtime(2));
  weft::scoped_actor me(rt);
  // Some actors waiting, some pending timers far away: still idle.
  for (int i = 0; i < 100; ++i) rt.spawn([](weft::context& self) { self.receive([](ping) {}); });
  me.send_after(std::chrono::hours(1), weft::pid(), 0);
  REQUIRE(rt.wait_quiescent(5s));
  // The workers' own CPU time (weft_test.hpp), not the process's: a
  // sanitizer's background thread is not the runtime.
  int workers = 0;
  const double before = worker_cpu_seconds(&workers);
  CHECK(workers == 2);
  std::this_thread::sleep_for(1s);
  const double used = worker_cpu_seconds() - before;
  MESSAGE("CPU used by an idle runtime's workers over 1 s: " << used << " s");
  CHECK(used < 0.05);
  rt.shutdown(weft::shutdown_mode::abort);
}

TEST_CASE("a flooded actor does not delay another actor's replies on the same worker beyond a bound") {
  weft::runtime rt(small_runtime(1));
  // The bound is counted in the flooded actor's messages, not in time, so
  // a loaded machine cannot make it flaky: while one ask to the neighbour
  // is answered, the flooded actor may handle at most a few budgets.
  std::atomic<long> flood_handled{0};
  weft::pid busy = rt.spawn(
      [&flood_handled](weft::context&) -> weft::behavior {
        return {[&flood_handled](flood) {
          const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(5);
          while (std::chrono::steady_clock::now() < until) {
          }
          flood_handled.fetch_add(1, std::memory_order_relaxed);
        }};
      },
      {.mailbox_capacity = weft::unbounded});
  // The neighbour reports how far the flood had got when it took the ping.
  // Counting from just after our send to that moment leaves this thread's
  // own wake-up latency and preemption out of the figure (the flood keeps
  // running while we are off the CPU), so only the scheduler is measured.
  weft::scoped_actor me(rt);
  weft::pid echo = rt.spawn([&flood_handled](weft::context& self) {
    for (;;) {
      weft::pid from = self.receive<weft::pid>();
      self.send(from, flood_handled.load());
    }
  });
  constexpr long flood_size = 200000;
  for (long i = 0; i < flood_size; ++i) me.send(busy, flood{});
  long worst = 0;
  for (int i = 0; i < 20; ++i) {
    me.send(echo, me.self());
    const long after_send = flood_handled.load();
    auto at_ping = me.receive_for<long>(60s);
    REQUIRE(at_ping.has_value());
    worst = std::max(worst, *at_ping - after_send);
  }
  MESSAGE("most flood messages handled while one reply was pending: " << worst << " of " << flood_size);
  // Without budgets the reply would wait for the whole flood. The bound:
  // the global queue (where a non-worker thread's ask lands) is looked at
  // every 61st pick, and each pick of the busy actor is one budget (64).
  CHECK(worst <= 61 * 64 + 64);
  CHECK(flood_handled.load() < flood_size);  // the flood was still going on
  rt.shutdown(weft::shutdown_mode::abort);
}

TEST_CASE("blocking() runs a call off the workers and resumes the actor with its result") {
  weft::runtime rt(small_runtime(1));
  weft::scoped_actor me(rt);
  weft::pid report = me.self();
  std::atomic<bool> other_ran{false};
  rt.spawn([report](weft::context& self) {
    int v = self.blocking([] {
      std::this_thread::sleep_for(50ms);  // a thread-blocking call
      return 7;
    });
    self.send(report, v);
    try {
      self.blocking([]() -> int { throw std::runtime_error("io failed"); });
    } catch (const std::runtime_error& e) {
      self.send(report, std::string(e.what()));
    }
  });
  // With one worker, this actor runs while the other blocks.
  rt.spawn([&other_ran](weft::context&) { other_ran = true; });
  CHECK(me.receive<int>() == 7);
  CHECK(other_ran.load());
  CHECK(me.receive<std::string>() == "io failed");
}

TEST_CASE("several runtimes live in one process independently") {
  weft::runtime a(small_runtime(1));
  weft::runtime b(small_runtime(2));
  weft::ref<int_function> pa =
      a.spawn([](weft::context&) -> weft::behavior_of<int_function> { return {[](int x) { return x + 1; }}; });
  weft::ref<int_function> pb =
      b.spawn([](weft::context&) -> weft::behavior_of<int_function> { return {[](int x) { return x * 2; }}; });
  // A scoped_actor belongs to one runtime: this thread takes one in each.
  weft::scoped_actor in_a(a);
  weft::scoped_actor in_b(b);
  CHECK(in_a.ask(pa, 1, 5s).value() == 2);
  CHECK(in_b.ask(pb, 3, 5s).value() == 6);
  // An actor of one runtime can talk to an actor of another.
  weft::pid report = in_a.self();
  a.spawn([pb, report](weft::context& self) { self.send(report, self.ask(pb, 21, 5s).value_or(-1)); });
  CHECK(in_a.receive<int>() == 42);
  a.shutdown();
  CHECK(in_b.ask(pb, 4, 5s).value() == 8);
}

TEST_CASE("work spreads to an idle worker by stealing") {
  weft::runtime rt(small_runtime(2));
  weft::scoped_actor me(rt);
  weft::pid report = me.self();
  rt.spawn([report](weft::context& self) {
    for (int i = 0; i < 64; ++i) {
      self.spawn([report](weft::context& s) {
        const auto until = std::chrono::steady_clock::now() + 2ms;
        while (std::chrono::steady_clock::now() < until) {
        }
        s.send(report, 1);
      });
    }
  });
  for (int i = 0; i < 64; ++i) me.receive<int>();
  std::uint64_t steals = 0;
  for (auto& w : rt.stats().workers) steals += w.steals;
  CHECK(steals > 0);
}

TEST_CASE("a handler-style actor waiting between messages holds no fiber") {
  weft::runtime rt(small_runtime(2));
  const int n = 20000;
  for (int i = 0; i < n; ++i) rt.spawn([](weft::context&) -> weft::behavior { return {[](ping) {}}; });
  REQUIRE(rt.wait_quiescent(10s));
  // Only the workers' carrier fibers exist (and a spare each, at most).
  CHECK(rt.stats().fibers_in_use <= 2 * 2);
  rt.spawn([](weft::context& self) { self.receive([](ping) {}); });  // Erlang style: pins one
  REQUIRE(rt.wait_quiescent(10s));
  CHECK(rt.stats().fibers_in_use <= 2 * 2 + 1);
  CHECK(rt.stats().fibers_in_use >= 1);
}
