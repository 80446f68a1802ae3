// Sagas (weft/persistence/saga.hpp): each durability rule of the header,
// tested through a saga_host on a real file journal.

#include <doctest/doctest.h>

#include <weft/persistence/file_journal.hpp>
#include <weft/persistence/saga.hpp>
#include <weft/runtime/clock.hpp>
#include <weft/runtime/runtime.hpp>

#include "test_support.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <chrono>
#include <map>
#include <optional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace wp = weft::persistence;
using namespace std::chrono_literals;

// A participant's own error: refusing is final (not retried).
enum class shop_errc : std::uint8_t { refused = 1 };
namespace {
std::string_view shop_errc_name(int) noexcept { return "refused"; }
constexpr weft::error_domain shop_domain{weft::error_category::user, &shop_errc_name};
}  // namespace
template <>
struct weft::error_code_traits<shop_errc> {
  static constexpr const weft::error_domain* domain = &shop_domain;
};

namespace {

struct order {
  std::string item;
  std::int64_t amount = 0;
  WEFT_FIELDS(item, amount)
};

// What the participants saw: every call, in order, and each key's effect
// (applied at most once per key, as a participant with a ledger would).
struct ledger {
  std::mutex mutex;
  std::vector<std::string> calls;           // "do reserve order-1/reserve #1", "undo ..."
  std::map<std::string, int> applied;       // key -> 1 while in effect
  std::map<std::string, int> action_calls;  // key -> calls (retries included)
  std::map<std::string, int> failures_left; // key -> retryable failures still to answer
  std::map<std::string, bool> reject;       // key -> refuse for good
  std::map<std::string, bool> lose_reply;   // key -> apply, then answer a timeout once
  std::map<std::string, int> undo_failures; // key -> compensation failures still to answer

  wp::step_result act(const wp::step_call& c) {
    std::lock_guard lock(mutex);
    const std::string key(c.idempotency_key);
    calls.push_back(fmt::format("do {} #{}", key, c.attempt));
    ++action_calls[key];
    if (reject[key]) return weft::error(shop_errc::refused, "out of stock");
    if (failures_left[key] > 0) {
      --failures_left[key];
      return weft::error(weft::ask_errc::rejected, "busy, try again");
    }
    applied[key] = 1;  // idempotent: a repeat changes nothing
    if (lose_reply[key]) {
      lose_reply[key] = false;
      return weft::error(weft::ask_errc::timeout, "the reply was lost");
    }
    return {};
  }
  wp::step_result undo(const wp::step_call& c) {
    std::lock_guard lock(mutex);
    const std::string key(c.idempotency_key);
    calls.push_back(fmt::format("undo {} #{}", key, c.attempt));
    if (undo_failures[key] > 0) {
      --undo_failures[key];
      return weft::error(weft::ask_errc::rejected, "cannot undo yet");
    }
    applied[key] = 0;
    return {};
  }
  std::vector<std::string> snapshot_calls() {
    std::lock_guard lock(mutex);
    return calls;
  }
};

}  // namespace

namespace {

wp::saga_retry fast_retry(std::uint32_t attempts = 5) {
  return {.initial_interval = 1ms, .backoff_coefficient = 2.0, .maximum_interval = 10ms, .maximum_attempts = attempts,
          .non_retryable = {weft::error(shop_errc::refused)}};
}

// reserve -> charge (pivot) -> ship, each through the ledger.
wp::saga_definition<order> booking(ledger& l, bool with_pivot = true) {
  wp::saga_definition<order> def("order");
  for (const char* name : {"reserve", "charge", "ship"}) {
    def.step({.name = name,
              .action = [&l](weft::context&, const order&, const wp::step_call& c) { return l.act(c); },
              .compensation = [&l](weft::context&, const order&, const wp::step_call& c) { return l.undo(c); },
              .retry = fast_retry(),
              .compensation_retry = fast_retry(3),
              .timeout = 1s,
              .pivot = with_pivot && std::string(name) == "charge"});
  }
  return def;
}

struct fixture {
  wp::test::temp_dir dir;
  std::unique_ptr<wp::journal> journal = wp::open_file_journal(dir / "journal");
};

wp::saga_counts run_to_end(weft::scoped_actor& self, const weft::ref<wp::saga_host_protocol>& host) {
  auto counts = self.ask(host, wp::await_sagas{}, 20s);
  REQUIRE(counts);
  return *counts;
}

// What one saga, "o1", ended as.
struct ended {
  wp::saga_counts counts;
  wp::saga_status status;
};

// Runs saga "o1" of `def` on a fresh runtime and host until it settles.
template <class Data>
ended run_saga(wp::journal& j, const wp::saga_definition<Data>& def, const Data& data) {
  weft::runtime rt({.workers = 2});
  weft::scoped_actor self(rt);
  auto host = rt.spawn(wp::saga_host(def, {.journal = &j}));
  REQUIRE(self.ask(host, def.start("o1", data)));
  ended out{run_to_end(self, host), {}};
  auto status = self.ask(host, wp::query_saga{"o1"});
  REQUIRE(status);
  out.status = *status;
  return out;
}

}  // namespace

