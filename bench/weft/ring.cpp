// 4. ring r=1000 h=10000000: r typed class-style actors in a ring; one
// token carrying a hop counter goes around until h hops are done. The
// driver hands the token (hop 0) to the first node; every pass to the next
// node is one hop; the node that receives hop h reports `finished`.
//
// Measured: from handing in the token to `finished` (the ring is built
// and idle before).

#include "harness.hpp"

#include <vector>

namespace weft_bench {
namespace {

struct next_is;
struct token {
  std::int64_t hops;
};
// A node learns its successor once, then passes the token on. A struct
// (not an alias) so that next_is can hold a ref to it.
struct ring_node : weft::protocol<void(next_is), void(token)> {};
struct next_is {
  weft::ref<ring_node> next;
};

class node final {
 public:
  node(std::int64_t hops_total, weft::pid driver) : hops_total_(hops_total), driver_(std::move(driver)) {}

  weft::behavior_of<ring_node> make_behavior(weft::context& self) {
    return {
        [this](next_is n) { next_ = std::move(n.next); },
        [this, &self](token t) {
          if (t.hops == hops_total_) {
            self.send(driver_, finished{});
          } else {
            self.send(next_, token{t.hops + 1});
          }
        },
    };
  }

 private:
  std::int64_t hops_total_;
  weft::pid driver_;  // a scoped_actor: untyped
  weft::ref<ring_node> next_;
};

}  // namespace

void ring(weft::runtime& rt, const arguments& args, json_line& out) {
  args.allow({"r", "h"});
  const std::int64_t r = args.get_at_least("r", 1000, 1);
  const std::int64_t h = args.get_at_least("h", 10'000'000, 1);
  weft::scoped_actor driver(rt);
  const std::size_t baseline = rt.live_actors();

  std::vector<weft::ref<ring_node>> nodes;
  nodes.reserve(static_cast<std::size_t>(r));
  for (std::int64_t i = 0; i < r; ++i)
    nodes.push_back(rt.spawn_actor<node>(h, driver.self()));
  for (std::size_t i = 0; i < nodes.size(); ++i)
    driver.send(nodes[i], next_is{nodes[(i + 1) % nodes.size()]});
  rt.wait_quiescent(std::chrono::seconds(10));

  const auto t0 = clock_type::now();
  driver.send(nodes.front(), token{0});
  driver.receive<finished>();
  const double seconds = seconds_since(t0);

  for (const weft::ref<ring_node>& p : nodes)
    driver.exit(p, weft::exit_reason::shutdown());
  nodes.clear();
  await_baseline(rt, baseline, "ring");
  add_rate(out, h, seconds, "hops/s");
}

}  // namespace weft_bench
