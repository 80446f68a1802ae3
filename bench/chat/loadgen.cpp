// weft-chat-loadgen: an IRC load generator for chat servers over loopback.
// It speaks plain IRC (RFC 2812 client side, no capabilities) to any server:
// weft-chat, InspIRCd, ngIRCd, ircd-hybrid. One invocation runs one
// scenario against one server and prints ONE JSON line on stdout
// (diagnostics go to stderr):
//
//   {"bench": "chat", "scenario": ..., "impl": ..., "clients": N, "rooms": R,
//    "rate": deliveries/s, "unit": "deliveries/s", "p50_us": ..., "p99_us": ...,
//    "max_us": ..., "rss_kb_per_client": ..., "cpu_pct": ..., <details>}
//
//   weft-chat-loadgen --scenario=rooms|one-room|idle|stalled --impl=NAME --port=P
//       [--server-pid=PID] [--clients=N] [--rooms=R] [--rate=MSGS_PER_S]
//       [--duration=10] [--warmup=2] [--drain=5] [--payload-bytes=64]
//       [--stalled=1] [--stalled-rcvbuf=4096] [--threads=1]
//       [--connect-concurrency=200] [--setup-timeout=120] [--host=127.0.0.1]
//       [--saturation [--sat-factor=1.5] [--sat-step=3] [--sat-warmup=1]
//        [--sat-p99-ms=100] [--sat-max-steps=20]]
//
// Exit status: 0 if the run completed (losses do not change it: they are
// counted in the JSON, which says "ok": false, and listed on stderr), 1 on
// bad arguments, 2 if the clients could not all be set up (the JSON line
// says "failed": true and why), 3 if the watchdog fired.
//
// Only loopback: --host must be in 127.0.0.0/8 or be ::1.
//
// -- What one client does ---------------------------------------------------
//
//   connect ──> NICK n<id>, USER u<id> 0 * :... ──> wait for 001 (welcome)
//     ──> JOIN #r<room> ──> wait for 366 (end of NAMES) for that room: joined
//   then, during the load: PRIVMSG #r<room> :<payload> at scheduled times,
//   and reading every line: PRIVMSG from the others in its room are
//   deliveries; PING is answered with PONG at any time; everything else is
//   ignored, except 4xx/5xx numerics and ERROR, which are counted (and the
//   first few printed). At the end: QUIT, wait for the server to close.
//
// A payload is "<scheduled ns:19> <sender:6> <seq:10> <filler>", exactly
// --payload-bytes long; the filler depends on sender and seq, so a mangled
// message is caught. The time is CLOCK_MONOTONIC of this process (sender and
// receivers are in it), and it is the SCHEDULED send time, not the actual
// one: load is open loop (messages go out on a fixed schedule whether or not
// earlier ones were delivered), and latency = receipt - scheduled time, so a
// stall of the server (or of this loadgen) is charged to every message that
// should have gone out during it: coordinated omission is corrected (as in
// wrk2). How late the loadgen itself sent is reported as send_lag_p99_us.
// IRC does not echo a PRIVMSG to its sender, so a message to a room of m
// members makes m - 1 deliveries.
//
// -- Scenarios ----------------------------------------------------------------
//
//   rooms     1,000 clients in 100 rooms (client c in room c mod 100), each
//             client sending 10 msg/s: --rate defaults to clients x 10.
//   one-room  1,000 clients in one room, --rate messages/s in total
//             (default 50), spread evenly over the clients.
//   stalled   one-room (chosen over rooms because then the stalled client is
//             a receiver of EVERY message: a server whose fan-out waits for
//             one slow reader shows it on all deliveries) with --stalled
//             clients (default 1) that, once joined, never read again: the
//             socket stays open with a --stalled-rcvbuf byte receive buffer,
//             so the server's output to it backs up into its send queue. They
//             do not send either. They also announce a 536-byte segment
//             size (TCP_MAXSEG), or over loopback the server's kernel would
//             buffer megabytes for them and its own queue never fill.
//             Latency and losses are those of the others;
//             --stalled=0 is the baseline run.sh compares with. At the end
//             the loadgen reads what the stalled clients were sent and reports
//             whether the server had dropped them (stalled_dropped).
//   idle      10,000 clients connect and register, join nothing, and stay
//             idle for --duration s. rss_kb_per_client = (server VmRSS after -
//             before connecting) / clients; cpu_pct over the idle time; rate
//             and latencies are 0.
//
// For every scenario with a server pid: cpu_pct = the server's utime + stime
// (/proc/PID/stat) over the measured window / the window's wall time x 100
// (100 = one core), and rss_kb_per_client as above (after = at the end of
// the measured window).
//
// -- One run, step by step ------------------------------------------------------
//
//   1. Setup. Clients are set up --connect-concurrency at a time (each one
//      connecting, registering and joining counts against it): a storm of
//      10,000 simultaneous handshakes would measure the servers' listen
//      backlogs (ngIRCd's is 10), not their steady state. If connect() runs
//      out of ephemeral ports (EADDRNOTAVAIL), later clients bind the next
//      source address, 127.0.0.2, .3, ... All clients must be set up within
//      --setup-timeout s, or the run fails with exit 2 (and the JSON says
//      how many got how far, and the first errors are on stderr).
//   2. Load, in steps: a fixed-rate run is one step. A step is warm-up
//      (--warmup s: sent and checked, latency not recorded), a measured
//      window (--duration s: latency recorded for messages scheduled in it;
//      deliveries received in it make `rate`), and a drain (no new
//      messages; wait until every expected delivery has arrived, at most
//      --drain s).
//   3. Checks, over the whole run: every message must reach every other
//      joined member of its room that reads (exactly once, intact). Per
//      receiver and sender the next expected sequence number is kept;
//      a gap is remembered and filled if the message comes late. Missing
//      ones are `lost` (listed on stderr; if the drain ended with deliveries
//      still missing, "drained": false says they may only have been late),
//      repeats `duplicates`, intact ones sent to the wrong client (its own
//      sender, another room) `misdelivered`, mangled ones `garbled`;
//      connections closed by the server and error numerics are counted
//      too. Any of these makes "ok": false.
//   4. Teardown: QUIT on every connection, wait (up to 2 s) for the server
//      to close them, then close what is left with a reset (SO_LINGER 0),
//      so repeated runs leave no TIME_WAIT behind.
//
// -- Saturation (--saturation, with one-room or rooms) ---------------------
//
// Finds the highest delivery rate the server sustains. Step i offers
// --rate x --sat-factor^i messages/s (default start: 20 msg/s for one-room,
// clients x 1 for rooms; x1.5 per step) on the same connections, each step
// --sat-warmup s of warm-up, --sat-step s measured, then a drain. A step
// PASSES if
//   a. the deliveries received during its window are >= 95% of those its
//      window's messages should make (the server keeps up with the offer),
//   b. it drained completely (every delivery arrived, nothing lost, no
//      connection closed), and
//   c. its p99 latency is <= --sat-p99-ms (default 100 ms, some 100 times a
//      healthy p99 here: a server past saturation builds a backlog, and its
//      p99 grows with the step's length: "explodes").
// A failing step is repeated once (a shared 2-CPU machine has hiccups of
// tens of ms). The ramp ends when a step fails twice, at once if it left a
// backlog behind (not drained, or a connection's output stuck: a repetition
// would start behind), or after --sat-max-steps steps. The JSON line
// reports the best passing step (rate, latencies, CPU, and its offered
// msgs_per_s), every step in "steps", and "loadgen_bound": true if the
// last failure may have been the loadgen's own (its send lag p99 was over
// half the p99, or its threads were over 90% busy): then the server's
// limit may be higher than reported.
//
// -- Bounds --------------------------------------------------------------------
//
// At most 60,000 clients and 16 threads; per connection at most 4 MiB of
// unsent output (past that the run stops sending and says "overloaded":
// true: the server is not reading) and 64 KiB of input without a newline
// (counted as garbled and dropped); receive tracking is one counter per
// (receiver, room member) pair, at most 50 million of them. A watchdog ends
// the process if a run overstays its planned time by 60 s.
//
// Latencies go into a log-linear histogram (128 sub-buckets per power of
// two: under 0.8% error, fixed memory at any rate), merged across threads.
//
// -- Files ---------------------------------------------------------------------
//
//   loadgen.cpp       this: the steps of a run (run_control), the checks and the report
//   load_thread.*     one thread's clients: set-up, load, reading, checks, teardown
//   options.*         the command line and the scenarios' defaults
//   irc_text.hpp      payloads, received lines, JSON escaping
//   measure.hpp       clock, latency histogram, CPU and RSS of processes

