// Opening the segment-file journal: rebuilding the index and deciding what
// to do about damage.
//
// 1. Create the directory if needed and take an exclusive flock on its LOCK
//    file, so two journals (in this or another process) never append to the
//    same segments.
// 2. Remove NNNNNNNN.log.tmp leftovers: a segment creation interrupted
//    before its rename, which never held an acknowledged event.
// 3. Open the segments in number order. A sealed segment (any but the
//    newest) with a valid summary file is not read: its summary gives each
//    id's highest number, deletions and a pending run of events, loaded
//    when a read needs them (file_journal_summary.cpp). Every other
//    segment's header is checked: segments only appear by rename after
//    their header is synced, so a bad header is never a torn write and is
//    always refused.
// 4. Scan those segments' records sequentially (1 MiB reads), verifying
//    each CRC, building the per-id index and the per-segment summaries, and
//    checking that each id's sequence numbers ascend; a scanned sealed
//    segment gets its summary file written.
// 5. At the first record that does not verify, decide middle or tail:
//    - damage followed by any valid record (searched byte by byte in the
//      rest of the segment) or by later segments cannot come from a write
//      interrupted by a crash, so it is refused always;
//    - otherwise it is a torn or garbled tail: refused by default with a
//      message naming file, offset and id, or, with truncate_corrupt_tail,
//      cut off (ftruncate to the end of the last good record, fdatasync).
//    Appends are only acknowledged after their sync, so a torn tail only
//    ever holds unacknowledged events.
// 6. Drop index entries and pending runs covered by deletion marks and
//    check that each id's live events, indexed or pending, are consecutive
//    in segment order.
// 7. The newest segment becomes the active one (or 00000001.log is created);
//    then the writer thread starts.

#include "file_journal_impl.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <system_error>

