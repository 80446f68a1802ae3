// Sagas (saga.hpp): the saga actor, its event log, and the host that
// starts sagas and resumes the unfinished ones.
//
// How a saga actor runs: it is a handler-style actor that drives itself
// with ticks. Each saga_tick handler does one thing — journal an intent and
// run one attempt of a step or a compensation, or journal an outcome — and
// then either sends itself the next tick at once or files it as a timer
// (a backoff, a wait_until, a deadline). Signals, queries and resume are
// ordinary messages handled between ticks, so a saga waiting for its
// backoff still answers them. Ticks carry a generation; every tick sent
// bumps it, so an older timer that fires late is ignored.
//
// Journal writes: a saga (and the host's index) appends one event at a
// time with async_append, then waits in a receive for the completion
// message (the journal's writer thread sends it through the pid alone, as
// persistent actors do, because the journal may outlive the runtime).
// Many sagas write at once, so the journal's group commit makes one fsync
// serve all of them.

#include <weft/persistence/saga.hpp>

#include <weft/persistence/status.hpp>
#include <weft/runtime/detail/backend.hpp>
#include <weft/runtime/detail/envelope.hpp>
#include <weft/runtime/exit_reason.hpp>
#include <weft/runtime/messages.hpp>
#include <weft/runtime/runtime.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <deque>
#include <exception>
#include <mutex>
#include <unordered_map>
#include <variant>

namespace weft::persistence {

// -- retry policy ----------------------------------------------------------------

std::chrono::nanoseconds saga_retry::interval_after(std::uint32_t attempt) const {
  double ns = static_cast<double>(initial_interval.count());
  for (std::uint32_t i = 1; i < attempt && ns < static_cast<double>(maximum_interval.count()); ++i) {
    ns *= std::max(backoff_coefficient, 1.0);
  }
  ns = std::min(ns, static_cast<double>(maximum_interval.count()));
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::max(ns, 0.0)));
}

bool saga_retry::retryable(const weft::error& e) const {
  return std::none_of(non_retryable.begin(), non_retryable.end(), [&](const weft::error& n) {
    return n.category() == e.category() && n.code() == e.code();
  });
}

bool default_effect_unknown(const weft::error& e) {
  return e == ask_errc::timeout || e == ask_errc::actor_down || e == ask_errc::broken_promise ||
         e == ask_errc::stopping;
}

std::string_view to_string(saga_state s) noexcept {
  switch (s) {
    case saga_state::running: return "running";
    case saga_state::compensating: return "compensating";
    case saga_state::completed: return "completed";
    case saga_state::compensated: return "compensated";
    case saga_state::stuck: return "stuck";
  }
  return "?";
}

std::function<wall_time()> saga_wall_clock(std::shared_ptr<weft::clock> clock) {
  const wall_time wall0 = std::chrono::system_clock::now();
  const auto steady0 = clock->now();
  return [clock = std::move(clock), wall0, steady0] {
    return wall0 + std::chrono::duration_cast<wall_time::duration>(clock->now() - steady0);
  };
}