#include "load_thread.hpp"
#include "measure.hpp"
#include "options.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace chat_bench {

// -- the run: steps and their evaluation --------------------------------------------

struct step_summary {
  double rate = 0;  // offered messages/s
  double delivered_per_s = 0;
  double expected_per_s = 0;
  double p50_us = 0, p99_us = 0, max_us = 0;
  double send_lag_p99_us = 0;
  double server_cpu_pct = -1;
  double loadgen_cpu_pct = 0;
  double other_cpu_pct = -1;
  long rss_end_kb = -1;
  bool drained = true;
  bool overloaded = false;
  bool passed = false;
  bool loadgen_bound = false;
  std::string why;  // why it failed
};

step_summary summarize(const step_result& r, double window_s, double rate, const options& opt) {
  auto us = [](nanos v) { return static_cast<double>(v) / 1000.0; };
  step_summary s;
  s.rate = rate;
  s.delivered_per_s = static_cast<double>(r.delivered_in_window) / window_s;
  s.expected_per_s = static_cast<double>(r.expected_in_window) / window_s;
  s.p50_us = us(r.latency.quantile(0.50));
  s.p99_us = us(r.latency.quantile(0.99));
  s.max_us = us(r.latency.max());
  s.send_lag_p99_us = us(r.send_lag.quantile(0.99));
  const double wall = static_cast<double>(r.cpu_end.at - r.cpu_start.at) / 1e9;
  if (wall > 0) {
    s.loadgen_cpu_pct = 100.0 * (r.cpu_end.self_s - r.cpu_start.self_s) / wall;
    if (r.cpu_start.server_s >= 0 && r.cpu_end.server_s >= 0) s.server_cpu_pct = 100.0 * (r.cpu_end.server_s - r.cpu_start.server_s) / wall;
    if (r.cpu_start.machine_s >= 0 && s.server_cpu_pct >= 0) {
      s.other_cpu_pct = std::max(0.0, 100.0 * (r.cpu_end.machine_s - r.cpu_start.machine_s) / wall - s.loadgen_cpu_pct - s.server_cpu_pct);
    }
  }
  s.rss_end_kb = r.cpu_end.server_rss_kb;
  s.drained = r.drained;
  s.overloaded = r.overloaded;
  // Latency counts from the scheduled time, so the loadgen's own lateness is
  // in it: past half the p99, or with the loadgen's threads busy, a failure
  // may be the loadgen's as much as the server's.
  s.loadgen_bound = s.send_lag_p99_us > 0.5 * s.p99_us || s.loadgen_cpu_pct > 90.0 * opt.threads;
  if (!r.drained) s.why = "not every delivery arrived within the drain";
  else if (r.overloaded) s.why = "the server stopped reading (4 MiB unsent on a connection)";
  else if (s.delivered_per_s < 0.95 * s.expected_per_s) s.why = "delivered < 95% of the offered deliveries in the window";
  else if (s.p99_us > opt.sat_p99_ms * 1000) s.why = "p99 above the limit";
  s.passed = s.why.empty();
  return s;
}

