// weft::actors::server (server.hpp) and start/start_link (startup.hpp).
// Timeouts of the server's own run on a manual_clock; the one real-time
// timeout is a call's (an ask's), used where late replies are the subject.

#include "weft_test.hpp"

#include <weft/actors/server.hpp>
#include <weft/supervisor/supervisor.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <vector>

using namespace weft_test;
namespace wa = weft::actors;
namespace sup = weft::sup;

namespace {

bool gone(weft::runtime& rt, const weft::pid& who) {
  auto info = rt.info(who);
  return !info || info->status == weft::actor_status::dead;
}

// What servers tell the test thread about themselves.
struct seen {
  std::string what;
};

// -- a counter -------------------------------------------------------------------

struct get {};
struct add {
  int by = 1;
};
struct crash {};
struct stop_with {
  std::string why;
};
using counter_protocol = weft::protocol<int(get), void(add), void(crash), void(stop_with)>;

class counter_server {
 public:
  using protocol_type = counter_protocol;
  using self_type = wa::server_context<counter_server>;

  explicit counter_server(int start, weft::pid observer = {}) : n_(start), observer_(std::move(observer)) {}
  int handle_call(self_type&, get) { return n_; }
  void handle_cast(self_type&, add a) { n_ += a.by; }
  void handle_cast(self_type&, crash) { throw std::runtime_error("crash requested"); }
  void handle_cast(self_type& self, stop_with s) { self->exit(weft::exit_reason::error(s.why)); }
  void terminate(self_type& self, const weft::exit_reason& why) {
    if (observer_) self->send(observer_, seen{"terminate " + why.to_string() + " at " + std::to_string(n_)});
  }

 private:
  int n_;
  weft::pid observer_;
};

TEST_CASE("a server answers calls with its handler's value and applies casts in order") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::ref<counter_protocol> c = rt.spawn(wa::server<counter_server>(10));
  for (int i = 1; i <= 100; ++i) CHECK(wa::cast(me, c, add{i}) == weft::send_status::ok);
  weft::expected<int> n = wa::call(me, c, get{}, 5s);
  REQUIRE(n.has_value());
  CHECK(*n == 10 + 5050);
  // Asking a cast waits for its handler (an acknowledgement).
  weft::expected<void> acked = me.ask(c, add{1}, 5s);
  CHECK(acked.has_value());
  CHECK(wa::call(me, c, get{}, 5s) == 5061);
}

TEST_CASE("a call to a dead server fails with no_actor, and one that crashes it with actor_down") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::ref<counter_protocol> c = rt.spawn(wa::server<counter_server>(0));
  weft::expected<void> crashed = me.ask(c, crash{}, 5s);
  REQUIRE_FALSE(crashed.has_value());
  CHECK(crashed.error() == weft::ask_errc::actor_down);
  REQUIRE(eventually([&] { return gone(rt, c); }));
  weft::expected<int> n = wa::call(me, c, get{}, 5s);
  REQUIRE_FALSE(n.has_value());
  CHECK(n.error() == weft::ask_errc::no_actor);
}

// -- replying later --------------------------------------------------------------

struct slow_get {};
struct flush {};
struct drop_waiting {};
using deferred_protocol = weft::protocol<int(slow_get), void(flush), void(drop_waiting)>;

class deferred_server {
 public:
  using protocol_type = deferred_protocol;
  using self_type = wa::server_context<deferred_server>;
  void handle_call(self_type& self, slow_get) { waiting_.push_back(self->promise()); }
  void handle_cast(self_type&, flush) {
    for (auto& p : waiting_) p.deliver(++answered_);
    waiting_.clear();
  }
  void handle_cast(self_type&, drop_waiting) { waiting_.clear(); }

 private:
  std::vector<weft::reply_promise> waiting_;
  int answered_ = 0;
};

struct call_result {
  int caller;
  weft::expected<int> reply;
};

