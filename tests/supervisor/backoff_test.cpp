// Restart with backoff on a real supervisor: the delays follow the curve,
// the child is not restarted before its delay, and messages to its name
// meanwhile are dead letters.

#include "sup_test.hpp"

#include <mutex>

using namespace sup_test;

namespace {

struct start_log {
  std::mutex mutex;
  std::vector<std::chrono::steady_clock::time_point> starts;
  std::size_t size() {
    std::lock_guard lock(mutex);
    return starts.size();
  }
};

std::vector<std::int64_t> scheduled_delays_us(weft::runtime& rt) {
  std::vector<std::int64_t> out;
  for (auto& e : events_of(rt, sup::event_kind::backoff_scheduled)) {
    auto at = e.text.find("restarts in ");
    out.push_back(std::stoll(e.text.substr(at + 12)));
  }
  return out;
}

}  // namespace

TEST_CASE("backoff delays follow the configured curve and a restart never comes early") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto log = std::make_shared<start_log>();
  // Crashes right after every start; the test drives the crashes.
  auto body = [log](weft::context& self) -> weft::behavior {
    {
      std::lock_guard lock(log->mutex);
      log->starts.push_back(std::chrono::steady_clock::now());
    }
    return {[&self](ping) { return self.self().id(); }, [](crash) { throw std::runtime_error("crash"); }};
  };
  sup::backoff_policy policy{.min_delay = 20ms, .max_delay = 80ms, .jitter = 0.5, .reset_after = 1h};
  auto s = sup::start(rt, {.id = "s",
                           .max_restarts = 100,
                           .children = {sup::worker("x", body, {.name = "x", .backoff = policy})},
                           .random = [] { return 0.5; }});  // jitter factor exactly 1.25
  REQUIRE(s);
  std::vector<std::chrono::steady_clock::time_point> crashed_at;
  for (int i = 0; i < 5; ++i) {
    REQUIRE(weft_test::eventually([&] { return log->size() == static_cast<std::size_t>(i + 1); }));
    weft::pid x;
    REQUIRE(weft_test::eventually([&] { return static_cast<bool>(x = rt.whereis("x")); }));
    crashed_at.push_back(std::chrono::steady_clock::now());
    self.send(x, crash{});
  }
  REQUIRE(weft_test::eventually([&] { return log->size() == 6; }));
  CHECK(scheduled_delays_us(rt) == std::vector<std::int64_t>{25000, 50000, 100000, 100000, 100000});
  const std::vector<std::chrono::milliseconds> expected{25ms, 50ms, 100ms, 100ms, 100ms};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    // The restart comes after the crash by at least the delay (the crash
    // happened after crashed_at[i]); 1 ms of slack for the timer wheel's tick.
    CHECK(log->starts[i + 1] - crashed_at[i] >= expected[i] - 1ms);
  }
  CHECK(children(self, *s)[0].restarts == 5);
}

TEST_CASE("while a child waits out its backoff, its name is free and sends to it are dead letters") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  // A delay far longer than the test, so the waiting state cannot end while
  // the checks run, however slow the machine (the curve test above uses
  // 25 ms, which a sanitizer build on a loaded CI machine can outlast).
  sup::backoff_policy policy{.min_delay = 1h, .max_delay = 1h, .jitter = 0.0, .reset_after = 1h};
  auto s = sup::start(rt, {.id = "s", .children = {worker("x", {.name = "x", .backoff = policy})}});
  REQUIRE(s);
  const auto x = child_pid(self, *s, "x");
  REQUIRE(x);
  REQUIRE(rt.whereis("x") == x);
  self.send(x, crash{});
  // `restarting` means the supervisor has x's exit signal, and an actor
  // sends those only after its mailbox is closed (the exit protocol in
  // runtime/src/actor.cpp). Its name goes even earlier.
  REQUIRE(weft_test::eventually([&] { return children(self, *s)[0].state == sup::child_state::restarting; }));
  // By name: whereis() is empty, the send fails as `dead` (an empty pid is
  // not counted as a dead letter by the runtime). To the pid a client still
  // holds: a counted `dead_actor` dead letter.
  CHECK(!rt.whereis("x"));
  CHECK(self.send(rt.whereis("x"), ping{}) == weft::send_status::dead);
  const auto before = rt.dead_letters()[weft::dead_letter_cause::dead_actor];
  CHECK(self.send(x, ping{}) == weft::send_status::dead);
  CHECK(rt.dead_letters()[weft::dead_letter_cause::dead_actor] == before + 1);
  CHECK(children(self, *s)[0].state == sup::child_state::restarting);
}