namespace {

// -- the saga's events (manifest "saga-event", append alternatives only) ---------

enum class outcome : std::uint8_t { done = 1, failed, maybe };

struct ev_started {
  std::string definition;
  bytes data;
  WEFT_FIELDS(definition, data)
};
struct ev_step_intent {
  std::uint32_t step = 0;
  std::string name;
  std::uint32_t attempt = 0;
  std::int64_t deadline_ns = 0;  // wall clock, since the epoch; 0: none
  WEFT_FIELDS(step, name, attempt, deadline_ns)
};
struct ev_step_outcome {
  std::uint32_t step = 0;
  std::string name;
  outcome result = outcome::done;
  std::uint32_t attempt = 0;
  std::string error;
  WEFT_FIELDS(step, name, result, attempt, error)
};
struct ev_compensating {
  std::string reason;
  WEFT_FIELDS(reason)
};
struct ev_comp_intent {
  std::uint32_t step = 0;
  std::string name;
  std::uint32_t attempt = 0;
  WEFT_FIELDS(step, name, attempt)
};
struct ev_comp_outcome {
  std::uint32_t step = 0;
  std::string name;
  bool ok = false;
  std::uint32_t attempt = 0;
  std::string error;
  WEFT_FIELDS(step, name, ok, attempt, error)
};
struct ev_timer {
  std::uint32_t step = 0;
  std::string name;
  std::int64_t due_ns = 0;
  WEFT_FIELDS(step, name, due_ns)
};
struct ev_signal {
  std::string name;
  std::string payload;
  WEFT_FIELDS(name, payload)
};
struct ev_stuck {
  std::string reason;
  WEFT_FIELDS(reason)
};
struct ev_resumed {
  std::string by;
  WEFT_FIELDS(by)
};
struct ev_finished {
  saga_state state = saga_state::completed;
  WEFT_FIELDS(state)
};
using saga_event = std::variant<ev_started, ev_step_intent, ev_step_outcome, ev_compensating, ev_comp_intent,
                                ev_comp_outcome, ev_timer, ev_signal, ev_stuck, ev_resumed, ev_finished>;
constexpr std::string_view saga_manifest = "saga-event";

// The host's index ("saga-index/<definition>").
struct ix_registered {
  std::string id;
  bytes data;
  WEFT_FIELDS(id, data)
};
struct ix_finished {
  std::string id;
  saga_state state = saga_state::completed;
  WEFT_FIELDS(id, state)
};
using index_event = std::variant<ix_registered, ix_finished>;
constexpr std::string_view index_manifest = "saga-index";

std::string saga_pid(std::string_view id) { return "saga/" + std::string(id); }
std::string index_pid(std::string_view definition) { return "saga-index/" + std::string(definition); }

std::int64_t to_ns(wall_time t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
wall_time from_ns(std::int64_t ns) {
  return wall_time(std::chrono::duration_cast<wall_time::duration>(std::chrono::nanoseconds(ns)));
}

// -- the saga's log: its state, rebuilt from its events -------------------------

enum class step_status : std::uint8_t { pending, started, done, failed, maybe };
enum class comp_status : std::uint8_t { none, started, done };

struct step_record {
  std::string name;
  step_status status = step_status::pending;
  std::uint32_t attempts = 0;  // since the last resume
  std::int64_t deadline_ns = 0;
  std::int64_t due_ns = 0;
  comp_status comp = comp_status::none;
  std::uint32_t comp_attempts = 0;
};

// Pure: apply() is all recovery does, and all offline readers do.
struct saga_log {
  std::string id;
  std::string definition;
  bytes data;
  std::vector<step_record> steps;
  saga_state state = saga_state::running;
  saga_state before_stuck = saga_state::running;
  std::string reason;
  std::string last_error;
  std::map<std::string, std::string> signals;
  std::vector<std::string> done_order;
  std::vector<std::string> comp_order;
  std::uint64_t events = 0;
  std::int32_t current = -1;  // the step last started (forward or back)

  step_record& at(std::uint32_t i, const std::string& name) {
    if (steps.size() <= i) steps.resize(i + 1);
    if (steps[i].name.empty()) steps[i].name = name;
    return steps[i];
  }

  void apply(const saga_event& event) {
    ++events;
    std::visit([this](const auto& e) { on(e); }, event);
  }

  void on(const ev_started& e) {
    definition = e.definition;
    data = e.data;
  }
  void on(const ev_step_intent& e) {
    step_record& s = at(e.step, e.name);
    if (s.status != step_status::done) s.status = step_status::started;
    s.attempts = e.attempt;
    if (e.deadline_ns != 0) s.deadline_ns = e.deadline_ns;
    current = static_cast<std::int32_t>(e.step);
  }
  void on(const ev_step_outcome& e) {
    step_record& s = at(e.step, e.name);
    s.attempts = e.attempt;
    switch (e.result) {
      case outcome::done:
        s.status = step_status::done;
        done_order.push_back(e.name);
        break;
      case outcome::failed:
        // A definite failure of this attempt; an earlier attempt that may
        // have had its effect still counts.
        if (s.status != step_status::maybe) s.status = step_status::failed;
        last_error = e.error;
        break;
      case outcome::maybe:
        s.status = step_status::maybe;
        last_error = e.error;
        break;
    }
  }
  void on(const ev_compensating& e) {
    state = saga_state::compensating;
    reason = e.reason;
  }
  void on(const ev_comp_intent& e) {
    step_record& s = at(e.step, e.name);
    s.comp = comp_status::started;
    s.comp_attempts = e.attempt;
    current = static_cast<std::int32_t>(e.step);
  }
  void on(const ev_comp_outcome& e) {
    step_record& s = at(e.step, e.name);
    s.comp_attempts = e.attempt;
    if (e.ok) {
      s.comp = comp_status::done;
      comp_order.push_back(e.name);
    } else {
      last_error = e.error;
    }
  }
  void on(const ev_timer& e) { at(e.step, e.name).due_ns = e.due_ns; }
  void on(const ev_signal& e) { signals[e.name] = e.payload; }
  void on(const ev_stuck& e) {
    if (state != saga_state::stuck) before_stuck = state;
    state = saga_state::stuck;
    reason = e.reason;
  }
  void on(const ev_resumed&) {
    state = before_stuck;
    // Every step's attempts count from one again (a parallel group may
    // have several at their limit).
    for (step_record& s : steps) {
      s.attempts = 0;
      s.comp_attempts = 0;
    }
    if (state == saga_state::running) reason.clear();
  }
  void on(const ev_finished& e) { state = e.state; }

  bool owes_compensation(const step_record& s) const {
    return (s.status == step_status::started || s.status == step_status::done || s.status == step_status::maybe) &&
           s.comp != comp_status::done;
  }

  saga_status status() const {
    saga_status out;
    out.id = id;
    out.state = state;
    if (current >= 0 && static_cast<std::size_t>(current) < steps.size() && state != saga_state::completed &&
        state != saga_state::compensated) {
      const step_record& s = steps[current];
      out.step = s.name;
      out.attempt = (state == saga_state::compensating || before_stuck == saga_state::compensating) &&
                            s.comp != comp_status::none
                        ? s.comp_attempts
                        : s.attempts;
    }
    out.reason = reason;
    out.last_error = last_error;
    out.done = done_order;
    out.compensated = comp_order;
    out.signals = signals;
    out.events = events;
    return out;
  }
};

saga_log replay(journal& j, std::string_view id) {
  saga_log log;
  log.id = std::string(id);
  j.read(saga_pid(id), 1, max_sequence_nr, max_sequence_nr, [&](const event_view& v) {
    if (v.manifest != saga_manifest) {
      throw storage_error(storage_errc::corrupt,
                          fmt::format("saga {}: event {} has manifest '{}'", id, v.sequence_nr, v.manifest));
    }
    log.apply(decode<saga_event>(v.payload));
  });
  return log;
}

// -- one event at a time, durable before the caller goes on ----------------------

struct append_done {
  std::uint64_t token = 0;
};

// A parallel group member's result, from its helper actor.
struct group_result {
  std::uint64_t round = 0;
  std::size_t step = 0;
  step_result result;
};

struct append_wait {
  std::atomic<bool> done{false};
  storage_status status;
};

// Appends `events` (numbered from their sequence_nr on) and waits, in the
// calling actor (other messages stay queued), until the journal says they
// are durable. Throws storage_error when they are not.
void append_durably(weft::context& self, journal& j, const std::string& persistence_id,
                    std::span<const persistent_event> events, std::uint64_t& tokens) {
  auto wait = std::make_shared<append_wait>();
  const std::uint64_t token = ++tokens;
  j.async_append(persistence_id, events, [wait, token, me = self.self()](const storage_status& s) {
    wait->status = s;
    // release pairs with the acquire below: status is visible.
    wait->done.store(true, std::memory_order_release);
    (void)weft::detail::send_envelope(nullptr, nullptr, me, weft::detail::make_envelope(append_done{token}),
                                      weft::detail::send_mode::try_once, weft::detail::no_timeout);
  });
  // The message may be refused (a full mailbox): the flag is the truth,
  // the message only the wake-up, so re-check it every 50 ms.
  while (!wait->done.load(std::memory_order_acquire)) {
    (void)self.receive_if<append_done>([token](const append_done& d) { return d.token == token; },
                                       std::chrono::milliseconds(50));
  }
  // Drop the wake-up if it came after the flag was seen.
  (void)self.receive_if<append_done>([token](const append_done& d) { return d.token == token; },
                                     std::chrono::nanoseconds(0));
  if (!wait->status) throw storage_error(wait->status.error());
}

}  // namespace

// -- the saga actor -----------------------------------------------------------------

namespace detail {
namespace {

class saga_actor {
 public:
  // fresh: just registered by the host, so its stream is known to be
  // empty (no replay: one blocking-call round trip less per new saga).
  saga_actor(std::shared_ptr<const saga_plan> plan, std::string id, bytes data,
             std::shared_ptr<const saga_options> options, pid host, bool fresh)
      : plan_(std::move(plan)), id_(std::move(id)), data_(std::move(data)), shared_options_(std::move(options)),
        options_(*shared_options_), host_(std::move(host)), fresh_(fresh) {}