namespace weft::persistence::detail {
namespace {

bool parse_segment_name(const std::string& name, std::uint32_t& number) {
  constexpr std::string_view suffix = ".log";
  if (name.size() < 8 + suffix.size() || !name.ends_with(suffix)) return false;
  std::string_view digits(name.data(), name.size() - suffix.size());
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
  return error == std::errc{} && end == digits.data() + digits.size();
}

storage_error corrupt(std::string message) {
  return storage_error(storage_errc::corrupt, std::move(message));
}

}  // namespace

file_journal::file_journal(std::filesystem::path directory, journal_options options)
    : directory_(std::move(directory)), options_(std::move(options)) {
  std::error_code error;
  std::filesystem::create_directories(directory_, error);
  if (error) {
    throw storage_error(storage_errc::io_error,
                        fmt::format("journal {}: cannot create the directory: {}",
                                    directory_.string(), error.message()));
  }
  lock_directory();
  recover();
  queue_ = std::make_unique<group_commit_queue<write_request>>(
      options_.max_group_bytes,
      [this](std::span<write_request> group, std::span<storage_status> results) { commit_group(group, results); },
      [this](std::string_view message) { warn(message); });
}

void file_journal::lock_directory() {
  lock_fd_ = open_file(directory_ / "LOCK", O_RDWR | O_CREAT);
  int result;
  do {
    result = ::flock(lock_fd_.get(), LOCK_EX | LOCK_NB);
  } while (result != 0 && errno == EINTR);
  if (result != 0) {
    int error = errno;
    if (error == EWOULDBLOCK) {
      throw storage_error(storage_errc::already_open,
                          fmt::format("journal {}: already open: another journal, in this process or another, "
                                      "holds the lock on {}; close that one first, or open a different directory",
                                      directory_.string(), (directory_ / "LOCK").string()));
    }
    throw storage_error(storage_errc::io_error, fmt::format("journal {}: cannot lock {}: {}", directory_.string(),
                                                            (directory_ / "LOCK").string(), errno_text(error)));
  }
}

void file_journal::recover() {
  std::vector<std::uint32_t> numbers;
  bool removed = false;
  std::vector<std::filesystem::path> summaries;
  for (const auto& entry : std::filesystem::directory_iterator(directory_)) {
    std::string name = entry.path().filename().string();
    std::uint32_t number = 0;
    if (name.ends_with(".log.tmp")) {
      std::filesystem::remove(entry.path());
      warn(fmt::format("journal {}: removed {} left by an interrupted segment creation",
                       directory_.string(), name));
      removed = true;
    } else if (name.ends_with(".sum.tmp")) {
      std::filesystem::remove(entry.path());  // a summary is only a cache
    } else if (name.ends_with(".sum")) {
      summaries.push_back(entry.path());
    } else if (parse_segment_name(name, number)) {
      numbers.push_back(number);
    }
  }
  if (removed) sync_directory(directory_, !options_.unsafe_no_sync);
  std::sort(numbers.begin(), numbers.end());
  // A summary whose segment was reclaimed (its unlink survived a crash, the
  // summary's did not) is removed.
  for (const auto& path : summaries) {
    std::string stem = path.stem().string() + ".log";
    std::uint32_t number = 0;
    if (!parse_segment_name(stem, number) || !std::binary_search(numbers.begin(), numbers.end(), number)) {
      std::error_code ignored;
      std::filesystem::remove(path, ignored);
    }
  }

  for (std::size_t i = 0; i < numbers.size(); ++i) {
    auto seg = std::make_shared<segment>();
    seg->number = numbers[i];
    seg->path = directory_ / segment_file_name(numbers[i]);
    seg->fd = open_file(seg->path, O_RDWR);
    const bool is_last = i + 1 == numbers.size();
    // The newest segment is always scanned: a crash may have torn it.
    if (is_last || !use_summary(*seg)) {
      scan_segment(*seg, is_last);
      if (!is_last) write_summary(*seg);
    }
    segments_.emplace(seg->number, seg);
  }
  finish_recovery();
}

void file_journal::scan_segment(segment& seg, bool is_last) {
  const std::string name = seg.path.filename().string();
  std::uint64_t size = file_size(seg.fd.get(), seg.path);
  std::array<std::byte, segment_header_size> header{};
  if (size >= segment_header_size) read_exact_at(seg.fd.get(), header, 0, seg.path);
  if (size < segment_header_size || !segment_header_valid(header)) {
    throw corrupt(
        fmt::format("journal segment {}: invalid segment header; it is not a weft "
                    "journal segment or its start is damaged; refusing to recover. "
                    "Move the file out of {} if it does not belong there, otherwise "
                    "restore the journal from a backup",
                    name, directory_.string()));
  }
  record_scanner scanner(
      [&](std::uint64_t offset, std::span<std::byte> out) {
        return read_at(seg.fd.get(), out, offset, seg.path);
      },
      size, segment_header_size);

  id_index* last_id = nullptr;  // consecutive records usually share an id
  std::string_view last_name;
  segment::id_summary* last_summary = nullptr;
  std::uint64_t end = segment_header_size;
  for (;;) {
    decode_outcome outcome = scanner.next();
    if (outcome == decode_outcome::ok) {
      const decoded_record& record = scanner.record();
      if (last_id == nullptr || record.persistence_id != last_name) {
        auto it = index_.find(record.persistence_id);
        if (it == index_.end()) it = index_.try_emplace(std::string(record.persistence_id)).first;
        auto sit = seg.summary.find(record.persistence_id);
        if (sit == seg.summary.end()) {
          sit = seg.summary.try_emplace(std::string(record.persistence_id)).first;
        }
        last_id = &it->second;
        last_name = it->first;
        last_summary = &sit->second;
      }
      id_index& id = *last_id;
      if (record.kind == record_kind::event) {
        if (!id.entries.empty() && record.sequence_nr <= id.entries.back().sequence_nr) {
          throw corrupt(fmt::format(
              "journal segment {}: record at offset {} (persistence id {}) has sequence number "
              "{} after {}; the segments are out of order or were copied together from "
              "different journals; refusing to recover",
              name, scanner.offset(), record.persistence_id, record.sequence_nr,
              id.entries.back().sequence_nr));
        }
        id.entries.push_back({record.sequence_nr, scanner.offset(), seg.number,
                              static_cast<std::uint32_t>(record.size)});
        id.highest = std::max(id.highest, record.sequence_nr);
        last_summary->max_event = std::max(last_summary->max_event, record.sequence_nr);
        if (last_summary->first_event == 0) last_summary->first_event = record.sequence_nr;
        ++last_summary->event_count;
      } else {
        id.deleted_to = std::max(id.deleted_to, record.sequence_nr);
        id.highest = std::max(id.highest, record.sequence_nr);
        last_summary->max_deletion = std::max(last_summary->max_deletion, record.sequence_nr);
      }
      end = scanner.offset() + record.size;
      continue;
    }
    if (scanner.at_end()) break;

    // Step 5: damage at `bad`.
    const std::uint64_t bad = scanner.offset();
    std::string where;
    if (outcome == decode_outcome::stray_bytes) {
      // The damage is where the byte is; the tail a truncation would drop
      // still starts at the end of the last record.
      where = fmt::format("journal segment {}: {} at offset {} (the last record ends at offset {})", name,
                          describe(outcome), scanner.damage_offset(), bad);
    } else {
      std::string guessed = guess_persistence_id(scanner.bytes_at_offset(record_header_size + 80));
      where = fmt::format("journal segment {}: {} at offset {}{}", name, describe(outcome), bad,
                          guessed.empty() ? std::string() : fmt::format(" (persistence id {}, unverified)", guessed));
    }
    if (!is_last) {
      throw corrupt(where +
                    "; later segments follow, so this is not a write torn by a crash; "
                    "refusing to recover. Restore the journal from a backup, or inspect "
                    "it with weft-journal-dump");
    }
    const std::string tail = scanner.damage_offset() == bad ? fmt::format("{} bytes", size - bad)
                                                            : fmt::format("{} bytes from offset {}", size - bad, bad);
    bytes rest(static_cast<std::size_t>(size - bad));
    read_exact_at(seg.fd.get(), rest, bad, seg.path);
    std::size_t found = 0;
    if (valid_record_after(rest, &found)) {
      throw corrupt(where + fmt::format("; a valid record follows at offset {}, so this is not a "
                                        "write torn by a crash; refusing to recover. Restore the "
                                        "journal from a backup, or inspect it with "
                                        "weft-journal-dump",
                                        bad + found));
    }
    if (!options_.truncate_corrupt_tail) {
      throw corrupt(where + fmt::format("; refusing to recover; open with "
                                        "journal_options::truncate_corrupt_tail to drop the "
                                        "damaged tail ({})",
                                        tail));
    }
    if (::ftruncate(seg.fd.get(), static_cast<off_t>(bad)) != 0 ||
        sync_data(seg.fd.get(), !options_.unsafe_no_sync) != 0) {
      int error = errno;
      throw storage_error(
          storage_errc::io_error,
          where + fmt::format("; truncating the damaged tail failed: {}", errno_text(error)));
    }
    warn(where + fmt::format("; truncated the damaged tail ({})", tail));
    size = bad;
    break;
  }
  seg.size = end;
  seg.zeroed_to = size;  // what follows the last record is zero (the scan checked)
}

void file_journal::finish_recovery() {
  struct range {
    std::uint32_t segment;
    std::uint64_t first;
    std::uint64_t last;
    std::uint64_t offset;  // of the first event, when it is indexed
  };
  std::vector<range> ranges;
  for (auto& [name, id] : index_) {
    auto keep = std::upper_bound(
        id.entries.begin(), id.entries.end(), id.deleted_to,
        [](std::uint64_t seq, const index_entry& e) { return seq < e.sequence_nr; });
    id.entries.erase(id.entries.begin(), keep);
    std::erase_if(id.pending, [&](const pending_run& r) { return r.last <= id.deleted_to; });
    for (pending_run& r : id.pending) r.first = std::max(r.first, id.deleted_to + 1);
    // The live events, from the scanned segments and the summarized ones,
    // must follow each other with no gap, in segment order.
    ranges.clear();
    for (const pending_run& r : id.pending) ranges.push_back({r.segment, r.first, r.last, 0});
    for (const index_entry& e : id.entries) {
      if (!ranges.empty() && ranges.back().offset != 0 && ranges.back().segment == e.segment &&
          ranges.back().last + 1 == e.sequence_nr) {
        ranges.back().last = e.sequence_nr;
      } else {
        ranges.push_back({e.segment, e.sequence_nr, e.sequence_nr, e.offset});
      }
    }
    std::sort(ranges.begin(), ranges.end(),
              [](const range& a, const range& b) { return a.segment != b.segment ? a.segment < b.segment : a.first < b.first; });
    for (std::size_t i = 1; i < ranges.size(); ++i) {
      if (ranges[i].first != ranges[i - 1].last + 1) {
        throw corrupt(fmt::format(
            "journal {}: persistence id {} has events {}..{} in segment {} followed by events from {} in "
            "segment {}; a segment file was removed, replaced or copied in from another journal; refusing to "
            "recover",
            directory_.string(), name, ranges[i - 1].first, ranges[i - 1].last,
            segment_file_name(ranges[i - 1].segment), ranges[i].first, segment_file_name(ranges[i].segment)));
      }
    }
    id.entries.shrink_to_fit();
  }
  if (segments_.empty()) {
    active_ = create_segment(1);
    segments_.emplace(active_->number, active_);
  } else {
    active_ = segments_.rbegin()->second;
  }
}

}  // namespace weft::persistence::detail