TEST_CASE("saga: every step done, in order, each key applied once; the intent is durable before the action") {
  fixture f;
  ledger l;
  std::vector<std::string> seen_intents;
  auto def = booking(l);
  // Replace reserve's action with one that reads the journal first: its
  // intent must already be there.
  wp::saga_definition<order> checked("checked");
  checked.step({.name = "reserve",
                .action = [&](weft::context&, const order&, const wp::step_call& c) {
                  std::uint64_t events = 0;
                  f.journal->read("saga/" + std::string(c.saga_id), 1, wp::max_sequence_nr, wp::max_sequence_nr,
                                  [&](const wp::event_view&) { ++events; });
                  seen_intents.push_back(fmt::format("{} events before the action", events));
                  return l.act(c);
                },
                .compensation = [&](weft::context&, const order&, const wp::step_call& c) { return l.undo(c); },
                .retry = fast_retry()});
  weft::runtime rt({.workers = 2});
  weft::scoped_actor self(rt);
  auto host = rt.spawn(wp::saga_host(checked, {.journal = f.journal.get()}));
  auto id = self.ask(host, checked.start("o1", order{"book", 12}));
  REQUIRE(id);
  CHECK(*id == "o1");
  const wp::saga_counts c = run_to_end(self, host);
  CHECK(c.completed == 1);
  CHECK(c.running == 0);
  // started + step_intent: both durable when the action ran.
  REQUIRE(seen_intents.size() == 1);
  CHECK(seen_intents[0] == "2 events before the action");
  auto status = self.ask(host, wp::query_saga{"o1"});
  REQUIRE(status);
  CHECK(status->state == wp::saga_state::completed);
  CHECK(status->done == std::vector<std::string>{"reserve"});

  // The same again with three steps: keys are "<id>/<step>".
  auto host2 = rt.spawn(wp::saga_host(def, {.journal = f.journal.get()}));
  REQUIRE(self.ask(host2, def.start("o2", order{"pen", 3})));
  CHECK(run_to_end(self, host2).completed == 1);
  CHECK(l.applied["o2/reserve"] == 1);
  CHECK(l.applied["o2/charge"] == 1);
  CHECK(l.applied["o2/ship"] == 1);
  // Starting an id twice starts it once.
  REQUIRE(self.ask(host2, def.start("o2", order{"pen", 3})));
  CHECK(run_to_end(self, host2).completed == 1);
  CHECK(l.action_calls["o2/reserve"] == 1);
}

TEST_CASE("saga: a refused step compensates the done ones newest first; a definite failure is not compensated") {
  fixture f;
  ledger l;
  l.reject["o1/charge"] = true;
  const ended e = run_saga(*f.journal, booking(l), order{"x", 1});
  CHECK(e.counts.compensated == 1);
  CHECK(l.snapshot_calls() == std::vector<std::string>{"do o1/reserve #1", "do o1/charge #1", "undo o1/reserve #1"});
  CHECK(l.applied["o1/reserve"] == 0);
  CHECK(e.status.state == wp::saga_state::compensated);
  CHECK(e.status.reason.find("charge") != std::string::npos);
  CHECK(e.status.compensated == std::vector<std::string>{"reserve"});
}

TEST_CASE("saga: a step whose outcome is unknown counts as maybe done and is compensated too") {
  fixture f;
  ledger l;
  // ship: applies, then the reply is lost; the retry policy allows one
  // attempt, so the saga gives up without knowing. No pivot here.
  l.lose_reply["o1/ship"] = true;
  wp::saga_definition<order> def("order");
  for (const char* name : {"reserve", "ship"}) {
    def.step({.name = name,
              .action = [&l](weft::context&, const order&, const wp::step_call& c) { return l.act(c); },
              .compensation = [&l](weft::context&, const order&, const wp::step_call& c) { return l.undo(c); },
              .retry = fast_retry(1)});
  }
  CHECK(run_saga(*f.journal, def, order{"x", 1}).counts.compensated == 1);
  CHECK(l.snapshot_calls() ==
        std::vector<std::string>{"do o1/reserve #1", "do o1/ship #1", "undo o1/ship #1", "undo o1/reserve #1"});
  CHECK(l.applied["o1/ship"] == 0);
  CHECK(l.applied["o1/reserve"] == 0);
}

