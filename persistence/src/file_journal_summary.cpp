// Segment summaries: what a sealed segment holds, so that opening the
// journal need not read it.
//
// When the writer seals a segment (rotation), it writes NNNNNNNN.sum next to
// it: per persistence id its first and last event, their count and its
// newest deletion mark there. Open then reads, for every sealed segment with
// a valid summary, only that file, and records each id's events there as a
// pending run (id_index::pending) instead of indexing them. The newest
// segment is always scanned (it is the one a crash may have torn). So the
// cold open costs one summary per sealed segment plus a scan of at most one
// segment, whatever the history; a persistent actor recovering from a
// snapshot then loads only the segments that hold events after it.
//
// load_segment() brings a pending segment in when a read needs it: it checks
// the header and scans the records with no lock held (a sealed segment
// never changes), checks that it found exactly the events the summary
// promised, and then, under the index's exclusive lock, merges each id's
// live events into its entries and drops the run. Reads verify every record
// again, so a segment changed behind the journal's back is refused
// (storage_errc::corrupt), never applied; damage in a sealed segment is
// found when its events are read rather than at open.
//
// A summary is a cache: it is written with no sync, and one that is missing,
// torn, or for another segment (checked: number, size, CRC) only means the
// segment is scanned at open, after which the summary is written again.
//
// Format, little-endian: "WEFTSUMM", u32 version (1), u32 segment number,
// u64 end of the last record, u32 id count, then per id: u16 id length, the
// id, u64 first event, u64 last event, u64 event count, u64 newest deletion
// mark; then u32 masked CRC32C of all that precedes it.

#include "file_journal_impl.hpp"

#include "crc32c.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace weft::persistence::detail {
namespace {

constexpr std::array<char, 8> summary_magic{'W', 'E', 'F', 'T', 'S', 'U', 'M', 'M'};
constexpr std::uint32_t summary_version = 1;
constexpr std::size_t summary_header_size = 8 + 4 + 4 + 8 + 4;
constexpr std::size_t summary_id_fixed_size = 2 + 8 * 4;

storage_error corrupt(std::string message) {
  return storage_error(storage_errc::corrupt, std::move(message));
}

}  // namespace

std::string summary_file_name(std::uint32_t number) {
  return fmt::format("{:08}.sum", number);
}

bytes encode_summary(std::uint32_t number, std::uint64_t size, const string_map<segment::id_summary>& ids) {
  std::size_t total = summary_header_size + 4;
  for (const auto& [id, s] : ids) total += summary_id_fixed_size + id.size();
  bytes out(total);
  std::byte* p = out.data();
  std::memcpy(p, summary_magic.data(), summary_magic.size());
  put_u32(p + 8, summary_version);
  put_u32(p + 12, number);
  put_u64(p + 16, size);
  put_u32(p + 24, static_cast<std::uint32_t>(ids.size()));
  p += summary_header_size;
  for (const auto& [id, s] : ids) {
    put_u16(p, static_cast<std::uint16_t>(id.size()));
    std::memcpy(p + 2, id.data(), id.size());
    p += 2 + id.size();
    put_u64(p, s.first_event);
    put_u64(p + 8, s.max_event);
    put_u64(p + 16, s.event_count);
    put_u64(p + 24, s.max_deletion);
    p += 32;
  }
  put_u32(p, mask_crc(crc32c(out.data(), static_cast<std::size_t>(p - out.data()))));
  return out;
}

