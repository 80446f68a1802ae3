// The engine of a persistent actor: everything that does not depend on its
// types (those are in persistent_actor.hpp's model, behind
// detail::persistent_model).
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
// Any failure in 1-5 stops the actor with a reason naming the id.
//
// A command (handle_commands):
//   1. Take the request's answer over, run the command (the model numbers
//      and applies its events), keep its reply.
//   2. Take further queued commands into the batch, in mailbox order; stop
//      at the first query (get_state, ...), which then waits for the batch.
//   3. async_append the batch. The completion (journal writer thread) sets
//      a shared flag, then sends write_completed to the actor, which waits
//      for that message with a receive bounded by write_poll_interval and
//      re-checks the flag: the message may be refused (a full mailbox, a
//      runtime that stopped taking sends from outside), and then the actor
//      resumes within one interval instead of never. The completion holds
//      only the actor's pid, never the runtime: the journal may outlive it.
//   4. Failure: every command of the batch gets write_failed (a rejection
//      stays a rejection), the actor stops with the same text. Success: the
//      replies go out in order, then a snapshot if one is due, then the
//      deferred query.
//   An exception from a command handler answers the batch's askers with
//   actor_down before the actor stops with it.

#include "snapshot_policy.hpp"

#include <weft/persistence/detail/persistent_engine.hpp>
#include <weft/persistence/persistent_actor.hpp>
#include <weft/runtime/internal.hpp>
#include <weft/runtime/runtime.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <utility>

namespace weft::persistence {

std::string_view to_string(command_errc e) noexcept {
  switch (e) {
    case command_errc::rejected:
      return "rejected";
    case command_errc::write_failed:
      return "write_failed";
  }
  return "unknown";
}

namespace detail {

std::string_view command_errc_name(int code) noexcept { return to_string(static_cast<command_errc>(code)); }

engine_config config_of(std::string persistence_id, persistence::journal* journal,
                        std::function<persistence::journal&()> open_journal, persistence::snapshot_store* snapshots,
                        std::uint64_t snapshot_every, bool delete_events_on_snapshot, std::string snapshot_manifest,
                        std::uint32_t snapshot_schema_version, std::size_t max_batch, std::uint64_t recovery_batch) {
  return engine_config{std::move(persistence_id),      journal,       std::move(open_journal),
                       snapshots,                      snapshot_every, delete_events_on_snapshot,
                       std::move(snapshot_manifest), snapshot_schema_version, max_batch,
                       recovery_batch};
}

void throw_decode_mismatch(std::string_view what, std::uint64_t sequence_nr, std::string_view manifest,
                           std::uint32_t version, std::string_view expected_manifest, std::uint32_t expected_version,
                           std::string_view hook) {
  throw storage_error(storage_errc::invalid_argument,
                      fmt::format("{} {} has manifest '{}' schema version {}, but this actor reads '{}' version {} and "
                                  "has no {} to convert it; set one (or fix the manifest/version options)",
                                  what, sequence_nr, manifest, version, expected_manifest, expected_version, hook));
}

std::uint64_t snapshot_retry_gap(std::uint64_t snapshot_every, std::uint64_t failures_in_row) noexcept {
  constexpr std::uint64_t cap = 65536;
  const std::uint64_t limit = std::max(snapshot_every, cap);
  std::uint64_t gap = std::max<std::uint64_t>(snapshot_every, 1);
  for (std::uint64_t doubled = 1; doubled < failures_in_row && gap < limit; ++doubled)
    gap *= 2;
  return std::min(gap, limit);
}

namespace {

using weft::detail::envelope;

// -- the single-writer registry -----------------------------------------------

// Live writers, keyed by journal: two journals never share storage (the
// file journal holds an exclusive lock on its directory), so (journal, id)
// is exactly the scope within which sequence numbers must not be reused.
// It is process-wide because a journal may be shared by several runtimes.
struct writer_entry {
  std::uint64_t owner = 0;  // actor id, for the conflict message
  bool live = true;         // false: retired, waiting for its writes
};

struct writer_registry {
  std::mutex mutex;
  std::condition_variable released;
  std::map<std::pair<const journal*, std::string>, writer_entry> entries;
};

writer_registry& registry() {
  static writer_registry instance;
  return instance;
}

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
                                               std::chrono::nanoseconds wait, std::string& error) {
    writer_registry& r = registry();
    std::unique_lock lock(r.mutex);
    auto key = std::make_pair(j, std::string(persistence_id));
    const bool free = r.released.wait_for(lock, wait, [&] {
      auto it = r.entries.find(key);
      return it == r.entries.end() || it->second.live;
    });
    auto it = r.entries.find(key);
    if (it != r.entries.end()) {
      error = free ? fmt::format(
                         "persistence id '{}' is already written by live actor #{} on this journal; a second writer "
                         "would reuse its sequence numbers, so this one does not start. Stop the first actor before "
                         "starting another with the same id, or use a different id",
                         persistence_id, it->second.owner)
                   : fmt::format(
                         "persistence id '{}': the write of its previous actor #{} did not complete within {} ms; not "
                         "starting, as recovery could miss that write. Is the journal's disk hanging?",
                         persistence_id, it->second.owner,
                         std::chrono::duration_cast<std::chrono::milliseconds>(wait).count());
      return nullptr;
    }
    r.entries.emplace(key, writer_entry{owner.id(), true});
    return std::make_shared<writer_claim>(j, std::string(persistence_id));
  }

