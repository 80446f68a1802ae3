// weft::actors::state_machine (state_machine.hpp). Every timeout runs on a
// manual_clock: time moves only when a test advances it.

#include "weft_test.hpp"

#include <weft/actors/state_machine.hpp>
#include <weft/supervisor/supervisor.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace weft_test;
namespace wa = weft::actors;
namespace sup = weft::sup;

namespace {

weft::runtime_options clocked(const std::shared_ptr<weft::manual_clock>& clock) {
  auto options = small_runtime();
  options.clock = clock;
  return options;
}

using log_type = std::vector<std::string>;

// -- a door: states as types, enter calls, postpone, calls in states ------------------

struct coin {};
struct push {};
struct relock {};  // a transition to the state it is in
struct item {
  int n;
};
struct wait_open {};
struct is_locked {};
struct read_log {};
struct count_unhandled {};
struct stop_now {};
struct unlock {};  // answered by on_enter(opened)
using door_protocol =
    weft::protocol<void(coin), void(push), void(relock), void(item), int(wait_open), bool(is_locked),
                   log_type(read_log), std::uint64_t(count_unhandled), void(stop_now), std::string(unlock)>;

struct locked {
  int pushes = 0;
};
struct opened {};

class door {
 public:
  using protocol_type = door_protocol;
  using state_type = std::variant<locked, opened>;
  using sm = wa::state_machine_context<door>;

  explicit door(weft::pid observer = {}) : observer_(std::move(observer)) {}

  state_type init(sm&) {
    log_.push_back("init");
    return locked{};
  }
  void on_enter(sm&, locked& s) { log_.push_back("enter locked after " + std::to_string(s.pushes) + " pushes"); }
  void on_enter(sm& m, opened&) {
    log_.push_back("enter opened");
    m.reply(std::string("opened by enter"));  // the event that changed state, if it was asked
  }

  void handle_event(sm& m, locked&, const coin&) { m.transition(opened{}); }
  void handle_event(sm& m, locked&, const unlock&) { m.transition(opened{}); }
  void handle_event(sm&, locked& s, const push&) { ++s.pushes; }  // keeps the state, changes its data
  void handle_event(sm& m, opened&, const push&) { m.transition(locked{}); }
  void handle_event(sm& m, locked& s, const relock&) { m.transition(locked{s}); }
  void handle_event(sm& m, locked&, const item&) { m.postpone(); }
  void handle_event(sm&, opened&, const item& i) { log_.push_back("item " + std::to_string(i.n)); }
  void handle_event(sm& m, locked&, const wait_open&) { m.postpone(); }
  int handle_event(sm&, opened&, const wait_open&) { return ++answered_; }
  bool handle_event(sm&, locked&, const is_locked&) { return true; }  // no handler in opened
  template <class S>
  log_type handle_event(sm&, S&, const read_log&) {
    return log_;
  }
  template <class S>
  std::uint64_t handle_event(sm& m, S&, const count_unhandled&) {
    return m.unhandled_events();
  }
  template <class S>
  void handle_event(sm& m, S&, const stop_now&) {
    m->exit(weft::exit_reason::error("stopped in " +
                                     std::string(std::holds_alternative<locked>(m.state()) ? "locked" : "opened")));
  }
  void terminate(sm& m, const weft::exit_reason& why) {
    if (observer_) m->send(observer_, "terminate " + why.to_string());
  }

 private:
  log_type log_;
  int answered_ = 0;
  weft::pid observer_;
};

TEST_CASE("states as types: each state handles its events, and a state change calls the new state's on_enter") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto d = rt.spawn(wa::state_machine<door>());
  wa::cast(me, d, push{});
  wa::cast(me, d, push{});
  wa::cast(me, d, coin{});
  wa::cast(me, d, push{});
  auto log = wa::call(me, d, read_log{}, 5s);
  REQUIRE(log.has_value());
  CHECK(*log == log_type{"init", "enter locked after 0 pushes", "enter opened", "enter locked after 0 pushes"});
  CHECK(wa::call(me, d, is_locked{}, 5s) == true);
}