TEST_CASE("saga: retryable failures are retried with the same key until one succeeds") {
  fixture f;
  ledger l;
  l.failures_left["o1/reserve"] = 2;
  l.lose_reply["o1/charge"] = true;  // a lost reply is retried: the ledger dedups
  CHECK(run_saga(*f.journal, booking(l), order{"x", 1}).counts.completed == 1);
  CHECK(l.snapshot_calls() == std::vector<std::string>{"do o1/reserve #1", "do o1/reserve #2", "do o1/reserve #3",
                                                       "do o1/charge #1", "do o1/charge #2", "do o1/ship #1"});
  CHECK(l.applied["o1/charge"] == 1);
}

TEST_CASE("saga: after the pivot the saga only goes forward; out of attempts it is stuck, and resumes") {
  fixture f;
  ledger l;
  l.reject["o1/ship"] = true;
  auto def = booking(l);
  weft::runtime rt({.workers = 2});
  weft::scoped_actor self(rt);
  auto host = rt.spawn(wp::saga_host(def, {.journal = f.journal.get()}));
  REQUIRE(self.ask(host, def.start("o1", order{"x", 1})));
  wp::saga_counts c = run_to_end(self, host);
  CHECK(c.stuck == 1);
  CHECK(c.compensated == 0);
  // Nothing was compensated: charge is the pivot.
  CHECK(l.applied["o1/reserve"] == 1);
  CHECK(l.applied["o1/charge"] == 1);
  auto list = self.ask(host, wp::list_sagas{});
  REQUIRE(list);
  REQUIRE(list->size() == 1);
  CHECK((*list)[0].state == wp::saga_state::stuck);
  CHECK((*list)[0].step == "ship");
  // Visible to the debug shell: the actor is named and describes itself.
  CHECK(rt.whereis("saga/o1"));
  // The operator fixes the cause and resumes.
  {
    std::lock_guard lock(l.mutex);
    l.reject["o1/ship"] = false;
  }
  auto resumed = self.ask(host, wp::resume_saga{"o1"});
  CHECK(resumed);
  c = run_to_end(self, host);
  CHECK(c.completed == 1);
  CHECK(c.stuck == 0);
  CHECK(l.applied["o1/ship"] == 1);
  // Resuming a saga that is not stuck is refused.
  CHECK_FALSE(self.ask(host, wp::resume_saga{"o1"}));
}

TEST_CASE("saga: a compensation that keeps failing leaves the saga stuck, never cancelled; resume finishes it") {
  fixture f;
  ledger l;
  l.reject["o1/charge"] = true;
  l.undo_failures["o1/reserve"] = 5;  // more than compensation_retry's 3 attempts
  auto def = booking(l);
  weft::runtime rt({.workers = 2});
  weft::scoped_actor self(rt);
  auto host = rt.spawn(wp::saga_host(def, {.journal = f.journal.get()}));
  REQUIRE(self.ask(host, def.start("o1", order{"x", 1})));
  wp::saga_counts c = run_to_end(self, host);
  CHECK(c.stuck == 1);
  auto status = self.ask(host, wp::query_saga{"o1"});
  REQUIRE(status);
  CHECK(status->state == wp::saga_state::stuck);
  CHECK(status->step == "reserve");
  CHECK(status->reason.find("compensation of reserve") != std::string::npos);
  // Resumed, it tries three more times: two fail, the third succeeds.
  REQUIRE(self.ask(host, wp::resume_saga{"o1"}));
  c = run_to_end(self, host);
  CHECK(c.compensated == 1);
  CHECK(l.applied["o1/reserve"] == 0);
}