TEST_CASE("a child that ran longer than reset_after restarts from min_delay again") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto fake_now = std::make_shared<std::atomic<std::int64_t>>(0);
  sup::backoff_policy policy{.min_delay = 5ms, .max_delay = 1s, .jitter = 0.0, .reset_after = 60s};
  auto s = sup::start(
      rt, {.id = "s", .max_restarts = 100, .children = {worker("x", {.backoff = policy})}, .clock = [fake_now] {
             return std::chrono::steady_clock::time_point{} + std::chrono::seconds(fake_now->load());
           }});
  REQUIRE(s);
  auto crash_once = [&] {
    auto x = child_pid(self, *s, "x");
    REQUIRE(x);
    self.send(x, crash{});
    await_replaced(self, *s, "x", x);
  };
  crash_once();
  crash_once();
  crash_once();
  fake_now->store(61);  // the current incarnation has now run for 61 s
  crash_once();
  CHECK(scheduled_delays_us(rt) == std::vector<std::int64_t>{5000, 10000, 20000, 5000});
}

TEST_CASE("a start that keeps failing under backoff retries on the curve and then gives up") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto attempts = std::make_shared<std::atomic<int>>(0);
  auto flaky = sup::child_spec{.id = "f",
                               .start = [attempts](sup::child_starter& s) -> sup::start_result {
                                 if (attempts->fetch_add(1) == 0) return s.spawn_link(worker_body);
                                 return sup::start_result::error("still down");
                               },
                               .backoff = sup::backoff_policy{.min_delay = 1ms, .max_delay = 4ms, .jitter = 0.0}};
  auto s = sup::start(rt, {.id = "s", .max_restarts = 3, .max_window = 1h, .children = {flaky}});
  REQUIRE(s);
  watcher w(self, *s);
  self.send(child_pid(self, *s, "f"), crash{});
  CHECK(w.wait() == weft::exit_reason::shutdown());
  // 1 restart for the crash + 2 retries fit in max_restarts 3; the 3rd retry is refused.
  CHECK(attempts->load() == 4);
  CHECK(events_of(rt, sup::event_kind::start_failed).size() == 3);
  CHECK(events_of(rt, sup::event_kind::intensity_exceeded).size() == 1);
}

TEST_CASE("backoff runs on the runtime's clock: a one-hour backoff ends when a manual clock passes the hour") {
  weft_test::manual_runtime m;
  auto& clock = m.clock;
  weft::runtime& rt = m.rt;
  weft::scoped_actor self(rt);
  sup::backoff_policy policy{.min_delay = 1h, .max_delay = 4h, .jitter = 0.0, .reset_after = 24h};
  auto s = sup::start(rt, {.id = "s", .children = {worker("x", {.name = "x", .backoff = policy})}});
  REQUIRE(s);
  const auto first = child_pid(self, *s, "x");
  REQUIRE(first);
  const auto timers_before = clock->pending();
  self.send(weft::ref_cast<test_worker>(first).value(), crash{});
  REQUIRE(clock->await_timers(timers_before + 1));  // the supervisor filed the restart
  CHECK(scheduled_delays_us(rt) == std::vector<std::int64_t>{3600LL * 1000 * 1000});
  clock->advance(59min);
  CHECK_FALSE(rt.whereis("x"));  // not before its hour, however much real time passes
  clock->advance(1min);
  weft::pid second;
  REQUIRE(weft_test::eventually([&] { return static_cast<bool>(second = rt.whereis("x")); }));
  CHECK(second != first);
  CHECK(children(self, *s)[0].restarts == 1);
}
