#pragma once

// Sagas: a long-running workflow of steps, each with a compensation, that
// journals what it is about to do before doing it, so that after a crash it
// resumes on its own and never leaves half an effect behind.
//
//   struct order { std::string sku; std::int64_t cents; WEFT_FIELDS(sku, cents) };
//
//   wp::saga_definition<order> booking("order");
//   booking.step({.name = "reserve",
//                 .action = [&](weft::context& self, const order& o, const wp::step_call& c) {
//                   return self.ask(inventory, reserve{std::string(c.idempotency_key), o.sku}, c.timeout);
//                 },
//                 .compensation = [&](weft::context& self, const order&, const wp::step_call& c) {
//                   return self.ask(inventory, release{std::string(c.idempotency_key)}, c.timeout);
//                 }});
//   booking.step({.name = "charge", ..., .pivot = true});   // after it: forward only
//   booking.step({.name = "deliver", ...});
//
//   auto host = rt.spawn(wp::saga_host(booking, {.journal = &journal}));
//   self.ask(host, booking.start("order-17", order{"sku-1", 1299}));
//
//   the saga actor (one per saga)                 its journal ("saga/<id>")
//   -----------------------------                 -------------------------
//   start ------------------------------------->  started{data}
//   step i, attempt n: ------------------------>  step_intent{i, n}   (durable first:
//     the step's compensation is now owed          this registers the compensation)
//     action(self, data, call)
//       ok -------------------------------------> step_outcome{i, done}
//       error, retryable, attempts left ---------> step_outcome{i, failed|maybe}; backoff
//       error, not retryable / exhausted:
//         before the pivot is done ------------>  compensating{why}
//         after the pivot is done ------------->  stuck{why}      (forward only)
//   compensating: for each step with an effect,
//     newest first (done, or maybe done) ------>  comp_intent{i, n}
//     compensation(self, data, call)
//       ok -------------------------------------> comp_outcome{i, done}
//       error: retried with backoff; never given
//       up silently: when attempts run out ----->  stuck{why}
//   all steps done ---------------------------->  finished{completed}
//   every owed compensation done -------------->  finished{compensated}
//
// Rules (each tested in tests/persistence/saga_test.cpp):
//   * Intent before action: step_intent is durable before the action runs;
//     comp_intent before the compensation runs.
//   * Idempotency: every call of a step (each attempt, after every restart)
//     and its compensation carries the same key, "<saga id>/<step name>", so
//     a participant applies each at most once (persistence/dedup_window.hpp,
//     or a ledger keyed by it). A participant must also remember a
//     compensation of a key it never applied and refuse the action with
//     that key afterwards: a timed-out action may arrive after its
//     compensation.
//   * Maybe done: an attempt whose outcome is unknown (by default an ask
//     timeout, actor_down, broken_promise or stopping: the request may have
//     had its effect) counts as "maybe done" and is compensated if the saga
//     compensates. A step recorded as started but with no outcome (the saga
//     crashed during it) is run again with the same key when the saga goes
//     forward, and compensated when it goes back.
//   * Compensations run newest first, one at a time (a parallel group's
//     members together), and are never
//     cancelled: signals and queries are answered between attempts, and
//     only running out of attempts stops them, as `stuck`.
//   * Pivot: once a pivot step is done the saga only goes forward: a later
//     step that fails retryably is retried without the attempt limit; one
//     that fails for good leaves the saga stuck.
//   * Stuck sagas stay alive, visible (saga_host's list, the debug shell's
//     `ps`, `state`), and resume on saga_resume (or the text "resume" sent
//     from the debug shell with mutations allowed): the stuck step's
//     attempts start counting again.
//
// Durable time: a wait_until step journals its due time (wall clock) before
// waiting, and a step's `deadline` (the limit for all its attempts) is
// journaled with its first intent; after a restart the saga waits only
// what is left. Waiting runs on the runtime's clock (send_after), so a
// runtime with a manual_clock and a saga_options::wall_clock derived from
// it (saga_wall_clock) tests a 30-day timeout in microseconds.
//
// Signals and queries: saga_signal{name, payload} is journaled (and then
// acknowledged) and seen by later steps (step_call::signals) and by
// wait_signal steps; saga_query answers the state from memory, between
// steps, without reading the journal.
//
// Thread safety: definitions are built on one thread, then only read
// (shared by every saga actor of the host). Actions and compensations run
// inside the saga's actor: they may block (ask, receive) as any handler.
//
// Parallel groups (saga_definition::parallel): steps that run at the same
// time, each in a helper actor, and are compensated at the same time.

