// Deadlock detection for blocked sends (runtime_options::on_send_deadlock,
// runtime/src/deadlock.hpp): cycles of actors blocked on each other's full
// mailboxes are reported once, named; live back-pressure never is.

#include "weft_test.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <random>
#include <string>
#include <vector>

using namespace weft_test;

namespace {

struct next_is {
  weft::pid to;
};
struct report {
  int sent_ok = 0;
  bool failed = false;
  int received = 0;
};

std::uint64_t deadlock_reports(weft::runtime& rt) {
  auto counts = rt.events().counts();
  auto it = counts.find("runtime/send_deadlock");
  return it == counts.end() ? 0 : it->second;
}

// Lets bursters start once every one has taken its successor's pid out of
// its mailbox (else that message takes a slot a burst may count on).
struct start_gate {
  explicit start_gate(int n) : of(n) {}
  std::atomic<int> ready{0};
  const int of;
};
using start_flag = std::shared_ptr<start_gate>;

// An actor that learns its successor, sends it `burst` ints before reading
// anything, and then reads. Blocking sends into a small mailbox: a ring of
// these deadlocks once every mailbox is full.
weft::pid spawn_burster(weft::runtime& rt, std::string name, int burst, weft::pid report_to, start_flag start) {
  return rt.spawn(
      [burst, report_to, start](weft::context& self) {
        const weft::pid next = self.receive<next_is>().to;
        start->ready.fetch_add(1);
        while (start->ready.load() < start->of) self.sleep_for(1ms);
        report r;
        for (int i = 0; i < burst; ++i) {
          const weft::send_status s = self.send(next, i);
          // `dead` once the test kills the other end.
          if (s != weft::send_status::ok) {
            r.failed = s == weft::send_status::deadlock;
            break;
          }
          ++r.sent_ok;
        }
        while (self.receive_for<int>(300ms)) ++r.received;
        self.send(report_to, r);
      },
      {.mailbox_capacity = 4, .name = std::move(name)});
}

// Closes a ring: each actor's successor is the next one.
void link_ring(weft::scoped_actor& me, const std::vector<weft::pid>& ring) {
  for (std::size_t i = 0; i < ring.size(); ++i) me.send(ring[i], next_is{ring[(i + 1) % ring.size()]});
}

// The report's "<pid> "name" (mailbox 4/4) -> <next>".
bool contains_edge(const std::string& text, const weft::pid& who, const std::string& name, const weft::pid& next) {
  return text.find(who.to_string() + " \"" + name + "\" (mailbox 4/4) -> " + next.to_string()) != std::string::npos;
}

std::string last_report_text(weft::runtime& rt) {
  for (const auto& e : rt.events().latest(16))
    if (e.kind == "send_deadlock") return e.text;
  return {};
}

}  // namespace

TEST_CASE("two actors blocked sending into each other's full mailboxes: reported once, with names and mailboxes") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto start = std::make_shared<start_gate>(2);
  const weft::pid a = spawn_burster(rt, "ping", 100, me.self(), start);
  const weft::pid b = spawn_burster(rt, "pong", 100, me.self(), start);
  link_ring(me, {a, b});

  REQUIRE(eventually([&] { return deadlock_reports(rt) == 1; }));
  const std::string text = last_report_text(rt);
  CAPTURE(text);
  CHECK(text.find("deadlock: 2 actors") != std::string::npos);
  CHECK(contains_edge(text, a, "ping", b));
  CHECK(contains_edge(text, b, "pong", a));

  // Introspection names the mailbox each waits for.
  CHECK(rt.info(a)->blocked_sending_to == b);
  CHECK(rt.info(b)->blocked_sending_to == a);
  CHECK(eventually([&] { return rt.info(a)->status == weft::actor_status::waiting; }));

  // Once only: nothing new while the cycle stays.
  std::this_thread::sleep_for(300ms);
  CHECK(deadlock_reports(rt) == 1);

  // An exit signal is the outside event that frees them.
  me.exit(a, weft::exit_reason::kill());
  me.exit(b, weft::exit_reason::kill());
  CHECK(eventually([&] { return rt.live_actors() == 0; }));
}

