// What a persistent actor's definition can say beyond the counter: a
// std::variant Event with one on_event per alternative, a WEFT_FIELDS
// State kept in snapshots, rejections inside a batch, a command handler
// that throws, and the protocols its ref speaks.

#include <weft/persistence/file_journal.hpp>
#include <weft/persistence/persistent_actor.hpp>
#include <weft/persistence/snapshot_store.hpp>

#include "counter_support.hpp"
#include "test_support.hpp"
#include "weft_test.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

using namespace weft::persistence;
using namespace weft::persistence::test;
using namespace std::chrono_literals;

namespace {

// -- an account whose events are a variant -------------------------------------

struct deposit {
  std::int64_t amount = 0;
  std::string memo;
};
struct withdraw {
  std::int64_t amount = 0;
};
// Moves money out and back in as one command: two events of different kinds.
struct rebook {
  std::int64_t out = 0;
  std::int64_t in = 0;
};
using account_protocol = weft::protocol<std::int64_t(deposit), std::int64_t(withdraw), std::int64_t(rebook)>;

struct deposited {
  std::int64_t amount = 0;
  std::string memo;
  WEFT_FIELDS(amount, memo)
};
struct withdrawn {
  std::int64_t amount = 0;
  WEFT_FIELDS(amount)
};
using account_event = std::variant<deposited, withdrawn>;

struct account_state {
  std::int64_t balance = 0;
  std::vector<std::string> memos;
  std::uint64_t withdrawals = 0;
  WEFT_FIELDS(balance, memos, withdrawals)
  friend bool operator==(const account_state&, const account_state&) = default;
};

struct account : event_sourced<account_protocol, account_state, account_event> {
  static std::int64_t balance_of(const account_state& s) { return s.balance; }

  effect<std::int64_t> on_command(const account_state&, const deposit& d) const {
    if (d.amount <= 0) return reject("a deposit of " + std::to_string(d.amount) + " is not positive");
    return persist(deposited{d.amount, d.memo}).then_reply(balance_of);
  }
  effect<std::int64_t> on_command(const account_state& s, const withdraw& w) const {
    if (w.amount > s.balance) {
      return reject("insufficient funds: the balance is " + std::to_string(s.balance) + ", " +
                    std::to_string(w.amount) + " was asked");
    }
    return persist(withdrawn{w.amount}).then_reply(balance_of);
  }
  effect<std::int64_t> on_command(const account_state&, const rebook& r) const {
    return persist(std::vector<account_event>{withdrawn{r.out}, deposited{r.in, "rebooked"}}).then_reply(balance_of);
  }
  void on_event(account_state& s, const deposited& e) const {
    s.balance += e.amount;
    s.memos.push_back(e.memo);
  }
  void on_event(account_state& s, const withdrawn& e) const {
    s.balance -= e.amount;
    ++s.withdrawals;
  }
};

persistent_options<account_state, account_event> account_options(journal* j, snapshot_store* snapshots) {
  persistent_options<account_state, account_event> o;
  o.persistence_id = "account";
  o.journal = j;
  o.snapshots = snapshots;
  o.event_manifest = "account.event";
  o.snapshot_manifest = "account.state";
  return o;
}

// -- a journal whose appends complete only when the test says so ---------------

// Forwards everything to `inner`, but holds the completions of appends
// while closed: the writing actor then waits with its write in flight and
// its later commands queue up behind it.
class gated_journal final : public journal {
 public:
  explicit gated_journal(journal& inner) : inner_(inner) {}

  void async_append(std::string_view persistence_id, std::span<const persistent_event> events,
                    completion done) override {
    inner_.async_append(persistence_id, events, [this, done = std::move(done)](const storage_status& status) {
      {
        std::lock_guard lock(mutex_);
        if (closed_) {
          held_.emplace_back(done, status);
          return;
        }
      }
      done(status);
    });
  }
  void async_delete_up_to(std::string_view persistence_id, std::uint64_t to, completion done) override {
    inner_.async_delete_up_to(persistence_id, to, std::move(done));
  }
  void read(std::string_view persistence_id, std::uint64_t from, std::uint64_t to, std::uint64_t max_count,
            const event_visitor& visit) override {
    inner_.read(persistence_id, from, to, max_count, visit);
  }
  std::uint64_t highest_sequence_nr(std::string_view persistence_id) override {
    return inner_.highest_sequence_nr(persistence_id);
  }
  void close() override { inner_.close(); }