#include <weft/persistence/codec.hpp>
#include <weft/persistence/journal.hpp>
#include <weft/runtime/actor.hpp>
#include <weft/runtime/behavior.hpp>
#include <weft/runtime/clock.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/error.hpp>
#include <weft/runtime/expected.hpp>
#include <weft/runtime/protocol.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weft::persistence {

using wall_time = std::chrono::system_clock::time_point;

// How a step (or its compensation) is retried; Temporal's vocabulary.
struct saga_retry {
  std::chrono::nanoseconds initial_interval = std::chrono::milliseconds(100);
  double backoff_coefficient = 2.0;
  std::chrono::nanoseconds maximum_interval = std::chrono::seconds(10);
  // Attempts in all, the first included; 0: no limit.
  std::uint32_t maximum_attempts = 5;
  // Errors that are final at once, compared by category and code (the
  // detail text does not matter): e.g. command_errc::rejected for a
  // participant that refused.
  std::vector<weft::error> non_retryable{};

  // The wait before attempt `attempt` + 1 (attempt >= 1).
  std::chrono::nanoseconds interval_after(std::uint32_t attempt) const;
  bool retryable(const weft::error& e) const;
};

// What one call of an action or a compensation is told.
struct step_call {
  std::string_view saga_id{};
  std::string_view step{};
  // "<saga id>/<step name>": the same for every attempt of the step, after
  // restarts too, and for its compensation.
  std::string_view idempotency_key{};
  std::uint32_t attempt = 1;  // 1, 2, ... (counting since the last resume)
  bool compensating = false;
  // How long this attempt may take: ask with it.
  std::chrono::nanoseconds timeout{0};
  // Signals received so far (name -> payload of the latest).
  const std::map<std::string, std::string>* signals = nullptr;
};

using step_result = weft::expected<void>;

template <class Data>
using step_function = std::function<step_result(weft::context&, const Data&, const step_call&)>;

// Whether an error leaves the step's effect unknown ("maybe done"): by
// default the ask errors after which the request may have been applied.
bool default_effect_unknown(const weft::error& e);

template <class Data>
struct saga_step {
  std::string name{};
  step_function<Data> action{};
  // Empty: the step has nothing to undo.
  step_function<Data> compensation{};
  saga_retry retry{};
  // Compensations are retried longer by default: giving up means stuck.
  saga_retry compensation_retry{.maximum_attempts = 20};
  // The time one attempt may take (step_call::timeout).
  std::chrono::nanoseconds timeout = std::chrono::seconds(10);
  // The time all attempts together may take, durable (0: none). Past it
  // the step fails for good (its effect unknown if any attempt's was).
  std::chrono::nanoseconds deadline{0};
  // After this step is done the saga only goes forward.
  bool pivot = false;
  std::function<bool(const weft::error&)> effect_unknown = default_effect_unknown;
};

// -- messages a saga actor answers --------------------------------------------

enum class saga_state : std::uint8_t { running, compensating, completed, compensated, stuck };
std::string_view to_string(saga_state s) noexcept;

struct saga_status {
  std::string id{};
  saga_state state = saga_state::running;
  std::string step{};                      // the step being run or compensated ("" when finished)
  std::uint32_t attempt = 0;               // of that step
  std::string reason{};                    // why it compensates, or is stuck
  std::string last_error{};                // the last failed attempt's error
  std::vector<std::string> done{};         // steps done (forward), in order
  std::vector<std::string> compensated{};  // compensations done, in order
  std::map<std::string, std::string> signals{};
  std::uint64_t events = 0;  // journal events of this saga
};

// The saga's state (from memory).
struct saga_query {};
// Journals a signal, then acknowledges it.
struct saga_signal {
  std::string name{};
  std::string payload{};
};
// Resumes a stuck saga (error if it is not stuck).
struct saga_resume {};

namespace detail {
// A saga actor's own clock tick: `generation` tells a stale timer from the
// current one. In the protocol only because handlers must be; sending one
// from outside does nothing.
struct saga_tick {
  std::uint64_t generation = 0;
};
}  // namespace detail

using saga_protocol = weft::protocol<saga_status(saga_query), void(saga_signal), void(saga_resume),
                                     void(std::string), void(detail::saga_tick)>;

// -- definitions ----------------------------------------------------------------