TEST_CASE("a postponed event is retried after the next state change, in original order, and not before") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto d = rt.spawn(wa::state_machine<door>());
  for (int i = 1; i <= 3; ++i) wa::cast(me, d, item{i});
  wa::cast(me, d, push{});    // handled, but no transition
  wa::cast(me, d, relock{});  // a transition to the same state: not a change
  REQUIRE(wa::call(me, d, read_log{}, 5s).value().size() == 2);  // init, enter: nothing retried
  wa::cast(me, d, item{4});
  wa::cast(me, d, coin{});
  wa::cast(me, d, item{5});
  auto log = wa::call(me, d, read_log{}, 5s);
  REQUIRE(log.has_value());
  CHECK(*log == log_type{"init", "enter locked after 0 pushes", "enter opened", "item 1", "item 2", "item 3",
                         "item 4", "item 5"});
}

TEST_CASE("a postponed call keeps its caller waiting, then gets the reply of the state it is retried in") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto d = rt.spawn(wa::state_machine<door>());
  const weft::pid report = me.self();
  rt.spawn([d, report](weft::context& self) { self.send(report, wa::call(self, d, wait_open{}, 20s)); });
  REQUIRE(eventually([&] { return rt.info(d)->processed >= 1; }));
  CHECK_FALSE(me.receive_for<weft::expected<int>>(std::chrono::nanoseconds::zero()).has_value());
  wa::cast(me, d, coin{});
  weft::expected<int> answer = me.receive<weft::expected<int>>();
  REQUIRE(answer.has_value());
  CHECK(*answer == 1);
}

TEST_CASE("an event with no handler in the current state: a call is answered unhandled at once, a cast is counted") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto d = rt.spawn(wa::state_machine<door>());
  wa::cast(me, d, coin{});
  weft::expected<bool> locked_now = wa::call(me, d, is_locked{}, 20s);
  REQUIRE_FALSE(locked_now.has_value());
  CHECK(locked_now.error() == weft::ask_errc::unhandled);
  CHECK(locked_now.error().detail().find("in state") != std::string_view::npos);
  wa::cast(me, d, coin{});  // no coin handler in opened
  CHECK(wa::call(me, d, count_unhandled{}, 5s) == 2u);
}

TEST_CASE("on_enter answers the call that changed the state") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto d = rt.spawn(wa::state_machine<door>());
  CHECK(wa::call(me, d, unlock{}, 5s) == std::string("opened by enter"));
  // In opened, unlock has no handler: answered unhandled, not by on_enter.
  weft::expected<std::string> again = wa::call(me, d, unlock{}, 5s);
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error() == weft::ask_errc::unhandled);
}

// -- system messages and messages sent to itself ---------------------------------------------

struct watch {
  weft::pid who;
};
struct beat {};  // sent to itself through its pid: an info message
enum class watching { idle, watching };
using watcher_protocol = weft::protocol<void(watch), log_type(read_log)>;

class watcher {
 public:
  using protocol_type = watcher_protocol;
  using state_type = watching;
  using info_messages = wa::messages<beat>;
  using sm = wa::state_machine_context<watcher>;

  state_type init(sm& m) {
    m->send_after(std::chrono::minutes(1), m->self(), beat{});
    return watching::idle;
  }
  void handle_event(sm& m, watching, const watch& w) {
    m->monitor(w.who);
    m.transition(watching::watching);
  }
  void handle_event(sm& m, watching s, const weft::down_msg& d) {
    log_.push_back(std::string(s == watching::watching ? "watching" : "idle") + ": down " + d.reason.to_string());
    m.transition(watching::idle);
  }
  void handle_event(sm&, watching s, const beat&) {
    log_.push_back(std::string(s == watching::watching ? "watching" : "idle") + ": beat");
  }
  log_type handle_event(sm&, watching, const read_log&) { return log_; }

 private:
  log_type log_;
};

TEST_CASE("down_msg and the types of info_messages are events, handled in the current state") {
  auto clock = std::make_shared<weft::manual_clock>();
  weft::runtime rt(clocked(clock));
  weft::scoped_actor me(rt);
  auto w = rt.spawn(wa::state_machine<watcher>());
  weft::pid watched = rt.spawn([](weft::context& self) {
    self.receive<int>();
    self.exit(weft::exit_reason::error("gone"));
  });
  wa::cast(me, w, watch{watched});
  REQUIRE(wa::call(me, w, read_log{}, 5s).value().empty());
  REQUIRE(clock->await_timers(1));
  clock->advance(std::chrono::minutes(1));
  me.send(watched, 1);
  REQUIRE(eventually([&] { return wa::call(me, w, read_log{}, 5s).value().size() == 2; }));
  CHECK(wa::call(me, w, read_log{}, 5s).value() == log_type{"watching: beat", "watching: down error: gone"});
}

