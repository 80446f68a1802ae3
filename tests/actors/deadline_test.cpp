// Deadlines and cancellation (deadline.hpp): the values and the gate
// alone, then actors on a manual clock: expired work dropped and counted,
// never run; a stage that stops when the deadline passes mid-work;
// cancellation reaching the stages after the one holding the request.

#include "weft_test.hpp"

#include <weft/actors/deadline.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <vector>

using namespace weft_test;
using weft::actors::cancel_source;
using weft::actors::cancel_token;
using weft::actors::deadline;
using weft::actors::deadline_gate;
using weft::actors::flow_errc;
using weft::actors::gate_counts;
using weft::actors::verdict;
using weft::actors::with_deadline;

namespace {

using time_point = weft::clock::time_point;
const time_point t0 = time_point(std::chrono::hours(1000));

}  // namespace

// -- values -------------------------------------------------------------------

TEST_CASE("a deadline is an instant on the runtime clock: never, at, after, remaining, earliest") {
  const deadline never;
  CHECK(never.is_never());
  CHECK_FALSE(never.expired(time_point::max() - 1h));
  CHECK(never.remaining(t0) == deadline::duration::max());
  const deadline d = deadline::at(t0 + 100ms);
  CHECK_FALSE(d.expired(t0 + 99ms));
  CHECK(d.expired(t0 + 100ms));
  CHECK(d.remaining(t0 + 30ms) == 70ms);
  CHECK(d.remaining(t0 + 1s) == 0ms);
  CHECK(d.earliest(never) == d);
  CHECK(never.earliest(d) == d);
  CHECK(d.earliest(deadline::at(t0)) == deadline::at(t0));

  weft::manual_clock clock;
  CHECK(deadline::after(clock, 5s).when() == clock.now() + 5s);
  CHECK(deadline::after(clock, deadline::duration::max()).is_never());  // saturates, no overflow
  CHECK(deadline::after(clock, -1s).expired(clock.now()));
}

TEST_CASE("a cancel source is seen by every token made from it, copies included") {
  cancel_source source;
  cancel_token a = source.token();
  cancel_token b = a;
  CHECK(a.cancellable());
  CHECK_FALSE(cancel_token().cancellable());
  CHECK_FALSE(a.cancelled());
  source.cancel();
  CHECK(a.cancelled());
  CHECK(b.cancelled());
  CHECK(source.cancelled());
  CHECK_FALSE(cancel_token().cancelled());
}

TEST_CASE("a gate runs work on time, drops expired and cancelled work, and counts each") {
  deadline_gate gate;
  cancel_source cancelled;
  cancelled.cancel();
  CHECK(gate.check(t0, deadline::at(t0 + 1s)) == verdict::run);
  CHECK(gate.check(t0, deadline::never()) == verdict::run);
  CHECK(gate.check(t0 + 1s, deadline::at(t0 + 1s)) == verdict::expired);
  CHECK(gate.check(t0, deadline::at(t0 + 1s), cancelled.token()) == verdict::cancelled);
  // Expiry wins over cancellation.
  CHECK(gate.check(t0 + 2s, deadline::at(t0 + 1s), cancelled.token()) == verdict::expired);
  CHECK(gate.keep_going(t0, deadline::at(t0 + 1s)));
  CHECK_FALSE(gate.keep_going(t0 + 1s, deadline::at(t0 + 1s)));
  const gate_counts c = gate.counts();
  CHECK(c.admitted == 2);
  CHECK(c.expired == 2);
  CHECK(c.cancelled == 1);
  CHECK(c.abandoned == 1);
  CHECK(c.dropped() == 3);
}

// -- the callee side ------------------------------------------------------------

namespace {

struct job {
  int n;
};
struct counts_query {};
struct proceed {};
using worker_protocol = weft::protocol<int(with_deadline<job>), gate_counts(counts_query)>;

// A worker whose first job waits for `proceed` (so later jobs queue behind
// it), and that counts every job it really runs.
class worker {
 public:
  explicit worker(std::shared_ptr<std::atomic<int>> ran) : ran_(std::move(ran)) {}
  weft::behavior_of<worker_protocol> make_behavior(weft::context& self) {
    return {weft::actors::drop_expired(self, gate_,
                                       [this, &self](with_deadline<job> w) {
                                         if (ran_->fetch_add(1) == 0) self.receive<proceed>();
                                         return w.message.n * 2;
                                       }),
            [this](counts_query) { return gate_.counts(); }};
  }