TEST_CASE("saga: after a crash mid-step every saga resumes on its own; the step runs again with its key") {
  fixture f;
  ledger l;
  std::atomic<bool> hang{true};
  std::atomic<int> hanging{0};
  wp::saga_definition<order> def("order");
  def.step({.name = "reserve",
            .action = [&](weft::context& self, const order&, const wp::step_call& c) -> wp::step_result {
              auto r = l.act(c);
              if (hang.load()) {
                // The effect is applied; the saga dies before it hears so.
                ++hanging;
                self.sleep_for(60s);
              }
              return r;
            },
            .compensation = [&](weft::context&, const order&, const wp::step_call& c) { return l.undo(c); },
            .retry = fast_retry()});
  def.step({.name = "ship",
            .action = [&](weft::context&, const order&, const wp::step_call& c) { return l.act(c); },
            .retry = fast_retry()});
  {
    weft::runtime rt({.workers = 2});
    weft::scoped_actor self(rt);
    auto host = rt.spawn(wp::saga_host(def, {.journal = f.journal.get()}));
    for (int i = 1; i <= 20; ++i) REQUIRE(self.ask(host, def.start(fmt::format("o{}", i), order{"x", i})));
    for (int spin = 0; hanging.load() < 20 && spin < 2000; ++spin) std::this_thread::sleep_for(5ms);
    REQUIRE(hanging.load() == 20);
    // The runtime ends: every saga stops in the middle of its first step.
  }
  hang = false;
  weft::runtime rt({.workers = 2});
  weft::scoped_actor self(rt);
  auto host = rt.spawn(wp::saga_host(def, {.journal = f.journal.get()}));
  const wp::saga_counts c = run_to_end(self, host);
  CHECK(c.completed == 20);
  for (int i = 1; i <= 20; ++i) {
    const std::string key = fmt::format("o{}/reserve", i);
    CHECK(l.action_calls[key] == 2);  // once before the crash, once after
    CHECK(l.applied[key] == 1);       // one effect
    CHECK(l.action_calls[fmt::format("o{}/ship", i)] == 1);
  }
  // Offline, the journal says the same.
  const auto records = wp::read_sagas(*f.journal, "order");
  REQUIRE(records.size() == 20);
  for (const auto& r : records) {
    CHECK(r.finished);
    CHECK(r.status.state == wp::saga_state::completed);
  }
}

TEST_CASE("saga: a 30-day durable timer on the test clock, across a restart") {
  fixture f;
  auto clock = std::make_shared<weft::manual_clock>();
  auto wall = wp::saga_wall_clock(clock);
  std::atomic<int> shipped{0};
  wp::saga_definition<order> def("order");
  def.wait_until("cooling-off", [&](const order&) { return wall() + std::chrono::hours(24 * 30); });
  def.step({.name = "ship", .action = [&](weft::context&, const order&, const wp::step_call&) -> wp::step_result {
              ++shipped;
              return {};
            }});
  const auto started = std::chrono::steady_clock::now();
  {
    weft::runtime rt({.workers = 2, .clock = clock});
    weft::scoped_actor self(rt);
    auto host = rt.spawn(wp::saga_host(def, {.journal = f.journal.get(), .wall_clock = wall}));
    REQUIRE(self.ask(host, def.start("o1", order{"x", 1})));
    REQUIRE(clock->await_timers(1));
    clock->advance(std::chrono::hours(24 * 10));
    CHECK(shipped.load() == 0);
  }
  // 10 days passed before the restart; the due time is the journaled one.
  weft::runtime rt({.workers = 2, .clock = clock});
  weft::scoped_actor self(rt);
  auto host = rt.spawn(wp::saga_host(def, {.journal = f.journal.get(), .wall_clock = wall}));
  REQUIRE(clock->await_timers(1));
  clock->advance(std::chrono::hours(24 * 19));
  auto status = self.ask(host, wp::query_saga{"o1"});
  REQUIRE(status);
  CHECK(status->state == wp::saga_state::running);
  CHECK(status->step == "cooling-off");
  CHECK(shipped.load() == 0);
  clock->advance(std::chrono::hours(24));
  CHECK(run_to_end(self, host).completed == 1);
  CHECK(shipped.load() == 1);
  CHECK(std::chrono::steady_clock::now() - started < 5s);
}

TEST_CASE("saga: signals are journaled, seen by later steps and wait_signal steps, and survive a restart") {
  fixture f;
  auto clock = std::make_shared<weft::manual_clock>();
  auto wall = wp::saga_wall_clock(clock);
  std::string seen_by_ship;
  wp::saga_definition<order> def("order");
  def.wait_signal("approval", "approved", std::chrono::hours(48));
  def.step({.name = "ship", .action = [&](weft::context&, const order&, const wp::step_call& c) -> wp::step_result {
              seen_by_ship = c.signals->at("approved");
              return {};
            }});
  {
    weft::runtime rt({.workers = 2, .clock = clock});
    weft::scoped_actor self(rt);
    auto host = rt.spawn(wp::saga_host(def, {.journal = f.journal.get(), .wall_clock = wall}));
    REQUIRE(self.ask(host, def.start("o1", order{"x", 1})));
    REQUIRE(self.ask(host, def.start("o2", order{"y", 2})));
    REQUIRE(clock->await_timers(2));
    // An unrelated signal is recorded but does not release the step.
    REQUIRE(self.ask(host, wp::signal_saga{"o1", "note", "gift wrap"}));
    auto status = self.ask(host, wp::query_saga{"o1"});
    REQUIRE(status);
    CHECK(status->step == "approval");
    CHECK(status->signals.at("note") == "gift wrap");
  }
  weft::runtime rt({.workers = 2, .clock = clock});
  weft::scoped_actor self(rt);
  auto host = rt.spawn(wp::saga_host(def, {.journal = f.journal.get(), .wall_clock = wall}));
  REQUIRE(clock->await_timers(2));
  REQUIRE(self.ask(host, wp::signal_saga{"o1", "approved", "by alice"}));
  // o2 gets no approval: past its 48-hour deadline it fails, and having
  // done nothing, ends compensated.
  clock->advance(std::chrono::hours(49));
  const wp::saga_counts c = run_to_end(self, host);
  CHECK(c.completed == 1);
  CHECK(c.compensated == 1);
  CHECK(seen_by_ship == "by alice");
  auto o1 = self.ask(host, wp::query_saga{"o1"});
  REQUIRE(o1);
  CHECK(o1->signals.at("note") == "gift wrap");
}

