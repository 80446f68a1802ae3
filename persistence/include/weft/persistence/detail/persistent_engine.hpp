#pragma once

// The seam between a persistent actor's typed half (persistent_actor.hpp:
// decode, apply, encode, run one command) and its engine (the claim on the
// persistence id, recovery, batching, writing, replies, snapshots), which
// is ordinary compiled code in persistence/src/persistent_engine.cpp.
// Internal: users write a definition (persistent_actor.hpp) and never see
// these types.

#include <weft/persistence/event.hpp>
#include <weft/persistence/journal.hpp>
#include <weft/persistence/snapshot_store.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/detail/envelope.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace weft::persistence::detail {

// What the engine needs of persistent_options, without the types.
struct engine_config {
  std::string persistence_id;
  persistence::journal* journal = nullptr;
  std::function<persistence::journal&()> open_journal;
  persistence::snapshot_store* snapshots = nullptr;
  std::uint64_t snapshot_every = 0;
  bool delete_events_on_snapshot = false;
  std::string snapshot_manifest;
  std::uint32_t snapshot_schema_version = 1;
  std::size_t max_batch = 256;
  std::uint64_t recovery_batch = 65536;
};

// The typed half, implemented per definition by persistent_actor.hpp. All
// calls come from the owning actor; each may throw (a decode that fails, a
// user callback that throws), and the engine turns that into the actor's
// stop reason.
class persistent_model {
 public:
  virtual ~persistent_model() = default;

  // -- recovery --
  // Replaces the state with a snapshot's (decoding or upcasting it).
  virtual void load_snapshot(const snapshot& stored) = 0;
  // Decodes (or upcasts) a stored event and applies it to the state.
  virtual void apply_stored(const event_view& stored) = 0;

  // -- snapshots --
  virtual bool state_storable() const noexcept = 0;
  virtual bytes encode_state() const = 0;

  // -- commands and queries --
  virtual bool is_command(const weft::detail::envelope& message) const noexcept = 0;
  // Runs the command in `message`: its events, numbered from `next_number`,
  // are encoded onto `events` and applied to the state; the returned
  // envelope is the reply to send once they are durable (a value, an
  // acknowledgement, or an error: `rejected` is set for a rejection, which
  // persists nothing).
  virtual weft::detail::envelope* run_command(weft::detail::envelope& message, std::uint64_t next_number,
                                              std::vector<persistent_event>& events, bool& rejected) = 0;
  // A copy of the state, as a reply.
  virtual weft::detail::envelope* state_reply() const = 0;
};

enum class query : std::uint8_t { state, info, snapshot };

class persistent_engine {
 public:
  static std::unique_ptr<persistent_engine> create(std::unique_ptr<persistent_model> model, engine_config config);
  virtual ~persistent_engine() = default;

  // -- owning actor only --
  // Claims the id, loads the snapshot, replays; stops the actor on failure.
  virtual void recover(context& self) = 0;
  // The message being handled is a command: runs it and the commands queued
  // behind it as one batch, writes their events, then answers them.
  virtual void handle_commands(context& self) = 0;
  // The message being handled is this query.
  virtual void answer_query(context& self, query q) = 0;
};

// Refuses a stored item whose manifest or version this actor does not read
// and has no upcaster for (storage_errc::invalid_argument, naming both).
[[noreturn]] void throw_decode_mismatch(std::string_view what, std::uint64_t sequence_nr, std::string_view manifest,
                                        std::uint32_t version, std::string_view expected_manifest,
                                        std::uint32_t expected_version, std::string_view hook);

// Sent by a write's completion to wake its actor; a late one is ignored.
struct write_completed {
  std::uint64_t token = 0;
};

}  // namespace weft::persistence::detail