// -- states as values, init's inserted events, enter rules ------------------------------------

enum class boot_state { booting, ready };
struct boot_step {
  int n;
};
struct note {
  std::string text;
};
using boot_protocol = weft::protocol<void(note), log_type(read_log)>;

class booter {
 public:
  using protocol_type = boot_protocol;
  using state_type = boot_state;
  using sm = wa::state_machine_context<booter>;

  state_type init(sm& m) {
    m->send(m->self(), note{"message sent by init"});
    m.next_event(boot_step{1});
    m.next_event(boot_step{2});
    return boot_state::booting;
  }
  void on_enter(sm&, boot_state s) { log_.push_back(s == boot_state::booting ? "enter booting" : "enter ready"); }
  void handle_event(sm& m, boot_state s, const boot_step& step) {
    log_.push_back("step " + std::to_string(step.n) + (s == boot_state::booting ? " while booting" : ""));
    if (step.n == 1) m.next_event(boot_step{3});  // before step 2, which was queued already
    if (step.n == 2) m.transition(boot_state::ready);
  }
  void handle_event(sm&, boot_state, const note& n) { log_.push_back(n.text); }
  log_type handle_event(sm&, boot_state, const read_log&) { return log_; }

 private:
  log_type log_;
};

TEST_CASE("states as values: init's next_events run after the first enter call and before any message") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto b = wa::start(me, wa::state_machine<booter>());
  REQUIRE(b.has_value());
  auto log = wa::call(me, *b, read_log{}, 5s);
  REQUIRE(log.has_value());
  CHECK(*log == log_type{"enter booting", "step 1 while booting", "step 3 while booting", "step 2 while booting",
                         "enter ready", "message sent by init"});
}

struct nudge {};
enum class two { one, other };
class bad_enter {
 public:
  using protocol_type = weft::protocol<void(nudge)>;
  using state_type = two;
  using sm = wa::state_machine_context<bad_enter>;
  state_type init(sm&) { return two::one; }
  void on_enter(sm& m, two s) {
    if (s == two::other) m.transition(two::one);
  }
  void handle_event(sm& m, two, const nudge&) { m.transition(two::other); }
};

TEST_CASE("a transition inside on_enter stops the machine with an error that says so") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto m = rt.spawn(wa::state_machine<bad_enter>());
  const weft::monitor_ref watch = me.monitor(m);
  wa::cast(me, m, nudge{});
  weft::down_msg down = me.receive<weft::down_msg>();
  CHECK(down.ref == watch);
  CHECK(down.reason.to_string().find("transition here is not allowed") != std::string::npos);
}

// -- a timer lab: every kind of timeout, driven by messages ---------------------------------

enum class lab_state { a, b, c, d };
enum class kind : char { state = 's', event = 'e', generic = 'g' };

struct fired {  // every timeout's event
  kind k;
  int tag;
};
struct fire_record {
  kind k;
  int tag;
  friend bool operator==(const fire_record&, const fire_record&) = default;
};
struct go {
  lab_state to;
  std::int64_t state_ms = -1;  // >= 0: the same handler sets a state timeout
  int tag = 0;
};
struct arm {
  kind k;
  std::int64_t ms;
  int tag;
  int name = 0;
};
struct disarm {
  kind k;
  int name = 0;
};
struct poke {};
struct insert_poke {};
struct hold {};
struct release_hold {};  // not in the protocol: taken by a selective receive
struct take_log {};
using lab_protocol = weft::protocol<void(go), void(arm), void(disarm), void(poke), void(insert_poke), void(hold),
                                    std::vector<fire_record>(take_log)>;

// Entering d sets a 50 ms state timeout tagged enter_tag_base + the number
// of entries into d so far.
constexpr int enter_tag_base = 1'000'000;
constexpr std::int64_t enter_timeout_ms = 50;

class lab {
 public:
  using protocol_type = lab_protocol;
  using state_type = lab_state;
  using sm = wa::state_machine_context<lab>;

