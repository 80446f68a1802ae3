// 14. pubsub subs=10000 msgs=100 match=0.01 [stalled=0|1 rounds=3]: one
// publisher, one weft::actors::pubsub::broker, subs subscribers whose
// patterns use `*` and `>` and each match a fraction `match` of the
// published subjects. unit: deliveries/s, with p50/p99 of the delivery
// latency (publish call to the subscriber's take).
//
// Subjects and patterns (the same in the CAF and Erlang peers): message i
// is published on bench.k<i mod K>.m<i>, K = round(1 / match); subscriber
// j has key j mod K and, by j mod 3, the pattern bench.k<key>.*,
// bench.k<key>.> or *.k<key>.*, each matching exactly the subjects of its
// key. The payload is the publish time; subscribers keep one latency per
// delivery in their own pre-sized vector, which the driver reads after
// the last one has reported (see broadcast.cpp for the countdown).
// Subscribers stay alive until the measurement is over, so their exits
// (the broker's down_msg handling) are not part of it.
//
// stalled=1 (weft only): the slow-consumer case. One more
// subscriber with the pattern `>` (every subject) stops reading: it
// handles its first wake-up without taking anything, which is how a
// pubsub subscriber pauses (pubsub.hpp), so its buffer fills to its bound
// (stalled_buffer, small enough to overflow within msgs) and drop_oldest
// applies. The run alternates `rounds` unstalled and stalled phases over
// the same broker and subscribers (the stalled one is subscribed for the
// stalled phases only) and reports the stalled phases' rate and
// latencies, the unstalled phases' p99 beside them (unstalled_p99_us),
// p99_ratio = stalled p99 / unstalled p99 (the target: at most 2), the
// stalled subscription's buffered and dropped counts, and VmRSS growth
// over each kind of phase (memory stays bounded: the backlog is the
// subscription's bounded buffer).

#include "harness.hpp"

#if defined(WEFT_BENCH_HAVE_ACTORS_PUBSUB)
#include <weft/actors/pubsub.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>
#endif

namespace weft_bench {

#if defined(WEFT_BENCH_HAVE_ACTORS_PUBSUB)
namespace {

namespace pubsub = weft::actors::pubsub;

struct go {};

// The payload: when publish was called, in steady_clock nanoseconds.
using stamp = std::int64_t;
using subscriber_protocol = pubsub::subscriber_of<stamp>;

// The stalled subscriber's buffer bound: below msgs=100, so the stall
// overflows it within one phase.
constexpr std::size_t stalled_buffer = 32;
constexpr auto phase_patience = std::chrono::seconds(60);

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
}

// Takes its deliveries, records their latencies; when it has `expect` of
// them (one phase), it counts down `unfinished` and starts over.
class subscriber final {
 public:
  subscriber(std::int64_t expect, std::vector<std::int64_t>* latencies, std::atomic<std::int64_t>* unfinished,
             weft::pid driver)
      : expect_(expect), latencies_(latencies), unfinished_(unfinished), driver_(std::move(driver)) {}

  weft::behavior_of<subscriber_protocol> make_behavior(weft::context& self) {
    return {
        [this, &self](const pubsub::deliveries<stamp>& wake) {
          for (const pubsub::delivery<stamp>& d : wake.take()) {
            latencies_->push_back(now_ns() - d.payload());
            if (++received_ > expect_) fail("pubsub", "a subscriber got more than its {} deliveries", expect_);
          }
          if (received_ == expect_) {
            received_ = 0;
            // acq_rel: the last subscriber's `finished` follows every
            // other subscriber's latency writes.
            if (unfinished_->fetch_sub(1, std::memory_order_acq_rel) == 1) self.send(driver_, finished{});
          }
        },
        [](const pubsub::lag_evicted& e) { fail("pubsub", "a subscriber was evicted: {}", e.reason); },
    };
  }