  writer_claim(const journal* j, std::string persistence_id) : journal_(j), id_(std::move(persistence_id)) {}
  writer_claim(const writer_claim&) = delete;
  writer_claim& operator=(const writer_claim&) = delete;
  // Releases the claim and wakes waiting successors.
  ~writer_claim() {
    writer_registry& r = registry();
    {
      std::lock_guard lock(r.mutex);
      r.entries.erase(std::make_pair(journal_, id_));
    }
    r.released.notify_all();
  }

  // The owning actor is gone (appends in flight may still hold the claim).
  void retire() noexcept {
    writer_registry& r = registry();
    std::lock_guard lock(r.mutex);
    auto it = r.entries.find(std::make_pair(journal_, id_));
    if (it != r.entries.end()) it->second.live = false;
  }

 private:
  const journal* journal_;
  std::string id_;
};

// -- calling user code ----------------------------------------------------------

// Recovery and snapshots call user code (on_event, codecs, upcasters,
// open_journal) and storage a user may implement: anything thrown that does
// not derive from std::exception becomes a std::runtime_error "<who> <number>
// threw an exception not derived from std::exception" (no number if 0), so
// the stop reason says what failed. Only around those calls: the runtime
// unwinds an exiting actor with an exception of its own that is no
// std::exception either, and it must pass; it comes from context calls
// (blocking, receive, exit), never from inside these.
[[noreturn]] void throw_foreign_exception(std::string_view who, std::uint64_t number) {
  throw std::runtime_error(number == 0
                               ? fmt::format("{} threw an exception not derived from std::exception", who)
                               : fmt::format("{} {} threw an exception not derived from std::exception", who, number));
}

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

std::int64_t wall_clock_ms() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr std::chrono::milliseconds write_poll_interval{2};

// What a write's completion shares with the waiting actor.
struct write_wait {
  std::atomic<bool> done{false};
  storage_status status;
};

// An answer owed to an asker: delivered once, by deliver(), or when it is
// dropped (the actor unwinding) as `fallback`.
class owed_answer {
 public:
  owed_answer(pid to, std::uint64_t request_id) : to_(std::move(to)), request_id_(request_id) {}
  owed_answer(owed_answer&& other) noexcept
      : to_(std::move(other.to_)), request_id_(std::exchange(other.request_id_, 0)) {}
  owed_answer& operator=(owed_answer&& other) noexcept {
    if (this != &other) {
      abandon();
      to_ = std::move(other.to_);
      request_id_ = std::exchange(other.request_id_, 0);
    }
    return *this;
  }
  ~owed_answer() { abandon(); }
  bool owed() const noexcept { return request_id_ != 0; }
  void deliver(envelope* reply) {
    if (request_id_ == 0) {
      delete reply;
      return;
    }
    weft::detail::send_reply(to_, std::exchange(request_id_, 0), reply);
  }