namespace detail {

enum class step_kind : std::uint8_t { action, wait_until, wait_signal };

// One step with the saga's data bound in (what the saga actor runs).
struct bound_step {
  step_kind kind = step_kind::action;
  std::string name;
  std::function<step_result(weft::context&, const step_call&)> action;
  std::function<step_result(weft::context&, const step_call&)> compensation;
  saga_retry retry;
  saga_retry compensation_retry;
  std::chrono::nanoseconds timeout{0};
  std::chrono::nanoseconds deadline{0};
  bool pivot = false;
  std::function<bool(const weft::error&)> effect_unknown;
  std::function<wall_time()> due;  // wait_until
  std::string signal;              // wait_signal
  int group = -1;                  // steps with the same group >= 0 run (and compensate) together
};

// A definition without its data type: what saga_host keeps.
struct saga_plan {
  std::string name;
  // Decodes the data and binds it into the steps (throws storage_error on
  // data that is not the definition's type).
  std::function<std::vector<bound_step>(const bytes& data)> bind;
  // Throws as bind would, without binding.
  std::function<void(const bytes& data)> check;
};

}  // namespace detail

// Asks a saga_host to start a saga.
struct start_saga {
  std::string id{};  // empty: the host numbers it ("<definition>-<n>")
  bytes data{};
};

template <class Data>
class saga_definition {
 public:
  explicit saga_definition(std::string name) : plan_(std::make_shared<steps>()), name_(std::move(name)) {}

  const std::string& name() const noexcept { return name_; }

  saga_definition& step(saga_step<Data> s) {
    plan_->push_back(entry{detail::step_kind::action, std::move(s), {}, {}});
    return *this;
  }
  // Steps that run at the same time: every one's intent is journaled (in
  // one write), then all actions run at once, each in a helper actor
  // linked to the saga; the group is done when all are. If one fails for
  // good, the saga compensates, and the group's members that may have had
  // an effect are compensated at the same time too. A group holds no
  // pivot (its members could not all be the point of no return).
  saga_definition& parallel(std::vector<saga_step<Data>> steps) {
    if (steps.size() < 2) throw std::invalid_argument("saga_definition::parallel: a group needs two steps or more");
    const int group = next_group_++;
    for (auto& s : steps) {
      if (s.pivot) throw std::invalid_argument("saga_definition::parallel: step " + s.name + " is a pivot");
      plan_->push_back(entry{detail::step_kind::action, std::move(s), {}, {}, group});
    }
    return *this;
  }
  // A durable timer: the step is done at when(data) (wall clock), journaled
  // before waiting, so a restart waits only what is left.
  saga_definition& wait_until(std::string name, std::function<wall_time(const Data&)> when) {
    plan_->push_back(entry{detail::step_kind::wait_until, saga_step<Data>{.name = std::move(name)}, std::move(when), {}});
    return *this;
  }
  // Done once the signal `signal` has been received (before or during the
  // step). With a deadline (durable), the step fails for good past it.
  saga_definition& wait_signal(std::string name, std::string signal, std::chrono::nanoseconds deadline = {}) {
    plan_->push_back(entry{detail::step_kind::wait_signal, saga_step<Data>{.name = std::move(name), .deadline = deadline},
                           {}, std::move(signal)});
    return *this;
  }

  // The start request for a saga of this definition.
  start_saga start(std::string id, const Data& data) const { return start_saga{std::move(id), encode(data)}; }

  detail::saga_plan plan() const {
    return detail::saga_plan{name_, [plan = plan_](const bytes& raw) {
                               auto data = std::make_shared<const Data>(decode<Data>(raw));
                               std::vector<detail::bound_step> out;
                               out.reserve(plan->size());
                               for (const entry& e : *plan) out.push_back(bind(e, data));
                               return out;
                             },
                             [](const bytes& raw) { (void)decode<Data>(raw); }};
  }

 private:
  struct entry {
    detail::step_kind kind;
    saga_step<Data> step;
    std::function<wall_time(const Data&)> when;
    std::string signal;
    int group = -1;
  };
  using steps = std::vector<entry>;

  static detail::bound_step bind(const entry& e, const std::shared_ptr<const Data>& data) {
    detail::bound_step b;
    b.kind = e.kind;
    b.name = e.step.name;
    if (e.step.action) {
      b.action = [f = e.step.action, data](weft::context& self, const step_call& c) { return f(self, *data, c); };
    }
    if (e.step.compensation) {
      b.compensation = [f = e.step.compensation, data](weft::context& self, const step_call& c) {
        return f(self, *data, c);
      };
    }
    b.retry = e.step.retry;
    b.compensation_retry = e.step.compensation_retry;
    b.timeout = e.step.timeout;
    b.deadline = e.step.deadline;
    b.pivot = e.step.pivot;
    b.effect_unknown = e.step.effect_unknown ? e.step.effect_unknown : default_effect_unknown;
    if (e.when) b.due = [f = e.when, data] { return f(*data); };
    b.signal = e.signal;
    b.group = e.group;
    return b;
  }