TEST_CASE("three actors in a ring of full mailboxes: one report names all three in order") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto start = std::make_shared<start_gate>(3);
  std::vector<weft::pid> ring = {spawn_burster(rt, "r0", 50, me.self(), start), spawn_burster(rt, "r1", 50, me.self(), start),
                                 spawn_burster(rt, "r2", 50, me.self(), start)};
  link_ring(me, ring);

  REQUIRE(eventually([&] { return deadlock_reports(rt) == 1; }));
  const std::string text = last_report_text(rt);
  CAPTURE(text);
  CHECK(text.find("deadlock: 3 actors") != std::string::npos);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(contains_edge(text, ring[i], "r" + std::to_string(i), ring[(i + 1) % 3]));
    CHECK(rt.info(ring[i])->blocked_sending_to == ring[(i + 1) % 3]);
  }
  std::this_thread::sleep_for(300ms);
  CHECK(deadlock_reports(rt) == 1);
  for (const auto& p : ring) me.exit(p, weft::exit_reason::kill());
  CHECK(eventually([&] { return rt.live_actors() == 0; }));
}

TEST_CASE("with on_send_deadlock = fail, the send that closes the cycle fails and every other message arrives") {
  auto options = small_runtime();
  options.on_send_deadlock = weft::send_deadlock_action::fail;
  weft::runtime rt(options);
  weft::scoped_actor me(rt);
  auto start = std::make_shared<start_gate>(2);
  const weft::pid a = spawn_burster(rt, "ping", 100, me.self(), start);
  const weft::pid b = spawn_burster(rt, "pong", 100, me.self(), start);
  link_ring(me, {a, b});

  // The failing actor stops sending and reads, which frees the other, which
  // finishes its burst and reads what the first had sent.
  const report first = *me.receive_for<report>(20s);
  const report second = *me.receive_for<report>(20s);
  CHECK(first.failed != second.failed);  // exactly one send failed
  const report& failed = first.failed ? first : second;
  const report& finished = first.failed ? second : first;
  CHECK(finished.sent_ok == 100);
  CHECK(failed.received == finished.sent_ok);
  CHECK(finished.received == failed.sent_ok);
  CHECK(deadlock_reports(rt) == 1);
  CHECK(rt.dead_letters()[weft::dead_letter_cause::rejected] == 1);
}

TEST_CASE("an actor blocked on a full mailbox that will drain is shown blocked, and no deadlock is reported") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  // The sink reads nothing until released. The gate is a flag, not a
  // message: a message would need a slot in the full mailbox.
  auto released = std::make_shared<std::atomic<bool>>(false);
  const weft::pid sink = rt.spawn(
      [released](weft::context& self) {
        while (!released->load()) self.sleep_for(1ms);
        while (self.receive_for<int>(200ms)) {
        }
      },
      {.mailbox_capacity = 2});
  const weft::pid sender = rt.spawn(
      [sink](weft::context& self) {
        for (int i = 0; i < 10; ++i) self.send(sink, i);
      },
      {.name = "sender"});
  REQUIRE(eventually([&] {
    auto info = rt.info(sender);
    return info && info->blocked_sending_to == sink;
  }));
  CHECK(deadlock_reports(rt) == 0);
  released->store(true);
  CHECK(eventually([&] {  // it finished its sends and exited
    auto info = rt.info(sender);
    return !info || info->status == weft::actor_status::dead;
  }));
  CHECK(deadlock_reports(rt) == 0);
}

