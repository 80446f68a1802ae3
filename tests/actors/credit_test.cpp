// Credit-based pull (credit.hpp): the producer's and the consumer's
// policies alone, then a producer that sends exactly what was granted, a
// fast producer against a slow consumer (bounded in flight, every item
// exactly once, in order), and the ways a flow ends.

#include "weft_test.hpp"

#include <weft/actors/credit.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <limits>
#include <memory>
#include <random>
#include <stdexcept>
#include <vector>

using namespace weft_test;
using weft::actors::credit_receiver;
using weft::actors::credit_receiver_stats;
using weft::actors::credit_window;
using weft::actors::demand;
using weft::actors::demand_policy;
using weft::actors::flow_end;
using weft::actors::flow_errc;
using weft::actors::flow_item;
using weft::actors::flow_sink;
using weft::actors::flow_source;
using weft::actors::flow_source_stats;
using weft::actors::get_flow_stats;

// -- pure policies --------------------------------------------------------------

TEST_CASE("a credit window gives one credit per item granted and saturates instead of overflowing") {
  credit_window w;
  CHECK_FALSE(w.try_take());
  w.grant(2);
  CHECK(w.try_take());
  CHECK(w.try_take());
  CHECK_FALSE(w.try_take());
  CHECK(w.used() == 2);
  w.grant(std::numeric_limits<std::uint64_t>::max());
  w.grant(5);
  CHECK(w.granted() == std::numeric_limits<std::uint64_t>::max());
  CHECK(w.available() == std::numeric_limits<std::uint64_t>::max() - 2);
}

TEST_CASE("a demand policy grants the window, then a batch per batch processed, and flags an overrun") {
  demand_policy p(4, 2);
  CHECK(p.initial() == 4);
  for (int i = 0; i < 4; ++i) CHECK(p.on_received());
  CHECK_FALSE(p.on_received());  // a fifth item had no credit
  CHECK(p.on_processed() == 0);
  CHECK(p.on_processed() == 2);
  CHECK(p.outstanding() == 2);
  CHECK(p.unprocessed() == 2);
  CHECK(demand_policy(5).batch() == 3);  // half the window, rounded up
  CHECK_THROWS_AS(demand_policy(0), std::invalid_argument);
  CHECK_THROWS_AS(demand_policy(4, 5), std::invalid_argument);
}

TEST_CASE("a demand policy never lets arrived-but-unprocessed plus outstanding exceed the window") {
  std::mt19937 rng(13);
  for (std::uint64_t window : {1, 2, 7, 64}) {
    for (std::uint64_t batch : {std::uint64_t{1}, (window + 1) / 2, window}) {
      demand_policy p(window, batch);
      std::uint64_t credit_at_producer = p.initial();
      for (int step = 0; step < 2000; ++step) {
        if (credit_at_producer > 0 && (rng() % 2 == 0 || p.unprocessed() == 0)) {
          --credit_at_producer;
          REQUIRE(p.on_received());
        } else if (p.unprocessed() > 0) {
          const std::uint64_t g = p.on_processed();
          REQUIRE((g == 0 || g >= batch));
          credit_at_producer += g;
        }
        REQUIRE(credit_at_producer == p.outstanding());
        REQUIRE(p.outstanding() + p.unprocessed() <= window);
      }
    }
  }
}

// -- flows between actors --------------------------------------------------------

namespace {

struct process {
  int n;
};
struct held {};
// A consumer that keeps what arrives and processes only when told.
struct holding_protocol
    : weft::protocol<void(flow_item<int>), void(flow_end), void(process), std::vector<int>(held)> {};

class holding_consumer {
 public:
  explicit holding_consumer(weft::ref<flow_source<int>> source, std::uint64_t window)
      : source_(std::move(source)), rx_(window, 1) {}
  weft::behavior_of<holding_protocol> make_behavior(weft::context& self) {
    REQUIRE(rx_.subscribe(self, source_));
    return {[this](flow_item<int> item) {
              auto v = rx_.accept(std::move(item));
              REQUIRE(v);
              held_.push_back(*v);
            },
            [this](const flow_end& e) { rx_.ended(e); },
            [this, &self](process p) {
              for (int i = 0; i < p.n; ++i) rx_.processed(self);
            },
            [this](held) { return held_; }};
  }

