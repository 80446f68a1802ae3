// Each restart strategy and restart type, on real supervisors.

#include "sup_test.hpp"

using namespace sup_test;

namespace {

sup::supervisor_spec three(sup::restart_strategy strategy) {
  return {.id = "s",
          .strategy = strategy,
          .max_restarts = 100,
          .max_window = 60s,
          .children = {worker("a"), worker("b"), worker("c")}};
}

std::vector<std::string> event_ids(weft::runtime& rt, std::string_view kind, std::uint64_t after) {
  // The child id is the first quoted word after "child ".
  std::vector<std::string> out;
  for (auto& e : events_of(rt, kind, after)) {
    auto at = e.text.find("child '");
    auto end = e.text.find('\'', at + 7);
    out.push_back(e.text.substr(at + 7, end - at - 7));
  }
  return out;
}

// The dynamic test's children: ping answers the tag and number they were
// started with.
using tagged_worker = weft::protocol<std::string(ping), void(crash)>;

std::string tag_of(weft::context& self, const weft::pid& child) {
  auto tagged = weft::ref_cast<tagged_worker>(child);
  REQUIRE(tagged);
  auto tag = self.ask(*tagged, ping{});
  REQUIRE(tag);
  return *tag;
}

// A counter, to tell a restarted child's state from its predecessor's.
struct add {
  int by;
};
struct get {};
using counter = weft::protocol<int(get), void(add)>;

struct counter_actor {
  explicit counter_actor(int start) : n(start) {}
  int n;
  weft::behavior_of<counter> make_behavior(weft::context&) {
    return {[this](add a) { n += a.by; }, [this](get) { return n; }};
  }
};

}  // namespace

TEST_CASE("one_for_one restarts only the child that crashed") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto s = sup::start(rt, three(sup::restart_strategy::one_for_one));
  REQUIRE(s);
  auto before = children(self, *s);
  REQUIRE(ids(before) == std::vector<std::string>{"a", "b", "c"});
  self.send(before[1].who, crash{});
  auto b = await_replaced(self, *s, "b", before[1].who);
  auto after = children(self, *s);
  CHECK(after[0].who == before[0].who);
  CHECK(after[2].who == before[2].who);
  CHECK(after[1].restarts == 1);
  CHECK(after[0].restarts == 0);
  CHECK(answers(self, b));
  CHECK(rt.info(b)->restarts == 1);
}

TEST_CASE("one_for_all stops the others in reverse start order and restarts all in start order") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto s = sup::start(rt, three(sup::restart_strategy::one_for_all));
  REQUIRE(s);
  auto before = children(self, *s);
  const auto mark = rt.events().last_seq();
  self.send(before[1].who, crash{});
  REQUIRE(weft_test::eventually([&] { return events_of(rt, sup::event_kind::child_restarted, mark).size() == 3; }));
  CHECK(event_ids(rt, sup::event_kind::child_stopped, mark) == std::vector<std::string>{"c", "a"});
  CHECK(event_ids(rt, sup::event_kind::child_restarted, mark) == std::vector<std::string>{"a", "b", "c"});
  auto after = children(self, *s);
  for (int i = 0; i < 3; ++i) {
    CHECK(after[i].who != before[i].who);
    CHECK(after[i].restarts == 1);
    CHECK(answers(self, after[i].who));
  }
}

TEST_CASE("rest_for_one restarts the crashed child and those started after it") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto s = sup::start(rt, three(sup::restart_strategy::rest_for_one));
  REQUIRE(s);
  auto before = children(self, *s);
  const auto mark = rt.events().last_seq();
  self.send(before[1].who, crash{});
  REQUIRE(weft_test::eventually([&] { return events_of(rt, sup::event_kind::child_restarted, mark).size() == 2; }));
  CHECK(event_ids(rt, sup::event_kind::child_stopped, mark) == std::vector<std::string>{"c"});
  CHECK(event_ids(rt, sup::event_kind::child_restarted, mark) == std::vector<std::string>{"b", "c"});
  auto after = children(self, *s);
  CHECK(after[0].who == before[0].who);
  CHECK(after[1].who != before[1].who);
  CHECK(after[2].who != before[2].who);
}