 private:
  deadline_gate gate_;
  std::shared_ptr<std::atomic<int>> ran_;
};

}  // namespace

TEST_CASE(
    "work whose deadline passed while it queued is dropped and counted, never run; askers get deadline_exceeded") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  auto ran = std::make_shared<std::atomic<int>>(0);
  auto w = m.rt.spawn_actor<worker>(ran);
  const auto due = deadline::after(me, 100ms);
  me.send(w, with_deadline{job{1}, due});  // runs, and holds the worker
  REQUIRE(eventually([&] { return ran->load() == 1; }));
  for (int i = 2; i <= 5; ++i) me.send(w, with_deadline{job{i}, due});  // queue behind it
  m.clock->advance(150ms);  // their deadline passes while they wait
  me.send(w.to_pid(), proceed{});
  auto late = me.ask(w, with_deadline{job{6}, due});
  REQUIRE_FALSE(late);
  CHECK(late.error() == flow_errc::deadline_exceeded);
  CHECK(late.error().detail().find("job") != std::string_view::npos);
  const auto c = me.ask(w, counts_query{}).value();
  CHECK(ran->load() == 1);
  CHECK(c.admitted == 1);
  CHECK(c.expired == 5);
  // Work on time still runs.
  CHECK(me.ask(w, with_deadline{job{7}, deadline::after(me, 1s)}).value() == 14);
  CHECK(me.ask(w, with_deadline{job{8}, deadline::never()}).value() == 16);
  CHECK(ran->load() == 3);
}

TEST_CASE("cancelled work is dropped at the door and its asker told cancelled") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  auto ran = std::make_shared<std::atomic<int>>(1);  // no job holds the worker
  auto w = m.rt.spawn_actor<worker>(ran);
  cancel_source request;
  CHECK(me.ask(w, with_deadline{job{1}, deadline::never(), request.token()}).value() == 2);
  request.cancel();
  auto r = me.ask(w, with_deadline{job{2}, deadline::never(), request.token()});
  REQUIRE_FALSE(r);
  CHECK(r.error() == flow_errc::cancelled);
  CHECK(me.ask(w, counts_query{}).value().cancelled == 1);
  CHECK(ran->load() == 2);
}

// -- a pipeline -------------------------------------------------------------------

namespace {

struct item {
  int request;
  int n;
};
struct report {};
struct stage_report {
  gate_counts gate;
  std::vector<int> finished;  // n of the items this stage completed
};
struct stage_protocol : weft::protocol<void(with_deadline<item>), stage_report(report)> {};

struct stage_options {
  weft::ref<stage_protocol> next{};  // empty: the last stage
  int steps = 0;                     // clock steps of 100 ms, checked between
  bool hold_first = false;           // the first item waits for `proceed`
};

// One stage: drops late and cancelled items at the door; works through
// its steps, stopping if the request's deadline passes or it is cancelled
// meanwhile; passes the item on with the same deadline and token.
class stage {
 public:
  explicit stage(stage_options o) : o_(std::move(o)) {}
  weft::behavior_of<stage_protocol> make_behavior(weft::context& self) {
    return {weft::actors::drop_expired(self, gate_,
                                       [this, &self](with_deadline<item> w) {
                                         if (o_.hold_first && !held_) {
                                           held_ = true;
                                           self.receive<proceed>();
                                         }
                                         for (int s = 0; s < o_.steps; ++s) {
                                           if (!gate_.keep_going(self, w)) return;
                                           weft::actors::clock_sleep_for(self, 100ms);
                                         }
                                         if (!gate_.keep_going(self, w)) return;
                                         finished_.push_back(w.message.n);
                                         if (o_.next) self.send(o_.next, std::move(w));
                                       }),
            [this](report) { return stage_report{gate_.counts(), finished_}; }};
  }

 private:
  stage_options o_;
  deadline_gate gate_;
  std::vector<int> finished_;
  bool held_ = false;
};

}  // namespace

