// 15. ask_backlog n=100000 backlog=1000: one client actor, with `backlog`
// unrelated messages queued (set aside in its stash, as an actor that
// asks in the middle of a busy mailbox has), makes n sequential
// request/reply calls (context::ask, 5 s timeout) to one handler-style
// server that answers an integer with the same integer. Reported: calls/s
// and p50/p99 of one call. The rate must not fall as `backlog` grows: an
// ask's reply cannot be older than its request, so the reply matcher
// must not look at the backlog (runtime/src/actor.cpp, scan_from).
//
// The backlog is queued before `go`, and the client receives `go`
// selectively, so every one of the `backlog` messages sits in its stash
// during all n calls; the client takes them afterwards and checks the
// count, so none was lost or consumed by an ask.

#include "harness.hpp"

#include <algorithm>
#include <vector>

namespace weft_bench {
namespace {

struct go {};
struct unrelated {
  std::int64_t k = 0;
};

using echo_server = weft::protocol<std::int64_t(std::int64_t)>;

constexpr auto call_timeout = std::chrono::seconds(5);

}  // namespace

void ask_backlog(weft::runtime& rt, const arguments& args, json_line& out) {
  args.allow({"n", "backlog"});
  const std::int64_t n = args.get_at_least("n", 100'000, 1);
  const std::int64_t backlog = args.get_at_least("backlog", 1'000, 0);
  weft::scoped_actor driver(rt);
  const std::size_t baseline = rt.live_actors();

  const weft::ref<echo_server> server =
      rt.spawn([](weft::context&) -> weft::behavior_of<echo_server> { return {[](std::int64_t x) { return x; }}; });
  std::vector<std::int64_t> latencies;
  latencies.reserve(static_cast<std::size_t>(n));
  // The client's mailbox must hold the whole backlog.
  weft::spawn_options opts;
  opts.mailbox_capacity = static_cast<std::size_t>(backlog) + 64;
  const weft::pid client = rt.spawn(
      [server, n, backlog, &latencies, driver = driver.self()](weft::context& self) {
        self.receive<go>();
        for (std::int64_t k = n; k > 0; --k) {
          const auto t0 = clock_type::now();
          const weft::expected<std::int64_t> reply = self.ask(server, k, call_timeout);
          const auto t1 = clock_type::now();
          if (!reply) fail("ask_backlog", "a call failed: {}", reply.error());
          if (*reply != k) fail("ask_backlog", "the server answered {} to {}", *reply, k);
          latencies.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
        }
        self.send(driver, finished{});
        for (std::int64_t i = 0; i < backlog; ++i) {
          if (self.receive<unrelated>().k != i) fail("ask_backlog", "the backlog came back out of order");
        }
        self.send(driver, finished{});
      },
      opts);
  for (std::int64_t i = 0; i < backlog; ++i)
    driver.send(client, unrelated{i});
  rt.wait_quiescent(std::chrono::seconds(10));

  const auto t0 = clock_type::now();
  driver.send(client, go{});
  driver.receive<finished>();
  const double seconds = seconds_since(t0);
  driver.receive<finished>();

  driver.exit(server, weft::exit_reason::shutdown());
  await_baseline(rt, baseline, "ask_backlog");

  std::sort(latencies.begin(), latencies.end());
  add_rate(out, n, seconds, "calls/s");
  out.add("backlog", backlog);
  out.add("p50_us", percentile_us(latencies, 0.50), 3).add("p99_us", percentile_us(latencies, 0.99), 3);
}

}  // namespace weft_bench