TEST_CASE("saga: a step's deadline covers all its attempts and is durable") {
  fixture f;
  auto clock = std::make_shared<weft::manual_clock>();
  auto wall = wp::saga_wall_clock(clock);
  ledger l;
  l.failures_left["o1/charge"] = 1000;
  wp::saga_definition<order> def("order");
  def.step({.name = "reserve",
            .action = [&l](weft::context&, const order&, const wp::step_call& c) { return l.act(c); },
            .compensation = [&l](weft::context&, const order&, const wp::step_call& c) { return l.undo(c); }});
  def.step({.name = "charge",
            .action = [&l](weft::context&, const order&, const wp::step_call& c) { return l.act(c); },
            .retry = {.initial_interval = 10min, .backoff_coefficient = 1.0, .maximum_interval = 10min,
                      .maximum_attempts = 0},
            .deadline = 1h});
  weft::runtime rt({.workers = 2, .clock = clock});
  weft::scoped_actor self(rt);
  auto host = rt.spawn(wp::saga_host(def, {.journal = f.journal.get(), .wall_clock = wall}));
  REQUIRE(self.ask(host, def.start("o1", order{"x", 1})));
  for (int i = 0; i < 6; ++i) {  // a retry every 10 minutes; the sixth tick finds the deadline passed
    REQUIRE(clock->await_timers(1));
    clock->advance(10min);
  }
  const wp::saga_counts c = run_to_end(self, host);
  CHECK(c.compensated == 1);
  CHECK(l.action_calls["o1/charge"] == 6);  // at 0, 10, ... 50 minutes
  CHECK(l.applied["o1/reserve"] == 0);
}

TEST_CASE("saga: bad start data is refused and nothing is journaled") {
  fixture f;
  ledger l;
  auto def = booking(l);
  weft::runtime rt({.workers = 1});
  weft::scoped_actor self(rt);
  auto host = rt.spawn(wp::saga_host(def, {.journal = f.journal.get()}));
  auto r = self.ask(host, wp::start_saga{"bad", wp::bytes{std::byte{1}}});
  REQUIRE_FALSE(r);
  CHECK(r.error() == weft::ask_errc::rejected);
  CHECK(f.journal->highest_sequence_nr("saga-index/order") == 0);
  CHECK(run_to_end(self, host) == wp::saga_counts{});
}

// -- Omicron-style checks (oxidecomputer/omicron's saga test helpers) ------------

namespace {

// A journal that passes everything to another; the wrappers below change
// what happens to appends.
class forwarding_journal : public wp::journal {
 public:
  explicit forwarding_journal(wp::journal& inner) : inner_(inner) {}
  void async_append(std::string_view id, std::span<const wp::persistent_event> events, wp::completion done) override {
    inner_.async_append(id, events, std::move(done));
  }
  void async_delete_up_to(std::string_view id, std::uint64_t to, wp::completion done) override {
    inner_.async_delete_up_to(id, to, std::move(done));
  }
  void read(std::string_view id, std::uint64_t from, std::uint64_t to, std::uint64_t max,
            const wp::event_visitor& visit) override {
    inner_.read(id, from, to, max, visit);
  }
  std::uint64_t highest_sequence_nr(std::string_view id) override { return inner_.highest_sequence_nr(id); }
  void close() override {}
 protected:
  wp::journal& inner_;
};

// A journal that "dies" after `allowed` more appends: later appends never
// complete, as if the process had been killed between two journal writes.
class dying_journal final : public forwarding_journal {
 public:
  explicit dying_journal(wp::journal& inner, std::int64_t allowed) : forwarding_journal(inner), allowed_(allowed) {}
  void async_append(std::string_view id, std::span<const wp::persistent_event> events, wp::completion done) override {
    ++appends_;
    if (allowed_.fetch_sub(1) <= 0) return;  // lost with the process
    inner_.async_append(id, events, std::move(done));
  }
  bool died() const { return allowed_.load() < 0; }
  std::int64_t appends() const { return appends_.load(); }