bool decode_summary(std::span<const std::byte> data, std::uint32_t number, segment_summary& out) {
  if (data.size() < summary_header_size + 4) return false;
  const std::size_t body = data.size() - 4;
  if (mask_crc(crc32c(data.data(), body)) != get_u32(data.data() + body)) return false;
  if (std::memcmp(data.data(), summary_magic.data(), summary_magic.size()) != 0) return false;
  if (get_u32(data.data() + 8) != summary_version || get_u32(data.data() + 12) != number) return false;
  out.size = get_u64(data.data() + 16);
  const std::uint32_t count = get_u32(data.data() + 24);
  out.ids.clear();
  std::size_t at = summary_header_size;
  for (std::uint32_t i = 0; i < count; ++i) {
    if (at + 2 > body) return false;
    const std::size_t length = get_u16(data.data() + at);
    if (length == 0 || at + 2 + length + 32 > body) return false;
    std::string id(reinterpret_cast<const char*>(data.data() + at + 2), length);
    const std::byte* p = data.data() + at + 2 + length;
    segment::id_summary s{.max_event = get_u64(p + 8),
                          .max_deletion = get_u64(p + 24),
                          .first_event = get_u64(p),
                          .event_count = get_u64(p + 16)};
    // Events of an id are consecutive within a segment (appends are).
    const bool consistent = s.event_count == 0 ? s.first_event == 0 && s.max_event == 0
                                               : s.first_event != 0 && s.max_event >= s.first_event &&
                                                     s.max_event - s.first_event + 1 == s.event_count;
    if (!consistent) return false;
    out.ids.emplace_back(std::move(id), s);
    at += 2 + length + 32;
  }
  return at == body;
}

void file_journal::write_summary(const segment& seg) {
  // Best effort on the writer thread too: nothing here may fail a group.
  try {
    const bytes data = encode_summary(seg.number, seg.size, seg.summary);
    const auto path = directory_ / summary_file_name(seg.number);
    auto temporary = path;
    temporary += ".tmp";
    unique_fd fd = open_file(temporary, O_WRONLY | O_CREAT | O_TRUNC);
    int error = write_all_at(fd.get(), data, 0);
    if (error == 0 && ::rename(temporary.c_str(), path.c_str()) != 0) error = errno;
    if (error != 0) {
      ::unlink(temporary.c_str());
      warn(fmt::format("journal {}: cannot write {} ({}); the next open scans segment {} instead", directory_.string(),
                       path.filename().string(), errno_text(error), seg.path.filename().string()));
    }
  } catch (...) {
    warn(fmt::format("journal {}: cannot write the summary of segment {} ({}); the next open scans it instead",
                     directory_.string(), seg.path.filename().string(), current_exception_text()));
  }
}

bool file_journal::use_summary(segment& seg) {
  const auto path = directory_ / summary_file_name(seg.number);
  std::error_code missing;
  const auto length = std::filesystem::file_size(path, missing);
  if (missing || length > (64u << 20)) return false;
  bytes data(static_cast<std::size_t>(length));
  {
    unique_fd fd = open_file(path, O_RDONLY);
    if (read_at(fd.get(), data, 0, path) != data.size()) return false;
  }
  segment_summary parsed;
  if (!decode_summary(data, seg.number, parsed) || parsed.size < segment_header_size ||
      parsed.size > file_size(seg.fd.get(), seg.path)) {
    warn(fmt::format("journal {}: ignoring {}, which does not describe {}; scanning the segment instead",
                     directory_.string(), path.filename().string(), seg.path.filename().string()));
    return false;
  }
  seg.size = parsed.size;
  seg.zeroed_to = parsed.size;  // sealed: never written again
  seg.loaded = false;
  for (auto& [name, s] : parsed.ids) {
    id_index& id = index_.try_emplace(name).first->second;
    id.highest = std::max({id.highest, s.max_event, s.max_deletion});
    id.deleted_to = std::max(id.deleted_to, s.max_deletion);
    if (s.event_count > 0) id.pending.push_back({seg.number, s.first_event, s.max_event});
    seg.summary.emplace(std::move(name), s);
  }
  return true;
}