TEST_CASE("a stage whose request's deadline passes mid-work stops, and the stages after it never see the item") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  auto sink = m.rt.spawn_actor<stage>(stage_options{});
  auto slow = m.rt.spawn_actor<stage>(stage_options{.next = sink, .steps = 3});
  auto source = m.rt.spawn_actor<stage>(stage_options{.next = slow});

  me.send(source, with_deadline{item{1, 1}, deadline::after(me, 250ms)});
  for (int step = 0; step < 3; ++step) {
    REQUIRE(m.clock->await_timers(1));  // the slow stage sleeps one step
    m.clock->advance(100ms);
  }
  // At 300 ms the slow stage checks again, finds the deadline (250 ms) gone, and stops.
  REQUIRE(eventually([&] { return me.ask(slow, report{}).value().gate.abandoned == 1; }));
  const auto s = me.ask(slow, report{}).value();
  CHECK(s.gate.admitted == 1);
  CHECK(s.finished.empty());
  const auto k = me.ask(sink, report{}).value();
  CHECK(k.gate.admitted + k.gate.expired + k.gate.cancelled == 0);  // it never got the item
  CHECK(me.ask(source, report{}).value().finished == std::vector<int>{1});

  // An item with time to spare goes all the way.
  me.send(source, with_deadline{item{2, 2}, deadline::after(me, 1s)});
  for (int step = 0; step < 3; ++step) {
    REQUIRE(m.clock->await_timers(1));
    m.clock->advance(100ms);
  }
  REQUIRE(eventually([&] { return me.ask(sink, report{}).value().finished == std::vector<int>{2}; }));
}

TEST_CASE("cancelling a request reaches the stages after the one that holds it: queued items are dropped unrun") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  auto sink = m.rt.spawn_actor<stage>(stage_options{.hold_first = true});
  auto middle = m.rt.spawn_actor<stage>(stage_options{.next = sink});
  auto source = m.rt.spawn_actor<stage>(stage_options{.next = middle});

  cancel_source other;
  cancel_source request;
  me.send(source, with_deadline{item{0, 0}, deadline::never(), other.token()});  // holds the sink
  for (int n = 1; n <= 3; ++n) me.send(source, with_deadline{item{1, n}, deadline::never(), request.token()});
  // All four are past the middle stage, so queued at the sink.
  REQUIRE(eventually([&] { return me.ask(middle, report{}).value().finished.size() == 4; }));
  request.cancel();
  me.send(sink.to_pid(), proceed{});
  me.send(source, with_deadline{item{1, 4}, deadline::never(), request.token()});  // after the cancel

  REQUIRE(eventually([&] { return me.ask(sink, report{}).value().gate.cancelled == 3; }));
  const auto k = me.ask(sink, report{}).value();
  CHECK(k.finished == std::vector<int>{0});  // only the other request's item ran
  CHECK(k.gate.admitted == 1);
  const auto src = me.ask(source, report{}).value();
  CHECK(src.gate.cancelled == 1);  // the late item stopped at the first stage
  CHECK(src.finished == std::vector<int>{0, 1, 2, 3});
  CHECK(me.ask(middle, report{}).value().gate.cancelled == 0);
}

TEST_CASE("clock_sleep_for waits for the manual clock, not real time, and a cancel ends it early") {
  manual_runtime m;
  weft::scoped_actor me(m.rt);
  weft::pid reply = me.self();
  cancel_source cancel;
  m.rt.spawn([reply, token = cancel.token()](weft::context& self) {
    const auto start = self.system().clock().now();
    const bool slept = weft::actors::clock_sleep_for(self, 24h);
    self.send(reply, std::make_pair(slept, self.system().clock().now() - start));
    self.send(reply, weft::actors::clock_sleep_for(self, 24h, token));
  });
  REQUIRE(m.clock->await_timers(1));
  m.clock->advance(24h);
  const auto first = me.receive<std::pair<bool, weft::clock::duration>>();
  CHECK(first.first);
  CHECK(first.second == 24h);
  REQUIRE(m.clock->await_timers(1));
  cancel.cancel();
  CHECK_FALSE(me.receive<bool>());
  CHECK(eventually([&] { return m.clock->pending() == 0; }));
}
