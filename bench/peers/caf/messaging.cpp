// The message-passing workloads of bench/SPEC.md as idiomatic CAF 0.17
// event-based actors: pingpong, fanin, spawn, ring, ask, broadcast and server.
//
// Each workload follows the same steps:
//   1. remember the running-actor count (the SPEC's leak baseline);
//   2. set up whatever is not measured (ring links, group subscriptions);
//   3. time the measured section on the driver, a scoped_actor that waits
//      for the workload's `done` message(s);
//   4. stop what is left and check the running count is back to baseline.
#include "bench_common.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

using namespace caf;

namespace caf_bench {

namespace {

constexpr auto call_timeout = std::chrono::seconds(5);

struct counter_state {
  int64_t received = 0;
};

// -- 1. pingpong --------------------------------------------------------------

behavior ponger() {
  // Returning a value answers the sender.
  return {
    [](int64_t x) { return x; },
  };
}

// Having received the reply to x, x + 1 round trips are complete.
behavior pinger(event_based_actor* self, actor partner, int64_t n,
                actor driver) {
  self->send(partner, int64_t{0});
  return {
    [=](int64_t x) {
      if (x + 1 >= n) {
        self->send(driver, done_atom::value);
        self->quit();
      } else {
        self->send(partner, x + 1);
      }
    },
  };
}

// -- 2. fanin -----------------------------------------------------------------

behavior consumer(stateful_actor<counter_state>* self, int64_t total,
                  actor driver) {
  return {
    [=](int64_t) {
      if (++self->state.received == total) {
        self->send(driver, done_atom::value);
        self->quit();
      }
    },
  };
}

// Sends its m 8-byte messages and terminates (no behavior is set).
void producer(event_based_actor* self, actor sink, int64_t m) {
  for (int64_t i = 0; i < m; ++i)
    self->send(sink, i);
}

// -- 3. spawn -----------------------------------------------------------------

void child(event_based_actor* self, actor parent) {
  self->send(parent, done_atom::value);
}

behavior spawn_parent(stateful_actor<counter_state>* self, int64_t n,
                      actor driver) {
  auto me = actor_cast<actor>(self);
  for (int64_t i = 0; i < n; ++i)
    self->spawn(child, me);
  return {
    [=](done_atom) {
      if (++self->state.received == n) {
        self->send(driver, done_atom::value);
        self->quit();
      }
    },
  };
}

// -- 4. ring ------------------------------------------------------------------

behavior ring_node(event_based_actor* self, actor driver, int64_t hops_total) {
  return {
    [=](next_atom, const actor& next) {
      self->become([=](token_atom, int64_t hops) {
        if (hops == hops_total)
          self->send(driver, done_atom::value);
        else
          self->send(next, token_atom::value, hops + 1);
      });
    },
  };
}

// -- 8. ask -------------------------------------------------------------------

behavior echo_server() {
  return {
    [](int64_t x) { return x; },
  };
}

struct ask_client_state {
  actor server;
  actor driver;
  std::vector<int64_t>* latencies_ns = nullptr;
};

void issue_call(stateful_actor<ask_client_state>* self, int64_t left) {
  if (left == 0) {
    self->send(self->state.driver, done_atom::value);
    self->quit();
    return;
  }
  auto start = clock_type::now();
  self->request(self->state.server, call_timeout, left)
    .then(
      [=](int64_t reply) {
        auto elapsed = clock_type::now() - start;
        if (reply != left) {
          std::fprintf(stderr, "caf-bench ask: wrong reply %lld to %lld\n",
                       static_cast<long long>(reply),
                       static_cast<long long>(left));
          std::_Exit(1);
        }
        self->state.latencies_ns->push_back(
          std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed)
            .count());
        issue_call(self, left - 1);
      },
      [=](error& err) {
        std::fprintf(stderr, "caf-bench ask: call failed: %s\n",
                     to_string(err).c_str());
        std::_Exit(1);
      });
}

// The driver owns `latencies_ns`; it reads it only after this client's
// `done` message, which orders the writes before the read.
behavior ask_client(stateful_actor<ask_client_state>* self, actor server,
                    int64_t calls, std::vector<int64_t>* latencies_ns,
                    actor driver) {
  self->state.server = std::move(server);
  self->state.driver = std::move(driver);
  self->state.latencies_ns = latencies_ns;
  latencies_ns->reserve(static_cast<size_t>(calls));
  return {
    [=](go_atom) { issue_call(self, calls); },
  };
}

// -- 11. broadcast ------------------------------------------------------------

behavior subscriber(stateful_actor<counter_state>* self, group topic,
                    int64_t msgs, actor driver) {
  self->join(topic);
  self->send(driver, ready_atom::value);
  return {
    [=](int64_t) {
      if (++self->state.received == msgs) {
        self->send(driver, done_atom::value);
        self->quit();
      }
    },
  };
}

behavior publisher(event_based_actor* self, group topic, int64_t msgs) {
  return {
    [=](go_atom) {
      for (int64_t i = 0; i < msgs; ++i)
        self->send(topic, i);
      self->quit();
    },
  };
}

// -- 12. server ----------------------------------------------------------------

// A stateful server: it counts the calls it answered (checked after the run).
struct server_state {
  int64_t calls = 0;
};

behavior counting_server(stateful_actor<server_state>* self) {
  return {
    [=](int64_t x) {
      ++self->state.calls;
      return x;
    },
    [=](calls_atom) { return self->state.calls; },
  };
}

// c clients each make `calls` sequential requests to `server` (ask and
// server differ only in the server); returns the latencies, sorted, and
// stores the measured seconds.
std::vector<int64_t> run_clients(actor_system& system, scoped_actor& driver,
                                 const actor& server, int64_t c,
                                 int64_t calls, double& seconds) {
  std::vector<std::vector<int64_t>> latencies(static_cast<size_t>(c));
  std::vector<actor> clients;
  for (auto& client_latencies : latencies)
    clients.push_back(
      system.spawn(ask_client, server, calls, &client_latencies,
                   actor{driver}));
  auto start = clock_type::now();
  for (auto& client : clients)
    anon_send(client, go_atom::value);
  int64_t done = 0;
  driver->receive_for(done, c)([](done_atom) {});
  seconds = seconds_since(start);
  std::vector<int64_t> all;
  for (auto& client_latencies : latencies)
    all.insert(all.end(), client_latencies.begin(), client_latencies.end());
  std::sort(all.begin(), all.end());
  return all;
}

} // namespace