void file_journal::load_segment(const std::shared_ptr<segment>& seg) {
  std::lock_guard serial(seg->load_mutex);
  {
    std::shared_lock lock(index_mutex_);
    if (seg->loaded) return;
  }
  const std::string name = seg->path.filename().string();
  std::array<std::byte, segment_header_size> header{};
  if (read_at(seg->fd.get(), header, 0, seg->path) != header.size() || !segment_header_valid(header)) {
    throw corrupt(fmt::format(
        "journal segment {}: invalid segment header, in a sealed segment its summary said was whole; the file "
        "was changed after it was written. Restore the journal from a backup, or inspect it with "
        "weft-journal-dump",
        name));
  }
  string_map<std::vector<index_entry>> found;
  record_scanner scanner(
      [&](std::uint64_t offset, std::span<std::byte> out) { return read_at(seg->fd.get(), out, offset, seg->path); },
      seg->size, segment_header_size);
  for (;;) {
    const decode_outcome outcome = scanner.next();
    if (outcome != decode_outcome::ok) {
      if (scanner.at_end() && scanner.offset() == seg->size) break;
      throw corrupt(fmt::format(
          "journal segment {}: {} at offset {}, in a sealed segment its summary said was whole; the file was "
          "changed after it was written. Stop writers, copy the directory, and inspect it with "
          "weft-journal-dump",
          name, describe(outcome), scanner.damage_offset()));
    }
    const decoded_record& record = scanner.record();
    if (record.kind != record_kind::event) continue;
    auto it = found.find(record.persistence_id);
    if (it == found.end()) it = found.try_emplace(std::string(record.persistence_id)).first;
    it->second.push_back({record.sequence_nr, scanner.offset(), seg->number, static_cast<std::uint32_t>(record.size)});
  }
  // Before touching the index: the scan must have found exactly what the
  // summary promised, id by id (ascending, consecutive, the same first and
  // last event), and no id it did not list.
  std::size_t listed = 0;
  for (const auto& [id_name, promised] : seg->summary) {
    if (promised.event_count == 0) continue;
    ++listed;
    auto f = found.find(id_name);
    bool as_promised = f != found.end() && f->second.size() == promised.event_count &&
                       f->second.front().sequence_nr == promised.first_event &&
                       f->second.back().sequence_nr == promised.max_event;
    for (std::size_t i = 1; as_promised && i < f->second.size(); ++i) {
      as_promised = f->second[i].sequence_nr == f->second[i - 1].sequence_nr + 1;
    }
    if (!as_promised) {
      throw corrupt(fmt::format(
          "journal segment {}: persistence id {} should have events {}..{} there but has {} of them; the file "
          "was changed after it was written. Inspect it with weft-journal-dump",
          name, id_name, promised.first_event, promised.max_event, f == found.end() ? 0 : f->second.size()));
    }
  }
  if (found.size() != listed) {
    throw corrupt(fmt::format(
        "journal segment {}: holds events of a persistence id its summary does not list; the file was changed "
        "after it was written. Inspect it with weft-journal-dump",
        name));
  }
  // Only the ids this segment holds (its summary), not every id there is:
  // the exclusive lock is held for this segment's share of the index.
  std::unique_lock lock(index_mutex_);
  for (auto& [id_name, events] : found) {
    auto idx = index_.find(id_name);
    if (idx == index_.end()) continue;
    id_index& id = idx->second;
    auto run = std::find_if(id.pending.begin(), id.pending.end(),
                            [&](const pending_run& r) { return r.segment == seg->number; });
    if (run == id.pending.end()) continue;  // all of it deleted since open
    // The live part: deletions since open may have raised run->first.
    const auto from = events.begin() + static_cast<std::ptrdiff_t>(run->first - events.front().sequence_nr);
    const auto to = events.begin() + static_cast<std::ptrdiff_t>(run->last - events.front().sequence_nr) + 1;
    auto at = std::lower_bound(id.entries.begin(), id.entries.end(), run->first,
                               [](const index_entry& e, std::uint64_t seq) { return e.sequence_nr < seq; });
    id.entries.insert(at, from, to);
    id.pending.erase(run);
  }
  seg->loaded = true;
}

}  // namespace weft::persistence::detail