TEST_CASE("a call whose handler took the promise is answered when the server delivers it later") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  weft::ref<deferred_protocol> s = rt.spawn(wa::server<deferred_server>());
  const weft::pid report = me.self();
  // Three callers wait at once; the server answers them together, in order.
  for (int i = 0; i < 3; ++i) {
    rt.spawn([s, report, i](weft::context& self) {
      self.send(report, call_result{i, wa::call(self, s, slow_get{}, 20s)});
    });
    // The next caller starts once this one's request is queued behind the previous.
    REQUIRE(eventually([&] { return rt.info(s)->processed >= static_cast<std::uint64_t>(i + 1); }));
  }
  wa::cast(me, s, flush{});
  int sum = 0;
  for (int i = 0; i < 3; ++i) {
    call_result r = me.receive<call_result>();
    REQUIRE(r.reply.has_value());
    CHECK(*r.reply == r.caller + 1);
    sum += *r.reply;
  }
  CHECK(sum == 1 + 2 + 3);

  // A promise dropped unanswered tells its caller so, at once.
  rt.spawn([s, report](weft::context& self) { self.send(report, call_result{9, wa::call(self, s, slow_get{}, 20s)}); });
  REQUIRE(eventually([&] { return rt.info(s)->processed >= 5; }));
  wa::cast(me, s, drop_waiting{});
  call_result dropped = me.receive<call_result>();
  REQUIRE_FALSE(dropped.reply.has_value());
  CHECK(dropped.reply.error() == weft::ask_errc::broken_promise);
}

// -- info -----------------------------------------------------------------------------

struct tick {
  int n;
};
struct watch {
  weft::pid who;
};
struct link_to {
  weft::pid who;
};
using watcher_protocol = weft::protocol<void(watch), void(link_to), int(get)>;

class watcher_server {
 public:
  using protocol_type = watcher_protocol;
  using info_messages = wa::messages<tick>;
  using self_type = wa::server_context<watcher_server>;

  explicit watcher_server(weft::pid observer) : observer_(std::move(observer)) {}
  void init(self_type& self) {
    self->trap_exit(true);
    self->send_after(std::chrono::hours(1), self->self(), tick{1});
  }
  void handle_cast(self_type& self, watch w) { self->monitor(w.who); }
  void handle_cast(self_type& self, link_to l) { self->link(l.who); }
  int handle_call(self_type&, get) { return infos_; }
  void handle_info(self_type& self, const weft::down_msg& d) { report(self, "down " + d.reason.to_string()); }
  void handle_info(self_type& self, const weft::exit_msg& e) { report(self, "exit " + e.reason.to_string()); }
  void handle_info(self_type& self, tick t) { report(self, "tick " + std::to_string(t.n)); }

 private:
  void report(self_type& self, std::string what) {
    ++infos_;
    self->send(observer_, seen{std::move(what)});
  }
  weft::pid observer_;
  int infos_ = 0;
};

TEST_CASE("handle_info gets down_msg, a trapped exit of a non-parent link, and self-sent timer messages") {
  weft_test::manual_runtime m;
  auto& clock = m.clock;
  weft::runtime& rt = m.rt;
  weft::scoped_actor me(rt);
  weft::ref<watcher_protocol> w = rt.spawn(wa::server<watcher_server>(me.self()));
  REQUIRE(wa::call(me, w, get{}, 5s) == 0);  // init has run: its timer is filed

  weft::pid short_lived = rt.spawn([](weft::context& self) {
    self.receive<int>();
    self.exit(weft::exit_reason::error("watched"));
  });
  wa::cast(me, w, watch{short_lived});
  REQUIRE(wa::call(me, w, get{}, 5s) == 0);  // the monitor is in place
  me.send(short_lived, 1);
  CHECK(me.receive<seen>().what == "down error: watched");

  weft::pid linked = rt.spawn([](weft::context& self) {
    self.receive<int>();
    self.exit(weft::exit_reason::error("linked"));
  });
  wa::cast(me, w, link_to{linked});
  REQUIRE(wa::call(me, w, get{}, 5s) == 1);
  me.send(linked, 1);
  CHECK(me.receive<seen>().what == "exit error: linked");

  REQUIRE(clock->await_timers(1));
  CHECK(clock->advance(std::chrono::hours(1)) == 1);
  CHECK(me.receive<seen>().what == "tick 1");
  CHECK(wa::call(me, w, get{}, 5s) == 3);
}