TEST_CASE("heavy but live back-pressure in rings, pairs and a fan-in is never reported, checked every millisecond") {
  // Every blocked send is checked after 1 ms, and randomized pauses keep
  // senders blocked while others move: the walk runs thousands of times
  // against graphs that change under it. A ring of n actors with mailboxes
  // of c deadlocks only with n*c + n tokens (every mailbox full and every
  // actor holding one); these carry one fewer, so every cycle seen blocked
  // must resolve.
  auto options = small_runtime();
  options.deadlock_check_after = 1ms;
  weft::runtime rt(options);
  weft::scoped_actor me(rt);
  const int hops_each = 3000 * stress_factor();  // per actor of a ring
  // Counted, not REQUIREd, in the actors: the kills at the end unwind them
  // from inside a send, which a REQUIRE there would take for a failure.
  auto bad_sends = std::make_shared<std::atomic<int>>(0);
  auto forwarder = [hops_each, bad_sends](unsigned seed, std::shared_ptr<std::atomic<int>> hops, int ring_size) {
    return [=](weft::context& self) {
      std::minstd_rand rng(seed);
      const weft::pid next = self.receive<next_is>().to;
      for (;;) {
        const int token = self.receive<int>();
        const unsigned pause = rng() % 16;
        if (pause == 0) self.sleep_for(std::chrono::microseconds(rng() % 3000));
        if (pause == 1) self.yield();
        if (hops->fetch_add(1) >= hops_each * ring_size) continue;  // done: the token leaves the ring
        if (self.send(next, token) != weft::send_status::ok) bad_sends->fetch_add(1);
      }
    };
  };
  std::vector<weft::pid> all;
  std::vector<std::pair<std::shared_ptr<std::atomic<int>>, int>> rings;  // hop counter, target
  unsigned seed = 1;
  for (int ring_size : {2, 3, 2, 5}) {
    const std::size_t capacity = 2;
    auto hops = std::make_shared<std::atomic<int>>(0);
    rings.emplace_back(hops, hops_each * ring_size);
    std::vector<weft::pid> ring;
    for (int i = 0; i < ring_size; ++i)
      ring.push_back(rt.spawn(forwarder(seed++, hops, ring_size), {.mailbox_capacity = capacity}));
    link_ring(me, ring);
    const int tokens = ring_size * static_cast<int>(capacity) + ring_size - 1;
    for (int t = 0; t < tokens; ++t) me.send(ring[static_cast<std::size_t>(t % ring_size)], t);
    all.insert(all.end(), ring.begin(), ring.end());
  }
  // A fan-in beside them: eight producers into one slow consumer.
  const weft::pid consumer = rt.spawn(
      [](weft::context& self) {
        std::minstd_rand rng(99);
        for (;;) {
          self.receive<int>();
          if (rng() % 8 == 0) self.sleep_for(std::chrono::microseconds(rng() % 2000));
        }
      },
      {.mailbox_capacity = 2});
  for (int p = 0; p < 8; ++p)
    all.push_back(rt.spawn([consumer, hops_each, bad_sends](weft::context& self) {
      for (int i = 0; i < hops_each / 4; ++i)
        if (self.send(consumer, i) != weft::send_status::ok) bad_sends->fetch_add(1);
    }));
  all.push_back(consumer);

  for (const auto& [hops, target] : rings) CHECK(eventually([&] { return hops->load() >= target; }, 60s));
  CHECK(deadlock_reports(rt) == 0);
  CHECK(bad_sends->load() == 0);
  for (const auto& p : all) me.exit(p, weft::exit_reason::kill());
}

TEST_CASE("a scoped_actor's thread in the cycle is seen too, and with fail its send comes back") {
  auto options = small_runtime();
  options.on_send_deadlock = weft::send_deadlock_action::fail;
  weft::runtime rt(options);
  weft::scoped_actor me(rt, {.mailbox_capacity = 2});
  const weft::pid echo = rt.spawn(
      [](weft::context& self) {
        const weft::pid back = self.receive<next_is>().to;
        for (int i = 0; i < 20; ++i)
          if (self.send(back, i) != weft::send_status::ok) return;
      },
      {.mailbox_capacity = 2, .name = "echo"});
  me.send(echo, next_is{me.self()});
  // The echo fills this thread's mailbox and blocks; this thread fills the
  // echo's and blocks: whichever is checked last closes the cycle.
  int sent = 0;
  weft::send_status s = weft::send_status::ok;
  while (sent < 20 && (s = me.send(echo, sent)) == weft::send_status::ok) ++sent;
  const std::string text = last_report_text(rt);
  CAPTURE(text);
  CHECK(deadlock_reports(rt) == 1);
  CHECK(text.find(me.self().to_string() + " (mailbox 2/2) -> " + echo.to_string()) != std::string::npos);
  CHECK(text.find(echo.to_string() + " \"echo\" (mailbox 2/2) -> " + me.self().to_string()) != std::string::npos);
  // Either this thread's send failed, and the echo goes on once this thread
  // reads; or the echo's did, and it returned, which ends this send `dead`.
  int got = 0;
  while (me.receive_for<int>(300ms)) ++got;
  if (s == weft::send_status::deadlock) {
    CHECK(got == 20);
  } else {
    CHECK(s == weft::send_status::dead);
    CHECK(got == 2);  // what it had sent before its send failed
  }
}