  state_type init(sm&) { return lab_state::a; }
  void on_enter(sm& m, lab_state s) {
    if (s == lab_state::d) {
      m.state_timeout(std::chrono::milliseconds(enter_timeout_ms),
                      fired{kind::state, enter_tag_base + ++entries_into_d_});
    }
  }
  void handle_event(sm& m, lab_state, const go& g) {
    m.transition(g.to);
    if (g.state_ms >= 0) m.state_timeout(std::chrono::milliseconds(g.state_ms), fired{kind::state, g.tag});
  }
  void handle_event(sm& m, lab_state, const arm& a) {
    const auto after = std::chrono::milliseconds(a.ms);
    switch (a.k) {
      case kind::state:
        m.state_timeout(after, fired{a.k, a.tag});
        break;
      case kind::event:
        m.event_timeout(after, fired{a.k, a.tag});
        break;
      case kind::generic:
        m.timeout(std::to_string(a.name), after, fired{a.k, a.tag});
        break;
    }
  }
  void handle_event(sm& m, lab_state, const disarm& d) {
    switch (d.k) {
      case kind::state:
        m.cancel_state_timeout();
        break;
      case kind::event:
        m.cancel_event_timeout();
        break;
      case kind::generic:
        m.cancel_timeout(std::to_string(d.name));
        break;
    }
  }
  void handle_event(sm&, lab_state, const poke&) {}
  void handle_event(sm& m, lab_state, const insert_poke&) { m.next_event(poke{}); }
  void handle_event(sm& m, lab_state, const hold&) { m->receive<release_hold>(); }
  void handle_event(sm&, lab_state, const fired& f) { log_.push_back({f.k, f.tag}); }
  std::vector<fire_record> handle_event(sm&, lab_state, const take_log&) { return std::exchange(log_, {}); }

 private:
  std::vector<fire_record> log_;
  int entries_into_d_ = 0;
};

struct lab_fixture {
  std::shared_ptr<weft::manual_clock> clock = std::make_shared<weft::manual_clock>();
  weft::runtime rt{clocked(clock)};
  weft::scoped_actor me{rt};
  weft::ref<lab_protocol> m = rt.spawn(wa::state_machine<lab>());

  // Each step is a call: when it returns, the machine has handled it.
  void step(auto message) { REQUIRE(me.ask(m, std::move(message), 5s).has_value()); }
  std::vector<fire_record> log() { return me.ask(m, take_log{}, 5s).value(); }
  void advance(std::int64_t ms) { clock->advance(std::chrono::milliseconds(ms)); }
};

using records = std::vector<fire_record>;

TEST_CASE("a state timeout fires in its state, is cancelled by a state change, and survives a same-state transition") {
  lab_fixture f;
  f.step(arm{kind::state, 10, 1});
  f.step(go{lab_state::a});  // same state: not a change
  f.advance(10);
  CHECK(f.log() == records{{kind::state, 1}});

  f.step(arm{kind::state, 10, 2});
  f.step(go{lab_state::b});
  f.advance(20);
  CHECK(f.log().empty());
  CHECK(f.clock->pending() == 0);

  // One set by the handler that changes state is the new state's.
  f.step(go{lab_state::c, 10, 3});
  f.advance(10);
  CHECK(f.log() == records{{kind::state, 3}});

  // Set by on_enter (entering d), replacing the one the handler set.
  f.step(go{lab_state::d, 5, 4});
  f.advance(enter_timeout_ms);
  CHECK(f.log() == records{{kind::state, enter_tag_base + 1}});

  f.step(arm{kind::state, 10, 5});
  f.step(disarm{kind::state});
  f.advance(20);
  CHECK(f.log().empty());
}

TEST_CASE("an event timeout fires only if no event comes first: a message, an inserted event, or another timeout") {
  lab_fixture f;
  f.step(arm{kind::event, 10, 1});
  f.advance(10);
  CHECK(f.log() == records{{kind::event, 1}});

  f.step(arm{kind::event, 10, 2});
  f.step(poke{});
  f.advance(20);
  CHECK(f.log().empty());

  f.step(arm{kind::event, 10, 3});
  f.step(insert_poke{});  // itself an event: cancels; and so is the poke it inserts
  f.advance(20);
  CHECK(f.log().empty());

  f.step(arm{kind::generic, 5, 4});
  f.step(arm{kind::event, 10, 5});
  f.advance(20);  // the generic one fires first, and is an event
  CHECK(f.log() == records{{kind::generic, 4}});

  f.step(arm{kind::event, 10, 6});
  f.step(disarm{kind::event});  // an event anyway; and cancel says so
  f.advance(20);
  CHECK(f.log().empty());
  CHECK(f.clock->pending() == 0);
}