  weft::behavior_of<saga_protocol> make_behavior(weft::context& self) {
    self_ = &self;
    journal& j = *options_.journal;
    if (fresh_) {
      log_.id = id_;
    } else {
      log_ = self.blocking([&] { return replay(j, id_); });
    }
    seq_ = log_.events;
    // Written with the first intent (the host's index holds the data).
    if (log_.events == 0) persist(ev_started{plan_->name, data_});
    if (log_.data.empty()) log_.data = data_;
    steps_ = plan_->bind(log_.data);
    self.set_describe([this] { return describe(); });
    self.set_label(label());
    tell_host();
    tick_now();
    // Every handler ends with flush(): nothing staged outlives a handler,
    // so a query (or the host) never sees what is not durable. The one
    // exception is `started`, staged above and written with the first
    // intent: it repeats what the host's index already holds.
    return {
        [this](const saga_query&) {
          tick_if_lost();
          return log_.status();
        },
        [this](const saga_signal& s) {
          persist(ev_signal{s.name, s.payload});
          flush();
          if (waiting_for_signal_) {
            tick_now();
          } else {
            tick_if_lost();
          }
        },
        [this](const saga_resume&) { return resume("saga_resume"); },
        [this](const std::string& text) {
          if (text == "resume") {
            (void)resume("debug shell");
          } else {
            tick_if_lost();
          }
        },
        [this](const saga_tick& t) {
          if (t.generation != generation_) return;
          tick_due_.reset();
          // Run until the saga has to wait (a backoff, a timer, a signal)
          // or ends: a step's outcome is written with the next intent.
          do {
            again_ = false;
            advance();
          } while (again_);
          flush();
        },
    };
  }

 private:
  weft::context& self() { return *self_; }

  wall_time now() const { return options_.wall_clock ? options_.wall_clock() : std::chrono::system_clock::now(); }

  // Stages an event: applied to the state now, written by the next
  // flush(), which comes before any action or compensation runs and before
  // the handler returns. So an outcome and the next step's intent share
  // one journal write, and "intent durable before the action" still holds.
  template <class E>
  void persist(const E& e) {
    staged_.push_back(make_event(seq_ + staged_.size() + 1, saga_event(e), std::string(saga_manifest)));
    log_.apply(saga_event(e));
  }

  void flush() {
    if (staged_.empty()) return;
    append_durably(self(), *options_.journal, saga_pid(id_), staged_, tokens_);
    seq_ += staged_.size();
    staged_.clear();
    if (options_.on_write) options_.on_write(saga_written{id_, log_.state, current_step(), log_.events});
    if (log_.current != labelled_step_ || log_.state != told_state_) {
      labelled_step_ = log_.current;
      self().set_label(label());
    }
    // The host hears of state changes only (it counts them): a report per
    // step would double its traffic. query_saga has the current step.
    if (log_.state != told_state_) tell_host();
  }

  void tell_host() {
    if (!host_) return;
    told_state_ = log_.state;
    // A blocking send: the host must not miss a saga finishing (await_sagas
    // counts on it), and it never blocks on a saga for long (its asks to
    // sagas time out), so a full host mailbox only slows this saga down.
    (void)self().send(host_, saga_changed{saga_summary{id_, log_.state, current_step(), log_.reason}});
  }

  // Called after every write: from the log's fields, not status() (which
  // copies every list).
  const std::string& current_step() const {
    static const std::string none;
    const bool live = log_.state != saga_state::completed && log_.state != saga_state::compensated;
    if (!live || log_.current < 0 || static_cast<std::size_t>(log_.current) >= log_.steps.size()) return none;
    return log_.steps[log_.current].name;
  }

  std::string label() const {
    const std::string& step = current_step();
    std::string out = "saga " + id_ + " " + std::string(to_string(log_.state));
    if (!step.empty()) out += " " + step;
    return out;
  }

  std::string describe() const {
    const saga_status s = log_.status();
    std::string out = fmt::format("saga {} ({}): {}", id_, plan_->name, to_string(s.state));
    if (!s.step.empty()) out += fmt::format(", step {} attempt {}", s.step, s.attempt);
    if (!s.reason.empty()) out += fmt::format(", reason: {}", s.reason);
    if (!s.last_error.empty()) out += fmt::format(", last error: {}", s.last_error);
    out += fmt::format(", done [{}]", fmt::join(s.done, " "));
    if (!s.compensated.empty()) out += fmt::format(", compensated [{}]", fmt::join(s.compensated, " "));
    out += fmt::format(", {} events", s.events);
    return out;
  }

  weft::expected<void> resume(const std::string& by) {
    if (log_.state != saga_state::stuck) {
      tick_if_lost();
      return weft::error(weft::ask_errc::rejected, fmt::format("saga {} is {}, not stuck", id_, to_string(log_.state)));
    }
    persist(ev_resumed{by});
    flush();
    tick_now();
    return {};
  }

