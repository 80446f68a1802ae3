// The message-passing exercise: a root supervisor, two child supervisors,
// four workers each, all one_for_one, declared in one expression.

#include "sup_test.hpp"

#include <map>
#include <random>

using namespace sup_test;

namespace {

std::string wname(int group, int i) {
  return "w" + std::to_string(group) + "." + std::to_string(i);
}

sup::supervisor_spec exercise_tree() {
  auto group = [](int g) {
    sup::supervisor_spec spec{
        .id = "g" + std::to_string(g), .max_restarts = 1000, .max_window = 1s, .name = "g" + std::to_string(g)};
    for (int i = 0; i < 4; ++i)
      spec.children.push_back(worker(wname(g, i), {.name = wname(g, i)}));
    return sup::as_child(std::move(spec));
  };
  return {.id = "root", .max_restarts = 1000, .max_window = 1s, .children = {group(0), group(1)}, .name = "root"};
}

std::map<std::string, weft::pid> snapshot(weft::runtime& rt) {
  std::map<std::string, weft::pid> out;
  for (auto n : {"root", "g0", "g1"})
    out[n] = rt.whereis(n);
  for (int g = 0; g < 2; ++g) {
    for (int i = 0; i < 4; ++i)
      out[wname(g, i)] = rt.whereis(wname(g, i));
  }
  return out;
}

bool whole(weft::runtime& rt) {
  auto s = snapshot(rt);
  for (auto& [name, p] : s) {
    if (!p) return false;
  }
  return rt.live_actors() == 11;
}

}  // namespace

TEST_CASE("crashing one worker of the exercise tree restarts only that worker") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  REQUIRE(sup::start(rt, exercise_tree()));
  auto before = snapshot(rt);
  self.send(before["w1.2"], crash{});
  REQUIRE(weft_test::eventually([&] { return rt.whereis("w1.2") && rt.whereis("w1.2") != before["w1.2"]; }));
  REQUIRE(rt.wait_quiescent(5s));
  auto after = snapshot(rt);
  for (auto& [name, p] : before) {
    if (name != "w1.2") CHECK_MESSAGE(after[name] == p, name);
  }
  CHECK(answers(self, after["w1.2"]));
}

TEST_CASE("crashing a child supervisor restarts its whole subtree and not the other") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  REQUIRE(sup::start(rt, exercise_tree()));
  auto before = snapshot(rt);
  self.exit(before["g0"], weft::exit_reason::kill());
  REQUIRE(weft_test::eventually([&] { return whole(rt) && rt.whereis("g0") != before["g0"]; }));
  REQUIRE(rt.wait_quiescent(5s));
  auto after = snapshot(rt);
  CHECK(after["root"] == before["root"]);
  CHECK(after["g1"] == before["g1"]);
  for (int i = 0; i < 4; ++i) {
    CHECK(after[wname(0, i)] != before[wname(0, i)]);
    CHECK(after[wname(1, i)] == before[wname(1, i)]);
    CHECK(answers(self, after[wname(0, i)]));
  }
}

TEST_CASE("after 100 random kills the exercise tree is whole and every worker answers") {
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto root = sup::start(rt, exercise_tree());
  REQUIRE(root);
  std::mt19937 rng(12345);
  std::vector<std::string> targets{"g0", "g1"};
  for (int g = 0; g < 2; ++g) {
    for (int i = 0; i < 4; ++i)
      targets.push_back(wname(g, i));
  }
  int kills = 0;
  auto last_kill = std::chrono::steady_clock::now();
  while (kills < 100) {
    // A hang guard: some target is always back within seconds.
    REQUIRE(std::chrono::steady_clock::now() - last_kill < 20s);
    const std::string& name = targets[rng() % targets.size()];
    auto victim = rt.whereis(name);
    if (!victim) continue;  // being restarted
    if (name[0] == 'g') {
      // A group supervisor is stopped in order, children first, and root
      // restarts it, as it is permanent. (An exit signal from the test
      // would be ignored: a supervisor obeys only its parent's, and kill.
      // Kill is the previous test's case; repeated here it races: root
      // restarts the group while the killed group's named workers are
      // still dying, and each retry fails on a taken name and counts
      // against root's intensity, which a loaded machine can exhaust.)
      auto group = sup::supervisor::from(victim);
      REQUIRE(group);
      REQUIRE(group->stop(self));
    } else {
      self.exit(victim, rng() % 2 ? weft::exit_reason::kill() : weft::exit_reason::error("random fault"));
    }
    ++kills;
    last_kill = std::chrono::steady_clock::now();
    // Every kill is a real one: the victim's name is released as it dies.
    REQUIRE(weft_test::eventually([&] { return rt.whereis(name) != victim; }));
    if (kills % 10 == 0) REQUIRE(weft_test::eventually([&] { return whole(rt); }));
  }
  REQUIRE(weft_test::eventually([&] { return whole(rt); }));
  REQUIRE(rt.wait_quiescent(5s));
  CHECK(rt.live_actors() == 11);
  CHECK(rt.whereis("root") == root->id());
  for (int g = 0; g < 2; ++g) {
    for (int i = 0; i < 4; ++i)
      CHECK(answers(self, rt.whereis(wname(g, i))));
  }
  auto top = children(self, *root);
  CHECK(top.size() == 2);
  CHECK(events_of(rt, sup::event_kind::intensity_exceeded).empty());
}
