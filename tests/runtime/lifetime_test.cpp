// A runtime's end while threads it does not own still hold its pids:
// sends from outside are refused once shutdown begins, destruction waits
// for the sends already inside, and a pid that outlives its runtime stays
// safe to use (runtime/src/lifetime.cpp). Run under TSan and ASan.

#include "weft_test.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <random>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using weft_test::small_runtime;

namespace {

using sink_protocol = weft::protocol<void(int)>;

// An actor that counts what it gets and never exits on its own. The count
// is the test's, read after the runtime is gone: the actor only adds to it.
weft::ref<sink_protocol> spawn_sink(weft::runtime& rt, std::shared_ptr<std::atomic<long>> received) {
  return rt.spawn([received](weft::context&) -> weft::behavior_of<sink_protocol> {
    return {[received](int) { received->fetch_add(1, std::memory_order_relaxed); }};
  });
}

}  // namespace

TEST_CASE("sends from a thread the runtime does not own are refused once shutdown begins") {
  weft::runtime rt(small_runtime());
  auto received = std::make_shared<std::atomic<long>>(0);
  const auto sink = spawn_sink(rt, received);
  weft::scoped_actor outside(rt);
  REQUIRE(outside.send(sink, 1) == weft::send_status::ok);
  REQUIRE(weft_test::eventually([&] { return received->load() == 1; }));
  rt.shutdown();
  CHECK(outside.send(sink, 2) == weft::send_status::stopping);
  CHECK(outside.try_send(sink, 3) == weft::send_status::stopping);
  CHECK_FALSE(rt.spawn([](weft::context&) {}));
  CHECK(received->load() == 1);
}

TEST_CASE("a pid and a scoped_actor that outlive their runtime refuse sends and free everything at the end") {
  auto rt = std::make_unique<weft::runtime>(small_runtime());
  auto received = std::make_shared<std::atomic<long>>(0);
  const auto sink = spawn_sink(*rt, received);
  auto outside = std::make_unique<weft::scoped_actor>(*rt);
  REQUIRE(outside->send(sink, 1) == weft::send_status::ok);
  rt.reset();  // the runtime goes first; the pid and the scoped actor stay
  CHECK(outside->send(sink, 2) == weft::send_status::stopping);
  auto asked = outside->ask(sink, 3, 1s);
  REQUIRE_FALSE(asked.has_value());
  CHECK(asked.error() == weft::ask_errc::stopping);
  outside->exit(sink, weft::exit_reason::kill());  // refused, harmless
  outside.reset();  // its exit protocol runs against a torn-down runtime
  // The runtime's memory went with the last cell: ASan's leak check and
  // TSan's race detection are what this case is for.
  CHECK(sink.id() != 0);
}

TEST_CASE("destroying a runtime while foreign threads send in a loop neither races nor loses a refused send's memory") {
  const int rounds = 20 * weft_test::stress_factor();
  for (int round = 0; round < rounds; ++round) {
    auto rt = std::make_unique<weft::runtime>(small_runtime());
    auto received = std::make_shared<std::atomic<long>>(0);
    const auto sink = spawn_sink(*rt, received);
    constexpr int senders = 3;
    std::atomic<int> ready{0};
    std::atomic<bool> runtime_gone{false};
    std::atomic<long> accepted{0};
    std::atomic<long> refused_after_end{0};
    std::atomic<long> wrong{0};
    std::vector<std::thread> threads;
    std::vector<std::unique_ptr<weft::scoped_actor>> selves;
    for (int i = 0; i < senders; ++i) selves.push_back(std::make_unique<weft::scoped_actor>(*rt));
    for (int i = 0; i < senders; ++i) {
      threads.emplace_back([&, i, self = selves[i].get()] {
        std::minstd_rand random(static_cast<unsigned>(round * 31 + i));
        ready.fetch_add(1);
        for (;;) {
          const bool gone = runtime_gone.load(std::memory_order_acquire);
          const weft::send_status s = self->try_send(sink, i);
          if (s == weft::send_status::ok) {
            if (gone) wrong.fetch_add(1);  // accepted by a destroyed runtime
            accepted.fetch_add(1, std::memory_order_relaxed);
          } else if (gone) {
            if (s != weft::send_status::stopping) wrong.fetch_add(1);
            if (refused_after_end.fetch_add(1) > 50) return;
          } else if (s != weft::send_status::stopping && s != weft::send_status::rejected) {
            // Until the end only `rejected` (a full mailbox) is possible;
            // once shutdown began, `stopping`.
            wrong.fetch_add(1);
          }
          if (random() % 8 == 0) std::this_thread::yield();
        }
      });
    }
    REQUIRE(weft_test::eventually([&] { return ready.load() == senders; }));
    // Let some sends in before the end, at a random moment.
    std::minstd_rand random(static_cast<unsigned>(round));
    std::this_thread::sleep_for(std::chrono::microseconds(random() % 2000));
    rt.reset();
    runtime_gone.store(true, std::memory_order_release);
    for (auto& t : threads) t.join();
    selves.clear();
    CHECK(wrong.load() == 0);
    CHECK(refused_after_end.load() > 50);
    CHECK(received->load() <= accepted.load());
  }
}