 private:
  void abandon() noexcept {
    if (request_id_ == 0) return;
    try {
      deliver(weft::detail::make_envelope(
          weft::detail::reply_error{weft::error(ask_errc::actor_down, "the persistent actor stopped before answering")},
          weft::detail::envelope_kind::reply));
    } catch (...) {  // NOLINT(bugprone-empty-catch): out of memory while unwinding; the asker's deadline holds
    }
  }

  pid to_;
  std::uint64_t request_id_ = 0;
};

// Takes over the answer to the message `self` is handling (nullopt: it was
// sent, not asked).
std::optional<owed_answer> take_answer(context& self) {
  pid to;
  std::uint64_t id = 0;
  if (!weft::detail::take_current_request(internal::context_access::cell(self), to, id)) return std::nullopt;
  return owed_answer(std::move(to), id);
}

class engine final : public persistent_engine {
 public:
  engine(std::unique_ptr<persistent_model> model, engine_config config)
      : model_(std::move(model)), config_(std::move(config)) {
    info_.persistence_id = config_.persistence_id;
  }
  ~engine() override {
    if (claim_) claim_->retire();
  }

  void recover(context& self) override {
    const auto started = std::chrono::steady_clock::now();
    if (config_.persistence_id.empty()) fail(self, "persistent actor: persistence_id is empty; set it in options");
    journal_ = config_.journal;
    if (journal_ == nullptr) {
      if (!config_.open_journal) fail(self, who() + ": no journal (set options.journal or options.open_journal)");
      try {
        journal_ = self.blocking(
            [this]() -> journal* { return call_user("open_journal", 0, [this] { return &config_.open_journal(); }); });
      } catch (const std::exception& e) {
        fail(self, who() + ": cannot open its journal: " + e.what());
      }
    }
    if (config_.snapshots != nullptr && !model_->state_storable()) {
      fail(self, who() + ": options.snapshots is set but the State type has no codec (see codec.hpp)");
    }
    std::string conflict;
    claim_ = self.blocking([&] {
      return writer_claim::acquire(journal_, config_.persistence_id, self.self(), std::chrono::seconds(30), conflict);
    });
    if (!claim_) fail(self, conflict);
    try {
      load_snapshot(self);
      replay(self);
    } catch (const std::exception& e) {
      fail(self, "recovery of persistence id '" + config_.persistence_id + "' failed: " + e.what());
    }
    info_.recovery_time = std::chrono::steady_clock::now() - started;
  }

  void handle_commands(context& self) override {
    batch_.clear();
    events_.clear();
    try {
      run_current(self);
      std::optional<query> deferred;
      std::optional<owed_answer> deferred_answer;
      weft::detail::cell* cell = internal::context_access::cell(self);
      struct wanted {
        const persistent_model* model;
      } w{model_.get()};
      weft::detail::matcher commands_and_queries{
          [](const void* arg, const envelope& e) {
            return static_cast<const wanted*>(arg)->model->is_command(e) || weft::detail::holds<get_state>(e) ||
                   weft::detail::holds<get_persistence_info>(e) || weft::detail::holds<save_snapshot>(e);
          },
          &w};
      while (!deferred && batch_.size() < config_.max_batch) {
        envelope* next = weft::detail::receive_envelope(cell, commands_and_queries, std::chrono::nanoseconds::zero());
        if (next == nullptr) break;
        weft::detail::handling_scope scope(cell, next);
        if (model_->is_command(*next)) {
          run_current(self);
        } else {
          deferred = weft::detail::holds<get_state>(*next)              ? query::state
                     : weft::detail::holds<get_persistence_info>(*next) ? query::info
                                                                        : query::snapshot;
          deferred_answer = take_answer(self);
        }
      }
      if (!events_.empty()) write_batch(self);
      for (pending& p : batch_) {
        if (p.answer) p.answer->deliver(p.reply.release());
      }
      batch_.clear();
      snapshot_if_due(self);
      if (deferred) answer(self, *deferred, deferred_answer);
    } catch (...) {
      // A command handler threw (or the actor is being stopped): the askers
      // of this batch learn actor_down from their answers' destructors.
      batch_.clear();
      throw;
    }
  }

  void answer_query(context& self, query q) override {
    std::optional<owed_answer> owed = take_answer(self);
    answer(self, q, owed);
  }

