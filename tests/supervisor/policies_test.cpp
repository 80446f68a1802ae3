// The supervisor's pure policies, alone: restart intensity, backoff delay,
// restart decisions.

#include <weft/supervisor/backoff.hpp>
#include <weft/supervisor/child_spec.hpp>
#include <weft/supervisor/restart_intensity.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <limits>

using namespace std::chrono_literals;
using weft::sup::backoff_delay;
using weft::sup::backoff_policy;
using weft::sup::restart_intensity;

namespace {
const auto t0 = std::chrono::steady_clock::time_point{} + 1000s;
}

TEST_CASE("restart intensity allows max_restarts within the window and refuses the next") {
  restart_intensity ri(3, 5s);
  CHECK(ri.add(t0));
  CHECK(ri.add(t0 + 1s));
  CHECK(ri.add(t0 + 2s));
  CHECK_FALSE(ri.add(t0 + 3s));
}

TEST_CASE("restart intensity forgets restarts that left the window") {
  restart_intensity ri(2, 5s);
  CHECK(ri.add(t0));
  CHECK(ri.add(t0 + 1s));
  CHECK(ri.add(t0 + 5s));                // t0 is exactly one window old: out
  CHECK(ri.add(t0 + 6s));                // t0+1s out
  CHECK_FALSE(ri.add(t0 + 6s + 500ms));  // t0+5s, t0+6s and this within 5 s
}

TEST_CASE("restart intensity with max_restarts 0 refuses every restart") {
  restart_intensity ri(0, 1s);
  CHECK_FALSE(ri.add(t0));
}

TEST_CASE("restart intensity with a zero window never refuses") {
  restart_intensity ri(0, 0s);
  for (int i = 0; i < 100; ++i)
    CHECK(ri.add(t0));
}

TEST_CASE("restart intensity agrees with a brute-force count over a long irregular sequence") {
  // Reference: refused exactly when more than max restarts fall in (now - window, now].
  const std::uint32_t max = 7;
  const auto window = 100ms;
  restart_intensity ri(max, window);
  std::vector<std::chrono::steady_clock::time_point> accepted;
  auto t = t0;
  std::uint64_t seed = 42;
  for (int i = 0; i < 5000; ++i) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    t += std::chrono::milliseconds((seed >> 33) % 40);
    accepted.push_back(t);
    std::size_t in_window = 0;
    for (auto& a : accepted)
      in_window += (t - a < window) ? 1 : 0;
    const bool expected = in_window <= max;
    REQUIRE(ri.add(t) == expected);
  }
}

TEST_CASE("backoff delays double from min_delay up to max_delay without jitter") {
  backoff_policy p{.min_delay = 10ms, .max_delay = 100ms, .jitter = 0.0, .reset_after = 1s};
  CHECK(backoff_delay(0, p, 0.5) == 10ms);
  CHECK(backoff_delay(1, p, 0.5) == 20ms);
  CHECK(backoff_delay(2, p, 0.5) == 40ms);
  CHECK(backoff_delay(3, p, 0.5) == 80ms);
  CHECK(backoff_delay(4, p, 0.5) == 100ms);
  CHECK(backoff_delay(1000, p, 0.5) == 100ms);
  CHECK(backoff_delay(std::numeric_limits<std::uint32_t>::max(), p, 0.5) == 100ms);
}

TEST_CASE("backoff jitter stretches a delay by at most the jitter factor") {
  backoff_policy p{.min_delay = 10ms, .max_delay = 100ms, .jitter = 0.5, .reset_after = 1s};
  CHECK(backoff_delay(0, p, 0.0) == 10ms);
  CHECK(backoff_delay(0, p, 0.5) == 12500us);
  CHECK(backoff_delay(2, p, 0.999) > 59ms);
  CHECK(backoff_delay(2, p, 0.999) < 60ms);
  CHECK(backoff_delay(9, p, 1.0) == 150ms);  // the cap applies before jitter (as in Akka)
}

TEST_CASE("a backoff state climbs the curve and restarts from min_delay after a healthy run") {
  backoff_policy p{.min_delay = 10ms, .max_delay = 1s, .jitter = 0.0, .reset_after = 500ms};
  weft::sup::backoff_state s;
  CHECK(s.next_delay(p, 1ms, 0.0) == 10ms);
  CHECK(s.next_delay(p, 1ms, 0.0) == 20ms);
  CHECK(s.next_delay(p, 499ms, 0.0) == 40ms);
  CHECK(s.next_delay(p, 500ms, 0.0) == 10ms);  // ran long enough: healthy
  CHECK(s.next_delay(p, 0ms, 0.0) == 20ms);
}

TEST_CASE("restart types decide on exit reasons as OTP does") {
  using weft::exit_reason;
  using weft::sup::restart_type;
  using weft::sup::should_restart;
  for (auto r : {exit_reason::normal(), exit_reason::shutdown(), exit_reason::killed(), exit_reason::error("x")}) {
    CHECK(should_restart(restart_type::permanent, r));
    CHECK_FALSE(should_restart(restart_type::temporary, r));
  }
  CHECK_FALSE(should_restart(restart_type::transient, exit_reason::normal()));
  CHECK_FALSE(should_restart(restart_type::transient, exit_reason::shutdown()));
  CHECK(should_restart(restart_type::transient, exit_reason::killed()));
  CHECK(should_restart(restart_type::transient, exit_reason::error("boom")));
}