TEST_CASE("a trapped abnormal exit without handle_info stops the server; a normal one is dropped") {
  struct trapping {
    using protocol_type = weft::protocol<void(link_to), int(get)>;
    using self_type = wa::server_context<trapping>;
    void init(self_type& self) { self->trap_exit(true); }
    void handle_cast(self_type& self, link_to l) { self->link(l.who); }
    int handle_call(self_type&, get) { return 1; }
  };
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto s = rt.spawn(wa::server<trapping>());
  const weft::monitor_ref m = me.monitor(s);
  auto finishing = [&](weft::exit_reason why) {
    return rt.spawn([why](weft::context& self) {
      self.receive<int>();
      self.exit(why);
    });
  };
  weft::pid normal = finishing(weft::exit_reason::normal());
  wa::cast(me, s, link_to{normal});
  REQUIRE(wa::call(me, s, get{}, 5s) == 1);  // linked before it exits (else the exit would be noproc)
  me.send(normal, 1);
  REQUIRE(eventually([&] { return gone(rt, normal); }));
  CHECK(wa::call(me, s, get{}, 5s) == 1);  // still running

  weft::pid failing = finishing(weft::exit_reason::error("link failed"));
  wa::cast(me, s, link_to{failing});
  REQUIRE(wa::call(me, s, get{}, 5s) == 1);
  me.send(failing, 1);
  weft::down_msg down = me.receive<weft::down_msg>();
  CHECK(down.ref == m);
  CHECK(down.reason.to_string() == "error: link failed");
}

// -- continue ----------------------------------------------------------------------------

struct note {
  std::string text;
};
struct get_log {};
struct poke {};
struct poke_and_wait {};
struct go_on {};  // not in the protocol: taken by a selective receive
struct warm {
  std::string text;
};
struct wait_for_go {};
using ordered_protocol = weft::protocol<void(note), std::vector<std::string>(get_log), int(poke), int(poke_and_wait)>;

class ordered_server {
 public:
  using protocol_type = ordered_protocol;
  using self_type = wa::server_context<ordered_server>;

  void init(self_type& self) {
    log_.push_back("init");
    self->send(self->self(), note{"message queued by init"});
    self.continue_with(warm{"continue after init"});
  }
  void handle_cast(self_type&, note n) { log_.push_back(n.text); }
  std::vector<std::string> handle_call(self_type&, get_log) { return log_; }
  int handle_call(self_type& self, poke) {
    log_.push_back("poke");
    self->send(self->self(), note{"message queued by poke"});
    self.continue_with(warm{"first continue after poke"});
    self.continue_with(warm{"second continue after poke"});
    return 7;
  }
  int handle_call(self_type& self, poke_and_wait) {
    self.continue_with(wait_for_go{});
    return 8;
  }
  void handle_continue(self_type&, warm w) { log_.push_back(w.text); }
  void handle_continue(self_type& self, wait_for_go) {
    self->receive<go_on>();
    log_.push_back("continue released");
  }

 private:
  std::vector<std::string> log_;
};

TEST_CASE("a continue step runs after init and after a handler, before any queued message") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto s = wa::start(me, wa::server<ordered_server>());
  REQUIRE(s.has_value());
  CHECK(wa::call(me, *s, poke{}, 5s) == 7);
  auto log = wa::call(me, *s, get_log{}, 5s);
  REQUIRE(log.has_value());
  CHECK(*log == std::vector<std::string>{"init", "continue after init", "message queued by init", "poke",
                                         "first continue after poke", "second continue after poke",
                                         "message queued by poke"});
}