double percentile_us(const std::vector<int64_t>& sorted_ns, double q) {
  auto len = sorted_ns.size();
  if (len == 0)
    return 0.0;
  auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(len)));
  rank = std::clamp<size_t>(rank, 1, len);
  return static_cast<double>(sorted_ns[rank - 1]) / 1000.0;
}

void pingpong(actor_system& system, const arguments& args, json_line& out) {
  auto n = args.get("n", 1000000);
  scoped_actor driver{system};
  auto baseline = system.registry().running();
  auto partner = system.spawn(ponger);
  auto start = clock_type::now();
  system.spawn(pinger, partner, n, actor{driver});
  driver->receive([](done_atom) {});
  auto seconds = seconds_since(start);
  anon_send_exit(partner, exit_reason::user_shutdown);
  await_baseline(system, baseline, "pingpong");
  add_rate(out, n, seconds, "roundtrips/s");
}

// CAF 0.17 mailboxes are unbounded and senders are never suspended, so this
// runs without the SPEC's capacity-1024 blocking back-pressure; the note
// field says so and peak_rss_kb shows what the queue cost.
void fanin(actor_system& system, const arguments& args, json_line& out) {
  auto p = args.get("p", 8);
  auto m = args.get("m", 500000);
  scoped_actor driver{system};
  auto baseline = system.registry().running();
  auto sink = system.spawn(consumer, p * m, actor{driver});
  auto start = clock_type::now();
  for (int64_t i = 0; i < p; ++i)
    system.spawn(producer, sink, m);
  driver->receive([](done_atom) {});
  auto seconds = seconds_since(start);
  await_baseline(system, baseline, "fanin");
  add_rate(out, p * m, seconds, "msgs/s");
  out.add("note", "unbounded mailbox: CAF 0.17 has no bounded mailbox with "
                  "blocking back-pressure");
}

