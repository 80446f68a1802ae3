#pragma once

// The embedded default journal: append-only segment files in one directory,
// each record carrying its length and a CRC32C, with group commit. The
// format, recovery and damage handling are described in docs/persistence.md.

#include <weft/persistence/journal.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string_view>

namespace weft::persistence {

struct journal_options {
  // A segment is closed and a new one started once it holds this many bytes
  // (checked between groups, so a segment may exceed it by one group).
  std::uint64_t segment_size = 64u << 20;

  // A group stops collecting appends once it holds this many bytes; the rest
  // wait for the next sync.
  std::size_t max_group_bytes = 4u << 20;

  // The active segment is kept zero-filled this far beyond its last record
  // (in steps of this size, never past segment_size plus one group). A
  // group's fdatasync then rewrites blocks the file already has, which on
  // ext4 and XFS needs no file-system journal commit: it measured 160-190 us
  // against 250-370 us for an append on this project's machine, and stayed
  // well under 1 ms while other files' dirty pages were being written back
  // (PostgreSQL zero-fills its WAL segments for the same reason). Recovery
  // reads zero bytes after the last record as the clean end. 0 turns it off:
  // segments then grow with each group.
  std::uint64_t preallocate_bytes = 4u << 20;

  // Damage at the end of the newest segment (a write torn by a crash) makes
  // open() refuse by default, naming the file and offset. With this set, the
  // damaged tail is cut off instead and reported through on_warning. Damage
  // followed by valid records is refused either way.
  bool truncate_corrupt_tail = false;

  // Skip fdatasync/fsync. Only for tests that measure something else: an
  // acknowledged event may then be lost by a power failure.
  bool unsafe_no_sync = false;

  // Receives recovery reports (a truncated tail, removed temporary files)
  // and what the writer thread caught from a completion. Called from the
  // opening thread during open() and from the writer thread afterwards;
  // must not block. Unset, or if it throws: the report goes to stderr.
  std::function<void(std::string_view)> on_warning{};
};

// Opens or creates the journal in `directory`, rebuilding the index from the
// segments. Throws storage_error if the segments are damaged (see
// journal_options::truncate_corrupt_tail) or the directory is unusable.
std::unique_ptr<journal> open_file_journal(const std::filesystem::path& directory,
                                           journal_options options = {});

}  // namespace weft::persistence
