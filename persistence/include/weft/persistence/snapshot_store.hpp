#pragma once

// Snapshots: a persistent actor's state at some sequence number, so recovery
// replays only the events after it. Backends implement snapshot_store.

#include <weft/persistence/event.hpp>
#include <weft/persistence/journal.hpp>
#include <weft/persistence/status.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace weft::persistence {

struct snapshot {
  std::string persistence_id{};
  std::uint64_t sequence_nr = 0;  // the state includes events 1..sequence_nr
  std::string manifest{};
  std::uint32_t schema_version = 1;
  std::int64_t timestamp_ms = 0;  // wall clock at save, for people reading dumps
  bytes payload{};

  friend bool operator==(const snapshot&, const snapshot&) = default;
};

class snapshot_store {
 public:
  virtual ~snapshot_store() = default;
  snapshot_store() = default;
  snapshot_store(const snapshot_store&) = delete;
  snapshot_store& operator=(const snapshot_store&) = delete;

  // -- any thread; each call blocks on I/O and throws storage_error --

  // Durable when this returns. Saving the same id and number again replaces
  // the earlier snapshot.
  virtual void save(const snapshot& snap) = 0;

  // The snapshot with the highest sequence number <= up_to_sequence_nr.
  // Throws storage_errc::corrupt (naming the file) if that snapshot is
  // damaged rather than silently using an older one: events it covered may
  // already be deleted from the journal.
  virtual std::optional<snapshot> load_latest(
      std::string_view persistence_id, std::uint64_t up_to_sequence_nr = max_sequence_nr) = 0;

  // Deletes the snapshots of the id whose sequence number is < sequence_nr.
  virtual void delete_older_than(std::string_view persistence_id, std::uint64_t sequence_nr) = 0;
};

// One directory per persistence id under `directory`, one file per snapshot
// (written to a temporary file, fdatasynced, renamed, directory fsynced).
std::unique_ptr<snapshot_store> open_file_snapshot_store(const std::filesystem::path& directory);

}  // namespace weft::persistence
