#pragma once

// The machinery behind persistent_actor() (persistent_actor.hpp). Internal.
//
// Start (the actor's first activation, on its own fiber):
//   1. Resolve the journal (open_journal on a blocking-call thread).
//   2. Claim (journal, persistence id): a second live writer would reuse
//      sequence numbers, so it stops here instead, naming the first.
//   3. Load the newest snapshot (blocking call), decode or upcast it.
//   4. Replay the later events in blocking-call batches, checking that
//      numbers continue without a gap: a gap means events were deleted
//      that no snapshot covers, and the state would silently be wrong.
//   5. Check the replay reached the journal's highest number.
//   6. Return the handlers.
// Any failure in 1-5 stops the actor with a reason naming the id.
//
// A command (handle_commands):
//   1. Run on_command, give the events numbers, apply them, keep the reply.
//   2. Take further queued commands into the batch, in mailbox order; stop
//      at the first query (get_state, ...), which then waits for the batch.
//   3. async_append the batch. The completion (journal writer thread) sets
//      a shared flag, then try_sends write_completed to the actor, which
//      waits for that message with a receive bounded by write_poll_interval
//      and re-checks the flag: the message may be refused (a full mailbox,
//      a draining runtime refuses sends from outside actors), and then the
//      actor resumes within one interval instead of never.
//   4. Failure: every command of the batch gets write_failed, the actor
//      stops with the same text. Success: the replies go out in order, then
//      a snapshot if one is due, then the deferred query.

#include <weft/persistence/persistent_actor.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/runtime.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weft::persistence::detail {

// -- non-template helpers (persistent_actor.cpp) ------------------------------

// The right to write one persistence id to one journal. The live actor
// holds it, and so does each of its appends in flight: an actor killed
// mid-write leaves a write that still lands, and a successor recovering
// before it lands would miss it and then collide with its numbers. So a
// successor waits for a retired claim to be released; only a live holder
// is a conflict.
class writer_claim {
 public:
  // -- any thread; blocks (call it through context::blocking) --
  // Null and `error` set if a live actor holds the claim, or a retired one
  // is not released within `wait`.
  static std::shared_ptr<writer_claim> acquire(const journal* j, std::string_view persistence_id, const pid& owner,
                                               std::chrono::nanoseconds wait, std::string& error);
  writer_claim(const journal* j, std::string persistence_id) : journal_(j), id_(std::move(persistence_id)) {}
  writer_claim(const writer_claim&) = delete;
  writer_claim& operator=(const writer_claim&) = delete;
  // Releases the claim and wakes waiting successors.
  ~writer_claim();

  // The owning actor is gone (appends in flight may still hold the claim).
  void retire() noexcept;

 private:
  const journal* journal_;
  std::string id_;
};

// Sent by a write's completion to wake its actor; stale ones are ignored.
struct write_completed {
  std::uint64_t token = 0;
};
inline constexpr std::chrono::milliseconds write_poll_interval{2};

// Appends, then waits (this actor only) until the journal reports the
// events durable. `claim` travels with the write, dropped when it completes.
storage_status append_and_wait(context& self, journal& j, const std::string& persistence_id,
                               std::vector<persistent_event>& events, std::shared_ptr<writer_claim> claim,
                               std::uint64_t token);
// Fire-and-forget deletion of events 1..up_to (retention after a snapshot).
void delete_events(journal& j, const std::string& persistence_id, std::uint64_t up_to);

// Recovery and snapshots call user code (on_event, codecs, upcasters,
// open_journal) and storage a user may implement through this: anything
// thrown that does not derive from std::exception becomes a
// std::runtime_error "<who> <number> threw an exception not derived from
// std::exception" (no number if 0), so the stop reason says what failed
// instead of the runtime's bare "an exception not derived from std::exception". Only around those
// calls: the runtime unwinds an exiting actor with an exception of its own
// that is no std::exception either, and it must pass; it comes from
// context calls (blocking, receive, exit), never from inside these.
[[noreturn]] void throw_foreign_exception(std::string_view who, std::uint64_t number);
template <class F>
decltype(auto) call_user(std::string_view who, std::uint64_t number, F&& fn) {
  try {
    return std::forward<F>(fn)();
  } catch (const std::exception&) {
    throw;
  } catch (...) {
    throw_foreign_exception(who, number);
  }
}

// Automatic snapshots back off after failures, in events rather than time:
// what a missing snapshot costs is the events the next start replays, and
// events need no timer. After `failures_in_row` failed attempts the next
// one waits this many events: snapshot_every, doubled per failure, capped
// at 65,536 (or snapshot_every if larger), so a store that comes back is
// used again within one recovery batch's worth of events.
std::uint64_t snapshot_retry_gap(std::uint64_t snapshot_every, std::uint64_t failures_in_row) noexcept;