 private:
  std::atomic<std::int64_t> allowed_;
  std::atomic<std::int64_t> appends_{0};
};

wp::saga_definition<order> three_steps(ledger& l, int repeat, std::optional<std::string> pivot = {}) {
  wp::saga_definition<order> def("order");
  for (const char* name : {"reserve", "charge", "ship"}) {
    def.step({.name = name,
              .action = [&l, repeat](weft::context&, const order&, const wp::step_call& c) {
                wp::step_result r;
                for (int i = 0; i < repeat; ++i) r = l.act(c);
                return r;
              },
              .compensation = [&l, repeat](weft::context&, const order&, const wp::step_call& c) {
                wp::step_result r;
                for (int i = 0; i < repeat; ++i) r = l.undo(c);
                return r;
              },
              .retry = fast_retry(),
              .compensation_retry = fast_retry(),
              .pivot = pivot && *pivot == name});
  }
  return def;
}

std::map<std::string, int> run_one(ledger& l, int repeat, const std::string& refuse) {
  fixture f;
  if (!refuse.empty()) l.reject["o1/" + refuse] = true;
  (void)run_saga(*f.journal, three_steps(l, repeat), order{"x", 1});
  std::lock_guard lock(l.mutex);
  return l.applied;
}

}  // namespace

TEST_CASE("saga: running every action and compensation twice has the effect of running it once") {
  for (const std::string refuse : {"", "reserve", "charge", "ship"}) {
    CAPTURE(refuse);
    ledger once;
    ledger twice;
    CHECK(run_one(once, 1, refuse) == run_one(twice, 2, refuse));
  }
}

TEST_CASE("saga: a failure injected at each step in turn leaves a clean slate") {
  for (const std::string refuse : {"reserve", "charge", "ship"}) {
    CAPTURE(refuse);
    ledger l;
    const auto applied = run_one(l, 1, refuse);
    for (const auto& [key, in_effect] : applied) {
      CAPTURE(key);
      CHECK(in_effect == 0);
    }
  }
}

TEST_CASE("saga: a crash between any two journal writes, then a restart: each effect exactly once") {
  // How many journal writes a whole saga makes (the host's index included), for
  // the path that completes and the one that compensates.
  for (const std::string refuse : {"", "ship"}) {
    CAPTURE(refuse);
    std::int64_t writes = 0;
    {
      fixture f;
      ledger l;
      if (!refuse.empty()) l.reject["o1/" + refuse] = true;
      dying_journal counting(*f.journal, 1'000'000);
      auto def = three_steps(l, 1);
      weft::runtime rt({.workers = 2});
      weft::scoped_actor self(rt);
      auto host = rt.spawn(wp::saga_host(def, {.journal = &counting}));
      REQUIRE(self.ask(host, def.start("o1", order{"x", 1})));
      (void)run_to_end(self, host);
      writes = counting.appends();
    }
    // Index, then the saga's writes (an outcome shares its write with the
    // next intent), then the index again.
    REQUIRE(writes >= 5);
    for (std::int64_t allowed = 1; allowed < writes; ++allowed) {
      CAPTURE(allowed);
      fixture f;
      ledger l;
      if (!refuse.empty()) l.reject["o1/" + refuse] = true;
      auto def = three_steps(l, 1);
      {
        dying_journal dying(*f.journal, allowed);
        weft::runtime rt({.workers = 2});
        weft::scoped_actor self(rt);
        auto host = rt.spawn(wp::saga_host(def, {.journal = &dying}));
        self.send(host, def.start("o1", order{"x", 1}));
        for (int spin = 0; !dying.died() && spin < 2000; ++spin) std::this_thread::sleep_for(1ms);
        REQUIRE(dying.died());
        // The runtime ends here, as the process would.
      }
      const bool registered = f.journal->highest_sequence_nr("saga-index/order") > 0;
      weft::runtime rt({.workers = 2});
      weft::scoped_actor self(rt);
      auto host = rt.spawn(wp::saga_host(def, {.journal = f.journal.get()}));
      const wp::saga_counts c = run_to_end(self, host);
      if (!registered) {
        // Killed before the start was acknowledged: no saga, no effect.
        CHECK(c == wp::saga_counts{});
        CHECK(l.action_calls.empty());
        continue;
      }
      std::lock_guard lock(l.mutex);
      if (refuse.empty()) {
        CHECK(c.completed == 1);
        for (const char* step : {"o1/reserve", "o1/charge", "o1/ship"}) CHECK(l.applied[step] == 1);
      } else {
        CHECK(c.compensated == 1);
        for (const auto& [key, in_effect] : l.applied) CHECK(in_effect == 0);
      }
    }
  }
}

// -- parallel groups ------------------------------------------------------------