TEST_CASE("a transient child that exits normally is not restarted, one that crashes is") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto s = sup::start(rt, {.id = "s",
                           .max_restarts = 10,
                           .children = {worker("t1", {.restart = sup::restart_type::transient}),
                                        worker("t2", {.restart = sup::restart_type::transient})}});
  REQUIRE(s);
  auto before = children(self, *s);
  watcher w1(self, before[0].who);
  self.send(before[0].who, quit{});
  CHECK(w1.wait() == weft::exit_reason::normal());
  self.send(before[1].who, crash{});
  await_replaced(self, *s, "t2", before[1].who);
  REQUIRE(rt.wait_quiescent(5s));
  auto after = children(self, *s);
  CHECK(after[0].state == sup::child_state::stopped);
  CHECK_FALSE(after[0].who);
  CHECK(after[0].restarts == 0);
  CHECK(after[1].state == sup::child_state::running);
  CHECK(after[1].restarts == 1);
}

TEST_CASE("a transient child stopped with reason shutdown is not restarted") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto s = sup::start(rt, {.id = "s", .children = {worker("t", {.restart = sup::restart_type::transient})}});
  REQUIRE(s);
  auto p = child_pid(self, *s, "t");
  self.exit(p, weft::exit_reason::shutdown());
  REQUIRE(weft_test::eventually([&] { return !child_pid(self, *s, "t"); }));
  REQUIRE(rt.wait_quiescent(5s));
  CHECK(children(self, *s)[0].state == sup::child_state::stopped);
  CHECK(events_of(rt, sup::event_kind::child_restarted).empty());
}

TEST_CASE("a temporary child is never restarted and its spec is forgotten") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto s =
      sup::start(rt, {.id = "s", .children = {worker("a"), worker("tmp", {.restart = sup::restart_type::temporary})}});
  REQUIRE(s);
  self.send(child_pid(self, *s, "tmp"), crash{});
  REQUIRE(weft_test::eventually([&] { return children(self, *s).size() == 1; }));
  CHECK(ids(children(self, *s)) == std::vector<std::string>{"a"});
  CHECK(events_of(rt, sup::event_kind::child_restarted).empty());
}

TEST_CASE("one_for_all stops a temporary sibling and does not restart it") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto s = sup::start(
      rt, {.id = "s",
           .strategy = sup::restart_strategy::one_for_all,
           .max_restarts = 10,
           .children = {worker("a"), worker("tmp", {.restart = sup::restart_type::temporary}), worker("c")}});
  REQUIRE(s);
  auto before = children(self, *s);
  watcher tmp(self, before[1].who);
  self.send(before[0].who, crash{});
  CHECK(tmp.wait() == weft::exit_reason::shutdown());
  REQUIRE(weft_test::eventually([&] { return events_of(rt, sup::event_kind::child_restarted).size() == 2; }));
  auto after = children(self, *s);
  CHECK(ids(after) == std::vector<std::string>{"a", "c"});
  CHECK(after[0].who != before[0].who);
  CHECK(after[1].who != before[2].who);
}

TEST_CASE("a registered name resolves to the new child after a restart") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto s = sup::start(rt, {.id = "s", .max_restarts = 10, .children = {worker("db", {.name = "db"})}});
  REQUIRE(s);
  auto first = rt.whereis("db");
  REQUIRE(first);
  CHECK(first == child_pid(self, *s, "db"));
  for (int i = 0; i < 5; ++i) {
    auto old = rt.whereis("db");
    self.send(old, crash{});
    weft::pid now;
    REQUIRE(weft_test::eventually([&] {
      now = rt.whereis("db");
      return now && now != old;
    }));
    CHECK(answers(self, now));
  }
  CHECK(rt.info(rt.whereis("db"))->restarts == 5);
}