  // -- the test's thread --
  void close_gate() {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  std::size_t held() {
    std::lock_guard lock(mutex_);
    return held_.size();
  }
  // Opens the gate and runs the completions held so far.
  void open_gate() {
    std::vector<std::pair<completion, storage_status>> release;
    {
      std::lock_guard lock(mutex_);
      closed_ = false;
      release.swap(held_);
    }
    for (auto& [done, status] : release)
      done(status);
  }

 private:
  journal& inner_;
  std::mutex mutex_;
  bool closed_ = false;
  std::vector<std::pair<completion, storage_status>> held_;
};

// What an asking actor learned.
struct answered {
  std::int64_t by = 0;
  weft::expected<std::int64_t> reply;
};

// Spawns an actor that asks `target` for increment{by} and reports the
// answer to `self`, so that several asks can be outstanding at once.
void ask_from_actor(weft::scoped_actor& self, const counter_ref& target, std::int64_t by) {
  const weft::pid report_to = self.self();
  self.spawn([target, by, report_to](weft::context& ctx) {
    auto reply = ctx.ask(target, increment{by}, 20s);
    ctx.send(report_to, answered{by, std::move(reply)});
  });
}

weft::expected<std::int64_t> answer_for(weft::scoped_actor& self, std::int64_t by) {
  auto a = self.receive_if<answered>([by](const answered& m) { return m.by == by; }, 30s);
  REQUIRE(a.has_value());
  return std::move(a->reply);
}

std::size_t queued(weft::runtime& rt, const weft::pid& p) {
  auto info = rt.info(p);
  return info ? info->mailbox_length : 0;
}

// The counter, except that increments by 13 make a handler throw.
struct command_thrower : counter {
  effect<std::int64_t> on_command(const std::int64_t& total, const increment& c) const {
    if (c.by == 13) throw std::runtime_error("on_command: 13 is unlucky");
    return counter::on_command(total, c);
  }
};
struct event_thrower : counter {
  void on_event(std::int64_t& total, const incremented& e) const {
    if (e.by == 13) throw std::runtime_error("on_event: 13 is unlucky");
    total += e.by;
  }
};

// Holds the counter's first write in flight, queues increments by 2, 13
// and 3 behind it (in that order), then lets the write complete: 2 and 13
// form the next batch, in which the handler throws at 13; 3 is still queued.
template <class Def>
void throw_inside_a_batch(const std::string& expected_reason) {
  temp_dir dir;
  auto file = open_file_journal(dir / "journal");
  gated_journal gate(*file);
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  watched w(self, persistent<Def>(counter_options("fragile", &gate)));
  REQUIRE(self.ask(w.ref(), get_state{}, 20s).has_value());  // recovered
  gate.close_gate();
  ask_from_actor(self, w.ref(), 1);
  REQUIRE(weft_test::eventually([&] { return gate.held() == 1; }));
  // (The command in flight may count as queued until its handling ends.)
  std::size_t expected_queue = queued(rt, w.pid());
  for (std::int64_t by : {2, 13, 3}) {
    ask_from_actor(self, w.ref(), by);
    ++expected_queue;
    REQUIRE(weft_test::eventually([&] { return queued(rt, w.pid()) == expected_queue; }));
  }
  gate.open_gate();

  auto first = answer_for(self, 1);
  REQUIRE(first.has_value());
  CHECK(*first == 1);
  // 2 and 13 were taken into the batch (the engine owed their answers);
  // 3 was still queued when the actor stopped (the runtime answers it).
  for (std::int64_t by : {2, 13}) {
    CAPTURE(by);
    auto r = answer_for(self, by);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == weft::ask_errc::actor_down);
    CHECK(r.error().detail() == "the persistent actor stopped before answering");
  }
  auto queued_behind = answer_for(self, 3);
  REQUIRE_FALSE(queued_behind.has_value());
  CHECK(queued_behind.error() == weft::ask_errc::actor_down);
  CHECK(queued_behind.error().detail().find("exited before handling the request") != std::string_view::npos);
  auto reason = w.exit_reason();
  REQUIRE(reason.has_value());
  CHECK(reason->code() == weft::exit_reason::kind::error);
  CHECK(std::string(reason->text()) == expected_reason);
  // Nothing of the failed batch was written; the durable increment recovers.
  CHECK(file->highest_sequence_nr("fragile") == 1);
  watched again(self, persistent<counter>(counter_options("fragile", file.get())));
  auto total = self.ask(again.ref(), get_state{}, 20s);
  REQUIRE(total.has_value());
  CHECK(*total == 1);
}

}  // namespace