 private:
  struct pending {
    std::optional<owed_answer> answer;
    std::unique_ptr<envelope, weft::detail::envelope_deleter> reply;
    bool rejected = false;
  };

  [[noreturn]] void fail(context& self, const std::string& text) { self.exit(weft::exit_reason::error(text)); }
  std::string who() const { return "persistent actor '" + config_.persistence_id + "'"; }

  // -- start ------------------------------------------------------------------

  void load_snapshot(context& self) {
    if (config_.snapshots == nullptr) return;
    std::optional<snapshot> snap = self.blocking([this] {
      return call_user("the snapshot store's load_latest", 0,
                       [this] { return config_.snapshots->load_latest(config_.persistence_id); });
    });
    if (!snap) return;
    call_user("the State codec (or snapshot_upcaster) for snapshot", snap->sequence_nr,
              [&] { model_->load_snapshot(*snap); });
    sequence_nr_ = snap->sequence_nr;
    info_.recovered_from_snapshot = sequence_nr_;
    info_.snapshot_sequence_nr = sequence_nr_;
  }

  void replay(context& self) {
    const std::uint64_t batch = config_.recovery_batch == 0 ? 65536 : config_.recovery_batch;
    std::uint64_t highest = 0;
    for (;;) {
      std::uint64_t visited = 0;
      // The actor is suspended while the blocking-call thread runs this, so
      // the state is touched by one thread at a time (the runtime's wake-up
      // orders the two).
      self.blocking([&] {
        call_user("the journal", 0, [&] {
          journal_->read(config_.persistence_id, sequence_nr_ + 1, max_sequence_nr, batch, [&](const event_view& v) {
            if (v.sequence_nr != sequence_nr_ + 1) {
              throw storage_error(storage_errc::corrupt,
                                  "the journal continues at event " + std::to_string(v.sequence_nr) + " after event " +
                                      std::to_string(sequence_nr_) +
                                      ": events were deleted that no snapshot covers (is the snapshot store missing or "
                                      "a different one?); refusing to build a state without them");
            }
            call_user("on_event (or the event codec or upcaster) at event", v.sequence_nr,
                      [&] { model_->apply_stored(v); });
            sequence_nr_ = v.sequence_nr;
            ++visited;
          });
          if (visited < batch) highest = journal_->highest_sequence_nr(config_.persistence_id);
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

  // Runs the command being handled now into the batch.
  void run_current(context& self) {
    pending& p = batch_.emplace_back();
    p.answer = take_answer(self);
    envelope* command = internal::current_message(self);
    p.reply.reset(model_->run_command(*command, sequence_nr_ + events_.size() + 1, events_, p.rejected));
  }

  void write_batch(context& self) {
    const std::uint64_t first_number = events_.front().sequence_nr;
    const std::uint64_t last_number = events_.back().sequence_nr;
    storage_status written = append_and_wait(self);
    ++info_.writes;
    if (!written) {
      const std::string text = who() + ": writing events " + std::to_string(first_number) + ".." +
                               std::to_string(last_number) + " failed (" +
                               std::string(to_string(storage_code(written.error()))) +
                               "): " + std::string(written.error().detail());
      for (pending& p : batch_) {
        if (!p.answer) continue;
        if (p.rejected) {
          p.answer->deliver(p.reply.release());  // a rejection stays a rejection
        } else {
          p.answer->deliver(weft::detail::make_envelope(
              weft::detail::reply_error{weft::error(command_errc::write_failed, text)},
              weft::detail::envelope_kind::reply));
        }
      }
      batch_.clear();
      fail(self, text);
    }
    sequence_nr_ = last_number;
    info_.sequence_nr = sequence_nr_;
  }

  // Appends, then waits (this actor only) until the journal reports the
  // events durable. The claim travels with the write, dropped when it
  // completes.
  storage_status append_and_wait(context& self) {
    auto wait = std::make_shared<write_wait>();
    const std::uint64_t token = ++write_tokens_;
    journal_->async_append(
        config_.persistence_id, events_,
        [wait, token, me = self.self(), claim = claim_](const storage_status& status) mutable {
          wait->status = status;
          // release pairs with the acquire below: status is visible.
          wait->done.store(true, std::memory_order_release);
          claim.reset();  // a successor may now recover and see this write
          // Through the pid alone: the runtime may be gone (the journal was
          // declared first); then this send answers `stopping`, harmlessly.
          (void)weft::detail::send_envelope(nullptr, nullptr, me, weft::detail::make_envelope(write_completed{token}),
                                            weft::detail::send_mode::try_once, weft::detail::no_timeout);
        });
    events_.clear();
    // The wake-up message can be refused (a full mailbox, a draining
    // runtime); the bounded wait re-checks the flag, so the actor then
    // resumes within one poll interval instead of never.
    while (!wait->done.load(std::memory_order_acquire)) {
      (void)self.receive_if<write_completed>([token](const write_completed& w) { return w.token == token; },
                                             write_poll_interval);
    }
    return wait->status;
  }

  // After a write that crossed a multiple of snapshot_every, unless backing
  // off after failures (snapshot_retry_gap): a full or broken store would
  // otherwise be retried after every write.
  void snapshot_if_due(context& self) {
    if (config_.snapshot_every == 0 || config_.snapshots == nullptr ||
        sequence_nr_ / config_.snapshot_every <= info_.snapshot_sequence_nr / config_.snapshot_every) {
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
          sequence_nr_ + snapshot_retry_gap(config_.snapshot_every, ++snapshot_failures_in_row_);
    }
  }

  void answer(context& self, query q, std::optional<owed_answer>& owed) {
    envelope* reply = nullptr;
    switch (q) {
      case query::state:
        reply = model_->state_reply();
        break;
      case query::info:
        reply = weft::detail::make_envelope(persistence_info(info_), weft::detail::envelope_kind::reply);
        break;
      case query::snapshot: {
        std::string error;
        if (take_snapshot(self, error)) {
          reply = weft::detail::make_envelope(std::uint64_t{sequence_nr_}, weft::detail::envelope_kind::reply);
        } else {
          reply = weft::detail::make_envelope(
              weft::detail::reply_error{weft::error(command_errc::write_failed, std::move(error))},
              weft::detail::envelope_kind::reply);
        }
        break;
      }
    }
    if (owed) {
      owed->deliver(reply);
    } else {
      delete reply;
    }
  }

  bool take_snapshot(context& self, std::string& error) {
    if (config_.snapshots == nullptr) {
      error = who() + ": save_snapshot without a snapshot store (set options.snapshots)";
      return false;
    }
    if (!model_->state_storable()) {
      error = who() + ": the State type has no codec, so it cannot be snapshotted (see codec.hpp)";
      return false;
    }
    if (info_.snapshot_sequence_nr == sequence_nr_ && sequence_nr_ != 0) return true;
    snapshot snap{config_.persistence_id,          sequence_nr_,    config_.snapshot_manifest,
                  config_.snapshot_schema_version, wall_clock_ms(), {}};
    try {
      snap.payload =
          call_user("the State codec's encode for snapshot", snap.sequence_nr, [&] { return model_->encode_state(); });
      self.blocking([&] {
        call_user("the snapshot store", 0, [&] {
          config_.snapshots->save(snap);
          if (config_.delete_events_on_snapshot) {
            config_.snapshots->delete_older_than(config_.persistence_id, snap.sequence_nr);
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
    if (config_.delete_events_on_snapshot && snap.sequence_nr != 0) {
      journal_->async_delete_up_to(config_.persistence_id, snap.sequence_nr, [](const storage_status&) {});
    }
    return true;
  }

  std::unique_ptr<persistent_model> model_;
  engine_config config_;
  journal* journal_ = nullptr;
  std::shared_ptr<writer_claim> claim_;
  std::uint64_t write_tokens_ = 0;
  std::uint64_t sequence_nr_ = 0;
  std::uint64_t snapshot_failures_in_row_ = 0;  // automatic attempts, since the last success
  persistence_info info_;
  // Reused between batches to keep their capacity.
  std::vector<pending> batch_;
  std::vector<persistent_event> events_;
};

}  // namespace

std::unique_ptr<persistent_engine> persistent_engine::create(std::unique_ptr<persistent_model> model,
                                                             engine_config config) {
  return std::make_unique<engine>(std::move(model), std::move(config));
}

}  // namespace detail
}  // namespace weft::persistence