TEST_CASE("the dynamic strategy starts many children of one spec with their own arguments") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto tmpl = sup::dynamic_worker<int, std::string>(
      "conn",
      [](weft::context&, int n, std::string tag) -> weft::behavior_of<tagged_worker> {
        return {[n, tag](ping) { return tag + std::to_string(n); },
                [](crash) { throw std::runtime_error("crash requested by the test"); }};
      },
      {.restart = sup::restart_type::transient});
  auto s = sup::start(
      rt, {.id = "pool", .strategy = sup::restart_strategy::dynamic, .max_restarts = 10, .children = {tmpl}});
  REQUIRE(s);
  std::vector<weft::pid> kids;
  for (int i = 0; i < 20; ++i) {
    auto r = s->start_child(self, sup::child_args(i, std::string("c")));
    REQUIRE(r);
    kids.push_back(*r);
  }
  CHECK(s->count_children(self)->active == 20);
  CHECK(tag_of(self, kids[7]) == "c7");
  auto bad = error_of(s->start_child(self, sup::child_args(std::string("wrong"))));
  CHECK(bad == sup::errc::start_failed);
  CHECK(bad.detail().find("do not match") != std::string_view::npos);
  // A crashed dynamic child comes back with the same arguments.
  self.send(kids[7], crash{});
  REQUIRE(weft_test::eventually([&] { return events_of(rt, sup::event_kind::child_restarted).size() == 1; }));
  auto restarted = events_of(rt, sup::event_kind::child_restarted)[0].who;
  CHECK(restarted != kids[7]);
  CHECK(tag_of(self, restarted) == "c7");
  // terminate_child by pid forgets it.
  CHECK(s->terminate_child(self, kids[3]));
  CHECK(s->count_children(self)->specs == 19);
  CHECK(error_of(s->terminate_child(self, kids[3])) == sup::errc::not_found);
  CHECK(error_of(s->start_child(self, worker("x"))) == sup::errc::not_supported);
}

TEST_CASE("a dynamic supervisor stops its children in parallel") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  // Each child takes 300 ms to stop; 10 of them in series would take 3 s.
  auto slow = sup::dynamic_worker<>("slow", [](weft::context& child) {
    child.trap_exit(true);
    child.receive([](const weft::exit_msg&) {});
    child.sleep_for(300ms);
  });
  auto s = sup::start(rt, {.id = "pool", .strategy = sup::restart_strategy::dynamic, .children = {slow}});
  REQUIRE(s);
  for (int i = 0; i < 10; ++i)
    REQUIRE(s->start_child(self, sup::child_args()));
  const auto t0 = std::chrono::steady_clock::now();
  watcher w(self, *s);
  REQUIRE(s->stop(self));
  CHECK(w.wait() == weft::exit_reason::normal());
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(took >= 300ms);
  CHECK(took < 2s);
  CHECK(events_of(rt, sup::event_kind::child_stopped).size() == 10);
}

TEST_CASE("a child may be any spawnable definition, and each restart starts it from its initial state") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto s = sup::start(
      rt,
      {.id = "s",
       .max_restarts = 10,
       .children = {sup::worker("stateful", weft::stateful<counter>(
                                                10, [](int& n, add a) { n += a.by; }, [](int& n, get) { return n; })),
                    sup::worker("class", weft::make_actor<counter_actor>(20))}});
  REQUIRE(s);
  for (auto [id, initial] : {std::pair<std::string, int>{"stateful", 10}, {"class", 20}}) {
    CAPTURE(id);
    const weft::pid first = child_pid(self, *s, id);
    auto c = weft::ref_cast<counter>(first);
    REQUIRE(c);
    REQUIRE(self.ask(*c, add{5}));  // acknowledged once the handler ran
    CHECK(self.ask(*c, get{}).value() == initial + 5);
    self.exit(first, weft::exit_reason::error("crash requested by the test"));
    auto again = weft::ref_cast<counter>(await_replaced(self, *s, id, first));
    REQUIRE(again);
    CHECK(self.ask(*again, get{}).value() == initial);
  }
}
