#pragma once

// The segment-file journal (see file_journal.cpp for the write protocol,
// file_journal_recovery.cpp for open/recovery and file_journal_summary.cpp
// for the summaries that let open skip sealed segments).

#include <weft/persistence/file_journal.hpp>

#include "group_commit.hpp"
#include "posix_file.hpp"
#include "record_format.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace weft::persistence::detail {

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept {
    return std::hash<std::string_view>{}(text);
  }
};

template <class Value>
using string_map = std::unordered_map<std::string, Value, string_hash, std::equal_to<>>;

std::string segment_file_name(std::uint32_t number);
std::string summary_file_name(std::uint32_t number);

struct segment {
  std::uint32_t number = 0;
  std::filesystem::path path;
  unique_fd fd;
  // End of the last valid record. Writer thread only, except that readers
  // may use it for a sealed segment (never written again).
  std::uint64_t size = 0;
  // The file holds only zeros from `size` up to here (its length, or less
  // after a failed write); writer thread only.
  std::uint64_t zeroed_to = 0;

  // What each persistence id has in this segment: the segment can be removed
  // once all of it is deleted and superseded (see reclaim_segments), and a
  // sealed segment's summary file lets open() skip scanning it.
  struct id_summary {
    std::uint64_t max_event = 0;
    std::uint64_t max_deletion = 0;
    std::uint64_t first_event = 0;  // 0: no events here
    std::uint64_t event_count = 0;
  };
  // Written by open and, for the active segment only, the writer thread;
  // a sealed segment's is never written again, so loaders read it freely.
  string_map<id_summary> summary;

  // False for a sealed segment known from its summary file whose records
  // are not in the index yet (see file_journal::load_segment).
  bool loaded = true;    // under the journal's index_mutex_
  std::mutex load_mutex;  // serializes loaders of this segment
};

// The parsed summary file of a sealed segment.
struct segment_summary {
  std::uint64_t size = 0;  // end of the segment's last record
  std::vector<std::pair<std::string, segment::id_summary>> ids;
};
bytes encode_summary(std::uint32_t number, std::uint64_t size, const string_map<segment::id_summary>& ids);
// False if data is not a valid summary of segment `number`.
bool decode_summary(std::span<const std::byte> data, std::uint32_t number, segment_summary& out);

struct index_entry {
  std::uint64_t sequence_nr;
  std::uint64_t offset;
  std::uint32_t segment;
  std::uint32_t size;
};

// Live events of an id in a sealed segment whose records are not loaded.
struct pending_run {
  std::uint32_t segment;
  std::uint64_t first;  // raised by deletions
  std::uint64_t last;
};

struct id_index {
  // Live events, ascending sequence numbers; together with `pending` (runs
  // in segments not loaded yet, ascending) every live event, each once.
  std::vector<index_entry> entries;
  std::vector<pending_run> pending;
  std::uint64_t highest = 0;
  std::uint64_t deleted_to = 0;
};

struct write_request {
  record_kind kind = record_kind::event;
  std::string persistence_id;
  std::uint64_t first_sequence_nr = 0;
  std::uint64_t last_sequence_nr = 0;  // for a deletion: the requested bound
  bytes encoded;
  std::vector<std::uint32_t> record_sizes;
  completion done;

  std::size_t byte_size() const { return encoded.size() + 64; }
};

class file_journal final : public journal {
 public:
  file_journal(std::filesystem::path directory, journal_options options);
  ~file_journal() override;

  // -- any thread --
  void async_append(std::string_view persistence_id, std::span<const persistent_event> events,
                    completion done) override;
  void async_delete_up_to(std::string_view persistence_id, std::uint64_t to_sequence_nr,
                          completion done) override;
  void read(std::string_view persistence_id, std::uint64_t from_sequence_nr,
            std::uint64_t to_sequence_nr, std::uint64_t max_count,
            const event_visitor& visit) override;
  std::uint64_t highest_sequence_nr(std::string_view persistence_id) override;
  void close() override;

 private:
  // -- constructor only (file_journal_recovery.cpp) --
  void lock_directory();
  void recover();
  void scan_segment(segment& seg, bool is_last);
  bool use_summary(segment& seg);
  void finish_recovery();
  // on_warning, or stderr; what on_warning throws is dropped.
  void warn(std::string_view message) const noexcept;

  // -- writer thread only --
  void commit_group(std::span<write_request> group, std::span<storage_status> results);
  // How far a group got, which decides what an exception from it means.
  enum class group_stage { preparing, writing, publishing };
  // Steps 1-5; true if the group deleted something (then step 6 runs).
  bool write_group(std::span<write_request> group, std::span<storage_status> results, group_stage& stage,
                   std::uint64_t& start);
  std::shared_ptr<segment> create_segment(std::uint32_t number);
  void rotate_if_full();
  void zero_ahead(std::uint64_t group_end);
  // Cuts the active segment back to good_size; the journal fails if that
  // does not work or if state_unknown (a failed fdatasync).
  storage_status fail_write(std::uint64_t good_size, storage_errc code, std::string what, bool state_unknown);
  bool apply_group(std::span<write_request> group, std::span<storage_status> results, std::uint64_t start_offset);
  void reclaim_segments();
  // Best effort: a missing or invalid summary only means open() scans.
  void write_summary(const segment& seg);

  // -- any thread --
  // Reads a not yet loaded sealed segment and adds its events to the index.
  void load_segment(const std::shared_ptr<segment>& seg);

  void submit(write_request& request);

  const std::filesystem::path directory_;
  const journal_options options_;
  unique_fd lock_fd_;

  // Readers take index_mutex_ shared; the writer thread (the only mutator
  // after open) takes it exclusively to change index_ or segments_, and
  // reads both without it.
  mutable std::shared_mutex index_mutex_;
  string_map<id_index> index_;
  std::map<std::uint32_t, std::shared_ptr<segment>> segments_;

  std::shared_ptr<segment> active_;  // writer thread only (after open)
  bool failed_ = false;              // writer thread only
  std::string failure_;              // writer thread only

  // Declared last: destroyed (drained and joined) before the state above.
  std::unique_ptr<group_commit_queue<write_request>> queue_;
};

}  // namespace weft::persistence::detail