TEST_CASE("a variant event is applied by the on_event of its alternative, live and at recovery") {
  temp_dir dir;
  auto j = open_file_journal(dir / "journal");
  auto snaps = open_file_snapshot_store(dir / "snapshots");
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  account_state expected{85, {"salary", "rebooked"}, 2};
  {
    watched w(self, persistent<account>(account_options(j.get(), nullptr)));
    CHECK(self.ask(w.ref(), deposit{100, "salary"}, 20s) == 100);
    CHECK(self.ask(w.ref(), withdraw{30}, 20s) == 70);
    CHECK(self.ask(w.ref(), rebook{10, 25}, 20s) == 85);  // one command, two kinds of event
    auto state = self.ask(w.ref(), get_state{}, 20s);
    REQUIRE(state.has_value());
    CHECK(*state == expected);
    self.exit(w.pid(), weft::exit_reason::kill());
    REQUIRE(w.exit_reason().has_value());
  }
  // Stored as the variant: the alternative's index first, under one manifest.
  auto stored = j->read_all("account");
  REQUIRE(stored.size() == 4);
  std::vector<std::size_t> kinds;
  for (const persistent_event& e : stored) {
    CHECK(e.manifest == "account.event");
    kinds.push_back(decode<account_event>(e.payload).index());
  }
  CHECK(kinds == std::vector<std::size_t>{0, 1, 1, 0});

  // Recovery replays both kinds (no snapshot yet), then snapshots the state.
  {
    watched w(self, persistent<account>(account_options(j.get(), snaps.get())));
    auto state = self.ask(w.ref(), get_state{}, 20s);
    REQUIRE(state.has_value());
    CHECK(*state == expected);
    CHECK(self.ask(w.ref(), get_persistence_info{}, 20s)->replayed_events == 4);
    CHECK(self.ask(w.ref(), save_snapshot{}, 20s) == std::uint64_t{4});
    self.exit(w.pid(), weft::exit_reason::kill());
    REQUIRE(w.exit_reason().has_value());
  }
  // The WEFT_FIELDS state comes back from the snapshot alone.
  watched w(self, persistent<account>(account_options(j.get(), snaps.get())));
  auto state = self.ask(w.ref(), get_state{}, 20s);
  REQUIRE(state.has_value());
  CHECK(*state == expected);
  auto info = self.ask(w.ref(), get_persistence_info{}, 20s);
  REQUIRE(info.has_value());
  CHECK(info->recovered_from_snapshot == 4);
  CHECK(info->replayed_events == 0);
  CHECK(self.ask(w.ref(), deposit{5, "tip"}, 20s) == 90);
}

TEST_CASE("a rejected command's error is command_errc::rejected with the reject text as its detail") {
  temp_dir dir;
  auto j = open_file_journal(dir / "journal");
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  watched w(self, persistent<account>(account_options(j.get(), nullptr)));
  REQUIRE(self.ask(w.ref(), deposit{40, "start"}, 20s).has_value());
  auto refused = self.ask(w.ref(), withdraw{50}, 20s);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error() == command_errc::rejected);
  CHECK(refused.error().category() == weft::error_category::command);
  CHECK(refused.error().code_name() == "rejected");
  CHECK(refused.error().detail() == "insufficient funds: the balance is 40, 50 was asked");
  CHECK(fmt::format("{}", refused.error()) == "command rejected: insufficient funds: the balance is 40, 50 was asked");
  CHECK(j->highest_sequence_nr("account") == 1);
}

