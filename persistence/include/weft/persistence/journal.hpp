#pragma once

// The journal: an append-only log of events per persistence id.
//
//   persistent actor (later)            journal
//   ------------------------            -------
//   async_append(id, events, done) ---> encodes on the caller's thread,
//     ...keeps processing...            queues; the writer thread writes a
//                                       group of appends, syncs once, then
//   done(status) <--------------------- calls every completion of the group
//
// Sequence numbers of one persistence id start at 1 and have no gaps: a
// batch must hold consecutive numbers starting at highest_sequence_nr + 1,
// counting appends already submitted but not yet completed. Completions of
// one persistence id run in submission order. A successful completion means
// the events are on stable storage; only then do reads see them.
//
// Backends: file_journal.hpp (segment files, the default) and
// sqlite_journal.hpp. A backend is one implementation of this interface.

#include <weft/persistence/event.hpp>
#include <weft/persistence/status.hpp>

#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

namespace weft::persistence {

inline constexpr std::uint64_t max_sequence_nr = std::numeric_limits<std::uint64_t>::max();

// Called exactly once, from the journal's writer thread (or from the
// submitting thread when the request is rejected before queueing). It must
// not block: hand the result to the owner (post a message) and return. An
// exception it throws does not stop the writer: the journal reports it
// (file journal: through journal_options::on_warning, else stderr; SQLite
// journal: stderr) and goes on with the next completion. A completion may
// outlive the actor that asked for it: persistent actors deliver through a
// pid, which is safe after the actor or its runtime is gone.
using completion = std::function<void(const storage_status&)>;

using event_visitor = std::function<void(const event_view&)>;

class journal {
 public:
  virtual ~journal() = default;
  journal() = default;
  journal(const journal&) = delete;
  journal& operator=(const journal&) = delete;

  // -- any thread ------------------------------------------------------------

  // Appends events (consecutive sequence numbers) for one persistence id.
  // The events are copied before this returns.
  virtual void async_append(std::string_view persistence_id,
                            std::span<const persistent_event> events, completion done) = 0;

  // Marks events 1..to_sequence_nr deleted. highest_sequence_nr is unchanged;
  // space is reclaimed when nothing live remains in a storage unit.
  virtual void async_delete_up_to(std::string_view persistence_id, std::uint64_t to_sequence_nr,
                                  completion done) = 0;

  // Visits durable, non-deleted events with from <= sequence_nr <= to in
  // order, at most max_count of them. Blocks the calling thread on I/O.
  // Throws storage_error if stored data fails its checksum.
  virtual void read(std::string_view persistence_id, std::uint64_t from_sequence_nr,
                    std::uint64_t to_sequence_nr, std::uint64_t max_count,
                    const event_visitor& visit) = 0;

  // Highest durable sequence number ever appended (0 if none); deleting
  // events does not lower it.
  virtual std::uint64_t highest_sequence_nr(std::string_view persistence_id) = 0;

  // Stops accepting requests, completes the queued ones, and joins the
  // writer thread. Later requests complete with storage_errc::closed.
  virtual void close() = 0;

  // -- any thread, blocking conveniences (throw storage_error) ---------------

  void append(std::string_view persistence_id, std::span<const persistent_event> events);
  void append(std::string_view persistence_id, const persistent_event& event) {
    append(persistence_id, std::span(&event, 1));
  }
  void delete_up_to(std::string_view persistence_id, std::uint64_t to_sequence_nr);
  std::vector<persistent_event> read_all(std::string_view persistence_id,
                                         std::uint64_t from_sequence_nr = 1,
                                         std::uint64_t to_sequence_nr = max_sequence_nr);
};

}  // namespace weft::persistence