  std::shared_ptr<steps> plan_;  // shared by copies: steps are added before the host starts
  std::string name_;
  int next_group_ = 0;
};

// -- the host: starts sagas, and resumes every unfinished one ------------------

// What saga_options::on_write is told.
struct saga_written {
  std::string_view id{};
  saga_state state = saga_state::running;
  std::string_view step{};   // as in saga_status
  std::uint64_t events = 0;  // journal events of this saga so far
};

struct saga_options {
  // Where sagas journal ("saga/<id>") and where the host keeps its index
  // ("saga-index/<definition name>"). Required; must outlive the host.
  persistence::journal* journal = nullptr;
  // Wall-clock time for durable timers (wait_until, deadlines). Empty:
  // std::chrono::system_clock::now. Tests: saga_wall_clock(manual_clock).
  std::function<wall_time()> wall_clock{};
  // Called in the saga actor after each of its journal writes is durable
  // (tests, metrics): cheap, so keep it so. The views live for the call.
  std::function<void(const saga_written&)> on_write{};
  // Sagas the host runs at once; more wait in order (0: no limit).
  std::size_t max_running = 0;
};

// Wall time that moves with `clock` (a manual_clock in tests): now() of the
// system at the call, plus whatever the clock advanced since.
std::function<wall_time()> saga_wall_clock(std::shared_ptr<weft::clock> clock);

struct saga_counts {
  std::uint64_t running = 0;  // started, not finished, not stuck (compensating included)
  std::uint64_t completed = 0;
  std::uint64_t compensated = 0;
  std::uint64_t stuck = 0;
  std::uint64_t waiting = 0;  // over max_running, not started yet
  friend bool operator==(const saga_counts&, const saga_counts&) = default;
};

// What the host knows of a saga: its state and, as of its last state
// change, its step and reason (query_saga has the live step).
struct saga_summary {
  std::string id{};
  saga_state state = saga_state::running;
  std::string step{};
  std::string reason{};
};

// Replies saga_counts once no saga is running (each finished or stuck).
struct await_sagas {};
struct list_sagas {};
struct count_sagas {};
struct query_saga {
  std::string id{};
};
struct resume_saga {
  std::string id{};
};
struct signal_saga {
  std::string id{};
  std::string name{};
  std::string payload{};
};

namespace detail {
// A saga actor tells its host where it stands.
struct saga_changed {
  saga_summary summary;
};
}  // namespace detail

namespace detail {
// Index writes have completed (the host takes them from a shared list).
struct saga_registered {};
}  // namespace detail

using saga_host_protocol =
    weft::protocol<std::string(start_saga), saga_counts(await_sagas), std::vector<saga_summary>(list_sagas),
                   saga_counts(count_sagas), saga_status(query_saga), void(resume_saga),
                   void(signal_saga), void(detail::saga_changed), void(detail::saga_registered),
                   void(detail::saga_tick)>;

namespace detail {
// The host (saga.cpp): recovers its index, respawns every unfinished saga,
// answers saga_host_protocol.
class saga_host_actor {
 public:
  saga_host_actor(saga_plan plan, saga_options options);
  weft::behavior_of<saga_host_protocol> make_behavior(weft::context& self);
  void on_exit(weft::context& self, const weft::exit_reason& reason);

  struct state;  // saga.cpp

 private:
  std::shared_ptr<state> state_;
};
}  // namespace detail

// The spawnable host of definition `def`: at most one live host per
// (journal, definition name), as for a persistent actor's id. Its mailbox
// takes every start and every saga's progress: give it room
// (spawn_options::mailbox_capacity) when many sagas run at once. At start it reads its index and
// resumes every saga not finished (stuck ones resume stuck). Each saga is
// a linked child actor named "saga/<id>"; one that crashes (an exception
// from an action) is started again from its journal.
template <class Data>
auto saga_host(const saga_definition<Data>& def, saga_options options) {
  return weft::make_actor<detail::saga_host_actor>(def.plan(), std::move(options));
}

// -- reading a saga journal offline (tools, tests) -----------------------------

struct saga_record {
  std::string id{};
  std::string definition{};
  bytes data{};
  bool finished = false;  // completed or compensated (the index says so)
  saga_status status{};   // replayed from the saga's own journal
};

// Every saga the index of `definition` knows, with its replayed status.
// Blocking; throws storage_error on damage.
std::vector<saga_record> read_sagas(journal& j, std::string_view definition);

}  // namespace weft::persistence