TEST_CASE("a call's reply is sent before its continue step runs") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto s = wa::start(me, wa::server<ordered_server>());
  REQUIRE(s.has_value());
  // The continue step waits for go_on, which we only send once we have the
  // reply: if the reply waited for the step, this call would time out.
  CHECK(wa::call(me, *s, poke_and_wait{}, 20s) == 8);
  me.send(s->to_pid(), go_on{});
  auto log = wa::call(me, *s, get_log{}, 5s);
  REQUIRE(log.has_value());
  CHECK(log->back() == "continue released");
}

// -- start: init, init timeout, failures ----------------------------------------------------

struct never {};
using plain_protocol = weft::protocol<int(get)>;

struct slow_init {
  using protocol_type = plain_protocol;
  using self_type = wa::server_context<slow_init>;
  void init(self_type& self) { self->receive<never>(); }
  int handle_call(self_type&, get) { return 1; }
};

struct start_report {
  weft::expected<weft::ref<plain_protocol>> started;
  std::size_t mailbox_after = 0;
};

TEST_CASE("an init that outlasts init_timeout on the runtime clock fails the start, and the actor is gone") {
  weft_test::manual_runtime m;
  auto& clock = m.clock;
  weft::runtime& rt = m.rt;
  weft::scoped_actor me(rt);
  const std::size_t before = rt.live_actors();
  const weft::pid report = me.self();
  rt.spawn([report](weft::context& self) {
    auto started = wa::start(self, wa::server<slow_init>(), {.init_timeout = std::chrono::seconds(5)});
    self.send(report, start_report{std::move(started), self.system().info(self.self())->mailbox_length});
  });
  REQUIRE(clock->await_timers(1));
  clock->advance(std::chrono::seconds(4));
  CHECK(clock->pending() == 1);  // not due yet: start still waits
  clock->advance(std::chrono::seconds(1));
  start_report r = me.receive<start_report>();
  REQUIRE_FALSE(r.started.has_value());
  CHECK(r.started.error() == weft::ask_errc::timeout);
  CHECK(r.started.error().detail().find("did not finish within 5000 ms") != std::string_view::npos);
  CHECK(r.mailbox_after == 0);
  // The starter has exited and the half-started server was gone before it reported.
  CHECK(eventually([&] { return rt.live_actors() == before; }));
  CHECK(clock->pending() == 0);
  CHECK(rt.dead_letters()[weft::dead_letter_cause::late_reply] == 0);
}

TEST_CASE("a start whose init finishes in time cancels its deadline") {
  weft_test::manual_runtime m;
  auto& clock = m.clock;
  weft::runtime& rt = m.rt;
  weft::scoped_actor me(rt);
  auto s = wa::start(me, wa::server<counter_server>(3), {.init_timeout = std::chrono::hours(1)});
  REQUIRE(s.has_value());
  CHECK(clock->pending() == 0);
  CHECK(wa::call(me, *s, get{}, 5s) == 3);
}

struct refusing_init {
  using protocol_type = plain_protocol;
  using self_type = wa::server_context<refusing_init>;
  weft::expected<void> init(self_type&) { return weft::error(weft::ask_errc::rejected, "no database"); }
  int handle_call(self_type&, get) { return 1; }
};
struct throwing_init {
  using protocol_type = plain_protocol;
  using self_type = wa::server_context<throwing_init>;
  throwing_init() { throw std::runtime_error("bad config"); }
  int handle_call(self_type&, get) { return 1; }
};

TEST_CASE("start returns the error init returned, or actor_down naming what init threw, and leaves nothing") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  const std::size_t before = rt.live_actors();

  auto refused = wa::start(me, wa::server<refusing_init>());
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error() == weft::ask_errc::rejected);
  CHECK(refused.error().detail() == "no database");

  auto threw = wa::start(me, wa::server<throwing_init>());
  REQUIRE_FALSE(threw.has_value());
  CHECK(threw.error() == weft::ask_errc::actor_down);
  CHECK(threw.error().detail().find("threw: bad config") != std::string_view::npos);

  CHECK(eventually([&] { return rt.live_actors() == before; }));
  CHECK(rt.info(me.self())->mailbox_length == 0);
}

