// Sticky per-key workers (sticky.hpp): one entity per key keeps each
// key's messages in order, idle entities passivate on the runtime clock (a
// manual clock here: no test sleeps), and nothing is lost or reordered
// when messages arrive while a key passivates.

#include "weft_test.hpp"

#include <weft/actors/sticky.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace weft_test;
namespace wa = weft::actors;

namespace {

struct put {
  std::string key;
  int sender = 0;
  int seq = 0;
};
struct whoami {
  std::string key;
};
// What an entity tells the test about each put it handled.
struct seen {
  std::string key;
  int sender;
  int seq;
  std::uint64_t entity;
};
// An entity that traps exits reports the shutdown it ignores.
struct ignored_exit {
  std::string key;
};

using keyed = weft::protocol<void(put), weft::pid(whoami)>;

auto key_of = [](const auto& m) -> std::string { return m.key; };

// Keys starting with "stubborn" trap exits and ignore the passivation's
// shutdown, so the shard has to wait (and finally kill them).
auto entity_factory(weft::pid report) {
  return [report](const std::string& key) {
    return [key, report](weft::context& self) -> weft::behavior_of<keyed> {
      if (key.rfind("stubborn", 0) == 0) self.trap_exit(true);
      return {
          [&self, report](const put& p) { self.send(report, seen{p.key, p.sender, p.seq, self.self().id()}); },
          [&self](const whoami&) { return self.self(); },
          [&self, key, report](const weft::exit_msg&) { self.send(report, ignored_exit{key}); },
      };
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
};

wa::sticky_options options(std::chrono::nanoseconds idle, std::chrono::nanoseconds check) {
  wa::sticky_options o;
  o.idle_timeout = idle;
  o.check_interval = check;
  o.stop_timeout = 5s;
  return o;
}

wa::sticky_stats stats_of(weft::scoped_actor& me, const weft::ref<wa::sticky_protocol<keyed>>& s) {
  return me.ask(s, wa::get_sticky_stats{}, 10s).value();
}

}  // namespace

TEST_CASE("one entity per key handles that key's messages in order, under many keys and many senders") {
  fixture f;
  weft::scoped_actor me(f.rt, weft::spawn_options{.mailbox_capacity = weft::unbounded});
  weft::ref<wa::sticky_protocol<keyed>> s =
      f.rt.spawn(wa::sticky<keyed>(key_of, entity_factory(me.self()), options(std::chrono::hours(1), 1s)));
  const int senders = 8;
  const int keys = 50;
  const int per_key = 20 * stress_factor();
  for (int snd = 0; snd < senders; ++snd) {
    weft::ref<keyed> target = s;
    f.rt.spawn([target, snd, keys, per_key](weft::context& self) {
      for (int seq = 0; seq < per_key; ++seq) {
        for (int k = 0; k < keys; ++k) self.send(target, put{"key-" + std::to_string(k), snd, seq});
      }
    });
  }
  std::map<std::pair<std::string, int>, int> next_seq;
  std::map<std::string, std::set<std::uint64_t>> entities_of;
  int out_of_order = 0;
  for (int i = 0; i < senders * keys * per_key; ++i) {
    seen m = me.receive<seen>();
    int& expected = next_seq[{m.key, m.sender}];
    if (m.seq != expected) ++out_of_order;
    expected = m.seq + 1;
    entities_of[m.key].insert(m.entity);
  }
  CHECK(out_of_order == 0);
  REQUIRE(entities_of.size() == static_cast<std::size_t>(keys));
  std::set<std::uint64_t> all;
  for (const auto& [key, ids] : entities_of) {
    CHECK(ids.size() == 1);  // one entity per key
    all.insert(ids.begin(), ids.end());
  }
  CHECK(all.size() == static_cast<std::size_t>(keys));  // a different one for each key
  wa::sticky_stats st = stats_of(me, s);
  CHECK(st.entities == static_cast<std::size_t>(keys));
  CHECK(st.started == static_cast<std::uint64_t>(keys));
  CHECK(st.passivated == 0);
}

TEST_CASE("an entity idle for the idle timeout passivates, and its key's next message starts a new one") {
  fixture f;
  weft::scoped_actor me(f.rt);
  weft::ref<wa::sticky_protocol<keyed>> s =
      f.rt.spawn(wa::sticky<keyed>(key_of, entity_factory(me.self()), options(10s, 5s)));
  REQUIRE(f.clock->await_timers(1));  // the sweep
  weft::pid a = me.ask(s, whoami{"a"}, 10s).value();
  weft::pid b = me.ask(s, whoami{"b"}, 10s).value();
  me.monitor(a);
  me.monitor(b);

  f.clock->advance(5s);  // both idle 5 s: kept
  CHECK(stats_of(me, s).entities == 2);
  me.send(s, put{"b", 0, 0});
  CHECK(me.receive<seen>().key == "b");

  // An entity with a message still in hand is not idle: let both finish
  // (an answer or report goes out before its handler returns).
  REQUIRE(eventually([&] { return wa::detail::queued_messages(a) + wa::detail::queued_messages(b) == 0; }));
  f.clock->advance(5s);  // a idle 10 s: passivated; b idle 5 s: kept
  weft::down_msg down = me.receive<weft::down_msg>();
  CHECK(down.who == a);
  CHECK(down.reason == weft::exit_reason::shutdown());
  REQUIRE(eventually([&] { return stats_of(me, s).entities == 1; }));

  f.clock->advance(5s);  // b idle 10 s
  CHECK(me.receive<weft::down_msg>().who == b);
  REQUIRE(eventually([&] { return stats_of(me, s).entities == 0; }));

  weft::pid a2 = me.ask(s, whoami{"a"}, 10s).value();
  CHECK(a2 != a);
  wa::sticky_stats st = stats_of(me, s);
  CHECK(st.started == 3);
  CHECK(st.passivated == 2);
}

TEST_CASE("messages arriving while a key passivates are held, then handled in order by its next entity") {
  fixture f;
  weft::scoped_actor me(f.rt);
  weft::ref<wa::sticky_protocol<keyed>> s =
      f.rt.spawn(wa::sticky<keyed>(key_of, entity_factory(me.self()), options(10s, 10s)));
  REQUIRE(f.clock->await_timers(1));
  for (int i = 1; i <= 3; ++i) me.send(s, put{"stubborn", 0, i});
  std::vector<std::pair<int, std::uint64_t>> got;
  for (int i = 0; i < 3; ++i) {
    seen m = me.receive<seen>();
    got.emplace_back(m.seq, m.entity);
  }

  // Passivation starts (once the entity is done with its last message);
  // this entity ignores the shutdown, so the key stays "stopping" until the
  // stop timeout kills it.
  const weft::pid first = me.ask(s, whoami{"stubborn"}, 10s).value();
  REQUIRE(eventually([&] { return wa::detail::queued_messages(first) == 0; }));
  f.clock->advance(10s);
  CHECK(me.receive<ignored_exit>().key == "stubborn");
  for (int i = 4; i <= 6; ++i) me.send(s, put{"stubborn", 0, i});
  weft::pid asker_report = me.self();
  f.rt.spawn([s, asker_report](weft::context& self) {
    weft::ref<keyed> target = s;
    auto who = self.ask(target, whoami{"stubborn"}, 10s);
    self.send(asker_report, who.has_value() ? who->id() : std::uint64_t{0});
  });
  REQUIRE(eventually([&] { return stats_of(me, s).held == 4; }));
  wa::sticky_stats held = stats_of(me, s);
  CHECK(held.stopping == 1);
  CHECK_FALSE(me.receive_for<seen>(20ms).has_value());

  REQUIRE(f.clock->await_timers(2));  // the sweep and the stop deadline
  f.clock->advance(5s);               // the stop timeout: killed; a new entity takes the held ones
  for (int i = 0; i < 3; ++i) {
    seen m = me.receive<seen>();
    got.emplace_back(m.seq, m.entity);
  }
  const std::uint64_t second = me.receive<std::uint64_t>();  // the held request, answered by the new entity
  REQUIRE(got.size() == 6);
  for (int i = 0; i < 6; ++i) CHECK(got[i].first == i + 1);
  CHECK(got[0].second == got[2].second);
  CHECK(got[3].second == got[5].second);
  CHECK(got[3].second != got[0].second);
  CHECK(second == got[3].second);
  wa::sticky_stats after = stats_of(me, s);
  CHECK(after.held_total == 4);
  CHECK(after.held == 0);
  CHECK(after.stopping == 0);
  CHECK(after.started == 2);
  // It would ignore the runtime's shutdown too.
  me.exit(me.ask(s, whoami{"stubborn"}, 10s).value(), weft::exit_reason::kill());
}

TEST_CASE("nothing is lost or reordered while entities passivate under concurrent senders (stress)") {
  fixture f;
  weft::scoped_actor me(f.rt, weft::spawn_options{.mailbox_capacity = weft::unbounded});
  weft::ref<wa::sticky_protocol<keyed>> s =
      f.rt.spawn(wa::sticky<keyed>(key_of, entity_factory(me.self()), options(2ms, 1ms)),
                 weft::spawn_options{.mailbox_capacity = weft::unbounded});
  REQUIRE(f.clock->await_timers(1));
  struct go {};
  struct burst_sent {};
  const int senders = 4;
  const int keys = 16;
  const int rounds = 300 * stress_factor();
  const int burst = 8;
  // Each round: time moves 1 ms (a sweep passivates keys idle for 2 ms),
  // then every sender sends a burst to a few keys, so bursts keep landing
  // on keys whose entity is being stopped. The next round waits for the
  // bursts to be sent, so virtual time does not run ahead of them.
  weft::pid report = me.self();
  std::vector<weft::pid> sender_pids;
  for (int snd = 0; snd < senders; ++snd) {
    weft::ref<keyed> target = s;
    sender_pids.push_back(f.rt.spawn([target, report, snd, keys, rounds, burst](weft::context& self) {
      int seq = 0;
      for (int r = 0; r < rounds; ++r) {
        self.receive([](go) {});
        for (int i = 0; i < burst; ++i) {
          const int key = (r * 5 + snd * 3 + (i / 4)) % keys;
          self.send(target, put{"key-" + std::to_string(key), snd, seq++});
        }
        self.send(report, burst_sent{});
      }
    }));
  }
  std::map<std::pair<std::string, int>, int> last_seq;
  int received = 0;
  int out_of_order = 0;
  auto take = [&](const seen& m) {
    auto [it, fresh] = last_seq.try_emplace({m.key, m.sender}, m.seq);
    if (!fresh) {
      if (m.seq <= it->second) ++out_of_order;
      it->second = m.seq;
    }
    ++received;
  };
  for (int r = 0; r < rounds; ++r) {
    f.clock->advance(1ms);
    for (const weft::pid& p : sender_pids) me.send(p, go{});
    for (int i = 0; i < senders; ++i) me.receive([](burst_sent) {});
    while (auto m = me.receive_for<seen>(std::chrono::nanoseconds::zero())) take(*m);
  }
  const int total = senders * rounds * burst;
  while (received < total) {
    auto m = me.receive_for<seen>(10s);
    REQUIRE(m.has_value());
    take(*m);
  }
  CHECK(received == total);
  CHECK(out_of_order == 0);
  CHECK_FALSE(me.receive_for<seen>(20ms).has_value());  // and nothing twice
  REQUIRE(eventually([&] {
    f.clock->advance(1ms);
    return stats_of(me, s).entities == 0;
  }));
  wa::sticky_stats st = stats_of(me, s);
  MESSAGE("entities started " << st.started << ", passivated " << st.passivated << " for " << keys
                               << " keys; messages held during a passivation " << st.held_total);
  CHECK(st.started > static_cast<std::uint64_t>(keys));  // keys did come back after passivating
  CHECK(st.held_total > 0);                              // and the race was exercised
  CHECK(st.passivated == st.started);
  CHECK(st.held == 0);
}

TEST_CASE("bad sticky options are refused when the shard is defined") {
  wa::sticky_options o;
  o.buffer_capacity = 0;
  CHECK_THROWS_AS(wa::sticky<keyed>(key_of, entity_factory(weft::pid()), o), std::invalid_argument);
  o.buffer_capacity = 10;
  o.stop_timeout = std::chrono::nanoseconds::zero();
  CHECK_THROWS_AS(wa::sticky<keyed>(key_of, entity_factory(weft::pid()), o), std::invalid_argument);
}