  // A tick is a message to itself, sent at once or by a timer; both are
  // refused by a full mailbox (a flood of queries). So the saga notes when
  // its tick is due and whether it is known to be queued; any message
  // handled from that time on sends it again if it may have been lost
  // (tick_if_lost), once per generation while the send succeeds. A tick is
  // refused only when the mailbox is full, so messages are coming; and a
  // timer's tick is refused at or after its due time, so every message
  // after it sees the tick due. A duplicate of the current generation is
  // harmless: advance() only does what the state says is next, and every
  // wait (backoff, timer) starts a new generation.
  void tick_now() {
    waiting_for_signal_ = false;
    tick_due_ = self().system().clock().now();
    tick_queued_ = self().try_send(self().self(), saga_tick{++generation_}) == weft::send_status::ok;
  }
  void tick_after(std::chrono::nanoseconds delay) {
    waiting_for_signal_ = false;
    if (delay <= std::chrono::nanoseconds(0)) {
      again_ = true;  // called from advance(): run again at once
      return;
    }
    tick_due_ = self().system().clock().now() + delay;
    tick_queued_ = false;  // the timer may find the mailbox full
    (void)self().send_after(delay, self().self(), saga_tick{++generation_});
  }
  void tick_if_lost() {
    if (!tick_due_ || tick_queued_ || self().system().clock().now() < *tick_due_) return;
    tick_queued_ = self().try_send(self().self(), saga_tick{generation_}) == weft::send_status::ok;
  }
  void tick_at(std::int64_t due_ns) {
    tick_after(std::chrono::duration_cast<std::chrono::nanoseconds>(from_ns(due_ns) - now()));
  }

  void advance() {
    switch (log_.state) {
      case saga_state::completed:
      case saga_state::compensated:
        flush();
        self().exit(weft::exit_reason::normal());
        break;
      case saga_state::stuck: break;  // until resumed
      case saga_state::running: forward(); break;
      case saga_state::compensating: backward(); break;
    }
  }

  bool past_pivot(std::size_t before) const {
    for (std::size_t i = 0; i < before && i < log_.steps.size(); ++i) {
      if (steps_[i].pivot && log_.steps[i].status == step_status::done) return true;
    }
    return false;
  }

  step_record record(std::size_t i) const { return i < log_.steps.size() ? log_.steps[i] : step_record{}; }

  step_call call_for(std::size_t i, std::uint32_t attempt, bool compensating, std::chrono::nanoseconds timeout) {
    key_ = id_ + "/" + steps_[i].name;
    step_call c;
    c.saga_id = id_;
    c.step = steps_[i].name;
    c.idempotency_key = key_;
    c.attempt = attempt;
    c.compensating = compensating;
    c.timeout = timeout;
    c.signals = &log_.signals;
    return c;
  }

  // The step failed for good (not retried): back, or stuck after the pivot.
  void give_up(std::size_t i, const std::string& why) {
    const std::string reason = fmt::format("step {}: {}", steps_[i].name, why);
    if (past_pivot(i)) {
      persist(ev_stuck{reason});
    } else {
      persist(ev_compensating{reason});
      again_ = true;
    }
  }

  void forward() {
    std::size_t i = 0;
    while (i < steps_.size() && record(i).status == step_status::done) ++i;
    if (i == steps_.size()) {
      persist(ev_finished{saga_state::completed});
      again_ = true;
      return;
    }
    if (steps_[i].group >= 0) {
      forward_group(i);
      return;
    }
    const bound_step& step = steps_[i];
    const step_record rec = record(i);
    const auto index = static_cast<std::uint32_t>(i);
    switch (step.kind) {
      case step_kind::wait_until: {
        if (rec.due_ns == 0) persist(ev_timer{index, step.name, to_ns(step.due())});
        if (now() >= from_ns(record(i).due_ns)) {
          persist(ev_step_outcome{index, step.name, outcome::done, 1, {}});
          again_ = true;
        } else {
          if (log_.current != static_cast<std::int32_t>(i)) persist(ev_step_intent{index, step.name, 1, 0});
          tick_at(record(i).due_ns);
        }
        return;
      }
      case step_kind::wait_signal: {
        if (log_.signals.contains(step.signal)) {
          persist(ev_step_outcome{index, step.name, outcome::done, 1, {}});
          again_ = true;
          return;
        }
        if (rec.status == step_status::pending || (step.deadline.count() > 0 && rec.deadline_ns == 0)) {
          const std::int64_t deadline = step.deadline.count() > 0 ? to_ns(now() + step.deadline) : 0;
          persist(ev_step_intent{index, step.name, 1, deadline});
        }
        const std::int64_t deadline = record(i).deadline_ns;
        if (deadline != 0 && now() >= from_ns(deadline)) {
          persist(ev_step_outcome{index, step.name, outcome::failed, 1, "no signal '" + step.signal + "' in time"});
          give_up(i, "no signal '" + step.signal + "' before the deadline");
          return;
        }
        if (deadline != 0) tick_at(deadline);
        waiting_for_signal_ = true;
        return;
      }
      case step_kind::action: break;
    }

    std::int64_t deadline = rec.deadline_ns;
    if (deadline == 0 && step.deadline.count() > 0) deadline = to_ns(now() + step.deadline);
    if (deadline != 0 && now() >= from_ns(deadline)) {
      // Out of time before another attempt: what earlier attempts did is
      // what counts (maybe, if any may have had an effect).
      const outcome o = rec.status == step_status::failed ? outcome::failed : outcome::maybe;
      persist(ev_step_outcome{index, step.name, o, rec.attempts, "step deadline passed"});
      give_up(i, "deadline passed");
      return;
    }
    const std::uint32_t attempt = rec.attempts + 1;
    persist(ev_step_intent{index, step.name, attempt, deadline});

    std::chrono::nanoseconds timeout = step.timeout;
    if (deadline != 0) {
      timeout = std::min(timeout, std::chrono::duration_cast<std::chrono::nanoseconds>(from_ns(deadline) - now()));
    }
    step_result result = run(step.action, i, attempt, false, timeout);
    if (result) {
      persist(ev_step_outcome{index, step.name, outcome::done, attempt, {}});
      again_ = true;
      return;
    }
    const weft::error& e = result.error();
    const bool unknown = step.effect_unknown(e);
    const bool forward_only = past_pivot(i);
    const std::uint32_t max = step.retry.maximum_attempts;
    const bool attempts_left = forward_only || max == 0 || attempt < max;
    const bool retry = step.retry.retryable(e) && attempts_left;
    persist(ev_step_outcome{index, step.name, unknown ? outcome::maybe : outcome::failed, attempt,
                            fmt::format("{}", e)});
    if (retry) {
      tick_after(step.retry.interval_after(attempt));
      return;
    }
    give_up(i, step.retry.retryable(e) ? fmt::format("{} attempts failed; last: {}", attempt, e)
                                       : fmt::format("{}", e));
  }

