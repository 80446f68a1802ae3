// Many actors, many workers' worth of contention: request/reply chains,
// spawn storms and random exits at once, with randomized pauses. What
// must hold: every request gets its answer, nothing leaks, the runtime
// stops cleanly.

#include "weft_test.hpp"

#include <doctest/doctest.h>

#include <random>

using namespace weft_test;

namespace {
struct work {
  int n;
};
using server_protocol = weft::protocol<int(work)>;
}  // namespace

TEST_CASE("a mesh of actors asking each other under random pauses and random deaths stays consistent") {
  weft::runtime rt(small_runtime(2));
  weft::scoped_actor me(rt);
  weft::pid report = me.self();
  const int servers = 64;
  const int clients = 64;
  const int asks_per_client = 2000 * stress_factor();
  std::vector<weft::ref<server_protocol>> pool;
  for (int i = 0; i < servers; ++i) {
    pool.push_back(rt.spawn([](weft::context& self) -> weft::behavior_of<server_protocol> {
      return {[&self](work w) {
        if (w.n % 97 == 0) self.yield();
        return w.n + 1;
      }};
    }));
  }
  for (int c = 0; c < clients; ++c) {
    rt.spawn([pool, report, c, asks_per_client](weft::context& self) {
      std::minstd_rand rng(static_cast<unsigned>(c) + 7);
      long good = 0;
      for (int i = 0; i < asks_per_client; ++i) {
        const weft::ref<server_protocol>& server = pool[rng() % pool.size()];
        auto r = self.ask(server, work{i}, std::chrono::seconds(30));
        if (r && *r == i + 1) ++good;
        if (rng() % 512 == 0) self.sleep_for(std::chrono::microseconds(rng() % 300));
        // Short-lived helpers come and go meanwhile.
        if (rng() % 64 == 0) {
          weft::pid helper = self.spawn([](weft::context& h) { h.receive_for<int>(std::chrono::milliseconds(1)); });
          if (rng() % 2 == 0) self.exit(helper, weft::exit_reason::kill());
        }
      }
      self.send(report, good);
    });
  }
  long good = 0;
  for (int c = 0; c < clients; ++c) good += me.receive<long>();
  CHECK(good == static_cast<long>(clients) * asks_per_client);
  for (auto& p : pool) me.exit(p, weft::exit_reason::shutdown());
  CHECK(eventually([&] { return rt.live_actors() == 0; }));
  CHECK(rt.dead_letters()[weft::dead_letter_cause::late_reply] == 0);
}
