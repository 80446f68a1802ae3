// Routers (router.hpp): each strategy's choice, forwarding without a copy
// so that routees answer askers directly, and routee membership.

#include "weft_test.hpp"

#include <weft/actors/router.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace weft_test;
namespace wa = weft::actors;

namespace {

// Counts copies and moves of itself: forwarding must do neither.
struct tracked {
  static inline std::atomic<int> copies{0};
  static inline std::atomic<int> moves{0};
  int n = 0;
  tracked() = default;
  explicit tracked(int v) : n(v) {}
  tracked(const tracked& o) : n(o.n) { copies.fetch_add(1); }
  tracked(tracked&& o) noexcept : n(o.n) { moves.fetch_add(1); }
  tracked& operator=(const tracked&) = delete;
  tracked& operator=(tracked&&) = delete;
};

struct job {
  int n = 0;
};
struct note {
  int n = 0;
};
struct hold {};
struct release {};
struct keyed {
  std::string key;
};
// What a routee tells the test it handled.
struct handled {
  int routee;
  int n;
};

using work = weft::protocol<int(job), void(note), int(tracked), void(hold), int(keyed)>;

// Routee `index`: answers a job or a keyed with its index, reports notes,
// and on `hold` waits for a `release` (its mailbox keeps filling meanwhile).
auto worker(int index, weft::pid report) {
  return [index, report](weft::context& self) -> weft::behavior_of<work> {
    return {
        [index](const job&) { return index; },
        [index, report, &self](const note& m) { self.send(report, handled{index, m.n}); },
        [index](const tracked&) { return index; },
        [&self](hold) { self.receive([](release) {}); },
        [index](const keyed&) { return index; },
    };
  };
}

std::vector<weft::ref<work>> workers(weft::runtime& rt, int count, const weft::pid& report) {
  std::vector<weft::ref<work>> out;
  for (int i = 0; i < count; ++i) out.push_back(rt.spawn(worker(i, report)));
  return out;
}

}  // namespace

TEST_CASE("a round-robin router hands requests to its routees in turn, and each routee answers the asker") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto ws = workers(rt, 3, me.self());
  weft::ref<wa::routed<work>> r = rt.spawn(wa::router(ws, wa::round_robin{}));
  weft::ref<work> as_work = r;  // a router for P is a ref<P>
  std::vector<int> answers;
  for (int i = 0; i < 7; ++i) answers.push_back(me.ask(as_work, job{i}, 10s).value());
  CHECK(answers == std::vector<int>{0, 1, 2, 0, 1, 2, 0});
}

TEST_CASE("forwarding through a router neither copies nor moves the message") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto ws = workers(rt, 2, me.self());
  weft::ref<work> direct = ws[0];
  weft::ref<work> routed = rt.spawn(wa::router(ws, wa::round_robin{}));

  tracked::copies = 0;
  tracked::moves = 0;
  REQUIRE(me.ask(direct, tracked(1), 10s).value() == 0);
  const int direct_moves = tracked::moves.load();  // into the envelope: the send itself
  CHECK(tracked::copies.load() == 0);

  tracked::copies = 0;
  tracked::moves = 0;
  REQUIRE(me.ask(routed, tracked(2), 10s).has_value());
  CHECK(tracked::copies.load() == 0);
  CHECK(tracked::moves.load() == direct_moves);
}

TEST_CASE("a random router with a fixed seed spreads messages over every routee") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto ws = workers(rt, 4, me.self());
  weft::ref<work> r = rt.spawn(wa::router(ws, wa::random_routing(42)));
  std::map<int, int> share;
  for (int i = 0; i < 400; ++i) ++share[me.ask(r, job{i}, 10s).value()];
  REQUIRE(share.size() == 4);
  for (const auto& [routee, count] : share) {
    CHECK(count > 50);  // expected 100 each
  }
}

TEST_CASE("a smallest-mailbox router passes over a routee with a backlog") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto ws = workers(rt, 2, me.self());
  weft::ref<work> r = rt.spawn(wa::router(ws, wa::smallest_mailbox{}));
  // Routee 0 holds: its mailbox has the hold plus five notes (six queued).
  me.send(ws[0], hold{});
  for (int i = 0; i < 5; ++i) me.send(ws[0], note{-1});
  REQUIRE(eventually([&] { return wa::detail::queued_messages(ws[0]) == 6; }));
  // Five through the router: routee 1 never has more than five queued, so
  // it always has fewer than routee 0.
  for (int i = 0; i < 5; ++i) me.send(r, note{i});
  std::vector<int> routed_to;
  while (routed_to.size() < 5) {
    handled h = me.receive<handled>();
    if (h.n >= 0) routed_to.push_back(h.routee);
  }
  CHECK(routed_to == std::vector<int>{1, 1, 1, 1, 1});
  me.send(ws[0].to_pid(), release{});  // not in the protocol: the hold handler receives it
  for (int i = 0; i < 5; ++i) CHECK(me.receive<handled>().routee == 0);
}