  void backward() {
    // Newest step first that owes a compensation.
    std::size_t i = steps_.size();
    while (i > 0) {
      --i;
      if (i < log_.steps.size() && log_.owes_compensation(log_.steps[i])) {
        if (!steps_[i].compensation) {
          // Nothing to undo: the step still counts as compensated.
          persist(ev_comp_outcome{static_cast<std::uint32_t>(i), steps_[i].name, true, 0, {}});
          again_ = true;
          return;
        }
        if (steps_[i].group >= 0) {
          compensate_group(steps_[i].group);
          return;
        }
        compensate(i);
        return;
      }
    }
    persist(ev_finished{saga_state::compensated});
    again_ = true;
  }

  void compensate(std::size_t i) {
    const bound_step& step = steps_[i];
    const auto index = static_cast<std::uint32_t>(i);
    const std::uint32_t attempt = record(i).comp_attempts + 1;
    persist(ev_comp_intent{index, step.name, attempt});
    step_result result = run(step.compensation, i, attempt, true, step.timeout);
    if (result) {
      persist(ev_comp_outcome{index, step.name, true, attempt, {}});
      again_ = true;
      return;
    }
    const weft::error& e = result.error();
    persist(ev_comp_outcome{index, step.name, false, attempt, fmt::format("{}", e)});
    const std::uint32_t max = step.compensation_retry.maximum_attempts;
    if (step.compensation_retry.retryable(e) && (max == 0 || attempt < max)) {
      tick_after(step.compensation_retry.interval_after(attempt));
      return;
    }
    persist(ev_stuck{fmt::format("compensation of {} failed after {} attempts: {}", step.name, attempt, e)});
  }

  // -- parallel groups -------------------------------------------------------

  // The members of group g, in definition order.
  std::vector<std::size_t> members(int g) const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < steps_.size(); ++i) {
      if (steps_[i].group == g) out.push_back(i);
    }
    return out;
  }

  struct attempt_plan {
    std::size_t step = 0;
    std::uint32_t attempt = 1;
    std::chrono::nanoseconds timeout{0};
  };

  // Runs every planned attempt at once, each in a helper actor linked to
  // this one, and returns their results by step. The intents are durable
  // first (flush). The helpers own copies of what they are told: a helper
  // may outlive this actor's memory while it unwinds after a crash.
  std::map<std::size_t, step_result> run_together(const std::vector<attempt_plan>& plan, bool compensating) {
    flush();
    const std::uint64_t round = ++group_round_;
    for (const attempt_plan& a : plan) {
      const bound_step& step = steps_[a.step];
      auto f = compensating ? step.compensation : step.action;
      (void)self().spawn_link(
          [f = std::move(f), me = self().self(), round, index = a.step, id = id_, name = step.name,
           key = id_ + "/" + step.name, attempt = a.attempt, compensating, timeout = a.timeout,
           signals = log_.signals](weft::context& helper) {
            step_call c;
            c.saga_id = id;
            c.step = name;
            c.idempotency_key = key;
            c.attempt = attempt;
            c.compensating = compensating;
            c.timeout = timeout;
            c.signals = &signals;
            step_result r;
            try {
              r = f(helper, c);
            } catch (const std::exception& e) {
              r = weft::error(ask_errc::actor_down, fmt::format("{} threw: {}", name, e.what()));
            }
            helper.send(me, group_result{round, index, std::move(r)});
          },
          weft::spawn_options{.label = fmt::format("saga {} {} {}", id_, compensating ? "undo" : "do", step.name)});
    }
    std::map<std::size_t, step_result> results;
    while (results.size() < plan.size()) {
      auto r = self().receive_if<group_result>([round](const group_result& g) { return g.round == round; });
      if (r) results.emplace(r->step, std::move(r->result));
    }
    return results;
  }

  void forward_group(std::size_t first) {
    const int g = steps_[first].group;
    std::vector<attempt_plan> plan;
    for (std::size_t i : members(g)) {
      const step_record rec = record(i);
      if (rec.status == step_status::done) continue;
      const bound_step& step = steps_[i];
      std::int64_t deadline = rec.deadline_ns;
      if (deadline == 0 && step.deadline.count() > 0) deadline = to_ns(now() + step.deadline);
      if (deadline != 0 && now() >= from_ns(deadline)) {
        const outcome o = rec.status == step_status::failed ? outcome::failed : outcome::maybe;
        persist(ev_step_outcome{static_cast<std::uint32_t>(i), step.name, o, rec.attempts, "step deadline passed"});
        give_up(i, "deadline passed");
        return;
      }
      std::chrono::nanoseconds timeout = step.timeout;
      if (deadline != 0) {
        timeout = std::min(timeout, std::chrono::duration_cast<std::chrono::nanoseconds>(from_ns(deadline) - now()));
      }
      persist(ev_step_intent{static_cast<std::uint32_t>(i), step.name, rec.attempts + 1, deadline});
      plan.push_back({i, rec.attempts + 1, timeout});
    }
    const auto results = run_together(plan, false);
    std::chrono::nanoseconds backoff{0};
    bool retry = false;
    std::optional<std::pair<std::size_t, std::string>> failed;
    for (const attempt_plan& a : plan) {
      const bound_step& step = steps_[a.step];
      const step_result& r = results.at(a.step);
      const auto index = static_cast<std::uint32_t>(a.step);
      if (r) {
        persist(ev_step_outcome{index, step.name, outcome::done, a.attempt, {}});
        continue;
      }
      const weft::error& e = r.error();
      persist(ev_step_outcome{index, step.name, step.effect_unknown(e) ? outcome::maybe : outcome::failed, a.attempt,
                              fmt::format("{}", e)});
      const std::uint32_t max = step.retry.maximum_attempts;
      const bool forward_only = past_pivot(a.step);
      if (step.retry.retryable(e) && (forward_only || max == 0 || a.attempt < max)) {
        retry = true;
        backoff = std::max(backoff, step.retry.interval_after(a.attempt));
      } else if (!failed) {
        failed.emplace(a.step, step.retry.retryable(e) ? fmt::format("{} attempts failed; last: {}", a.attempt, e)
                                                       : fmt::format("{}", e));
      }
    }
    if (failed) {
      give_up(failed->first, failed->second);
    } else if (retry) {
      tick_after(backoff);
    } else {
      again_ = true;
    }
  }