 private:
  std::int64_t expect_;
  std::vector<std::int64_t>* latencies_;
  std::atomic<std::int64_t>* unfinished_;
  weft::pid driver_;  // a scoped_actor: untyped
  std::int64_t received_ = 0;
};

// The subscriber that stops reading: it never takes, so after its first
// wake-up the broker only fills its buffer.
weft::behavior_of<subscriber_protocol> stalled_subscriber(weft::context&) {
  return {
      [](const pubsub::deliveries<stamp>&) {},
      [](const pubsub::lag_evicted& e) { fail("pubsub", "the stalled subscriber was evicted: {}", e.reason); },
  };
}

std::string pattern_of(std::int64_t j, std::int64_t key) {
  switch (j % 3) {
    case 0: return fmt::format("bench.k{}.*", key);
    case 1: return fmt::format("bench.k{}.>", key);
    default: return fmt::format("*.k{}.*", key);
  }
}

struct phase_result {
  double seconds = 0;
  double p50_us = 0;
  double p99_us = 0;
  std::int64_t rss_growth_kb = 0;
};

}  // namespace
#endif

void pubsub(weft::runtime& rt, const arguments& args, json_line& out) {
  args.allow({"subs", "msgs", "match", "stalled", "rounds"});
#if defined(WEFT_BENCH_HAVE_ACTORS_PUBSUB)
  const std::int64_t subs = args.get_at_least("subs", 10'000, 1);
  const std::int64_t msgs = args.get_at_least("msgs", 100, 1);
  const double match = args.get_fraction("match", 0.01);
  const bool stalled = args.get("stalled", 0) != 0;
  const std::int64_t rounds = stalled ? args.get_at_least("rounds", 3, 1) : 1;
  const std::int64_t keys = std::max<std::int64_t>(1, std::llround(1.0 / match));
  weft::scoped_actor driver(rt);
  const std::size_t baseline = rt.live_actors();

  pubsub::broker<stamp> broker;
  if (auto started = broker.start(rt); !started) fail("pubsub", "the broker did not start: {}", started.error());

  // Subscribers, each with its expected count per phase.
  std::vector<std::vector<std::int64_t>> latencies(static_cast<std::size_t>(subs));
  std::atomic<std::int64_t> unfinished{0};
  std::vector<weft::pid> subscribers;
  std::int64_t deliveries = 0;
  std::int64_t reporting = 0;  // subscribers with at least one delivery per phase
  for (std::int64_t j = 0; j < subs; ++j) {
    const std::int64_t key = j % keys;
    const std::int64_t expect = key >= msgs ? 0 : (msgs - 1 - key) / keys + 1;
    if (expect == 0) continue;  // never matched: it would only idle
    deliveries += expect;
    ++reporting;
    auto& mine = latencies[static_cast<std::size_t>(j)];
    mine.reserve(static_cast<std::size_t>(expect));
    const auto sub = rt.spawn_actor<subscriber>(expect, &mine, &unfinished, driver.self());
    if (auto s = broker.subscribe(driver, pattern_of(j, key), sub); !s) fail("pubsub", "subscribe: {}", s.error());
    subscribers.push_back(sub);
  }
  if (deliveries == 0) fail("pubsub", "msgs={} and match={} give no deliveries", msgs, match);

  const weft::pid publisher = rt.spawn([msgs, keys, broker](weft::context& self) {
    for (;;) {
      if (!self.receive_for<go>(std::chrono::hours(1))) return;
      for (std::int64_t i = 0; i < msgs; ++i) {
        const auto published = broker.publish(self, fmt::format("bench.k{}.m{}", i % keys, i), now_ns());
        if (!published) fail("pubsub", "publish: {}", published.error());
      }
    }
  });
  rt.wait_quiescent(std::chrono::seconds(10));

  const auto run_phase = [&]() {
    unfinished.store(reporting, std::memory_order_relaxed);
    const std::int64_t rss_before = status_kb("VmRSS");
    const auto t0 = clock_type::now();
    driver.send(publisher, go{});
    if (!driver.receive_for<finished>(phase_patience)) {
      fail("pubsub", "the subscribers did not get their {} deliveries within {} s ({} of {} still waiting): "
           "the broker is blocked or lost deliveries", deliveries, phase_patience.count(),
           unfinished.load(), reporting);
    }
    phase_result r;
    r.seconds = seconds_since(t0);
    r.rss_growth_kb = status_kb("VmRSS") - rss_before;
    std::vector<std::int64_t> all;
    all.reserve(static_cast<std::size_t>(deliveries));
    for (auto& mine : latencies) {
      all.insert(all.end(), mine.begin(), mine.end());
      mine.clear();
    }
    std::sort(all.begin(), all.end());
    r.p50_us = percentile_us(all, 0.50);
    r.p99_us = percentile_us(all, 0.99);
    return r;
  };

  std::vector<phase_result> calm, stalled_phases;
  std::vector<double> queued, dropped;
  for (std::int64_t round = 0; round < rounds; ++round) {
    calm.push_back(run_phase());
    if (!stalled) break;
    const auto staller = rt.spawn(stalled_subscriber);
    pubsub::subscribe_options options;
    options.buffer = stalled_buffer;
    auto subscription = broker.subscribe(driver, ">", staller, options);
    if (!subscription) fail("pubsub", "subscribing the stalled subscriber: {}", subscription.error());
    stalled_phases.push_back(run_phase());
    // Every publish matched some running subscriber, so the broker has
    // routed them all by now; the flush makes sure of it.
    if (auto flushed = broker.flush(driver); !flushed) fail("pubsub", "flush: {}", flushed.error());
    const pubsub::subscriber_stats s = subscription->stats();
    if (s.max_buffered > stalled_buffer) {
      fail("pubsub", "the stalled subscription held {} deliveries, above its bound {}", s.max_buffered,
           stalled_buffer);
    }
    queued.push_back(static_cast<double>(s.buffered));
    dropped.push_back(static_cast<double>(s.dropped_oldest));
    if (auto gone = broker.unsubscribe(driver, subscription->id()); !gone) fail("pubsub", "unsubscribe: {}", gone.error());
    driver.exit(staller, weft::exit_reason::shutdown());
  }

  driver.exit(publisher, weft::exit_reason::shutdown());
  for (const weft::pid& sub : subscribers) driver.exit(sub, weft::exit_reason::shutdown());
  driver.exit(broker.actor(), weft::exit_reason::shutdown());
  subscribers.clear();
  await_baseline(rt, baseline, "pubsub");

  const auto median_of = [](const std::vector<phase_result>& phases, double phase_result::*field) {
    std::vector<double> values;
    for (const phase_result& p : phases) values.push_back(p.*field);
    return median(values);
  };
  const auto median_rss = [](const std::vector<phase_result>& phases) {
    std::vector<double> values;
    for (const phase_result& p : phases) values.push_back(static_cast<double>(p.rss_growth_kb));
    return static_cast<std::int64_t>(median(values));
  };
  const auto& reported = stalled ? stalled_phases : calm;
  add_rate(out, deliveries, median_of(reported, &phase_result::seconds), "deliveries/s");
  out.add("p50_us", median_of(reported, &phase_result::p50_us), 3)
      .add("p99_us", median_of(reported, &phase_result::p99_us), 3);
  if (stalled) {
    const double calm_p99 = median_of(calm, &phase_result::p99_us);
    out.add("unstalled_p99_us", calm_p99, 3)
        .add("p99_ratio", median_of(stalled_phases, &phase_result::p99_us) / calm_p99, 3)
        .add("stalled_queued", static_cast<std::int64_t>(median(queued)))
        .add("stalled_dropped", static_cast<std::int64_t>(median(dropped)))
        .add("rss_growth_kb", median_rss(stalled_phases))
        .add("unstalled_rss_growth_kb", median_rss(calm));
  }
#else
  throw skipped("weft::actors::pubsub (actors/include/weft/actors/pubsub.hpp) is not in this build");
#endif
}

}  // namespace weft_bench