// Decides the steps. Runs in the barrier's completion: every thread waits
// meanwhile, so it may read their results and write the plan they read next.
struct run_control {
  shared_state* shared = nullptr;
  std::vector<std::unique_ptr<load_thread>>* threads = nullptr;
  step_plan* plan = nullptr;
  const options* opt = nullptr;
  bool set_up = false;
  bool setup_failed = false;
  long rss_before_kb = -1;
  std::uint64_t turns_used = 0;
  std::vector<step_summary> steps;
  std::vector<step_result> step_results;  // merged over threads, per step
  int retried_index = -1;                 // the step index already repeated once

  void operator()() noexcept {
    if (!set_up) {
      set_up = true;
      for (auto& t : *threads) setup_failed = setup_failed || !t->setup_error().empty();
      if (setup_failed) {
        plan->stop = true;
        return;
      }
      return plan_step(0);
    }
    step_result merged;
    for (auto& t : *threads) {
      const step_result& r = t->step();
      merged.merge(r);
      if (&t == &threads->front()) {
        merged.cpu_start = r.cpu_start;
        merged.cpu_end = r.cpu_end;
      }
    }
    const double window_s = static_cast<double>(plan->window_end - plan->window_start) / 1e9;
    step_summary s = summarize(merged, window_s, plan->rate, *opt);
    steps.push_back(s);
    step_results.push_back(std::move(merged));
    turns_used += static_cast<std::uint64_t>(std::ceil((plan->window_end - plan->start) * plan->rate / 1e9));
    // A backlog left behind (not drained, or the server stopped reading)
    // would spoil a repetition: those end the ramp at once.
    if (!opt->saturation || opt->kind == scenario::idle || static_cast<int>(steps.size()) >= opt->sat_max_steps || s.overloaded ||
        !s.drained) {
      plan->stop = true;
      return;
    }
    if (!s.passed) {
      if (retried_index == plan->index) {
        plan->stop = true;
        return;
      }
      retried_index = plan->index;  // once more at the same rate
      return plan_step(plan->index);
    }
    return plan_step(plan->index + 1);
  }

