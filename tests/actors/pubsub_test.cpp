// pubsub::broker (pubsub.hpp): the subject index against brute force, one
// shared payload per publish, queue groups, the lag policies with 10,000
// subscribers of which one stops reading, cleanup when subscribers exit.

#include <weft/actors/pubsub.hpp>
#include <weft/supervisor/supervisor.hpp>

#include "weft_test.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

using namespace weft_test;
namespace pubsub = weft::actors::pubsub;
using weft::actors::subject_matches;
using weft::actors::detail::subject_index;

namespace {

// -- random subjects and patterns over a small alphabet (many matches) ----

std::string random_subject(std::mt19937& rng) {
  static const char* tokens[] = {"a", "b", "c", "d"};
  const int n = 1 + static_cast<int>(rng() % 5);
  std::string s;
  for (int i = 0; i < n; ++i) {
    if (i > 0) s += '.';
    s += tokens[rng() % 4];
  }
  return s;
}

std::string random_pattern(std::mt19937& rng) {
  static const char* tokens[] = {"a", "b", "c", "d"};
  const int n = 1 + static_cast<int>(rng() % 5);
  std::string s;
  for (int i = 0; i < n; ++i) {
    if (i > 0) s += '.';
    const unsigned roll = rng() % 10;
    if (i == n - 1 && roll == 0) {
      s += '>';
    } else if (roll < 3) {
      s += '*';
    } else {
      s += tokens[rng() % 4];
    }
  }
  return s;
}

struct indexed {
  std::string pattern;
  std::string group;
  std::uint64_t id;
};

std::vector<std::uint64_t> index_ids(subject_index& index, const std::string& subject) {
  subject_index::matches m;
  index.match(subject, m);
  std::vector<std::uint64_t> ids = m.plain;
  for (auto* g : m.groups)
    ids.insert(ids.end(), g->members.begin(), g->members.end());
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<std::uint64_t> brute_ids(const std::vector<indexed>& all, const std::string& subject) {
  std::vector<std::uint64_t> ids;
  for (const auto& e : all) {
    if (subject_matches(e.pattern, subject)) ids.push_back(e.id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

// A payload that counts its copies.
struct counted {
  explicit counted(int v) : value(v) {}
  counted(const counted& o) : value(o.value) { copies.fetch_add(1); }
  counted(counted&&) noexcept = default;
  counted& operator=(const counted&) = delete;
  int value;
  static inline std::atomic<int> copies{0};
};

// What one test subscriber saw.
struct seen {
  std::atomic<int> taken{0};
  std::atomic<int> wakes{0};
  std::atomic<bool> in_order{true};
  std::atomic<bool> evicted{false};
};

// Takes everything it is woken for, checking the payloads (publish
// numbers) only grow.
auto reading_subscriber(seen* s) {
  return weft::stateful<pubsub::subscriber_of<int>>(
      0,
      [s](int& next, pubsub::deliveries<int> d) {
        s->wakes.fetch_add(1);
        for (const auto& x : d.take()) {
          if (x.payload() < next) s->in_order.store(false);
          next = x.payload() + 1;
          s->taken.fetch_add(1);
        }
      },
      [s](int&, pubsub::lag_evicted) { s->evicted.store(true); });
}

// Never takes: after its first wake-up the broker only fills its buffer.
auto stalled_subscriber(seen* s) {
  return weft::stateful<pubsub::subscriber_of<int>>(
      0, [s](int&, pubsub::deliveries<int>) { s->wakes.fetch_add(1); },
      [s](int&, pubsub::lag_evicted) { s->evicted.store(true); });
}

}  // namespace

TEST_CASE("the lag decision: room buffers, a full buffer applies the policy") {
  using pubsub::lag_action;
  using pubsub::lag_policy;
  CHECK(pubsub::on_delivery(lag_policy::drop_oldest, 0, 1) == lag_action::buffer);
  CHECK(pubsub::on_delivery(lag_policy::disconnect, 3, 4) == lag_action::buffer);
  CHECK(pubsub::on_delivery(lag_policy::drop_oldest, 4, 4) == lag_action::drop_oldest);
  CHECK(pubsub::on_delivery(lag_policy::drop_newest, 4, 4) == lag_action::drop_newest);
  CHECK(pubsub::on_delivery(lag_policy::disconnect, 4, 4) == lag_action::evict);
}

TEST_CASE("the index finds exactly what subject_matches finds, on 100,000 random subjects with churn") {
  std::mt19937 rng(20240613);
  subject_index index;
  std::vector<indexed> all;
  std::uint64_t next_id = 1;
  std::size_t compared = 0;
  std::size_t nonempty = 0;
  for (int round = 0; round < 10; ++round) {
    // Churn: drop about half, add new ones (some in queue groups).
    std::shuffle(all.begin(), all.end(), rng);
    while (all.size() > 60) {
      REQUIRE(index.erase(all.back().pattern, all.back().group, all.back().id));
      all.pop_back();
    }
    while (all.size() < 120) {
      indexed e{random_pattern(rng), rng() % 4 == 0 ? std::string("q") + std::to_string(rng() % 3) : std::string(),
                next_id++};
      index.insert(e.pattern, e.group, e.id);
      all.push_back(std::move(e));
    }
    REQUIRE(index.size() == all.size());
    for (int i = 0; i < 10000; ++i) {
      const std::string subject = random_subject(rng);
      const auto got = index_ids(index, subject);
      const auto want = brute_ids(all, subject);
      if (got != want) {
        FAIL_CHECK("subject " << subject << ": index found " << got.size() << ", brute force " << want.size());
      }
      ++compared;
      if (!want.empty()) ++nonempty;
    }
  }
  CHECK(compared == 100000);
  // The alphabet is small enough that most subjects match something.
  CHECK(nonempty > 50000);
}

TEST_CASE("erasing every subscription leaves the index with only its root") {
  std::mt19937 rng(7);
  subject_index index;
  std::vector<indexed> all;
  for (std::uint64_t id = 1; id <= 500; ++id) {
    indexed e{random_pattern(rng), id % 3 == 0 ? "g" : "", id};
    index.insert(e.pattern, e.group, e.id);
    all.push_back(std::move(e));
  }
  CHECK(index.node_count() > 1);
  CHECK_FALSE(index.erase(all[0].pattern, all[0].group, 9999));  // no such id
  std::shuffle(all.begin(), all.end(), rng);
  for (const auto& e : all)
    REQUIRE(index.erase(e.pattern, e.group, e.id));
  CHECK(index.size() == 0);
  CHECK(index.node_count() == 1);
}

TEST_CASE("one publish reaches every matching subscriber once, all sharing one payload") {
  // What the subscribers write to outlives the runtime (declared first).
  std::atomic<int> got{0};
  std::atomic<const counted*> first{nullptr};
  std::atomic<bool> same_payload{true};
  std::atomic<bool> right_subject{true};
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  pubsub::broker<counted> broker;
  REQUIRE(broker.start(rt));

  const int matching = 50;
  using sub_p = pubsub::subscriber_of<counted>;
  auto subscriber = [&] {
    return weft::stateful<sub_p>(
        0,
        [&](int&, pubsub::deliveries<counted> d) {
          for (const auto& x : d.take()) {
            const counted* expected = nullptr;
            if (!first.compare_exchange_strong(expected, &x.payload()) && expected != &x.payload()) {
              same_payload.store(false);
            }
            if (x.subject() != "orders.eu.created" || x.payload().value != 42) right_subject.store(false);
            got.fetch_add(1);
          }
        },
        [](int&, pubsub::lag_evicted) {});
  };
  const char* patterns[] = {"orders.eu.created", "orders.*.created", "orders.>", ">", "*.eu.*"};
  for (int i = 0; i < matching; ++i) {
    auto s = rt.spawn(subscriber());
    REQUIRE(broker.subscribe(self, patterns[i % 5], s));
  }
  // Subscribers that must not match.
  for (const char* p : {"orders.us.created", "orders.eu", "orders.eu.created.late", "orders.*", "*.*"}) {
    auto s = rt.spawn(subscriber());
    REQUIRE(broker.subscribe(self, p, s));
  }
  counted::copies.store(0);
  REQUIRE(broker.publish(self, "orders.eu.created", counted(42)));
  REQUIRE(broker.flush(self));
  CHECK(eventually([&] { return got.load() == matching; }));
  CHECK(counted::copies.load() == 0);
  CHECK(same_payload.load());
  CHECK(right_subject.load());
  auto stats = broker.stats(self);
  REQUIRE(stats);
  CHECK(stats->published == 1);
  CHECK(stats->delivered == static_cast<std::uint64_t>(matching));
  CHECK(stats->subscriptions == static_cast<std::size_t>(matching + 5));
}

TEST_CASE("a queue group: each message reaches exactly one member, round robin, beside plain subscribers") {
  std::vector<std::unique_ptr<seen>> members;
  seen other_group, plain;
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  pubsub::broker<int> broker;
  REQUIRE(broker.start(rt));
  for (int i = 0; i < 3; ++i) {
    members.push_back(std::make_unique<seen>());
    auto s = rt.spawn(reading_subscriber(members.back().get()));
    REQUIRE(broker.subscribe(self, "jobs.*", s, {.queue_group = "workers", .buffer = 1000}));
  }
  // Another group on another pattern, and a plain subscriber: each its own.
  REQUIRE(broker.subscribe(self, "jobs.>", rt.spawn(reading_subscriber(&other_group)),
                           {.queue_group = "workers", .buffer = 1000}));
  REQUIRE(broker.subscribe(self, "jobs.*", rt.spawn(reading_subscriber(&plain)), {.buffer = 1000}));

  const int n = 300;
  for (int i = 0; i < n; ++i)
    REQUIRE(broker.publish(self, "jobs.render", i));
  REQUIRE(broker.flush(self));
  CHECK(eventually([&] {
    int sum = 0;
    for (auto& m : members)
      sum += m->taken.load();
    return sum == n && plain.taken.load() == n && other_group.taken.load() == n;
  }));
  for (auto& m : members) {
    CHECK(m->taken.load() == n / 3);
    CHECK(m->in_order.load());  // its share, in publish order
  }
  auto stats = broker.stats(self);
  REQUIRE(stats);
  CHECK(stats->delivered == static_cast<std::uint64_t>(3 * n));
}

TEST_CASE("a queue group passes over a member whose buffer is full while another has room") {
  seen stuck, reader;
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  pubsub::broker<int> broker;
  REQUIRE(broker.start(rt));
  auto a = broker.subscribe(self, "q", rt.spawn(stalled_subscriber(&stuck)),
                            {.queue_group = "g", .buffer = 2, .on_lag = pubsub::lag_policy::drop_newest});
  auto b = broker.subscribe(self, "q", rt.spawn(reading_subscriber(&reader)), {.queue_group = "g", .buffer = 1000});
  REQUIRE(a);
  REQUIRE(b);
  const int n = 100;
  for (int i = 0; i < n; ++i)
    REQUIRE(broker.publish(self, "q", i));
  REQUIRE(broker.flush(self));
  // The stuck one takes its turn until it is full (2), then is skipped.
  CHECK(a->stats().buffered == 2);
  CHECK(a->stats().dropped_newest == 0);
  CHECK(eventually([&] { return reader.taken.load() == n - 2; }));
  auto stats = broker.stats(self);
  REQUIRE(stats);
  CHECK(stats->dropped_newest == 0);
}

namespace {

// 10,000 subscribers to one subject; one of them (the last) never takes.
// Everyone else's buffer holds every message, so they must all get all of
// them, in order (`messages` taken, each above the one before: exactly
// 0..messages-1); the stalled one's buffer holds `bound`.
struct lag_run {
  static constexpr int subscribers = 10000;
  static constexpr int messages = 32;
  static constexpr std::size_t bound = 8;
  // A burst of messages x subscribers deliveries: generous under sanitizers.
  static constexpr std::chrono::seconds burst_timeout{120};

  // Declared before the runtime: the subscribers write here until it stops.
  std::unique_ptr<seen[]> seen_by{new seen[subscribers]};
  weft::runtime rt{small_runtime()};
  weft::scoped_actor self{rt};
  pubsub::broker<int> broker;
  pubsub::subscription<int> stalled;

  explicit lag_run(pubsub::lag_policy policy) {
    REQUIRE(broker.start(rt));
    for (int i = 0; i < subscribers - 1; ++i) {
      auto s = rt.spawn(reading_subscriber(&seen_by[i]));
      REQUIRE(broker.subscribe(self, "ticks", s, {.buffer = messages}));
    }
    auto s = rt.spawn(stalled_subscriber(&seen_by[subscribers - 1]));
    auto sub = broker.subscribe(self, "ticks", s, {.buffer = bound, .on_lag = policy});
    REQUIRE(sub);
    stalled = *sub;
    for (int i = 0; i < messages; ++i)
      REQUIRE(broker.publish(self, "ticks", i));
    REQUIRE(broker.flush(self, burst_timeout));
  }

  void check_readers() {
    CHECK(eventually([&] {
      for (int i = 0; i < subscribers - 1; ++i) {
        if (seen_by[i].taken.load() != messages) return false;
      }
      return true;
    }));
    int complete = 0;
    int ordered = 0;
    for (int i = 0; i < subscribers - 1; ++i) {
      complete += seen_by[i].taken.load() == messages ? 1 : 0;
      ordered += seen_by[i].in_order.load() ? 1 : 0;
    }
    CHECK(complete == subscribers - 1);
    CHECK(ordered == subscribers - 1);
  }

  std::vector<int> take_stalled() {
    std::vector<int> out;
    for (const auto& d : stalled.take())
      out.push_back(d.payload());
    return out;
  }
};

std::vector<int> range(int from, int to) {
  std::vector<int> v;
  for (int i = from; i < to; ++i)
    v.push_back(i);
  return v;
}

}  // namespace

TEST_CASE("drop_oldest: 10,000 subscribers, one stalls; the others get everything, it keeps the newest `bound`") {
  lag_run run(pubsub::lag_policy::drop_oldest);
  run.check_readers();
  const auto s = run.stalled.stats();
  CHECK(s.max_buffered == lag_run::bound);
  CHECK(s.buffered == lag_run::bound);
  CHECK(s.dropped_oldest == lag_run::messages - lag_run::bound);
  CHECK(s.dropped_newest == 0);
  CHECK_FALSE(s.evicted);
  CHECK(run.seen_by[lag_run::subscribers - 1].wakes.load() == 1);
  auto b = run.broker.stats(run.self, lag_run::burst_timeout);
  REQUIRE(b);
  CHECK(b->dropped_oldest == lag_run::messages - lag_run::bound);
  CHECK(b->published == static_cast<std::uint64_t>(lag_run::messages));
  CHECK(run.take_stalled() == range(lag_run::messages - static_cast<int>(lag_run::bound), lag_run::messages));
}

TEST_CASE("drop_newest: 10,000 subscribers, one stalls; the others get everything, it keeps the first `bound`") {
  lag_run run(pubsub::lag_policy::drop_newest);
  run.check_readers();
  const auto s = run.stalled.stats();
  CHECK(s.max_buffered == lag_run::bound);
  CHECK(s.dropped_newest == lag_run::messages - lag_run::bound);
  CHECK(s.dropped_oldest == 0);
  auto b = run.broker.stats(run.self, lag_run::burst_timeout);
  REQUIRE(b);
  CHECK(b->dropped_newest == lag_run::messages - lag_run::bound);
  CHECK(run.take_stalled() == range(0, static_cast<int>(lag_run::bound)));
}

TEST_CASE("disconnect: 10,000 subscribers, one stalls; it is evicted and told, the others get everything") {
  lag_run run(pubsub::lag_policy::disconnect);
  run.check_readers();
  const auto s = run.stalled.stats();
  CHECK(s.evicted);
  CHECK(s.max_buffered == lag_run::bound);
  CHECK(eventually([&] { return run.seen_by[lag_run::subscribers - 1].evicted.load(); }));
  auto b = run.broker.stats(run.self, lag_run::burst_timeout);
  REQUIRE(b);
  CHECK(b->evicted == 1);
  CHECK(b->subscriptions == static_cast<std::size_t>(lag_run::subscribers - 1));
  // What it had buffered before the eviction is still its to take.
  CHECK(run.take_stalled() == range(0, static_cast<int>(lag_run::bound)));
  CHECK(run.broker.unsubscribe(run.self, run.stalled.id()).error() == pubsub::errc::not_subscribed);
}

TEST_CASE("a subscriber that exits loses its subscriptions, and the broker its monitor") {
  seen a;
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  pubsub::broker<int> broker;
  REQUIRE(broker.start(rt));
  auto s = rt.spawn(reading_subscriber(&a));
  REQUIRE(broker.subscribe(self, "x.>", s));
  REQUIRE(broker.subscribe(self, "x.*", s));
  auto before = broker.stats(self);
  REQUIRE(before);
  CHECK(before->subscriptions == 2);
  CHECK(before->subscribers == 1);
  self.exit(s, weft::exit_reason::kill());
  CHECK(eventually([&] {
    auto st = broker.stats(self);
    return st && st->subscriptions == 0 && st->subscribers == 0 && st->index_nodes == 1;
  }));
}

TEST_CASE("unsubscribe stops deliveries; unsubscribing twice is an error") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  pubsub::broker<int> broker;
  REQUIRE(broker.start(rt));
  auto sub = broker.subscribe(self, "a", self.self(), {.buffer = 10});
  REQUIRE(sub);
  REQUIRE(broker.publish(self, "a", 1));
  auto woken = self.receive<pubsub::deliveries<int>>();
  CHECK(woken.id() == sub->id());
  REQUIRE(broker.unsubscribe(self, sub->id()));
  REQUIRE(broker.publish(self, "a", 2));
  REQUIRE(broker.flush(self));
  const auto got = woken.take();
  REQUIRE(got.size() == 1);
  CHECK(got[0].payload() == 1);
  CHECK(sub->stats().buffered_total == 1);
  auto again = broker.unsubscribe(self, sub->id());
  REQUIRE_FALSE(again);
  CHECK(again.error() == pubsub::errc::not_subscribed);
}

TEST_CASE("bad input is refused with an error that names it") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  pubsub::broker<int> broker;
  auto not_running = broker.publish(self, "a", 1);
  REQUIRE_FALSE(not_running);
  CHECK(not_running.error() == weft::ask_errc::no_actor);
  REQUIRE(broker.start(rt));
  CHECK(broker.start(rt).error() == pubsub::errc::already_running);
  auto bad_subject = broker.publish(self, "a.*", 1);
  REQUIRE_FALSE(bad_subject);
  CHECK(bad_subject.error() == pubsub::errc::invalid_subject);
  CHECK(bad_subject.error().detail().find("a.*") != std::string_view::npos);
  CHECK(broker.subscribe(self, "a.>.b", self.self()).error() == pubsub::errc::invalid_pattern);
  CHECK(broker.subscribe(self, "a", weft::pid()).error() == pubsub::errc::no_subscriber);
  CHECK(broker.subscribe(self, "a", self.self(), {.buffer = 0}).error() == pubsub::errc::invalid_options);
  CHECK(broker.subscribe(self, "a", self.self(), {.queue_group = "a b"}).error() == pubsub::errc::invalid_options);
  auto stats = broker.stats(self);
  REQUIRE(stats);
  CHECK(stats->subscriptions == 0);
}

TEST_CASE("a wake-up a full mailbox refused is sent again on the clock's retry tick") {
  auto clock = std::make_shared<weft::manual_clock>();
  auto opts = small_runtime();
  opts.clock = clock;
  weft::runtime rt(opts);
  weft::scoped_actor self(rt);
  weft::scoped_actor subscriber(rt,
                                weft::spawn_options{.mailbox_capacity = 1, .overflow = weft::overflow_policy::reject});
  pubsub::broker<int> broker({.wake_retry = std::chrono::seconds(1)});
  REQUIRE(broker.start(rt));
  auto sub = broker.subscribe(self, "a", subscriber.self());
  REQUIRE(sub);
  REQUIRE(self.send(subscriber.self(), std::string("filler")) == weft::send_status::ok);
  REQUIRE(broker.publish(self, "a", 7));
  REQUIRE(broker.flush(self));
  auto refused = broker.stats(self);
  REQUIRE(refused);
  CHECK(refused->wakes_refused == 1);
  CHECK(subscriber.receive<std::string>() == "filler");  // room again
  REQUIRE(clock->await_timers(1));
  clock->advance(std::chrono::seconds(1));
  auto woken = subscriber.receive_for<pubsub::deliveries<int>>(std::chrono::seconds(20));
  REQUIRE(woken.has_value());
  const auto got = woken->take();
  REQUIRE(got.size() == 1);
  CHECK(got[0].payload() == 7);
}

TEST_CASE("a supervised broker is restarted, and the same handle reaches the new one") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  pubsub::broker<int> broker({.name = "ticks-broker"});
  weft::sup::supervisor_spec spec;
  spec.max_restarts = 5;
  spec.children.push_back(broker.child_spec("broker"));
  auto tree = weft::sup::start(rt, spec);
  REQUIRE(tree);
  const weft::pid first = broker.actor();
  REQUIRE(first);
  CHECK(rt.whereis("ticks-broker") == first);
  REQUIRE(broker.subscribe(self, "a", self.self()));
  self.exit(first, weft::exit_reason::kill());
  CHECK(eventually([&] {
    const weft::pid now = broker.actor();
    return now && now != first;
  }));
  // A restart is a new broker: no subscriptions.
  auto stats = broker.stats(self);
  REQUIRE(stats);
  CHECK(stats->subscriptions == 0);
  CHECK(broker.start(rt).error() == pubsub::errc::already_running);
}

TEST_CASE("a broker spawned with start_link serves, and stops with the actor that started it") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor self(rt);
  pubsub::broker<int> broker;
  auto owner = rt.spawn([broker, report = self.self()](weft::context& me) {
    me.send(report, static_cast<bool>(broker.start_link(me)));
    me.receive<int>();
    throw std::runtime_error("the owner fails");
  });
  REQUIRE(self.receive<bool>());
  const weft::pid broker_actor = broker.actor();
  REQUIRE(broker_actor);
  REQUIRE(broker.subscribe(self, "a", self.self()));
  REQUIRE(broker.publish(self, "a", 5));
  auto woken = self.receive<pubsub::deliveries<int>>();
  REQUIRE(woken.take().size() == 1);
  self.monitor(broker_actor);
  self.send(owner, 0);
  auto down = self.receive<weft::down_msg>();
  CHECK(down.who == broker_actor);
  CHECK(down.reason.text() == "the owner fails");
  CHECK_FALSE(broker.actor());
}
