#pragma once

// The segment-file journal (see file_journal.cpp for the write protocol and
// file_journal_recovery.cpp for open/recovery).

#include <weft/persistence/file_journal.hpp>

#include "group_commit.hpp"
#include "posix_file.hpp"
#include "record_format.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
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

struct segment {
  std::uint32_t number = 0;
  std::filesystem::path path;
  unique_fd fd;
  std::uint64_t size = 0;  // end of the last valid record; writer thread only
  // The file holds only zeros from `size` up to here (its length, or less
  // after a failed write); writer thread only.
  std::uint64_t zeroed_to = 0;

  // What each persistence id has in this segment; the segment can be removed
  // once all of it is deleted and superseded (see reclaim_segments).
  struct id_summary {
    std::uint64_t max_event = 0;
    std::uint64_t max_deletion = 0;
  };
  string_map<id_summary> summary;  // writer thread only
};

struct index_entry {
  std::uint64_t sequence_nr;
  std::uint64_t offset;
  std::uint32_t segment;
  std::uint32_t size;
};

struct id_index {
  std::vector<index_entry> entries;  // live events, ascending sequence numbers
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
  void finish_recovery();
  void warn(std::string_view message) const;

  // -- writer thread only --
  void commit_group(std::span<write_request> group, std::span<storage_status> results);
  std::shared_ptr<segment> create_segment(std::uint32_t number);
  void rotate_if_full();
  void zero_ahead(std::uint64_t group_end);
  storage_status fail_write(std::uint64_t good_size, int error, std::string_view action,
                            std::size_t byte_count);
  void apply_group(std::span<write_request> group, std::span<storage_status> results,
                   std::uint64_t start_offset);
  void reclaim_segments();

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