TEST_CASE("start_link: a failed init sends no exit signal to a starter that does not trap exits") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  const weft::pid report = me.self();
  weft::pid starter = rt.spawn([report](weft::context& self) {
    auto refused = wa::start_link(self, wa::server<refusing_init>());
    auto ok = wa::start_link(self, wa::server<counter_server>(4));
    self.send(report, seen{std::string(refused ? "started" : refused.error().code_name()) + " " +
                           std::to_string(ok ? wa::call(self, *ok, get{}, 5s).value_or(-1) : -1)});
    self.receive<int>();  // stays alive until the test is done
  });
  CHECK(me.receive<seen>().what == "rejected 4");
  CHECK(rt.info(starter).has_value());
  me.send(starter, 1);
}

// -- terminate and supervision ---------------------------------------------------------------

TEST_CASE("terminate runs when the server stops itself, and not when it is killed") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto s = rt.spawn(wa::server<counter_server>(5, me.self()));
  wa::cast(me, s, stop_with{"done"});
  CHECK(me.receive<seen>().what == "terminate error: done at 5");

  auto killed = rt.spawn(wa::server<counter_server>(6, me.self()));
  REQUIRE(wa::call(me, killed, get{}, 5s) == 6);
  const weft::monitor_ref m = me.monitor(killed);
  me.exit(killed, weft::exit_reason::kill());
  CHECK(me.receive<weft::down_msg>().ref == m);
  // terminate would have sent before the down_msg (same sender, in order).
  CHECK_FALSE(me.receive_for<seen>(std::chrono::nanoseconds::zero()).has_value());
}

class tidy_server {
 public:
  using protocol_type = plain_protocol;
  using self_type = wa::server_context<tidy_server>;
  explicit tidy_server(weft::pid observer) : observer_(std::move(observer)) {}
  void init(self_type& self) { self->trap_exit(true); }
  int handle_call(self_type&, get) { return 1; }
  void terminate(self_type& self, const weft::exit_reason& why) { self->send(observer_, seen{why.to_string()}); }

 private:
  weft::pid observer_;
};

TEST_CASE("a trapping server under a supervisor runs terminate with shutdown when the supervisor stops") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto s = sup::start(rt, {.id = "app", .children = {sup::worker("tidy", wa::server<tidy_server>(me.self()))}});
  REQUIRE(s.has_value());
  auto children = s->which_children(me);
  REQUIRE(children.has_value());
  REQUIRE(children->size() == 1);
  auto tidy = weft::ref_cast<plain_protocol>(children->front().who);
  REQUIRE(tidy.has_value());
  REQUIRE(wa::call(me, *tidy, get{}, 5s) == 1);  // init (and its trap_exit) has run
  REQUIRE(s->stop(me).has_value());
  CHECK(me.receive<seen>().what == "shutdown");
}

TEST_CASE("a trapping server started with start_link runs terminate when its parent exits") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  const weft::pid report = me.self();
  weft::pid parent = rt.spawn([report](weft::context& self) {
    auto s = wa::start_link(self, wa::server<tidy_server>(report));
    self.send(report, seen{s ? "started" : "failed"});
    self.receive<int>();
    self.exit(weft::exit_reason::error("parent gone"));
  });
  REQUIRE(me.receive<seen>().what == "started");
  me.send(parent, 1);
  CHECK(me.receive<seen>().what == "error: parent gone");
}