TEST_CASE("a broadcast router gives every routee the message, and one routee answers a request") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto ws = workers(rt, 3, me.self());
  weft::ref<work> r = rt.spawn(wa::router(ws, wa::broadcast{}));
  me.send(r, note{7});
  std::multiset<int> got;
  for (int i = 0; i < 3; ++i) {
    handled h = me.receive<handled>();
    CHECK(h.n == 7);
    got.insert(h.routee);
  }
  CHECK(got == std::multiset<int>{0, 1, 2});
  CHECK(me.ask(r, job{1}, 10s).value() == 0);
  CHECK_FALSE(me.receive_for<int>(50ms).has_value());  // no stray second answer
}

TEST_CASE("a consistent-hashing router sends each key to one routee, and a new routee takes only keys from others") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto ws = workers(rt, 10, me.self());
  weft::ref<wa::routed<work>> r =
      rt.spawn(wa::router(ws, wa::consistent_hashing([](const auto& m) -> std::string {
                            if constexpr (requires { m.key; }) {
                              return m.key;
                            } else {
                              return "none";
                            }
                          })));
  const int keys = 2000;
  auto owners = [&] {
    std::vector<int> out;
    for (int k = 0; k < keys; ++k) out.push_back(me.ask(r, keyed{"customer-" + std::to_string(k)}, 10s).value());
    return out;
  };
  const std::vector<int> first = owners();
  CHECK(owners() == first);  // stable while the routees stay

  auto extra = weft::ref<work>(rt.spawn(worker(10, me.self())));
  me.send(r, wa::add_routee<work>{extra});
  REQUIRE(me.ask(r, wa::get_routees{}, 10s).value().size() == 11);
  const std::vector<int> second = owners();
  int moved = 0;
  for (int k = 0; k < keys; ++k) {
    if (second[k] == first[k]) continue;
    ++moved;
    CHECK(second[k] == 10);  // only to the newcomer
  }
  MESSAGE("router, 10 -> 11 routees: " << moved << " of " << keys << " keys moved");
  CHECK(moved > 0);
  CHECK(static_cast<double>(moved) / keys <= 0.15);
}

TEST_CASE("a routee that dies leaves the router, and a router without routees refuses requests") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto ws = workers(rt, 2, me.self());
  weft::ref<wa::routed<work>> r = rt.spawn(wa::router(ws, wa::round_robin{}));
  me.exit(ws[0], weft::exit_reason::kill());
  REQUIRE(eventually([&] { return me.ask(r, wa::get_routees{}, 10s).value().size() == 1; }));
  for (int i = 0; i < 4; ++i) CHECK(me.ask(r, job{i}, 10s).value() == 1);

  me.send(r, wa::remove_routee<work>{ws[1]});
  CHECK(me.ask(r, wa::get_routees{}, 10s).value().empty());
  auto refused = me.ask(r, job{9}, 10s);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error() == wa::delivery_errc::no_routee);

  const auto dead_before = rt.dead_letters().total();
  me.send(r, note{1});
  CHECK(eventually([&] { return rt.dead_letters().total() == dead_before + 1; }));
}

TEST_CASE("routees can be added and listed; adding one twice keeps one entry") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto ws = workers(rt, 2, me.self());
  weft::ref<wa::routed<work>> r = rt.spawn(wa::router<work>({}, wa::round_robin{}));
  CHECK(me.ask(r, wa::get_routees{}, 10s).value().empty());
  me.send(r, wa::add_routee<work>{ws[0]});
  me.send(r, wa::add_routee<work>{ws[1]});
  me.send(r, wa::add_routee<work>{ws[0]});
  CHECK(me.ask(r, wa::get_routees{}, 10s).value() == ws);
}

TEST_CASE("a request forwarded to an actor that has died is answered at once with no_actor") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto ws = workers(rt, 1, me.self());
  me.monitor(ws[0]);
  me.exit(ws[0], weft::exit_reason::kill());
  (void)me.receive<weft::down_msg>();
  // What a router does with its choice, here with a choice already dead.
  weft::pid dead = ws[0];
  weft::ref<work> forwarder = rt.spawn([dead](weft::context& self) -> weft::behavior_of<work> {
    return {
        [&self, dead](const job&) { wa::detail::forward_current(self, dead); },
        [&self, dead](const note&) { wa::detail::forward_current(self, dead); },
        [](const tracked&) { return -1; },
        [](hold) {},
        [](const keyed&) { return -1; },
    };
  });
  auto answer = me.ask(forwarder, job{1}, 10s);
  REQUIRE_FALSE(answer.has_value());
  CHECK(answer.error() == weft::ask_errc::no_actor);

  // A router whose routee died answers too: no_routee once it has seen the
  // down_msg, no_actor if the request got there first.
  weft::ref<wa::routed<work>> r = rt.spawn(wa::router<work>({}, wa::round_robin{}));
  me.send(r, wa::add_routee<work>{ws[0]});
  auto routed = me.ask(r, job{1}, 10s);
  REQUIRE_FALSE(routed.has_value());
  CHECK((routed.error() == wa::delivery_errc::no_routee || routed.error() == weft::ask_errc::no_actor));
  CHECK(me.ask(r, wa::get_routees{}, 10s).value().empty());
}
