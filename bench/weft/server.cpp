// 12. server n=1000000 c=16: as `ask` (ask.cpp), but the server is a
// weft::actors::server, the gen_server of weft's actors/ module, and it
// keeps state: the number of calls it has answered, read once after the
// run to check that every call reached it exactly once. c client actors
// each make n/c sequential calls (weft::actors::call, 5 s timeout).
// Reported: calls/s and p50/p99 of one call's latency, recorded as in ask.
// Measured: from the driver's `go` to the last client's `finished`.

#include "harness.hpp"

#if defined(WEFT_BENCH_HAVE_ACTORS_SERVER)
#include <weft/actors/server.hpp>

#include <algorithm>
#include <vector>
#endif

namespace weft_bench {

#if defined(WEFT_BENCH_HAVE_ACTORS_SERVER)
namespace {

struct go {};
struct calls_answered {};

// An integer is answered with the same integer; calls_answered with the
// count of those answers.
using counter_protocol = weft::protocol<std::int64_t(std::int64_t), std::int64_t(calls_answered)>;

class counting_server {
 public:
  using protocol_type = counter_protocol;
  using self_type = weft::actors::server_context<counting_server>;

  std::int64_t handle_call(self_type&, std::int64_t x) {
    ++calls_;
    return x;
  }
  std::int64_t handle_call(self_type&, calls_answered) { return calls_; }

 private:
  std::int64_t calls_ = 0;
};

constexpr auto call_timeout = std::chrono::seconds(5);

}  // namespace
#endif

void server(weft::runtime& rt, const arguments& args, json_line& out) {
  args.allow({"n", "c"});
#if defined(WEFT_BENCH_HAVE_ACTORS_SERVER)
  namespace actors = weft::actors;
  const std::int64_t c = args.get_at_least("c", 16, 1);
  const std::int64_t n = args.get_at_least("n", 1'000'000, c);
  const std::int64_t calls = n / c;
  weft::scoped_actor driver(rt);
  const std::size_t baseline = rt.live_actors();

  const weft::ref<counter_protocol> server = rt.spawn(actors::server<counting_server>());
  std::vector<std::vector<std::int64_t>> latencies(static_cast<std::size_t>(c));
  std::vector<weft::pid> clients;
  for (auto& mine : latencies) {
    mine.reserve(static_cast<std::size_t>(calls));
    clients.push_back(rt.spawn([server, calls, &mine, driver = driver.self()](weft::context& self) {
      self.receive<go>();
      for (std::int64_t k = calls; k > 0; --k) {
        const auto t0 = clock_type::now();
        const weft::expected<std::int64_t> reply = actors::call(self, server, k, call_timeout);
        const auto t1 = clock_type::now();
        if (!reply) fail("server", "a call failed: {}", reply.error());
        if (*reply != k) fail("server", "the server answered {} to {}", *reply, k);
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

  const weft::expected<std::int64_t> answered = actors::call(driver, server, calls_answered{}, call_timeout);
  if (!answered) fail("server", "reading the server's count failed: {}", answered.error());
  if (*answered != calls * c) fail("server", "the server answered {} calls, expected {}", *answered, calls * c);
  driver.exit(server, weft::exit_reason::shutdown());
  clients.clear();
  await_baseline(rt, baseline, "server");

  std::vector<std::int64_t> all;
  all.reserve(static_cast<std::size_t>(calls * c));
  for (const auto& mine : latencies)
    all.insert(all.end(), mine.begin(), mine.end());
  std::sort(all.begin(), all.end());
  add_rate(out, calls * c, seconds, "calls/s");
  out.add("p50_us", percentile_us(all, 0.50), 3).add("p99_us", percentile_us(all, 0.99), 3);
#else
  throw skipped("weft::actors::server (actors/include/weft/actors/server.hpp) is not in this build");
#endif
}

}  // namespace weft_bench