TEST_CASE("a supervised server that crashes is restarted with fresh state under its name") {
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto s = sup::start(rt, {.id = "app",
                           .max_restarts = 3,
                           .children = {sup::worker("counter", wa::server<counter_server>(100), {.name = "counter"})}});
  REQUIRE(s.has_value());
  auto first = weft::ref_cast<counter_protocol>(rt.whereis("counter"));
  REQUIRE(first.has_value());
  wa::cast(me, *first, add{5});
  REQUIRE(wa::call(me, *first, get{}, 5s) == 105);
  wa::cast(me, *first, crash{});
  REQUIRE(eventually([&] {
    weft::pid now = rt.whereis("counter");
    return now && now != first->to_pid();
  }));
  auto second = weft::ref_cast<counter_protocol>(rt.whereis("counter"));
  REQUIRE(second.has_value());
  CHECK(wa::call(me, *second, get{}, 5s) == 100);
  auto children = s->which_children(me);
  REQUIRE(children.has_value());
  CHECK(children->front().restarts == 1);
  REQUIRE(s->stop(me).has_value());
}

// -- late replies ------------------------------------------------------------------------------

struct held_call {
  int caller;
};
struct release {
  int caller;
};
using holding_protocol = weft::protocol<int(held_call), void(release)>;

// Holds every call's promise until its caller says (after its call timed
// out) to answer: each answer is late by construction.
class holding_server {
 public:
  using protocol_type = holding_protocol;
  using self_type = wa::server_context<holding_server>;
  explicit holding_server(int callers) : held_(static_cast<std::size_t>(callers)) {}
  void handle_call(self_type& self, held_call c) {
    held_[static_cast<std::size_t>(c.caller)].push_back(self->promise());
  }
  void handle_cast(self_type&, release r) {
    for (auto& p : held_[static_cast<std::size_t>(r.caller)]) p.deliver(r.caller);
    held_[static_cast<std::size_t>(r.caller)].clear();
  }

 private:
  std::vector<std::vector<weft::reply_promise>> held_;
};

struct caller_done {
  int caller;
  int timeouts;
  int other;
};
struct finish {};

TEST_CASE("100,000 calls that time out leave no reply in their callers' mailboxes: each is a late_reply") {
  constexpr int callers = 200;
  constexpr int per_caller = 500;
  weft::runtime rt(small_runtime());
  weft::scoped_actor me(rt);
  auto server = rt.spawn(wa::server<holding_server>(callers));
  const weft::pid report = me.self();
  std::vector<weft::pid> caller_pids;
  for (int i = 0; i < callers; ++i) {
    caller_pids.push_back(rt.spawn([server, report, i](weft::context& self) {
      caller_done done{i, 0, 0};
      for (int k = 0; k < per_caller; ++k) {
        weft::expected<int> r = wa::call(self, server, held_call{i}, 1ms);
        if (!r.has_value() && r.error() == weft::ask_errc::timeout) {
          ++done.timeouts;
        } else {
          ++done.other;
        }
        // Its reply, now certainly late, goes out before this call returns.
        // (Waiting here also keeps the server's mailbox from filling: an ask
        // that found no room would fail without its request ever queued.)
        if (!wa::call(self, server, release{i}, 60s).has_value()) ++done.other;
      }
      self.send(report, done);
      self.receive<finish>();
    }));
  }
  int timeouts = 0;
  int other = 0;
  for (int i = 0; i < callers; ++i) {
    caller_done d = me.receive<caller_done>();
    timeouts += d.timeouts;
    other += d.other;
  }
  const std::uint64_t total = static_cast<std::uint64_t>(callers) * per_caller;
  CHECK(timeouts == static_cast<int>(total));
  CHECK(other == 0);
  // The last releases may still be on their way; every reply ends as a
  // late_reply dead letter, none as a message.
  REQUIRE(eventually([&] { return rt.dead_letters()[weft::dead_letter_cause::late_reply] >= total; }));
  CHECK(rt.dead_letters()[weft::dead_letter_cause::late_reply] == total);
  std::size_t stray = 0;
  for (const weft::pid& p : caller_pids) {
    auto info = rt.info(p);
    REQUIRE(info.has_value());
    stray += info->mailbox_length;
  }
  CHECK(stray == 0);
  MESSAGE("late replies: " << rt.dead_letters()[weft::dead_letter_cause::late_reply] << ", stray: " << stray);
  for (const weft::pid& p : caller_pids) me.send(p, finish{});
}

}  // namespace