[[noreturn]] void throw_decode_mismatch(std::string_view what, std::uint64_t sequence_nr, std::string_view manifest,
                                        std::uint32_t version, std::string_view expected_manifest,
                                        std::uint32_t expected_version, std::string_view hook);
std::int64_t wall_clock_ms() noexcept;

template <class State, class Command, class Event, class Reply>
class persistent_engine {
 public:
  using behavior_type = persistent_behavior<State, Command, Event, Reply>;
  using options_type = persistent_options<State, Event>;

  persistent_engine(const behavior_type& behavior, const options_type& options)
      : behavior_(behavior), options_(options), state_(options.initial_state) {
    info_.persistence_id = options_.persistence_id;
  }

  // Owning actor only: recovers, then returns the handlers (which keep the
  // engine alive; the runtime drops them, and so the claim, at exit).
  static weft::behavior start(const std::shared_ptr<persistent_engine>& engine, context& self) {
    engine->recover(self);
    auto* me = engine.get();
    return weft::behavior{
        [engine, &self](const Command& command) { engine->handle_commands(self, command); },
        [me, &self](get_state) { me->answer_query(self, query::state); },
        [me, &self](get_persistence_info) { me->answer_query(self, query::info); },
        [me, &self](save_snapshot) { me->answer_query(self, query::snapshot); },
        [](const write_completed&) {},  // its wait already ended (see append_and_wait)
    };
  }

  ~persistent_engine() {
    if (claim_) claim_->retire();
  }
  persistent_engine(const persistent_engine&) = delete;
  persistent_engine& operator=(const persistent_engine&) = delete;

 private:
  enum class query : std::uint8_t { none, state, info, snapshot };

  struct pending_reply {
    reply_promise promise;
    std::optional<outcome<Reply>> answer;
  };

  [[noreturn]] void fail(context& self, const std::string& text) { self.exit(weft::exit_reason::error(text)); }
  std::string who() const { return "persistent actor '" + options_.persistence_id + "'"; }

  // -- start ------------------------------------------------------------------

  void recover(context& self) {
    const auto started = std::chrono::steady_clock::now();
    if (options_.persistence_id.empty()) fail(self, "persistent actor: persistence_id is empty; set it in options");
    if (!behavior_.on_command || !behavior_.on_event) {
      fail(self, who() + ": on_command and on_event must both be set");
    }
    journal_ = options_.journal;
    if (journal_ == nullptr) {
      if (!options_.open_journal) fail(self, who() + ": no journal (set options.journal or options.open_journal)");
      try {
        journal_ = self.blocking(
            [this]() -> journal* { return call_user("open_journal", 0, [this] { return &options_.open_journal(); }); });
      } catch (const std::exception& e) {
        fail(self, who() + ": cannot open its journal: " + e.what());
      }
    }
    if constexpr (!storable<State>) {
      if (options_.snapshots != nullptr) {
        fail(self, who() + ": options.snapshots is set but the State type has no codec (see codec.hpp)");
      }
    }
    std::string conflict;
    claim_ = self.blocking([&] {
      return writer_claim::acquire(journal_, options_.persistence_id, self.self(), std::chrono::seconds(30), conflict);
    });
    if (!claim_) fail(self, conflict);
    try {
      load_snapshot(self);
      replay(self);
    } catch (const std::exception& e) {
      fail(self, "recovery of persistence id '" + options_.persistence_id + "' failed: " + e.what());
    }
    info_.recovery_time = std::chrono::steady_clock::now() - started;
  }

  void load_snapshot(context& self) {
    if constexpr (storable<State>) {
      if (options_.snapshots == nullptr) return;
      std::optional<snapshot> snap = self.blocking([this] {
        return call_user("the snapshot store's load_latest", 0,
                         [this] { return options_.snapshots->load_latest(options_.persistence_id); });
      });
      if (!snap) return;
      if (snap->manifest == options_.snapshot_manifest && snap->schema_version == options_.snapshot_schema_version) {
        state_ = call_user("the State codec's decode of snapshot", snap->sequence_nr,
                           [&] { return decode<State>(snap->payload); });
      } else if (options_.snapshot_upcaster) {
        state_ = call_user("snapshot_upcaster for snapshot", snap->sequence_nr,
                           [&] { return options_.snapshot_upcaster(*snap); });
      } else {
        throw_decode_mismatch("snapshot", snap->sequence_nr, snap->manifest, snap->schema_version,
                              options_.snapshot_manifest, options_.snapshot_schema_version,
                              "persistent_options::snapshot_upcaster");
      }
      sequence_nr_ = snap->sequence_nr;
      info_.recovered_from_snapshot = sequence_nr_;
      info_.snapshot_sequence_nr = sequence_nr_;
    } else {
      (void)self;
    }
  }

