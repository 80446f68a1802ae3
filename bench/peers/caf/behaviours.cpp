// The workloads of bench/SPEC.md over reusable actors (weft's actors/
// module), as CAF 0.17 writes them: statem (a state machine with a state
// timeout), pubsub (wildcard topics over CAF groups) and router (a
// round-robin actor_pool against direct sends).
//
// Steps as in messaging.cpp: remember the running count, set up, time the
// measured section on a scoped_actor driver, stop what is left and check
// the count is back to the baseline.
#include "bench_common.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

using namespace caf;

namespace caf_bench {

namespace {

constexpr auto call_timeout = std::chrono::seconds(5);

[[noreturn]] void die(const char* workload, const std::string& what) {
  std::fprintf(stderr, "caf-bench %s: %s\n", workload, what.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           clock_type::now().time_since_epoch())
    .count();
}

// -- 13. statem ---------------------------------------------------------------

// The feeder waits for the machine every this many events, so the queue
// between them stays bounded (the same in every implementation).
constexpr int64_t statem_sync_every = 1000;
// Armed on entering every state; never reached in a run.
constexpr auto state_timeout = std::chrono::seconds(60);

// Four states, each its own behavior; `event` moves to the next one with
// become. Each behavior has a timeout (`after`), which CAF arms when the
// behavior is installed and re-arms after every message, replacing the
// previous one: entering a state arms it, the next event cancels it.
struct statem_state {
  int64_t transitions = 0;
  std::array<behavior, 4> states;
};

using statem_actor = stateful_actor<statem_state>;

behavior make_state(statem_actor* self, size_t index) {
  return {
    [=](event_atom) {
      ++self->state.transitions;
      self->become(self->state.states[(index + 1) % 4]);
    },
    [=](count_atom) { return self->state.transitions; },
    after(state_timeout) >>
      [=] { die("statem", "a state timeout fired during the run"); },
  };
}

behavior state_machine(statem_actor* self) {
  for (size_t i = 0; i < 4; ++i)
    self->state.states[i] = make_state(self, i);
  return self->state.states[0];
}

// Sends the next batch of events, then asks for the transition count and
// goes on when the machine has caught up.
void feed(event_based_actor* self, actor machine, int64_t n, int64_t sent,
          actor driver) {
  if (sent >= n) {
    self->send(driver, done_atom::value);
    self->quit();
    return;
  }
  auto batch = std::min(statem_sync_every, n - sent);
  for (int64_t i = 0; i < batch; ++i)
    self->send(machine, event_atom::value);
  self->request(machine, call_timeout, count_atom::value)
    .then(
      [=](int64_t transitions) {
        if (transitions != sent + batch)
          die("statem", "the machine counted " + std::to_string(transitions)
                          + " transitions, expected "
                          + std::to_string(sent + batch));
        feed(self, machine, n, sent + batch, driver);
      },
      [=](error& err) { die("statem", "sync failed: " + to_string(err)); });
}

behavior statem_feeder(event_based_actor* self, actor machine, int64_t n,
                       actor driver) {
  return {
    [=](go_atom) { feed(self, machine, n, 0, driver); },
  };
}

// -- 14. pubsub ---------------------------------------------------------------

std::vector<std::string> tokens_of(const std::string& text) {
  std::vector<std::string> tokens;
  size_t begin = 0;
  for (;;) {
    auto dot = text.find('.', begin);
    tokens.push_back(text.substr(begin, dot - begin));
    if (dot == std::string::npos)
      return tokens;
    begin = dot + 1;
  }
}

// NATS rules: `*` is one token, `>` one or more trailing tokens.
bool subject_matches(const std::vector<std::string>& pattern,
                     const std::vector<std::string>& subject) {
  size_t i = 0;
  for (; i < pattern.size(); ++i) {
    if (pattern[i] == ">")
      return i < subject.size();
    if (i >= subject.size())
      return false;
    if (pattern[i] != "*" && pattern[i] != subject[i])
      return false;
  }
  return i == subject.size();
}

// The broker keeps one CAF group per distinct pattern: a subscriber asks
// it for its pattern's group and joins it; a publish is matched against
// each distinct pattern once and sent to each matching group, which
// delivers it to all its members.
struct broker_state {
  struct topic {
    std::vector<std::string> tokens;
    group members;
  };
  std::map<std::string, topic> topics;
};

behavior pubsub_broker(stateful_actor<broker_state>* self) {
  return {
    [=](subscribe_atom, const std::string& pattern) {
      auto& topic = self->state.topics[pattern];
      if (!topic.members) {
        topic.tokens = tokens_of(pattern);
        topic.members = self->system().groups().anonymous();
      }
      return topic.members;
    },
    [=](publish_atom, const std::string& subject, int64_t published_ns) {
      auto tokens = tokens_of(subject);
      for (auto& entry : self->state.topics)
        if (subject_matches(entry.second.tokens, tokens))
          self->send(entry.second.members, published_ns);
    },
  };
}

struct subscriber_state {
  int64_t left = 0;
  std::vector<int64_t>* latencies_ns = nullptr;
};

// Writes its latencies into its own vector, which the driver reads only
// after this subscriber's `done`; it then stays (subscribed) until the
// driver stops it after the measurement, so its exit is not part of it.
behavior pubsub_subscriber(stateful_actor<subscriber_state>* self,
                           actor broker, std::string pattern, int64_t expect,
                           std::vector<int64_t>* latencies_ns, actor driver) {
  self->state.left = expect;
  self->state.latencies_ns = latencies_ns;
  latencies_ns->reserve(static_cast<size_t>(expect));
  self->request(broker, call_timeout, subscribe_atom::value, pattern)
    .then(
      [=](group& members) {
        self->join(members);
        self->send(driver, ready_atom::value);
        if (expect == 0)
          self->send(driver, done_atom::value);
      },
      [=](error& err) { die("pubsub", "subscribe failed: " + to_string(err)); });
  return {
    [=](int64_t published_ns) {
      self->state.latencies_ns->push_back(now_ns() - published_ns);
      if (--self->state.left == 0)
        self->send(driver, done_atom::value);
    },
  };
}

behavior pubsub_publisher(event_based_actor* self, actor broker, int64_t msgs,
                          int64_t keys) {
  return {
    [=](go_atom) {
      for (int64_t i = 0; i < msgs; ++i)
        self->send(broker, publish_atom::value,
                   "bench.k" + std::to_string(i % keys) + ".m"
                     + std::to_string(i),
                   now_ns());
      self->quit();
    },
  };
}

// -- router -------------------------------------------------------------------

// A routee counts the messages of a phase and reports when it has its
// share (n / routees: round robin gives every routee the same count).
struct routee_state {
  int64_t received = 0;
};

behavior routee(stateful_actor<routee_state>* self, int64_t share,
                actor driver) {
  return {
    [=](int64_t) {
      if (++self->state.received == share) {
        self->state.received = 0;
        self->send(driver, done_atom::value);
      }
    },
  };
}

// On each `go` sends n messages: to the pool (routed) or itself round robin
// over the routees (direct).
behavior router_sender(event_based_actor* self, actor pool,
                       std::vector<actor> routees, int64_t n) {
  return {
    [=](go_atom, bool routed) {
      if (routed) {
        for (int64_t i = 0; i < n; ++i)
          self->send(pool, i);
      } else {
        auto size = static_cast<int64_t>(routees.size());
        for (int64_t i = 0; i < n; ++i)
          self->send(routees[static_cast<size_t>(i % size)], i);
      }
    },
  };
}

} // namespace

// The feeder drives n events through the four-state machine, syncing every
// statem_sync_every events; measured from its `go` to its `done`.
void statem(actor_system& system, const arguments& args, json_line& out) {
  auto n = args.get("n", 10000000);
  scoped_actor driver{system};
  auto baseline = system.registry().running();
  auto machine = system.spawn(state_machine);
  auto feeder = system.spawn(statem_feeder, machine, n, actor{driver});
  auto start = clock_type::now();
  anon_send(feeder, go_atom::value);
  driver->receive([](done_atom) {});
  auto seconds = seconds_since(start);
  anon_send_exit(machine, exit_reason::user_shutdown);
  await_baseline(system, baseline, "statem");
  add_rate(out, n, seconds, "transitions/s");
  out.add("note", "CAF's `after` is a timeout of the current behavior that "
                  "every message re-arms; it equals a state timeout here, as "
                  "every event changes state");
}

// Subjects and patterns as in weft-bench (bench/weft/pubsub.cpp): subject i
// is bench.k<i mod K>.m<i>, K = round(1 / match); subscriber j has key
// j mod K and, by j mod 3, the pattern bench.k<key>.*, bench.k<key>.> or
// *.k<key>.*.
void pubsub(actor_system& system, const arguments& args, json_line& out) {
  auto subs = args.get("subs", 10000);
  auto msgs = args.get("msgs", 100);
  auto match = args.get_fraction("match", 0.01);
  if (args.get("stalled", 0) != 0)
    throw skipped("the stalled-subscriber case measures weft's broker policy "
                  "for a subscriber that stops reading; CAF 0.17 mailboxes "
                  "are unbounded, so there is no policy to measure");
  if (!(match > 0 && match <= 1))
    throw std::invalid_argument("match must be in (0, 1]");
  auto keys = std::max<int64_t>(1, std::llround(1 / match));
  scoped_actor driver{system};
  auto baseline = system.registry().running();
  auto broker = system.spawn(pubsub_broker);
  std::vector<std::vector<int64_t>> latencies(static_cast<size_t>(subs));
  std::vector<actor> subscribers;
  int64_t deliveries = 0;
  for (int64_t j = 0; j < subs; ++j) {
    auto key = j % keys;
    auto expect = key >= msgs ? 0 : (msgs - 1 - key) / keys + 1;
    deliveries += expect;
    auto key_token = "k" + std::to_string(key);
    std::string pattern = j % 3 == 0   ? "bench." + key_token + ".*"
                          : j % 3 == 1 ? "bench." + key_token + ".>"
                                       : "*." + key_token + ".*";
    subscribers.push_back(
      system.spawn(pubsub_subscriber, broker, pattern, expect,
                   &latencies[static_cast<size_t>(j)], actor{driver}));
  }
  int64_t ready = 0;
  driver->receive_for(ready, subs)([](ready_atom) {});
  auto publisher = system.spawn(pubsub_publisher, broker, msgs, keys);
  auto start = clock_type::now();
  anon_send(publisher, go_atom::value);
  int64_t done = 0;
  driver->receive_for(done, subs)([](done_atom) {});
  auto seconds = seconds_since(start);
  for (auto& subscriber : subscribers)
    anon_send_exit(subscriber, exit_reason::user_shutdown);
  subscribers.clear();
  anon_send_exit(broker, exit_reason::user_shutdown);
  await_baseline(system, baseline, "pubsub");
  std::vector<int64_t> all;
  for (auto& mine : latencies)
    all.insert(all.end(), mine.begin(), mine.end());
  std::sort(all.begin(), all.end());
  add_rate(out, deliveries, seconds, "deliveries/s");
  out.add("p50_us", percentile_us(all, 0.50))
    .add("p99_us", percentile_us(all, 0.99));
}

// As weft-bench's router: `rounds` alternations of a direct phase and a
// routed phase (through an actor_pool with the round_robin policy) over
// the same routees; rate is the median routed phase, direct_rate the
// median direct one, overhead_pct = direct_rate / rate - 1, in percent.
void router(actor_system& system, const arguments& args, json_line& out) {
  auto routee_count = args.get("routees", 8);
  auto n = args.get("n", 1000000);
  auto rounds = args.get("rounds", 3);
  if (routee_count < 1 || rounds < 1 || n < routee_count)
    throw std::invalid_argument("need routees >= 1, rounds >= 1, n >= routees");
  n -= n % routee_count;
  scoped_actor driver{system};
  auto baseline = system.registry().running();
  std::vector<actor> routees;
  for (int64_t i = 0; i < routee_count; ++i)
    routees.push_back(system.spawn(routee, n / routee_count, actor{driver}));
  size_t next_worker = 0;
  auto pool = actor_pool::make(
    system.dummy_execution_unit(), static_cast<size_t>(routee_count),
    [&] { return routees[next_worker++]; }, actor_pool::round_robin());
  auto sender = system.spawn(router_sender, pool, routees, n);
  std::vector<double> direct, routed;
  for (int64_t round = 0; round < rounds; ++round) {
    for (bool via_pool : {false, true}) {
      auto start = clock_type::now();
      anon_send(sender, go_atom::value, via_pool);
      int64_t done = 0;
      driver->receive_for(done, routee_count)([](done_atom) {});
      (via_pool ? routed : direct).push_back(seconds_since(start));
    }
  }
  anon_send_exit(sender, exit_reason::user_shutdown);
  anon_send_exit(pool, exit_reason::user_shutdown);
  for (auto& r : routees)
    anon_send_exit(r, exit_reason::user_shutdown);
  routees.clear();
  await_baseline(system, baseline, "router");
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  auto routed_seconds = median(routed);
  auto direct_rate = static_cast<double>(n) / median(direct);
  auto routed_rate = static_cast<double>(n) / routed_seconds;
  add_rate(out, n, routed_seconds, "msgs/s");
  out.add("direct_rate", direct_rate)
    .add("overhead_pct", (direct_rate / routed_rate - 1) * 100);
}

} // namespace caf_bench