  void compensate_group(int g) {
    std::vector<attempt_plan> plan;
    for (std::size_t i : members(g)) {
      if (i >= log_.steps.size() || !log_.owes_compensation(log_.steps[i])) continue;
      const auto index = static_cast<std::uint32_t>(i);
      if (!steps_[i].compensation) {
        persist(ev_comp_outcome{index, steps_[i].name, true, 0, {}});
        continue;
      }
      const std::uint32_t attempt = record(i).comp_attempts + 1;
      persist(ev_comp_intent{index, steps_[i].name, attempt});
      plan.push_back({i, attempt, steps_[i].timeout});
    }
    const auto results = run_together(plan, true);
    std::chrono::nanoseconds backoff{0};
    std::optional<std::string> stuck;
    for (const attempt_plan& a : plan) {
      const bound_step& step = steps_[a.step];
      const step_result& r = results.at(a.step);
      const auto index = static_cast<std::uint32_t>(a.step);
      if (r) {
        persist(ev_comp_outcome{index, step.name, true, a.attempt, {}});
        continue;
      }
      const weft::error& e = r.error();
      persist(ev_comp_outcome{index, step.name, false, a.attempt, fmt::format("{}", e)});
      const std::uint32_t max = step.compensation_retry.maximum_attempts;
      if (step.compensation_retry.retryable(e) && (max == 0 || a.attempt < max)) {
        backoff = std::max(backoff, step.compensation_retry.interval_after(a.attempt));
      } else if (!stuck) {
        stuck = fmt::format("compensation of {} failed after {} attempts: {}", step.name, a.attempt, e);
      }
    }
    if (stuck) {
      // The others' outcomes are journaled with it; resume retries what is left.
      persist(ev_stuck{*stuck});
    } else if (backoff.count() > 0) {
      tick_after(backoff);
    } else {
      again_ = true;
    }
  }

  // One attempt. An exception from user code is an attempt whose effect is
  // unknown; weft's own unwinding (an exit) is not a std::exception and
  // passes through.
  step_result run(const std::function<step_result(weft::context&, const step_call&)>& f, std::size_t i,
                  std::uint32_t attempt, bool compensating, std::chrono::nanoseconds timeout) {
    flush();  // the intent is durable before the call
    step_call c = call_for(i, attempt, compensating, timeout);
    try {
      return f(self(), c);
    } catch (const std::exception& e) {
      return weft::error(ask_errc::actor_down, fmt::format("{} threw: {}", steps_[i].name, e.what()));
    }
  }

  std::shared_ptr<const saga_plan> plan_;
  std::string id_;
  bytes data_;
  std::shared_ptr<const saga_options> shared_options_;  // one copy for every saga of a host
  const saga_options& options_;
  pid host_;
  bool fresh_ = false;
  weft::context* self_ = nullptr;
  saga_log log_;
  std::vector<bound_step> steps_;
  std::uint64_t seq_ = 0;
  std::uint64_t tokens_ = 0;
  std::uint64_t generation_ = 0;
  bool waiting_for_signal_ = false;
  bool again_ = false;  // advance() wants to run again at once
  std::optional<weft::clock::time_point> tick_due_;  // when the current tick should arrive
  bool tick_queued_ = false;                          // ... and whether it is known to be in the mailbox
  std::uint64_t group_round_ = 0;
  std::vector<persistent_event> staged_;
  saga_state told_state_ = saga_state::running;
  std::int32_t labelled_step_ = -2;
  std::string key_;
};

}  // namespace

// -- the host ---------------------------------------------------------------------

struct saga_host_actor::state {
  std::shared_ptr<const saga_plan> plan;
  saga_options options;
  std::shared_ptr<const saga_options> shared_options;  // what each saga actor gets
  std::string index_id;
  std::uint64_t index_seq = 0;
  std::uint64_t tokens = 0;

  struct entry {
    bytes data;
    saga_summary summary;
    weft::ref<saga_protocol> actor;
    bool finished = false;
    bool waiting = false;
    bool fresh = false;  // started in this incarnation of the host, never run
    std::chrono::nanoseconds backoff{0};
  };
  std::unordered_map<std::string, entry> sagas;
  std::vector<std::string> order;  // ids in start order (list_sagas)
  std::map<pid, std::string> actors;  // live saga actors
  std::unordered_map<std::uint64_t, std::pair<std::string, reply_promise>> registering;
  std::size_t finishing = 0;  // ix_finished writes not yet durable
  // Index writes completed by the journal's writer thread, not yet taken.
  struct completions {
    std::mutex mutex;
    std::vector<std::pair<std::uint64_t, bool>> results;  // (token, ok); token 0: an ix_finished
  };
  std::shared_ptr<completions> index_done = std::make_shared<completions>();
  std::size_t index_pending = 0;
  std::uint64_t stuck = 0;    // sagas whose last summary says stuck
  std::unordered_map<std::uint64_t, std::string> restart_due;  // tick generation -> id
  std::uint64_t generation = 0;
  std::deque<std::string> waiting;
  std::size_t running_actors = 0;
  std::vector<reply_promise> awaiting;
  saga_counts counts;  // completed and compensated from the index; the rest live
};

saga_host_actor::saga_host_actor(saga_plan plan, saga_options options) : state_(std::make_shared<state>()) {
  if (options.journal == nullptr) throw std::invalid_argument("saga_host: saga_options::journal is required");
  state_->plan = std::make_shared<const saga_plan>(std::move(plan));
  state_->index_id = index_pid(state_->plan->name);
  state_->options = options;
  state_->shared_options = std::make_shared<const saga_options>(std::move(options));
}

namespace {

// The host's handlers; the host's state lives in saga_host_actor::state.
class host_logic {
 public:
  using state = saga_host_actor::state;
  host_logic(state& st, weft::context& self) : st_(st), self_(self) {}