TEST_CASE("generic timeouts run by name across state changes and events; a name re-set replaces, cancel stops it") {
  lab_fixture f;
  f.step(arm{kind::generic, 10, 1, 0});
  f.step(arm{kind::generic, 20, 2, 1});
  f.step(go{lab_state::b});
  f.step(poke{});
  f.advance(30);
  CHECK(f.log() == records{{kind::generic, 1}, {kind::generic, 2}});

  f.step(arm{kind::generic, 10, 3, 0});
  f.step(arm{kind::generic, 30, 4, 0});  // replaces name 0: new time, new event
  f.advance(10);
  CHECK(f.log().empty());
  f.advance(20);
  CHECK(f.log() == records{{kind::generic, 4}});

  f.step(arm{kind::generic, 10, 5, 2});
  f.step(disarm{kind::generic, 2});
  f.advance(20);
  CHECK(f.log().empty());
  CHECK(f.clock->pending() == 0);
}

TEST_CASE("re-setting a state or event timeout replaces it: only the new one fires, at its new time") {
  lab_fixture f;
  f.step(arm{kind::state, 10, 1});
  f.step(arm{kind::state, 30, 2});
  f.advance(10);
  CHECK(f.log().empty());
  f.advance(20);
  CHECK(f.log() == records{{kind::state, 2}});

  f.step(arm{kind::event, 30, 3});
  f.step(arm{kind::event, 10, 4});
  f.advance(30);
  CHECK(f.log() == records{{kind::event, 4}});
  CHECK(f.clock->pending() == 0);
}

TEST_CASE("a timeout whose message was already queued when it was cancelled or replaced is never delivered") {
  // The machine blocks in a handler; meanwhile the cancel (or the new
  // timeout) is queued, then the old timer fires behind it: its message is
  // stale when it is read. (An event timeout cannot be in that position:
  // the blocking handler is itself an event and cancelled it.)
  for (kind k : {kind::state, kind::generic}) {
    CAPTURE(static_cast<char>(k));
    lab_fixture f;
    auto while_held = [&](auto message) {
      wa::cast(f.me, f.m, hold{});
      REQUIRE(eventually([&] { return f.rt.info(f.m)->status == weft::actor_status::receiving; }));
      wa::cast(f.me, f.m, message);
      CHECK(f.clock->advance(std::chrono::milliseconds(10)) == 1);
      f.me.send(f.m.to_pid(), release_hold{});
    };
    f.step(arm{k, 10, 1});
    while_held(disarm{k});
    CHECK(f.log().empty());

    f.step(arm{k, 10, 2});
    while_held(arm{k, 20, 3});  // replaces it: due 10 ms after the old one
    CHECK(f.log().empty());
    f.advance(19);
    CHECK(f.log().empty());
    f.advance(1);
    CHECK(f.log() == records{{k, 3}});
  }
}

TEST_CASE("a 30-day state timeout fires when the clock is advanced 30 days, in well under a second of real time") {
  lab_fixture f;
  const auto started = std::chrono::steady_clock::now();
  f.step(
      arm{kind::state, std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::hours(24 * 30)).count(), 1});
  REQUIRE(f.clock->await_timers(1));
  f.clock->advance(std::chrono::hours(24 * 30) - std::chrono::seconds(1));
  CHECK(f.log().empty());
  f.clock->advance(std::chrono::seconds(1));
  CHECK(f.log() == records{{kind::state, 1}});
  const auto real = std::chrono::steady_clock::now() - started;
  MESSAGE("30 virtual days took " << std::chrono::duration_cast<std::chrono::microseconds>(real).count() << " us");
  CHECK(real < std::chrono::seconds(1));
}

// -- the random test: the machine against a model of which timeouts fire ----------------------

// What should fire, computed from the same steps: the rules of the table in
// state_machine.hpp, with ties broken in the order timers were set (as the
// clock fires them).
class timeout_model {
 public:
  explicit timeout_model(weft::clock::time_point now) : now_(now) {}