void spawn(actor_system& system, const arguments& args, json_line& out) {
  auto n = args.get("n", 1000000);
  scoped_actor driver{system};
  auto baseline = system.registry().running();
  auto start = clock_type::now();
  system.spawn(spawn_parent, n, actor{driver});
  driver->receive([](done_atom) {});
  auto seconds = seconds_since(start);
  await_baseline(system, baseline, "spawn");
  add_rate(out, n, seconds, "actors/s");
}

void ring(actor_system& system, const arguments& args, json_line& out) {
  auto r = args.get("r", 1000);
  auto h = args.get("h", 10000000);
  scoped_actor driver{system};
  auto baseline = system.registry().running();
  std::vector<actor> nodes;
  nodes.reserve(static_cast<size_t>(r));
  for (int64_t i = 0; i < r; ++i)
    nodes.push_back(system.spawn(ring_node, actor{driver}, h));
  for (size_t i = 0; i < nodes.size(); ++i)
    anon_send(nodes[i], next_atom::value, nodes[(i + 1) % nodes.size()]);
  auto start = clock_type::now();
  anon_send(nodes.front(), token_atom::value, int64_t{0});
  driver->receive([](done_atom) {});
  auto seconds = seconds_since(start);
  for (auto& node : nodes)
    anon_send_exit(node, exit_reason::user_shutdown);
  nodes.clear();
  await_baseline(system, baseline, "ring");
  add_rate(out, h, seconds, "hops/s");
}

void ask(actor_system& system, const arguments& args, json_line& out) {
  auto n = args.get("n", 1000000);
  auto c = args.get("c", 16);
  auto calls = n / c;
  scoped_actor driver{system};
  auto baseline = system.registry().running();
  auto server = system.spawn(echo_server);
  double seconds = 0;
  auto all = run_clients(system, driver, server, c, calls, seconds);
  anon_send_exit(server, exit_reason::user_shutdown);
  await_baseline(system, baseline, "ask");
  add_rate(out, c * calls, seconds, "calls/s");
  out.add("p50_us", percentile_us(all, 0.50))
    .add("p99_us", percentile_us(all, 0.99));
}

// As ask, against a stateful actor (CAF's counterpart of a gen_server):
// `request` from each client, and the server's call count checked after.
void server(actor_system& system, const arguments& args, json_line& out) {
  auto n = args.get("n", 1000000);
  auto c = args.get("c", 16);
  auto calls = n / c;
  scoped_actor driver{system};
  auto baseline = system.registry().running();
  auto server = system.spawn(counting_server);
  double seconds = 0;
  auto all = run_clients(system, driver, server, c, calls, seconds);
  driver->request(server, call_timeout, calls_atom::value)
    .receive(
      [&](int64_t counted) {
        if (counted != c * calls) {
          std::fprintf(stderr, "caf-bench server: the server counted %lld "
                               "calls, expected %lld\n",
                       static_cast<long long>(counted),
                       static_cast<long long>(c * calls));
          std::_Exit(1);
        }
      },
      [&](error& err) {
        std::fprintf(stderr, "caf-bench server: reading the count failed: %s\n",
                     to_string(err).c_str());
        std::_Exit(1);
      });
  anon_send_exit(server, exit_reason::user_shutdown);
  await_baseline(system, baseline, "server");
  add_rate(out, c * calls, seconds, "calls/s");
  out.add("p50_us", percentile_us(all, 0.50))
    .add("p99_us", percentile_us(all, 0.99));
}

// The topic is a CAF group: subscribers join it and the publisher sends
// each message once to the group, which delivers it to every member.
void broadcast(actor_system& system, const arguments& args, json_line& out) {
  auto subs = args.get("subs", 10000);
  auto msgs = args.get("msgs", 100);
  scoped_actor driver{system};
  auto baseline = system.registry().running();
  auto topic = system.groups().anonymous();
  for (int64_t i = 0; i < subs; ++i)
    system.spawn(subscriber, topic, msgs, actor{driver});
  int64_t ready = 0;
  driver->receive_for(ready, subs)([](ready_atom) {});
  auto source = system.spawn(publisher, topic, msgs);
  auto start = clock_type::now();
  anon_send(source, go_atom::value);
  int64_t done = 0;
  driver->receive_for(done, subs)([](done_atom) {});
  auto seconds = seconds_since(start);
  await_baseline(system, baseline, "broadcast");
  add_rate(out, subs * msgs, seconds, "deliveries/s");
}

} // namespace caf_bench