namespace {

// Each caller waits until `n` have arrived: if the calls did not run at
// the same time, the first would give up after the timeout.
struct rendezvous {
  explicit rendezvous(int n) : expected(n) {}
  bool arrive_and_wait(std::chrono::milliseconds timeout = 5000ms) {
    std::unique_lock lock(mutex);
    ++arrived;
    cv.notify_all();
    return cv.wait_for(lock, timeout, [&] { return arrived >= expected; });
  }
  std::mutex mutex;
  std::condition_variable cv;
  int arrived = 0;
  int expected;
};

wp::saga_definition<order> with_group(ledger& l, rendezvous& together, rendezvous& undone_together) {
  wp::saga_definition<order> def("order");
  auto act = [&l](weft::context&, const order&, const wp::step_call& c) { return l.act(c); };
  auto undo = [&l](weft::context&, const order&, const wp::step_call& c) { return l.undo(c); };
  auto act_together = [&l, &together](weft::context&, const order&, const wp::step_call& c) -> wp::step_result {
    if (c.attempt == 1 && !together.arrive_and_wait()) return weft::error(shop_errc::refused, "ran alone");
    return l.act(c);
  };
  auto undo_together = [&l, &undone_together](weft::context&, const order&, const wp::step_call& c) -> wp::step_result {
    if (c.attempt == 1 && !undone_together.arrive_and_wait()) return weft::error(shop_errc::refused, "undone alone");
    return l.undo(c);
  };
  def.step({.name = "reserve", .action = act, .compensation = undo, .retry = fast_retry()});
  def.parallel({{.name = "hotel", .action = act_together, .compensation = undo_together, .retry = fast_retry()},
                {.name = "flight", .action = act_together, .compensation = undo_together, .retry = fast_retry()}});
  def.step({.name = "pay", .action = act, .compensation = undo, .retry = fast_retry()});
  return def;
}

}  // namespace

TEST_CASE("saga: a parallel group runs its steps at the same time, then goes on") {
  fixture f;
  ledger l;
  rendezvous together(2);
  rendezvous undo_together(2);
  const ended e = run_saga(*f.journal, with_group(l, together, undo_together), order{"trip", 1});
  CHECK(e.counts.completed == 1);
  for (const char* key : {"o1/reserve", "o1/hotel", "o1/flight", "o1/pay"}) CHECK(l.applied[key] == 1);
  const auto calls = l.snapshot_calls();
  REQUIRE(calls.size() == 4);
  CHECK(calls.front() == "do o1/reserve #1");
  CHECK(calls.back() == "do o1/pay #1");
}

TEST_CASE("saga: a step after a parallel group fails: the group is compensated at the same time, then the rest") {
  fixture f;
  ledger l;
  l.reject["o1/pay"] = true;
  rendezvous together(2);
  rendezvous undo_together(2);
  const ended e = run_saga(*f.journal, with_group(l, together, undo_together), order{"trip", 1});
  CHECK(e.counts.compensated == 1);
  for (const char* key : {"o1/reserve", "o1/hotel", "o1/flight"}) CHECK(l.applied[key] == 0);
  // reserve's compensation comes last, after both of the group's.
  CHECK(l.snapshot_calls().back() == "undo o1/reserve #1");
}

TEST_CASE("saga: one member of a parallel group refused: the other member, done, is compensated") {
  fixture f;
  ledger l;
  l.reject["o1/flight"] = true;
  rendezvous together(2);
  rendezvous undo_together(1);  // only the hotel is undone
  const ended e = run_saga(*f.journal, with_group(l, together, undo_together), order{"trip", 1});
  CHECK(e.counts.compensated == 1);
  CHECK(l.applied["o1/hotel"] == 0);
  CHECK(l.applied["o1/reserve"] == 0);
  CHECK(l.action_calls["o1/pay"] == 0);
  const auto calls = l.snapshot_calls();
  CHECK(std::count(calls.begin(), calls.end(), "undo o1/flight #1") == 0);  // refused: no effect to undo
  CHECK(std::count(calls.begin(), calls.end(), "undo o1/hotel #1") == 1);
}

