// 8. ask n=1000000 c=16: c client actors each make n/c sequential
// request/reply calls (context::ask, 5 s timeout) to one typed
// handler-style server that answers each request with its own integer.
// Reported: calls/s and p50/p99 of one call's latency.
//
// Each client (Erlang style: a plain loop of asks) writes its latencies
// into its own pre-sized vector, which the driver reads only after that
// client's `finished`: the message orders the writes before the reads, and
// recording costs two clock reads and a store per call. Measured: from the
// driver's `go` to the last client's `finished`.

#include "harness.hpp"

#include <algorithm>
#include <vector>

namespace weft_bench {
namespace {

struct go {};

// The server answers an integer with the same integer.
using echo_server = weft::protocol<std::int64_t(std::int64_t)>;

constexpr auto call_timeout = std::chrono::seconds(5);

}  // namespace

void ask(weft::runtime& rt, const arguments& args, json_line& out) {
  args.allow({"n", "c"});
  const std::int64_t c = args.get_at_least("c", 16, 1);
  const std::int64_t n = args.get_at_least("n", 1'000'000, c);
  const std::int64_t calls = n / c;
  weft::scoped_actor driver(rt);
  const std::size_t baseline = rt.live_actors();

  const weft::ref<echo_server> server =
      rt.spawn([](weft::context&) -> weft::behavior_of<echo_server> { return {[](std::int64_t x) { return x; }}; });
  std::vector<std::vector<std::int64_t>> latencies(static_cast<std::size_t>(c));
  std::vector<weft::pid> clients;
  for (auto& mine : latencies) {
    mine.reserve(static_cast<std::size_t>(calls));
    clients.push_back(rt.spawn([server, calls, &mine, driver = driver.self()](weft::context& self) {
      self.receive<go>();
      for (std::int64_t k = calls; k > 0; --k) {
        const auto t0 = clock_type::now();
        const weft::expected<std::int64_t> reply = self.ask(server, k, call_timeout);
        const auto t1 = clock_type::now();
        if (!reply) fail("ask", "a call failed: {}", reply.error());
        if (*reply != k) fail("ask", "the server answered {} to {}", *reply, k);
        mine.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
      }
      self.send(driver, finished{});
    }));
  }
  rt.wait_quiescent(std::chrono::seconds(10));

  const auto t0 = clock_type::now();
  for (const weft::pid& client : clients)
    driver.send(client, go{});
  for (std::int64_t i = 0; i < c; ++i)
    driver.receive<finished>();
  const double seconds = seconds_since(t0);

  driver.exit(server, weft::exit_reason::shutdown());
  clients.clear();
  await_baseline(rt, baseline, "ask");

  std::vector<std::int64_t> all;
  all.reserve(static_cast<std::size_t>(calls * c));
  for (const auto& mine : latencies)
    all.insert(all.end(), mine.begin(), mine.end());
  std::sort(all.begin(), all.end());
  add_rate(out, calls * c, seconds, "calls/s");
  out.add("p50_us", percentile_us(all, 0.50), 3).add("p99_us", percentile_us(all, 0.99), 3);
}

}  // namespace weft_bench