 private:
  weft::ref<flow_source<int>> source_;
  credit_receiver<int> rx_;
  std::vector<int> held_;
};

auto counting_from_zero() {
  return weft::actors::credit_source<int>([i = 0](weft::context&) mutable -> std::optional<int> { return i++; });
}

}  // namespace

TEST_CASE("a producer sends exactly the credit it was granted, then waits until more is granted") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto source = rt.spawn(counting_from_zero());  // an endless, instant producer
  auto consumer = rt.spawn_actor<holding_consumer>(source, std::uint64_t{3});
  (void)me.ask(consumer, held{});  // its setup has subscribed and granted 3
  flow_source_stats s = me.ask(source, get_flow_stats{}).value();
  CHECK(s.granted == 3);
  CHECK(s.sent == 3);
  CHECK(s.credit == 0);
  CHECK(me.ask(consumer, held{}).value() == std::vector<int>{0, 1, 2});
  // The consumer processes two: two more credits, two more items, no more.
  REQUIRE(me.ask(consumer, process{2}));
  s = me.ask(source, get_flow_stats{}).value();
  CHECK(s.sent == 5);
  CHECK(s.credit == 0);
  CHECK(me.ask(consumer, held{}).value() == std::vector<int>{0, 1, 2, 3, 4});
}

namespace {

struct counters {
  std::atomic<std::uint64_t> generated{0};
  std::atomic<std::uint64_t> processed{0};
  std::atomic<std::uint64_t> max_in_flight{0};
  std::atomic<std::uint64_t> out_of_order{0};
  std::atomic<std::uint64_t> violations{0};
  std::atomic<std::uint64_t> end_total{0};
  std::atomic<bool> ended{false};
};

struct receiver_stats_query {};
struct consumer_protocol
    : weft::protocol<void(flow_item<int>), void(flow_end), credit_receiver_stats(receiver_stats_query)> {};

class slow_consumer {
 public:
  slow_consumer(weft::ref<flow_source<int>> source, std::uint64_t window, std::shared_ptr<counters> c)
      : source_(std::move(source)), rx_(window), c_(std::move(c)) {}
  weft::behavior_of<consumer_protocol> make_behavior(weft::context& self) {
    REQUIRE(rx_.subscribe(self, source_));
    return {[this, &self](flow_item<int> item) {
              auto v = rx_.accept(std::move(item));
              if (!v) {
                c_->violations.fetch_add(1);
                return;
              }
              if (*v != next_) c_->out_of_order.fetch_add(1);
              next_ = *v + 1;
              slow_work();
              // Counted before the credit goes back: the producer may only
              // see a grant after the item that earned it counts as done.
              c_->processed.fetch_add(1);
              rx_.processed(self);
            },
            [this](const flow_end& e) {
              rx_.ended(e);
              c_->end_total.store(e.total);
              c_->ended.store(true);
            },
            [this](receiver_stats_query) { return rx_.stats(); }};
  }

 private:
  void slow_work() {
    volatile std::uint64_t x = 0;
    for (int i = 0; i < 300; ++i) x = x + static_cast<std::uint64_t>(i) * 7;
  }

  weft::ref<flow_source<int>> source_;
  credit_receiver<int> rx_;
  std::shared_ptr<counters> c_;
  int next_ = 0;
};

}  // namespace