  void recover() {
    journal& j = *st_.options.journal;
    std::vector<std::pair<std::uint64_t, index_event>> events;
    self_.blocking([&] {
      j.read(st_.index_id, 1, max_sequence_nr, max_sequence_nr, [&](const event_view& v) {
        if (v.manifest != index_manifest) {
          throw storage_error(storage_errc::corrupt, fmt::format("{}: event {} has manifest '{}'", st_.index_id,
                                                                 v.sequence_nr, v.manifest));
        }
        events.emplace_back(v.sequence_nr, decode<index_event>(v.payload));
      });
    });
    for (auto& [seq, event] : events) {
      st_.index_seq = seq;
      if (auto* r = std::get_if<ix_registered>(&event)) {
        auto& e = st_.sagas[r->id];
        e.data = std::move(r->data);
        e.summary.id = r->id;
        st_.order.push_back(r->id);
      } else if (auto* f = std::get_if<ix_finished>(&event)) {
        auto it = st_.sagas.find(f->id);
        if (it == st_.sagas.end() || it->second.finished) continue;
        it->second.finished = true;
        it->second.summary.state = f->state;
        it->second.summary.step.clear();
        ++(f->state == saga_state::completed ? st_.counts.completed : st_.counts.compensated);
      }
    }
    for (const std::string& id : st_.order) {
      if (!st_.sagas[id].finished) launch(id);
    }
  }

  // Starts the saga's actor, or queues it past max_running.
  void launch(const std::string& id) {
    auto& e = st_.sagas[id];
    if (st_.options.max_running != 0 && st_.running_actors >= st_.options.max_running) {
      if (!e.waiting) {
        e.waiting = true;
        st_.waiting.push_back(id);
      }
      return;
    }
    e.waiting = false;
    const bool fresh = std::exchange(e.fresh, false);  // a restart replays
    ++st_.running_actors;
    weft::spawn_options options;
    options.name = saga_pid(id);
    options.label = "saga " + id;
    e.actor = self_.spawn_link(weft::make_actor<saga_actor>(st_.plan, id, e.data, st_.shared_options, self_.self(), fresh),
                               std::move(options));
    st_.actors.emplace(e.actor.to_pid(), id);
  }

  void launch_waiting() {
    while (!st_.waiting.empty() &&
           (st_.options.max_running == 0 || st_.running_actors < st_.options.max_running)) {
      std::string id = std::move(st_.waiting.front());
      st_.waiting.pop_front();
      launch(id);
    }
  }

  void start(const start_saga& s) {
    std::string id = s.id.empty() ? fmt::format("{}-{}", st_.plan->name, st_.order.size() + 1) : s.id;
    if (st_.sagas.contains(id)) {
      self_.reply(id);  // started already: starting is idempotent
      return;
    }
    // Check the data now: a start that cannot run is refused, not journaled.
    try {
      st_.plan->check(s.data);
    } catch (const std::exception& e) {
      self_.reply(weft::error(ask_errc::rejected, fmt::format("saga {}: bad data: {}", id, e.what())));
      return;
    }
    auto& e = st_.sagas[id];
    e.data = s.data;
    e.summary.id = id;
    e.waiting = true;  // not counted as running until registered
    st_.order.push_back(id);
    const std::uint64_t token = ++st_.tokens;
    st_.registering.emplace(token, std::pair{id, self_.promise()});
    append_index(ix_registered{id, s.data}, token);
  }

  // Appends to the index without waiting; the completion comes back as
  // saga_registered (token 0: an ix_finished write). Completions of one
  // persistence id arrive in submission order.
  void append_index(index_event event, std::uint64_t token) {
    const persistent_event stored = make_event(++st_.index_seq, event, std::string(index_manifest));
    ++st_.index_pending;
    st_.options.journal->async_append(
        st_.index_id, std::span(&stored, 1), [done = st_.index_done, token, me = self_.self()](const storage_status& status) {
          // A completion must not block the journal's writer, and a wake-up
          // sent with try_once may be refused (a full mailbox): the list is
          // the truth, the message only the wake-up. Every handler of the
          // host takes the list first, and a refused wake-up means the
          // mailbox is full, so handlers are coming.
          {
            std::lock_guard lock(done->mutex);
            done->results.emplace_back(token, static_cast<bool>(status));
          }
          (void)weft::detail::send_envelope(nullptr, nullptr, me, weft::detail::make_envelope(saga_registered{}),
                                            weft::detail::send_mode::try_once, weft::detail::no_timeout);
        });
  }

  // Takes every index write that completed.
  void take_completions() {
    std::vector<std::pair<std::uint64_t, bool>> results;
    {
      std::lock_guard lock(st_.index_done->mutex);
      if (st_.index_done->results.empty()) return;
      results.swap(st_.index_done->results);
    }
    for (const auto& [token, ok] : results) {
      --st_.index_pending;
      if (!ok) {
        // The index could not be written: nothing after it can be trusted.
        throw storage_error(storage_errc::io_error, "saga host: writing the index failed");
      }
      if (token == 0) {
        --st_.finishing;
        continue;
      }
      auto it = st_.registering.find(token);
      if (it == st_.registering.end()) continue;
      auto [id, promise] = std::move(it->second);
      st_.registering.erase(it);
      st_.sagas[id].waiting = false;
      st_.sagas[id].fresh = true;
      launch(id);
      promise.deliver(id);
    }
    answer_awaiting();
  }

  void changed(const saga_changed& c) {
    auto it = st_.sagas.find(c.summary.id);
    if (it == st_.sagas.end() || it->second.finished) return;
    const bool was_stuck = it->second.summary.state == saga_state::stuck;
    const bool is_stuck = c.summary.state == saga_state::stuck;
    if (was_stuck != is_stuck) is_stuck ? ++st_.stuck : --st_.stuck;
    it->second.summary = c.summary;
    if (c.summary.state == saga_state::completed || c.summary.state == saga_state::compensated) {
      it->second.finished = true;
      ++(c.summary.state == saga_state::completed ? st_.counts.completed : st_.counts.compensated);
      // Were this write lost, the next start would resume the saga, which
      // finds itself finished and stops again; await_sagas still waits
      // for it, so that what it reports is what the journal says.
      ++st_.finishing;
      append_index(ix_finished{c.summary.id, c.summary.state}, 0);
    }
    answer_awaiting();
  }