  Event decode_event(const event_view& v) const {
    if (v.manifest == options_.event_manifest && v.schema_version == options_.event_schema_version) {
      return decode<Event>(v.payload);
    }
    if (options_.upcaster) return options_.upcaster(v);
    throw_decode_mismatch("event", v.sequence_nr, v.manifest, v.schema_version, options_.event_manifest,
                          options_.event_schema_version, "persistent_options::upcaster");
  }

  void replay(context& self) {
    const std::uint64_t batch = options_.recovery_batch == 0 ? 65536 : options_.recovery_batch;
    std::uint64_t highest = 0;
    for (;;) {
      std::uint64_t visited = 0;
      // The actor is suspended while the blocking-call thread runs this, so
      // the state is touched by one thread at a time (the runtime's wake-up
      // orders the two).
      self.blocking([&] {
        call_user("the journal", 0, [&] {
          journal_->read(options_.persistence_id, sequence_nr_ + 1, max_sequence_nr, batch, [&](const event_view& v) {
            if (v.sequence_nr != sequence_nr_ + 1) {
              throw storage_error(storage_errc::corrupt,
                                  "the journal continues at event " + std::to_string(v.sequence_nr) + " after event " +
                                      std::to_string(sequence_nr_) +
                                      ": events were deleted that no snapshot covers (is the snapshot store missing or "
                                      "a different one?); refusing to build a state without them");
            }
            call_user("on_event (or the event codec or upcaster) at event", v.sequence_nr,
                      [&] { behavior_.on_event(state_, decode_event(v)); });
            sequence_nr_ = v.sequence_nr;
            ++visited;
          });
          if (visited < batch) highest = journal_->highest_sequence_nr(options_.persistence_id);
        });
      });
      info_.replayed_events += visited;
      if (visited < batch) break;
    }
    if (highest > sequence_nr_) {
      throw storage_error(storage_errc::corrupt, "the journal's highest event is " + std::to_string(highest) +
                                                     " but replay ended at " + std::to_string(sequence_nr_) +
                                                     ": events after it were deleted or cannot be read");
    }
    if (highest < sequence_nr_) {
      throw storage_error(storage_errc::corrupt,
                          "the snapshot covers events up to " + std::to_string(sequence_nr_) +
                              " but the journal ends at " + std::to_string(highest) +
                              ": the journal lost events the snapshot saw (a different or truncated journal?); "
                              "continuing would reuse their sequence numbers");
    }
    info_.sequence_nr = sequence_nr_;
  }

  // -- commands ---------------------------------------------------------------

  void run_command(context& self, const Command& command) {
    pending_reply& pending = batch_.emplace_back(pending_reply{self.promise(), std::nullopt});
    effect<State, Event, Reply> decided = behavior_.on_command(state_, command);
    if (decided.rejected()) {
      pending.answer.emplace(command_error{command_error::kind::rejected, decided.rejection()});
      return;
    }
    for (Event& event : decided.events()) {
      const std::uint64_t number = sequence_nr_ + events_.size() + 1;
      events_.push_back(make_event(number, event, options_.event_manifest, options_.event_schema_version));
      behavior_.on_event(state_, event);
    }
    pending.answer.emplace(decided.reply(state_));
  }

  void handle_commands(context& self, const Command& first) {
    batch_.clear();
    events_.clear();
    run_command(self, first);
    query deferred = query::none;
    reply_promise deferred_promise;
    auto defer = [&](query q) {
      deferred = q;
      deferred_promise = self.promise();
    };
    while (deferred == query::none && batch_.size() < options_.max_batch &&
           self.receive_for(
               std::chrono::nanoseconds::zero(), [&](const Command& next) { run_command(self, next); },
               [&](get_state) { defer(query::state); }, [&](get_persistence_info) { defer(query::info); },
               [&](save_snapshot) { defer(query::snapshot); })) {
    }
    if (!events_.empty()) {
      const std::uint64_t first_number = events_.front().sequence_nr;
      const std::uint64_t last_number = events_.back().sequence_nr;
      storage_status written =
          append_and_wait(self, *journal_, options_.persistence_id, events_, claim_, ++write_tokens_);
      ++info_.writes;
      if (!written.ok()) {
        const std::string text = who() + ": writing events " + std::to_string(first_number) + ".." +
                                 std::to_string(last_number) + " failed (" + std::string(to_string(written.code())) +
                                 "): " + written.message();
        for (pending_reply& p : batch_) {
          if (p.answer && !p.answer->ok()) {
            p.promise.deliver(std::move(*p.answer));  // a rejection stays a rejection
          } else {
            p.promise.deliver(outcome<Reply>(command_error{command_error::kind::write_failed, text}));
          }
        }
        batch_.clear();
        fail(self, text);
      }
      sequence_nr_ = last_number;
      info_.sequence_nr = sequence_nr_;
    }
    for (pending_reply& p : batch_)
      p.promise.deliver(std::move(*p.answer));
    batch_.clear();
    snapshot_if_due(self);
    if (deferred != query::none) answer_query(self, deferred, std::move(deferred_promise));
  }