TEST_CASE(
    "a fast producer and a slow consumer: in flight never exceeds the window, every item arrives once, in order") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  const std::uint64_t window = 16;
  const int items = 20000;
  auto c = std::make_shared<counters>();
  auto source = rt.spawn(weft::actors::credit_source<int>([c, i = 0](weft::context&) mutable -> std::optional<int> {
    if (i == items) return std::nullopt;
    // In flight: generated (this one included) and not yet processed.
    const std::uint64_t generated = c->generated.fetch_add(1) + 1;
    const std::uint64_t in_flight = generated - c->processed.load();
    std::uint64_t seen = c->max_in_flight.load();
    while (in_flight > seen && !c->max_in_flight.compare_exchange_weak(seen, in_flight)) {
    }
    return i++;
  }));
  // A mailbox just over the window, refusing when full: an overrun would
  // lose items here, and the sequence check would see the gap.
  auto consumer = rt.spawn_actor<slow_consumer>(
      source, window, c,
      weft::spawn_options{.mailbox_capacity = window + 2, .overflow = weft::overflow_policy::reject});
  REQUIRE(eventually([&] { return c->ended.load(); }));
  CHECK(c->processed.load() == static_cast<std::uint64_t>(items));
  CHECK(c->end_total.load() == static_cast<std::uint64_t>(items));
  CHECK(c->out_of_order.load() == 0);
  CHECK(c->violations.load() == 0);
  CHECK(c->max_in_flight.load() <= window);
  CHECK(c->max_in_flight.load() >= 1);
  MESSAGE("max in flight: " << c->max_in_flight.load() << " of a window of " << window);
  const auto rs = me.ask(consumer, receiver_stats_query{}).value();
  CHECK(rs.received == static_cast<std::uint64_t>(items));
  CHECK(rs.violations == 0);
  CHECK(rs.ended);
  CHECK(rs.granted <= static_cast<std::uint64_t>(items) + window);
  CHECK(rt.dead_letters()[weft::dead_letter_cause::rejected] == 0);
}

namespace {
struct sink_probe : weft::protocol<void(flow_item<int>), void(flow_end), std::vector<flow_end>(held)> {};

// Whether `who` exits (or has): a monitor's down message, within the hang guard.
bool stops(weft::scoped_actor& me, const weft::pid& who) {
  me.monitor(who);
  return me.receive_for<weft::down_msg>(20s).has_value();
}

weft::ref<sink_probe> spawn_end_recorder(weft::runtime& rt) {
  return rt.spawn(weft::stateful<sink_probe>(
      std::vector<flow_end>{}, [](std::vector<flow_end>&, flow_item<int>) {},
      [](std::vector<flow_end>& ends, flow_end e) { ends.push_back(std::move(e)); },
      [](std::vector<flow_end>& ends, held) { return ends; }));
}
}  // namespace

TEST_CASE("a source takes one subscriber, and ends the flow with an error on a demand of 0") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto source = rt.spawn(counting_from_zero());
  auto first = spawn_end_recorder(rt);
  auto second = spawn_end_recorder(rt);
  REQUIRE(me.ask(source, weft::actors::subscribe_flow<int>{first}));
  auto refused = me.ask(source, weft::actors::subscribe_flow<int>{second});
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == flow_errc::protocol_violation);
  CHECK(refused.error().detail().find("already has a subscriber") != std::string_view::npos);
  me.send(source, demand{2});
  me.send(source, demand{0});
  REQUIRE(eventually([&] { return !me.ask(first, held{}).value().empty(); }));
  const auto ends = me.ask(first, held{}).value();
  REQUIRE(ends.size() == 1);
  CHECK(ends[0].total == 2);
  CHECK(ends[0].failure == flow_errc::protocol_violation);
  CHECK(stops(me, source));  // the source stopped
}

TEST_CASE("a finite source ends with flow_end and stops; a cancelled or orphaned source stops") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto finite = rt.spawn(weft::actors::credit_source<int>([i = 0](weft::context&) mutable -> std::optional<int> {
    if (i == 3) return std::nullopt;
    return i++;
  }));
  auto sink = spawn_end_recorder(rt);
  REQUIRE(me.ask(finite, weft::actors::subscribe_flow<int>{sink}));
  me.send(finite, demand{100});
  REQUIRE(eventually([&] { return !me.ask(sink, held{}).value().empty(); }));
  CHECK(me.ask(sink, held{}).value()[0].total == 3);
  CHECK(me.ask(sink, held{}).value()[0].failure.category() == weft::error_category::none);
  CHECK(stops(me, finite));

  auto cancelled = rt.spawn(counting_from_zero());
  REQUIRE(me.ask(cancelled, weft::actors::subscribe_flow<int>{sink}));
  me.send(cancelled, weft::actors::cancel_flow{});
  CHECK(stops(me, cancelled));

  auto orphaned = rt.spawn(counting_from_zero());
  auto doomed = spawn_end_recorder(rt);
  REQUIRE(me.ask(orphaned, weft::actors::subscribe_flow<int>{doomed}));
  me.exit(doomed, weft::exit_reason::kill());
  CHECK(stops(me, orphaned));
}