  void event() { event_timer_.running = false; }
  void go(lab_state to, std::int64_t state_ms, int tag) {
    event();
    const bool set_here = state_ms >= 0;
    if (set_here) set(state_timer_, state_ms, tag);
    const bool changed = to != current_;
    current_ = to;
    if (!changed) return;
    if (!set_here) state_timer_.running = false;
    if (to == lab_state::d) set(state_timer_, enter_timeout_ms, enter_tag_base + ++entries_into_d_);
  }
  void arm(kind k, std::int64_t ms, int tag, int name) {
    event();
    set(slot(k, name), ms, tag);
  }
  void disarm(kind k, int name) {
    event();
    slot(k, name).running = false;
  }
  void advance(std::chrono::nanoseconds by) {
    const auto target = now_ + by;
    for (;;) {
      timer* next = nullptr;
      kind next_kind = kind::state;
      auto consider = [&](timer& t, kind k) {
        if (!t.running || t.due > target) return;
        if (next == nullptr || t.due < next->due || (t.due == next->due && t.order < next->order)) {
          next = &t;
          next_kind = k;
        }
      };
      consider(state_timer_, kind::state);
      consider(event_timer_, kind::event);
      for (auto& [name, t] : generic_) consider(t, kind::generic);
      if (next == nullptr) break;
      next->running = false;
      now_ = next->due;
      fired_.push_back({next_kind, next->tag});
      if (next_kind != kind::event) event();  // a timeout's event is an event
    }
    now_ = target;
  }
  std::vector<fire_record> take() { return std::exchange(fired_, {}); }

 private:
  struct timer {
    bool running = false;
    weft::clock::time_point due;
    std::uint64_t order = 0;
    int tag = 0;
  };
  void set(timer& t, std::int64_t ms, int tag) { t = timer{true, now_ + std::chrono::milliseconds(ms), ++order_, tag}; }
  timer& slot(kind k, int name) {
    if (k == kind::state) return state_timer_;
    if (k == kind::event) return event_timer_;
    return generic_[name];
  }

  weft::clock::time_point now_;
  lab_state current_ = lab_state::a;
  timer state_timer_;
  timer event_timer_;
  std::map<int, timer> generic_;
  std::uint64_t order_ = 0;
  int entries_into_d_ = 0;
  std::vector<fire_record> fired_;
};