TEST_CASE("saga: a crash while a parallel group runs: both members run again with their keys, each effect once") {
  fixture f;
  ledger l;
  std::atomic<bool> hang{true};
  std::atomic<int> hanging{0};
  wp::saga_definition<order> def("order");
  auto hang_after = [&](weft::context& self, const order&, const wp::step_call& c) -> wp::step_result {
    auto r = l.act(c);
    if (hang.load()) {
      ++hanging;
      self.sleep_for(60s);
    }
    return r;
  };
  def.parallel({{.name = "hotel", .action = hang_after, .retry = fast_retry()},
                {.name = "flight", .action = hang_after, .retry = fast_retry()}});
  {
    weft::runtime rt({.workers = 2});
    weft::scoped_actor self(rt);
    auto host = rt.spawn(wp::saga_host(def, {.journal = f.journal.get()}));
    REQUIRE(self.ask(host, def.start("o1", order{"trip", 1})));
    for (int spin = 0; hanging.load() < 2 && spin < 2000; ++spin) std::this_thread::sleep_for(5ms);
    REQUIRE(hanging.load() == 2);
  }
  hang = false;
  weft::runtime rt({.workers = 2});
  weft::scoped_actor self(rt);
  auto host = rt.spawn(wp::saga_host(def, {.journal = f.journal.get()}));
  CHECK(run_to_end(self, host).completed == 1);
  CHECK(l.action_calls["o1/hotel"] == 2);
  CHECK(l.action_calls["o1/flight"] == 2);
  CHECK(l.applied["o1/hotel"] == 1);
  CHECK(l.applied["o1/flight"] == 1);
}

TEST_CASE("saga: a parallel group of one step, or with a pivot, is refused") {
  ledger l;
  wp::saga_definition<order> def("order");
  CHECK_THROWS_AS(def.parallel({{.name = "alone"}}), std::invalid_argument);
  CHECK_THROWS_AS(def.parallel({{.name = "a"}, {.name = "b", .pivot = true}}), std::invalid_argument);
}

// -- a lost tick ----------------------------------------------------------------

namespace {

// A journal whose completions wait while the gate is closed: the saga
// writing through it blocks in its flush, so its mailbox can be filled.
class gated_journal final : public forwarding_journal {
 public:
  explicit gated_journal(wp::journal& inner) : forwarding_journal(inner) {}
  void close_gate() {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  void open_gate() {
    std::vector<std::pair<wp::completion, wp::storage_status>> held;
    {
      std::lock_guard lock(mutex_);
      closed_ = false;
      held.swap(held_);
    }
    for (auto& [done, status] : held) done(status);
  }
  std::size_t held() {
    std::lock_guard lock(mutex_);
    return held_.size();
  }
  void async_append(std::string_view id, std::span<const wp::persistent_event> events, wp::completion done) override {
    inner_.async_append(id, events, [this, done = std::move(done)](const wp::storage_status& s) mutable {
      {
        std::lock_guard lock(mutex_);
        if (closed_) {
          held_.emplace_back(std::move(done), s);
          return;
        }
      }
      done(s);
    });
  }

 private:
  std::mutex mutex_;
  bool closed_ = false;
  std::vector<std::pair<wp::completion, wp::storage_status>> held_;
};

}  // namespace

TEST_CASE("saga: a tick refused by a full mailbox is sent again; the saga does not stall") {
  fixture f;
  gated_journal gated(*f.journal);
  auto clock = std::make_shared<weft::manual_clock>();
  ledger l;
  l.failures_left["o1/reserve"] = 1;  // one retry, after a backoff on the test clock
  wp::saga_definition<order> def("order");
  def.step({.name = "reserve",
            .action = [&l](weft::context&, const order&, const wp::step_call& c) { return l.act(c); },
            .retry = {.initial_interval = 1min, .maximum_interval = 1min, .maximum_attempts = 3}});
  weft::runtime rt({.workers = 2, .default_mailbox_capacity = 16, .clock = clock});
  weft::scoped_actor self(rt);
  auto host = rt.spawn(wp::saga_host(def, {.journal = &gated, .wall_clock = wp::saga_wall_clock(clock)}),
                       {.mailbox_capacity = 1024});
  REQUIRE(self.ask(host, def.start("o1", order{"x", 1})));
  REQUIRE(clock->await_timers(1));  // the backoff
  weft::pid saga = rt.whereis("saga/o1");
  REQUIRE(saga);
  // The saga blocks writing a signal; its mailbox fills up behind it.
  gated.close_gate();
  REQUIRE(self.try_send(saga, wp::saga_signal{"note", "x"}) == weft::send_status::ok);
  for (int spin = 0; gated.held() == 0 && spin < 2000; ++spin) std::this_thread::sleep_for(1ms);
  REQUIRE(gated.held() == 1);
  int queued = 0;
  while (self.try_send(saga, std::string("hello")) == weft::send_status::ok) ++queued;
  CHECK(queued > 0);  // and the last one was refused: full
  // The backoff's timer fires into the full mailbox: its tick is lost.
  clock->advance(1min + 1s);
  gated.open_gate();
  // The queued messages, handled after the tick's time, send a new one.
  const wp::saga_counts c = run_to_end(self, host);
  CHECK(c.completed == 1);
  CHECK(l.applied["o1/reserve"] == 1);
}