  void plan_step(int index) {
    const double warm = opt->kind == scenario::idle ? 0 : opt->saturation ? opt->sat_warmup_s : opt->warmup_s;
    const double measure = opt->saturation ? opt->sat_step_s : opt->duration_s;
    const double drain = opt->drain_s;
    const nanos start = now_ns() + 20'000'000;  // 20 ms from now, for every thread alike
    plan->index = index;
    plan->rate = opt->saturation ? opt->rate * std::pow(opt->sat_factor, index) : opt->rate;
    plan->start = start;
    plan->window_start = start + seconds_to_ns(warm);
    plan->window_end = plan->window_start + seconds_to_ns(measure);
    plan->drain_end = plan->window_end + seconds_to_ns(drain);
    plan->first_turn = turns_used;
    for (auto& t : *threads) t->set_steps_done(static_cast<int>(steps.size()));
  }
};

void phase_completion::operator()() noexcept { (*control)(); }

void raise_descriptor_limit(int clients) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  const rlim_t need = static_cast<rlim_t>(clients) + 64;
  if (lim.rlim_cur >= need) return;
  if (lim.rlim_max < need) {
    rlimit raised{need, need};
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) return;  // root may raise the hard limit too
  }
  lim.rlim_cur = std::min(need, lim.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < need) {
    std::fprintf(stderr, "weft-chat-loadgen: %d clients need %llu descriptors, the hard limit is %llu; raise it (ulimit -Hn)\n", clients,
                 static_cast<unsigned long long>(need), static_cast<unsigned long long>(lim.rlim_max));
    std::exit(1);
  }
}

// Makes the calling thread wake on time for a scheduled send, since its
// lateness counts in every latency:
//  - the timer slack (50 us by default) becomes 1 us;
//  - the scheduler slice it asks for becomes 0.1 ms (sched_setattr's
//    sched_runtime for SCHED_OTHER, Linux 6.12+, no privilege needed): with
//    EEVDF, a task woken while others run waits for the current one's slice
//    (3 ms by default) unless its own request is shorter. Measured beside
//    two CPU-bound neighbours: send lag p99 3.5-5 ms without, see README.
// Older kernels refuse the slice (EINVAL), which only leaves the lag as it is.
void be_punctual() {
  ::prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  struct {
    std::uint32_t size;
    std::uint32_t sched_policy;
    std::uint64_t sched_flags;
    std::int32_t sched_nice;
    std::uint32_t sched_priority;
    std::uint64_t sched_runtime;
    std::uint64_t sched_deadline;
    std::uint64_t sched_period;
  } attr{};
  attr.size = sizeof attr;
  attr.sched_policy = SCHED_OTHER;
  errno = 0;
  attr.sched_nice = ::getpriority(PRIO_PROCESS, 0);
  attr.sched_runtime = 100'000;
  ::syscall(SYS_sched_setattr, 0, &attr, 0u);
}

void on_watchdog(int) {
  static const char message[] = "weft-chat-loadgen: watchdog: the run overstayed its time limit; giving up\n";
  [[maybe_unused]] auto r = ::write(2, message, sizeof message - 1);
  ::_exit(3);
}