TEST_CASE("a rejection inside a batch answers only its own asker; the batch's other commands are written") {
  temp_dir dir;
  auto file = open_file_journal(dir / "journal");
  gated_journal gate(*file);
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  watched w(self, persistent<counter>(counter_options("mixed", &gate)));
  REQUIRE(self.ask(w.ref(), get_state{}, 20s).has_value());
  gate.close_gate();
  ask_from_actor(self, w.ref(), 1);
  REQUIRE(weft_test::eventually([&] { return gate.held() == 1; }));
  // (The command in flight may count as queued until its handling ends.)
  std::size_t expected_queue = queued(rt, w.pid());
  for (std::int64_t by : {2, -5, 3}) {
    ask_from_actor(self, w.ref(), by);
    ++expected_queue;
    REQUIRE(weft_test::eventually([&] { return queued(rt, w.pid()) == expected_queue; }));
  }
  gate.open_gate();  // and leave it open: the next batch, 2 -5 3, is written at once

  CHECK(answer_for(self, 1) == 1);
  CHECK(answer_for(self, 2) == 3);
  auto refused = answer_for(self, -5);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error() == command_errc::rejected);
  CHECK(refused.error().detail() == "increment by -5: counters only go up");
  CHECK(answer_for(self, 3) == 6);
  auto info = self.ask(w.ref(), get_persistence_info{}, 20s);
  REQUIRE(info.has_value());
  CHECK(info->writes == 2);  // {1}, then {2, 3} in one write
  CHECK(file->highest_sequence_nr("mixed") == 3);
}

TEST_CASE("a command handler that throws answers its batch's askers with actor_down and stops the actor") {
  SUBCASE("on_command throws") {
    throw_inside_a_batch<command_thrower>("on_command: 13 is unlucky");
  }
  SUBCASE("on_event throws while the command runs") {
    throw_inside_a_batch<event_thrower>("on_event: 13 is unlucky");
  }
}

TEST_CASE("a persistent actor's ref converts to a ref of its command protocol, and back only by a checked cast") {
  using full = persistent_protocol<counter_protocol, std::int64_t>;
  static_assert(std::is_same_v<counter_ref, weft::ref<full>>);
  static_assert(std::is_convertible_v<weft::ref<full>, weft::ref<counter_protocol>>);
  static_assert(!std::is_convertible_v<weft::ref<counter_protocol>, weft::ref<full>>);

  temp_dir dir;
  auto j = open_file_journal(dir / "journal");
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  watched w(self, persistent<counter>(counter_options("narrowed", j.get())));
  weft::ref<counter_protocol> commands = w.ref();
  CHECK(commands.to_pid() == w.pid());
  auto r = self.ask(commands, increment{4}, 20s);
  static_assert(std::is_same_v<decltype(r), weft::expected<std::int64_t>>);
  CHECK(r == 4);

  auto back = weft::ref_cast<full>(commands);
  REQUIRE(back.has_value());
  CHECK(*back == w.ref());
  CHECK(self.ask(*back, get_state{}, 20s) == 4);

  // An actor that speaks only the commands is no persistent actor.
  weft::ref<counter_protocol> plain =
      rt.spawn(weft::stateful<counter_protocol>(std::int64_t{0}, [](std::int64_t& n, const increment& c) {
        n += c.by;
        return n;
      }));
  CHECK(self.ask(plain, increment{2}, 20s) == 2);
  auto refused = weft::ref_cast<full>(plain);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error() == weft::ask_errc::wrong_protocol);
}

TEST_CASE("a write that completes after its runtime was destroyed wakes nothing and loses nothing") {
  temp_dir dir;
  auto file = open_file_journal(dir / "journal");
  gated_journal gate(*file);  // declared before the runtime: it outlives it
  {
    weft::runtime rt(weft_test::small_runtime());
    weft::scoped_actor self(rt);
    auto p = rt.spawn(persistent<counter>(counter_options("late", &gate)));
    REQUIRE(self.ask(p, get_state{}, 20s).has_value());
    gate.close_gate();
    REQUIRE(self.send(p, increment{7}) == weft::send_status::ok);
    REQUIRE(weft_test::eventually([&] { return gate.held() == 1; }));
    rt.shutdown(weft::shutdown_mode::abort);
  }
  // The completion now posts to an actor of a runtime that is gone.
  gate.open_gate();
  CHECK(file->highest_sequence_nr("late") == 1);
  // And it released the id: a successor starts at once and sees the event.
  weft::runtime rt(weft_test::small_runtime());
  weft::scoped_actor self(rt);
  auto p = rt.spawn(persistent<counter>(counter_options("late", file.get())));
  auto total = self.ask(p, get_state{}, 20s);
  REQUIRE(total.has_value());
  CHECK(*total == 7);
}