  void exited(const exit_msg& m) {
    auto owner = st_.actors.find(m.from);
    if (owner == st_.actors.end()) {
      // Not one of ours: the parent (or the runtime's shutdown) stops the
      // host, and with it, through their links, every saga actor.
      if (!m.reason.is_normal()) self_.exit(m.reason);
      return;
    }
    const std::string id = owner->second;
    st_.actors.erase(owner);
    auto& e = st_.sagas[id];
    e.actor = {};
    --st_.running_actors;
    if (!e.finished && !m.reason.is_clean_stop()) {
      // Crashed (or killed from the shell): start it again from its
      // journal, after a backoff that doubles while it keeps crashing. A
      // stuck saga comes back stuck, so it stays visible.
      e.backoff = std::min<std::chrono::nanoseconds>(
          std::max<std::chrono::nanoseconds>(e.backoff * 2, std::chrono::milliseconds(100)), std::chrono::seconds(30));
      e.summary.reason = "restarting after: " + m.reason.to_string();
      const std::uint64_t g = ++st_.generation;
      st_.restart_due.emplace(g, id);
      ++st_.running_actors;  // its slot stays taken while it waits
      (void)self_.send_after(e.backoff, self_.self(), saga_tick{g});
    }
    launch_waiting();
    answer_awaiting();
  }

  void tick(const saga_tick& t) {
    auto it = st_.restart_due.find(t.generation);
    if (it == st_.restart_due.end()) return;
    std::string id = std::move(it->second);
    st_.restart_due.erase(it);
    --st_.running_actors;
    launch(id);
  }

  // O(1): await_sagas asks after every change.
  saga_counts counts() const {
    saga_counts c = st_.counts;
    c.stuck = st_.stuck;
    c.waiting = st_.waiting.size() + st_.registering.size();
    c.running = st_.sagas.size() - c.completed - c.compensated - c.stuck - c.waiting;
    return c;
  }

  void answer_awaiting() {
    if (st_.awaiting.empty()) return;
    const saga_counts c = counts();
    if (c.running != 0 || c.waiting != 0 || st_.finishing != 0) return;
    for (auto& p : std::exchange(st_.awaiting, {})) p.deliver(c);
  }

  void await() {
    st_.awaiting.push_back(self_.promise());
    answer_awaiting();
  }

  std::vector<saga_summary> list() const {
    std::vector<saga_summary> out;
    out.reserve(st_.order.size());
    for (const std::string& id : st_.order) out.push_back(st_.sagas.at(id).summary);
    return out;
  }

  // Forwards an ask to a saga's actor (finished ones are read back).
  template <class R, class M>
  weft::expected<R> forward(const std::string& id, M message) {
    auto it = st_.sagas.find(id);
    if (it == st_.sagas.end()) return weft::error(ask_errc::no_actor, "no saga " + id);
    if (!it->second.actor) {
      if constexpr (std::is_same_v<R, saga_status>) {
        journal& j = *st_.options.journal;
        return self_.blocking([&] { return replay(j, id).status(); });
      } else {
        return weft::error(ask_errc::rejected, fmt::format("saga {} is {}", id, to_string(it->second.summary.state)));
      }
    }
    return self_.ask(it->second.actor, std::move(message));
  }

 private:
  state& st_;
  weft::context& self_;
};

}  // namespace

weft::behavior_of<saga_host_protocol> saga_host_actor::make_behavior(weft::context& self) {
  self.trap_exit(true);
  auto logic = std::make_shared<host_logic>(*state_, self);
  logic->recover();
  self.set_describe([st = state_, logic] {
    const saga_counts c = logic->counts();
    return fmt::format("saga host '{}': {} running, {} waiting, {} stuck, {} completed, {} compensated",
                       st->plan->name, c.running, c.waiting, c.stuck, c.completed, c.compensated);
  });
  // Every handler first takes the index writes that completed (see
  // append_index: their wake-up message may have been refused).
  return {
      [logic](const start_saga& s) {
        logic->take_completions();
        logic->start(s);
      },
      [logic](const await_sagas&) {
        logic->take_completions();
        logic->await();
      },
      [logic](const list_sagas&) {
        logic->take_completions();
        return logic->list();
      },
      [logic](const count_sagas&) {
        logic->take_completions();
        return logic->counts();
      },
      [logic](const query_saga& q) {
        logic->take_completions();
        return logic->forward<saga_status>(q.id, saga_query{});
      },
      [logic](const resume_saga& r) {
        logic->take_completions();
        return logic->forward<void>(r.id, saga_resume{});
      },
      [logic](const signal_saga& s) {
        logic->take_completions();
        return logic->forward<void>(s.id, saga_signal{s.name, s.payload});
      },
      [logic](const saga_changed& c) {
        logic->take_completions();
        logic->changed(c);
      },
      [logic](const saga_registered&) { logic->take_completions(); },
      [logic](const saga_tick& t) {
        logic->take_completions();
        logic->tick(t);
      },
      [logic](const exit_msg& m) {
        logic->take_completions();
        logic->exited(m);
      },
  };
}

void saga_host_actor::on_exit(weft::context&, const weft::exit_reason&) {
  // Waiting askers learn broken_promise as the promises are dropped.
  state_->awaiting.clear();
  state_->registering.clear();
}

}  // namespace detail

// -- reading offline ----------------------------------------------------------------

std::vector<saga_record> read_sagas(journal& j, std::string_view definition) {
  std::vector<saga_record> out;
  std::unordered_map<std::string, std::size_t> at;
  j.read(index_pid(definition), 1, max_sequence_nr, max_sequence_nr, [&](const event_view& v) {
    if (v.manifest != index_manifest) return;
    index_event e = decode<index_event>(v.payload);
    if (auto* r = std::get_if<ix_registered>(&e)) {
      if (at.contains(r->id)) return;
      at.emplace(r->id, out.size());
      saga_record rec;
      rec.id = r->id;
      rec.definition = std::string(definition);
      rec.data = std::move(r->data);
      out.push_back(std::move(rec));
    } else if (auto* f = std::get_if<ix_finished>(&e)) {
      if (auto it = at.find(f->id); it != at.end()) out[it->second].finished = true;
    }
  });
  for (saga_record& rec : out) rec.status = replay(j, rec.id).status();
  return out;
}

}  // namespace weft::persistence
