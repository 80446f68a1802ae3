#include "weft_test.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <vector>

using namespace weft_test;

namespace {
struct work {};
struct stop {};
}  // namespace

TEST_CASE("drain lets actors finish what is queued before stopping them") {
  std::atomic<int> done{0};
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid p = rt.spawn(
      [&done](weft::context&) -> weft::behavior {
        return {[&done](work) {
          std::this_thread::sleep_for(std::chrono::microseconds(50));
          ++done;
        }};
      },
      {.mailbox_capacity = weft::unbounded});
  for (int i = 0; i < 1000; ++i) me.send(p, work{});
  CHECK(rt.shutdown(weft::shutdown_mode::drain, 30s));
  CHECK(done.load() == 1000);
  CHECK(rt.live_actors() == 0);
  CHECK(me.send(p, work{}) == weft::send_status::stopping);
}

TEST_CASE("drain stops children before their parents") {
  std::mutex m;
  std::vector<int> order;
  {
    weft::runtime rt(small_runtime());
    rt.spawn([&](weft::context& self) {
      self.spawn([&](weft::context& child) {
        child.spawn([&](weft::context& grandchild) {
          grandchild.receive([](stop) {});
        });
        child.trap_exit(true);
        child.receive([](const weft::exit_msg&) {});
        std::lock_guard lock(m);
        order.push_back(1);
      });
      self.trap_exit(true);
      self.receive([](const weft::exit_msg&) {});
      std::lock_guard lock(m);
      order.push_back(0);
    });
    REQUIRE(eventually([&] { return rt.live_actors() == 3; }));
    CHECK(rt.shutdown(weft::shutdown_mode::drain, 10s));
  }
  CHECK(order == std::vector<int>{1, 0});
}

TEST_CASE("abort kills everything at once, even actors that trap exits") {
  weft::runtime rt(small_runtime());
  for (int i = 0; i < 100; ++i) {
    rt.spawn([](weft::context& self) {
      for (;;) self.receive([](const weft::exit_msg&) {});
    }, {.trap_exit = true});
  }
  REQUIRE(eventually([&] { return rt.live_actors() == 100; }));
  rt.shutdown(weft::shutdown_mode::abort, 5s);
  CHECK(rt.live_actors() == 0);
}

TEST_CASE("a drain that runs out of time turns into an abort") {
  weft::runtime rt(small_runtime());
  // Traps the shutdown exit and ignores it: only kill stops it.
  rt.spawn([](weft::context& self) {
    for (;;) self.receive([](const weft::exit_msg&) {});
  }, {.trap_exit = true});
  REQUIRE(eventually([&] { return rt.live_actors() == 1; }));
  CHECK_FALSE(rt.shutdown(weft::shutdown_mode::drain, 100ms));
  CHECK(rt.live_actors() == 0);
}

TEST_CASE("shutdown is idempotent and callable from several threads at once") {
  weft::runtime rt(small_runtime());
  for (int i = 0; i < 10; ++i) rt.spawn([](weft::context& self) { self.receive([](stop) {}); });
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&] { rt.shutdown(); });
  for (auto& t : threads) t.join();
  CHECK(rt.shutdown());
  CHECK(rt.live_actors() == 0);
}

TEST_CASE("shutdown requested from inside an actor completes") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid stopper = rt.spawn([](weft::context& self) { self.system().shutdown(); });
  CHECK(eventually([&] { return rt.is_stopping() && rt.live_actors() == 0; }));
  // Completed: the runtime takes nothing more from outside.
  CHECK(me.send(stopper, 0) == weft::send_status::stopping);
}

TEST_CASE("spawning and stopping a million actors leaves nothing behind") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::pid report = me.self();
  const int n = 1000000;
  rt.spawn([report, n](weft::context& self) {
    for (int i = 0; i < n; ++i) {
      // Handler style: a million of them cost a few hundred MB, not a
      // million fiber stacks.
      self.spawn([](weft::context&) -> weft::behavior { return {[](stop) {}}; });
      if (i % 50000 == 49999) self.yield();
    }
    self.send(report, 1);
  });
  me.receive<int>();
  REQUIRE(eventually([&] { return rt.live_actors() == static_cast<std::size_t>(n); }, 120s));
  CHECK(rt.shutdown(weft::shutdown_mode::drain, 120s));
  CHECK(rt.live_actors() == 0);
  // ASan/LSan builds check that every cell, envelope and stack was freed.
}