// Rooms, slots and the senders' turns (see the header's scenarios).
void plan_clients(shared_state& s, const options& o) {
  const auto n = static_cast<std::size_t>(o.clients);
  s.rooms = o.rooms;
  s.stalled.assign(n, 0);
  s.sent = std::make_unique<std::atomic<std::uint64_t>[]>(n);
  s.room_sent = std::make_unique<std::atomic<std::uint64_t>[]>(static_cast<std::size_t>(std::max(1, o.rooms)));
  if (o.rooms == 0) return;
  s.room_of.resize(n);
  s.slot_of.resize(n);
  s.room_size.assign(static_cast<std::size_t>(o.rooms), 0);
  s.room_readers.assign(static_cast<std::size_t>(o.rooms), 0);
  for (std::size_t c = 0; c < n; ++c) {
    s.room_of[c] = static_cast<std::uint32_t>(c % static_cast<std::size_t>(o.rooms));
    s.slot_of[c] = s.room_size[s.room_of[c]]++;
  }
  // The stalled clients: the first ones, one per room in turn.
  for (std::size_t c = 0; c < static_cast<std::size_t>(o.stalled); ++c) s.stalled[c] = 1;
  std::uint64_t pairs = 0;
  for (std::size_t c = 0; c < n; ++c) {
    if (!s.stalled[c]) {
      ++s.room_readers[s.room_of[c]];
      s.senders.push_back(static_cast<std::uint32_t>(c));
    }
    pairs += s.room_size[s.room_of[c]];
  }
  if (pairs > max_tracking_pairs) {
    usage_error(std::to_string(pairs) + " (receiver, sender) pairs to track; at most " + std::to_string(max_tracking_pairs) +
                ": use fewer clients per room");
  }
}

}  // namespace chat_bench


