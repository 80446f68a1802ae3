// runtime::trace frees what it holds when it ends (issue 11: each `trace`
// request of the debug shell kept ~155 bytes until shutdown), also when the
// actor is already traced, and reclaiming a tracer is safe while senders
// race to record into it. Here rather than in tests/runtime because the
// shell's `trace` command is how the leak was met; the stress part runs
// under ThreadSanitizer and AddressSanitizer with the rest of the suite.

#include "shell_test.hpp"

// The live-tracer count, a test hook of the runtime's private tracer.
#include "cell.hpp"

#include <weft_test.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

using namespace shell_test;
using namespace std::chrono_literals;

namespace {

struct hop {
  int left;
};

}  // namespace

TEST_CASE("100,000 finished traces leave no tracer alive") {
  weft::runtime rt(weft_test::small_runtime());
  weft::pid quiet = rt.spawn([](weft::context&) -> weft::behavior { return {[](int) {}}; });
  REQUIRE(weft::detail::tracer::live() == 0);
  for (int i = 0; i < 100'000; ++i) {
    CHECK(rt.trace(quiet, 1, 0ms).empty());
    if (weft::detail::tracer::live() != 0) FAIL("trace " << i << " left its tracer alive");
  }
  CHECK(weft::detail::tracer::live() == 0);
}

TEST_CASE("tracing an actor that is already traced returns nothing at once and frees its tracer") {
  weft::runtime rt(weft_test::small_runtime());
  weft::pid quiet = rt.spawn([](weft::context&) -> weft::behavior { return {[](int) {}}; });
  std::atomic<bool> first_done{false};
  std::thread first([&] {
    (void)rt.trace(quiet, 1, 20s);  // ends with the message sent below
    first_done = true;
  });
  REQUIRE(weft_test::eventually([&] { return weft::detail::tracer::live() == 1; }));
  for (int i = 0; i < 1000; ++i)
    CHECK(rt.trace(quiet, 5, 10s).empty());  // would wait 10 s if it were traced
  CHECK(weft::detail::tracer::live() == 1);  // only the first one's
  CHECK_FALSE(first_done);
  weft::scoped_actor self(rt);
  self.send(quiet, 1);
  first.join();
  CHECK(weft::detail::tracer::live() == 0);
}

TEST_CASE("a trace of an actor that exits ends soon after, not at its timeout") {
  weft::runtime rt(weft_test::small_runtime());
  weft::pid doomed = rt.spawn([](weft::context&) -> weft::behavior { return {[](int) {}}; });
  std::atomic<bool> done{false};
  std::thread tracer([&] {
    (void)rt.trace(doomed, 5, 600s);
    done = true;
  });
  REQUIRE(weft_test::eventually([&] { return weft::detail::tracer::live() == 1; }));
  weft::scoped_actor self(rt);
  self.exit(doomed, weft::exit_reason::kill());
  CHECK(weft_test::eventually([&] { return done.load(); }, 30s));
  tracer.join();
  CHECK(weft::detail::tracer::live() == 0);
}

TEST_CASE("traces start and end while senders record into them, and each one's events are its actor's") {
  // Randomized: several senders hammer a ring of actors that forward to
  // each other (so both `in` and `out` are recorded), while two threads
  // trace random actors with small counts and timeouts; a use after free
  // or a race on a tracer shows under AddressSanitizer or ThreadSanitizer.
  weft::runtime rt(weft_test::small_runtime(2));
  constexpr int ring_size = 6;
  std::vector<weft::pid> ring;
  auto next = std::make_shared<std::vector<weft::pid>>(ring_size);
  for (int i = 0; i < ring_size; ++i) {
    ring.push_back(rt.spawn(
        [next, i](weft::context& self) -> weft::behavior {
          return {[next, i, &self](hop h) {
            if (h.left > 0) self.send((*next)[(i + 1) % ring_size], hop{h.left - 1});
          }};
        },
        // Full mailboxes drop rather than block: the ring cannot deadlock,
        // and memory stays bounded however fast the senders are.
        {.mailbox_capacity = 64, .overflow = weft::overflow_policy::drop_newest}));
  }
  for (int i = 0; i < ring_size; ++i)
    (*next)[i] = ring[i];
  std::atomic<bool> stop{false};
  std::vector<std::thread> senders;
  for (int s = 0; s < 3; ++s) {
    senders.emplace_back([&, s] {
      std::mt19937 rng(static_cast<unsigned>(s));
      weft::scoped_actor self(rt);
      while (!stop) {
        self.send(ring[rng() % ring_size], hop{static_cast<int>(rng() % 4)});
        if (rng() % 64 == 0) std::this_thread::yield();
      }
    });
  }
  std::atomic<int> traces{0};
  std::atomic<std::size_t> recorded{0};
  std::atomic<bool> wrong{false};
  std::vector<std::thread> tracers;
  const int per_tracer = 2000 * weft_test::stress_factor();
  for (int t = 0; t < 2; ++t) {
    tracers.emplace_back([&, t] {
      std::mt19937 rng(100u + static_cast<unsigned>(t));
      for (int i = 0; i < per_tracer; ++i) {
        const weft::pid who = ring[rng() % ring_size];
        const std::size_t count = 1 + rng() % 5;
        const auto events = rt.trace(who, count, std::chrono::microseconds(rng() % 2000));
        if (events.size() > count) wrong = true;
        recorded += events.size();
        for (const auto& e : events) {
          const bool in = e.dir == weft::trace_event::direction::in;
          if ((in ? e.to : e.from) != who) wrong = true;
        }
        ++traces;
        if (rng() % 8 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
      }
    });
  }
  for (auto& t : tracers)
    t.join();
  stop = true;
  for (auto& s : senders)
    s.join();
  CHECK(traces == 2 * per_tracer);
  CHECK(recorded > 0);  // the traces did race with senders
  CHECK_FALSE(wrong);
  CHECK(weft::detail::tracer::live() == 0);
}

TEST_CASE("trace requests through the endpoint leave no tracer alive") {
  temp_dir dir;
  weft::runtime rt(weft_test::small_runtime());
  rt.spawn([](weft::context&) -> weft::behavior { return {[](int) {}}; }, {.name = "quiet"});
  weft::shell::endpoint ep(rt, options_in(dir));
  weft::shell::client c(weft::shell::parse_address(ep.socket_path()));
  for (int i = 0; i < 500; ++i) {
    const json r = call(c, {{"cmd", "trace"}, {"target", "quiet"}, {"count", 1}, {"duration_ms", 0}});
    REQUIRE(r["ok"] == true);
  }
  CHECK(weft::detail::tracer::live() == 0);
}