TEST_CASE("10,000 random transitions with timers running on a manual clock: 0 spurious and 0 missing timeouts") {
  lab_fixture f;
  timeout_model model(f.clock->now());
  std::mt19937 rng(20240613);
  auto roll = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const int transitions_wanted = 10000;
  int transitions = 0;
  int tag = 0;
  std::size_t fired = 0;
  std::size_t spurious = 0;
  std::size_t missing = 0;
  std::size_t misordered = 0;
  std::map<char, std::size_t> fired_by_kind;

  // The steps since the last comparison, shown with the first mismatch.
  std::string steps;
  bool shown = false;
  auto render = [](const std::vector<fire_record>& rs) {
    std::string out;
    for (const auto& r : rs) out += std::string(1, static_cast<char>(r.k)) + std::to_string(r.tag) + " ";
    return out;
  };
  auto compare = [&] {
    std::vector<fire_record> got = f.log();
    model.event();  // take_log is itself an event
    std::vector<fire_record> want = model.take();
    if (got != want && !shown) {
      shown = true;
      MESSAGE("first mismatch: fired [" << render(got) << "], model [" << render(want) << "] after:\n" << steps);
    }
    steps.clear();
    fired += got.size();
    for (const auto& r : got) ++fired_by_kind[static_cast<char>(r.k)];
    for (const auto& r : got) {
      if (std::find(want.begin(), want.end(), r) == want.end()) ++spurious;
    }
    for (const auto& r : want) {
      if (std::find(got.begin(), got.end(), r) == got.end()) ++missing;
    }
    if (got != want && std::is_permutation(got.begin(), got.end(), want.begin(), want.end())) ++misordered;
  };

  while (transitions < transitions_wanted) {
    const int dice = roll(100);
    const auto ms = static_cast<std::int64_t>(roll(101));
    if (dice < 30) {
      const auto to = static_cast<lab_state>(roll(4));
      const std::int64_t state_ms = roll(3) == 0 ? ms : -1;
      f.step(go{to, state_ms, ++tag});
      model.go(to, state_ms, tag);
      steps += "go " + std::to_string(static_cast<int>(to)) + " " + std::to_string(state_ms) + " #" +
               std::to_string(tag) + "\n";
      ++transitions;
    } else if (dice < 54) {
      const kind k = std::array{kind::state, kind::event, kind::generic}[static_cast<std::size_t>(roll(3))];
      const int name = roll(3);
      f.step(arm{k, ms, ++tag, name});
      model.arm(k, ms, tag, name);
      steps += std::string("arm ") + static_cast<char>(k) + std::to_string(name) + " " + std::to_string(ms) + " #" +
               std::to_string(tag) + "\n";
    } else if (dice < 62) {
      const kind k = std::array{kind::state, kind::event, kind::generic}[static_cast<std::size_t>(roll(3))];
      const int name = roll(3);
      f.step(disarm{k, name});
      model.disarm(k, name);
      steps += std::string("disarm ") + static_cast<char>(k) + std::to_string(name) + "\n";
    } else if (dice < 68) {
      if (roll(2) == 0) {
        f.step(poke{});
      } else {
        f.step(insert_poke{});
      }
      model.event();
      steps += "event\n";
    } else {
      std::chrono::nanoseconds by = std::chrono::milliseconds(roll(151));
      // Sometimes exactly to the next deadline, where ties and "due now" live.
      if (roll(4) == 0 && f.clock->next_due() != weft::clock::time_point::max()) {
        by = f.clock->next_due() - f.clock->now();
      }
      f.clock->advance(by);
      model.advance(by);
      steps += "advance " + std::to_string(by.count()) + " ns\n";
      compare();
    }
  }
  f.clock->advance(std::chrono::hours(1));
  model.advance(std::chrono::hours(1));
  compare();
  MESSAGE("transitions: " << transitions << ", timeouts fired: " << fired << " (state " << fired_by_kind['s']
                          << ", event " << fired_by_kind['e'] << ", generic " << fired_by_kind['g']
                          << "), spurious: " << spurious << ", missing: " << missing
                          << ", batches in the wrong order: " << misordered);
  CHECK(spurious == 0);
  CHECK(missing == 0);
  CHECK(misordered == 0);
  CHECK(fired_by_kind['s'] > 0);
  CHECK(fired_by_kind['e'] > 0);
  CHECK(fired_by_kind['g'] > 0);
}

// -- start, terminate, supervision ------------------------------------------------------------

class refusing_machine {
 public:
  using protocol_type = weft::protocol<void(nudge)>;
  using state_type = two;
  using sm = wa::state_machine_context<refusing_machine>;
  weft::expected<state_type> init(sm&) { return weft::error(weft::ask_errc::rejected, "not today"); }
  void handle_event(sm&, two, const nudge&) {}
};

TEST_CASE("start of a state machine returns the error its init returned") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  const std::size_t before = rt.live_actors();
  auto m = wa::start(me, wa::state_machine<refusing_machine>());
  REQUIRE_FALSE(m.has_value());
  CHECK(m.error() == weft::ask_errc::rejected);
  CHECK(eventually([&] { return rt.live_actors() == before; }));
}

TEST_CASE("terminate runs when a state machine stops itself, and it can read its state") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto d = rt.spawn(wa::state_machine<door>(me.self()));
  wa::cast(me, d, coin{});
  wa::cast(me, d, stop_now{});
  CHECK(me.receive<std::string>() == "terminate error: stopped in opened");
}

TEST_CASE("a supervised state machine is restarted in its initial state") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto s = sup::start(rt, {.id = "doors",
                           .max_restarts = 3,
                           .children = {sup::worker("door", wa::state_machine<door>(), {.name = "door"})}});
  REQUIRE(s.has_value());
  auto first = weft::ref_cast<door_protocol>(rt.whereis("door"));
  REQUIRE(first.has_value());
  wa::cast(me, *first, coin{});
  REQUIRE_FALSE(wa::call(me, *first, is_locked{}, 5s).has_value());  // opened: unhandled
  wa::cast(me, *first, stop_now{});
  REQUIRE(eventually([&] {
    weft::pid now = rt.whereis("door");
    return now && now != first->to_pid();
  }));
  auto second = weft::ref_cast<door_protocol>(rt.whereis("door"));
  REQUIRE(second.has_value());
  CHECK(wa::call(me, *second, is_locked{}, 5s) == true);
  REQUIRE(s->stop(me).has_value());
}

}  // namespace