int main(int argc, char** argv) {
  using namespace chat_bench;
  const options opt = parse_options(argc, argv);
  shared_state shared;
  shared.opt = &opt;
  shared.addr = loopback_address(opt, shared.addr_len);
  plan_clients(shared, opt);
  raise_descriptor_limit(opt.clients);
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGALRM, on_watchdog);
  {
    const double steps = opt.saturation ? opt.sat_max_steps * 2.0 : 1.0;
    const double per_step = opt.saturation ? opt.sat_warmup_s + opt.sat_step_s + opt.drain_s : opt.warmup_s + opt.duration_s + opt.drain_s;
    ::alarm(static_cast<unsigned>(opt.setup_timeout_s + steps * per_step + 2 + 4 + 60));  // + stalled read + QUIT + slack
  }
  be_punctual();

  std::vector<std::unique_ptr<load_thread>> threads;
  for (int t = 0; t < opt.threads; ++t) threads.push_back(std::make_unique<load_thread>(shared, t));
  step_plan plan;
  run_control control;
  control.shared = &shared;
  control.threads = &threads;
  control.plan = &plan;
  control.opt = &opt;
  control.rss_before_kb = resident_kb(opt.server_pid);
  const nanos started = now_ns();
  {
    phase_barrier sync(opt.threads, phase_completion{&control});
    std::vector<std::jthread> running;
    for (int t = 0; t < opt.threads; ++t) {
      running.emplace_back([&, t] {
        if (t > 0) be_punctual();
        threads[static_cast<std::size_t>(t)]->run(sync, plan);
      });
    }
  }

  // -- the checks of step 3, and the report --
  error_log errors;
  std::string setup_error;
  nanos setup_time = 0;
  std::size_t ready = 0;
  for (auto& t : threads) {
    const error_log& e = t->errors();
    errors.closed_by_server += e.closed_by_server;
    errors.server_errors += e.server_errors;
    errors.garbled += e.garbled;
    errors.duplicates += e.duplicates;
    errors.misdelivered += e.misdelivered;
    for (const std::string& s : e.first) errors.note(s);
    if (setup_error.empty()) setup_error = t->setup_error();
    setup_time = std::max(setup_time, t->setup_time());
  }
  for (const std::string& s : errors.first) std::fprintf(stderr, "weft-chat-loadgen: %s: %s\n", opt.impl.c_str(), s.c_str());

  if (control.setup_failed) {
    std::size_t by_state[6] = {};
    for (auto& t : threads) {
      for (int s = 0; s < 6; ++s) by_state[s] += t->setup_states()[static_cast<std::size_t>(s)];
    }
    ready = by_state[static_cast<int>(client_state::ready)];
    std::string states;
    for (int s = 0; s < 6; ++s) {
      if (by_state[s] == 0) continue;
      if (!states.empty()) states += ", ";
      states += std::to_string(by_state[s]) + " " + state_name(static_cast<client_state>(s));
    }
    std::fprintf(stderr, "weft-chat-loadgen: %s: set-up failed: %s (clients: %s)\n", opt.impl.c_str(), setup_error.c_str(), states.c_str());
    std::printf(
        "{\"bench\": \"chat\", \"scenario\": \"%s\", \"impl\": \"%s\", \"clients\": %d, \"rooms\": %d, \"rate\": 0, \"unit\": "
        "\"deliveries/s\", \"p50_us\": 0, \"p99_us\": 0, \"max_us\": 0, \"rss_kb_per_client\": 0, \"cpu_pct\": 0, \"failed\": true, "
        "\"ok\": false, \"clients_ready\": %zu, \"error\": \"%s (clients: %s)\"}\n",
        scenario_name(opt.kind), opt.impl.c_str(), opt.clients, opt.rooms, ready, json_escape(setup_error).c_str(),
        json_escape(states).c_str());
    return 2;
  }

  // Lost: per reading receiver and room member, what the member sent
  // beyond the receiver's next expected seq, plus the gaps never filled.
  std::uint64_t lost = 0;
  std::uint64_t expected = 0;
  std::uint64_t delivered = 0;
  int listed = 0;
  bool stalled_dropped = false;
  for (auto& t : threads) {
    for (const client& c : t->clients()) {
      if (c.stalled) {
        stalled_dropped = stalled_dropped || c.stalled_dropped;
        continue;
      }
      if (shared.rooms == 0) continue;
      delivered += c.received;
      const std::uint32_t room = shared.room_of[c.id];
      for (std::uint32_t m = room; m < static_cast<std::uint32_t>(opt.clients); m += static_cast<std::uint32_t>(shared.rooms)) {
        if (m == c.id || shared.stalled[m]) continue;
        const std::uint64_t sent = shared.sent[m].load();
        expected += sent;
        std::uint64_t missing = sent - std::min(sent, c.next_seq[shared.slot_of[m]]);
        std::uint64_t first_missing = c.next_seq[shared.slot_of[m]];
        for (const gap& g : c.gaps) {
          if (g.sender_slot != shared.slot_of[m]) continue;
          missing += g.to - g.from;
          first_missing = std::min(first_missing, g.from);
        }
        if (missing == 0) continue;
        lost += missing;
        if (listed++ < 20) {
          std::fprintf(stderr, "weft-chat-loadgen: %s: lost: client %u got %" PRIu64 " of the %" PRIu64 " messages of client %u (first missing: #%" PRIu64 ")%s\n",
                       opt.impl.c_str(), c.id, sent - missing, sent, m, first_missing,
                       c.dropped ? " (closed by the server)" : "");
        }
      }
    }
  }
  if (listed > 20) std::fprintf(stderr, "weft-chat-loadgen: %s: ... and %d more (receiver, sender) pairs with losses\n", opt.impl.c_str(), listed - 20);

  // The step to report: the only one, or saturation's best passing one.
  const std::vector<step_summary>& steps = control.steps;
  std::size_t best = 0;
  bool any_passed = false;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].passed && (!any_passed || steps[i].delivered_per_s > steps[best].delivered_per_s)) {
      best = i;
      any_passed = true;
    }
  }
  step_summary reported = steps.empty() ? step_summary{} : steps[best];
  if (opt.saturation && !any_passed) {
    reported.delivered_per_s = 0;
    std::fprintf(stderr, "weft-chat-loadgen: %s: saturation: not even the first step (%.1f msg/s) was sustained: %s\n", opt.impl.c_str(), opt.rate,
                 steps.empty() ? "no step ran" : steps[0].why.c_str());
  }
  // Only a failure can be the loadgen's fault: a step that passed, passed.
  const bool loadgen_bound = !steps.empty() && !steps.back().passed && steps.back().loadgen_bound;
  const long rss_after = reported.rss_end_kb;
  const int measured_clients = opt.clients;
  const double rss_per_client = control.rss_before_kb < 0 || rss_after < 0
                                    ? -1.0
                                    : static_cast<double>(rss_after - control.rss_before_kb) / measured_clients;
  bool overloaded = false;
  for (auto& t : threads) overloaded = overloaded || t->overloaded();
  // Whether the last step's drain saw every delivery arrive: if not, the
  // server was behind (overloaded) when the run ended, and what is counted
  // lost may only have been late, past the drain.
  const bool drained = steps.empty() || steps.back().drained;
  if (!drained && lost > 0) {
    std::fprintf(stderr, "weft-chat-loadgen: %s: the server was still behind %.0f s after the last message (not drained): "
                 "the %" PRIu64 " counted lost may only have been late\n", opt.impl.c_str(), opt.drain_s, lost);
  }
  const bool ok = lost == 0 && errors.closed_by_server == 0 && errors.garbled == 0 && errors.duplicates == 0 && errors.misdelivered == 0 &&
                  errors.server_errors == 0 && !overloaded && (!opt.saturation || any_passed);

  std::string step_list;
  for (const step_summary& s : steps) {
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "%s{\"msgs_per_s\": %.1f, \"rate\": %.0f, \"expected_rate\": %.0f, \"p50_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f, "
                  "\"cpu_pct\": %.1f, \"loadgen_cpu_pct\": %.1f, \"send_lag_p99_us\": %.1f, \"loadgen_bound\": %s, \"passed\": %s%s%s%s}",
                  step_list.empty() ? "" : ", ", s.rate, s.delivered_per_s, s.expected_per_s, s.p50_us, s.p99_us, s.max_us,
                  s.server_cpu_pct, s.loadgen_cpu_pct, s.send_lag_p99_us, s.loadgen_bound ? "true" : "false", s.passed ? "true" : "false",
                  s.why.empty() ? "" : ", \"why\": \"", json_escape(s.why).c_str(), s.why.empty() ? "" : "\"");
    step_list += buf;
  }
  const double duration = opt.saturation ? opt.sat_step_s : opt.duration_s;
  std::printf(
      "{\"bench\": \"chat\", \"scenario\": \"%s\", \"impl\": \"%s\", \"clients\": %d, \"rooms\": %d, \"rate\": %.1f, "
      "\"unit\": \"deliveries/s\", \"p50_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f, \"rss_kb_per_client\": %.2f, "
      "\"cpu_pct\": %.1f, "
      "\"ok\": %s, \"mode\": \"%s\", \"msgs_per_s\": %.1f, \"duration_s\": %.1f, \"payload_bytes\": %d, \"stalled_clients\": %d, "
      "\"stalled_dropped\": %s, \"sent\": %" PRIu64 ", \"expected\": %" PRIu64 ", \"delivered\": %" PRIu64 ", \"lost\": %" PRIu64 ", "
      "\"duplicates\": %" PRIu64 ", \"misdelivered\": %" PRIu64 ", \"garbled\": %" PRIu64 ", \"closed_by_server\": %" PRIu64 ", \"server_errors\": %" PRIu64 ", "
      "\"drained\": %s, \"overloaded\": %s, \"loadgen_bound\": %s, \"send_lag_p99_us\": %.1f, \"loadgen_cpu_pct\": %.1f, \"other_cpu_pct\": %.1f, "
      "\"rss_before_kb\": %ld, \"rss_after_kb\": %ld, \"setup_ms\": %.0f, \"total_s\": %.1f, \"steps\": [%s]}\n",
      scenario_name(opt.kind), opt.impl.c_str(), opt.clients, opt.rooms, reported.delivered_per_s, reported.p50_us, reported.p99_us,
      reported.max_us, rss_per_client, reported.server_cpu_pct, ok ? "true" : "false",
      opt.saturation ? "saturation" : (opt.kind == scenario::idle ? "idle" : "fixed"), opt.kind == scenario::idle ? 0.0 : reported.rate,
      duration, opt.payload_bytes, opt.stalled, stalled_dropped ? "true" : "false",
      [&] {
        std::uint64_t s = 0;
        for (int c = 0; c < opt.clients; ++c) s += shared.sent[static_cast<std::size_t>(c)].load();
        return s;
      }(),
      expected, delivered, lost, errors.duplicates, errors.misdelivered, errors.garbled, errors.closed_by_server, errors.server_errors,
      drained ? "true" : "false", overloaded ? "true" : "false", loadgen_bound ? "true" : "false", reported.send_lag_p99_us,
      reported.loadgen_cpu_pct,
      reported.other_cpu_pct, control.rss_before_kb, rss_after, static_cast<double>(setup_time) / 1e6,
      static_cast<double>(now_ns() - started) / 1e9, opt.kind == scenario::idle ? "" : step_list.c_str());
  return 0;
}