  // After a write that crossed a multiple of snapshot_every, unless backing
  // off after failures (snapshot_retry_gap): a full or broken store would
  // otherwise be retried after every write.
  void snapshot_if_due(context& self) {
    if (options_.snapshot_every == 0 || options_.snapshots == nullptr ||
        sequence_nr_ / options_.snapshot_every <= info_.snapshot_sequence_nr / options_.snapshot_every) {
      return;
    }
    if (sequence_nr_ < info_.next_snapshot_retry) {
      ++info_.skipped_snapshot_retries;
      return;
    }
    std::string error;
    if (!take_snapshot(self, error)) {
      ++info_.failed_snapshots;
      info_.last_snapshot_error = error;
      info_.next_snapshot_retry =
          sequence_nr_ + snapshot_retry_gap(options_.snapshot_every, ++snapshot_failures_in_row_);
    }
  }

  void answer_query(context& self, query q) { answer_query(self, q, self.promise()); }

  void answer_query(context& self, query q, reply_promise promise) {
    switch (q) {
      case query::state:
        promise.deliver(State(state_));
        break;
      case query::info:
        promise.deliver(persistence_info(info_));
        break;
      case query::snapshot: {
        std::string error;
        if (take_snapshot(self, error)) {
          promise.deliver(outcome<std::uint64_t>(sequence_nr_));
        } else {
          promise.deliver(outcome<std::uint64_t>(command_error{command_error::kind::write_failed, error}));
        }
        break;
      }
      case query::none:
        break;
    }
  }

  bool take_snapshot(context& self, std::string& error) {
    if constexpr (storable<State>) {
      if (options_.snapshots == nullptr) {
        error = who() + ": save_snapshot without a snapshot store (set options.snapshots)";
        return false;
      }
      if (info_.snapshot_sequence_nr == sequence_nr_ && sequence_nr_ != 0) return true;
      snapshot snap{options_.persistence_id,          sequence_nr_,    options_.snapshot_manifest,
                    options_.snapshot_schema_version, wall_clock_ms(), {}};
      try {
        snap.payload =
            call_user("the State codec's encode for snapshot", snap.sequence_nr, [&] { return encode(state_); });
        self.blocking([&] {
          call_user("the snapshot store", 0, [&] {
            options_.snapshots->save(snap);
            if (options_.delete_events_on_snapshot) {
              options_.snapshots->delete_older_than(options_.persistence_id, snap.sequence_nr);
            }
          });
        });
      } catch (const std::exception& e) {
        error = who() + ": saving the snapshot at event " + std::to_string(snap.sequence_nr) + " failed: " + e.what();
        return false;
      }
      info_.snapshot_sequence_nr = snap.sequence_nr;
      snapshot_failures_in_row_ = 0;
      info_.next_snapshot_retry = 0;
      if (options_.delete_events_on_snapshot && snap.sequence_nr != 0) {
        delete_events(*journal_, options_.persistence_id, snap.sequence_nr);
      }
      return true;
    } else {
      (void)self;
      error = who() + ": the State type has no codec, so it cannot be snapshotted (see codec.hpp)";
      return false;
    }
  }

  behavior_type behavior_;
  options_type options_;
  State state_;
  journal* journal_ = nullptr;
  std::shared_ptr<writer_claim> claim_;
  std::uint64_t write_tokens_ = 0;
  std::uint64_t sequence_nr_ = 0;
  std::uint64_t snapshot_failures_in_row_ = 0;  // automatic attempts, since the last success
  persistence_info info_;
  // Reused between batches to keep their capacity.
  std::vector<pending_reply> batch_;
  std::vector<persistent_event> events_;
};

}  // namespace weft::persistence::detail
