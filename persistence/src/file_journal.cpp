// Writing and reading the segment-file journal.
//
// An append becomes durable in these steps (writer thread, per group):
// 1. Validate each request against the highest stored or earlier-in-group
//    sequence number of its id; a request that does not continue the
//    sequence fails alone with sequence_conflict and is not written.
// 2. If the active segment has reached segment_size, start the next one:
//    write its header to NNNNNNNN.log.tmp, fdatasync, rename to
//    NNNNNNNN.log, fsync the directory. A segment name therefore never
//    points at a file without a complete header.
// 3. Write every accepted record of the group with pwritev at the end of the
//    active segment, then one fdatasync. This shared sync is the group commit.
// 4. If the write fails (disk full, I/O error) truncate the segment back to
//    its previous end and sync, so no half-written record is left to be read
//    later; the group fails and the journal stays usable. If that cleanup or
//    the fdatasync itself fails, the file's state is unknown (the kernel may
//    have dropped dirty pages: PostgreSQL's "fsyncgate"), so the journal is
//    marked failed and every later request fails until it is reopened,
//    when recovery checks every record again.
// 5. Only after the sync succeeded is the index updated (under the
//    exclusive lock), so reads never see an event that is not durable; then
//    group_commit_queue runs the completions.
// 6. After a group with deletions, whole segments holding only deleted
//    events and superseded deletion marks are unlinked (directory fsynced).
// 7. At rotation the sealed segment's summary (NNNNNNNN.sum) is written,
//    so a later open need not scan it (file_journal_summary.cpp).
//
// An exception inside a group (an allocation, a throwing on_warning) never
// leaves the writer thread; what it means depends on the step it came from:
// in 1-2 nothing was written and the group fails; in 3-4 the group is cut
// off as for a failed write (step 4); in 5 the records are durable but the
// index is half updated, so the journal is marked failed and reopening it
// recovers them; in 6 and 7 it is a warning. A completion that throws is
// group_commit_queue's to handle (reported, the next one runs).

#include "file_journal_impl.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <mutex>

namespace weft::persistence::detail {
namespace {

constexpr std::size_t read_batch_entries = 4096;
constexpr std::uint64_t max_read_span = 1u << 20;
constexpr std::uint64_t max_read_gap = 64u << 10;

storage_status reject(storage_errc code, std::string message) { return weft::error(code, std::move(message)); }

}  // namespace

std::string segment_file_name(std::uint32_t number) {
  return fmt::format("{:08}.log", number);
}

file_journal::~file_journal() {
  close();
}

void file_journal::close() {
  if (queue_) queue_->close();
}

void file_journal::submit(write_request& request) {
  if (!queue_->submit(request)) {
    request.done(reject(storage_errc::closed,
                        fmt::format("journal {}: closed; persistence id {} was not written",
                                    directory_.string(), request.persistence_id)));
  }
}

void file_journal::async_append(std::string_view persistence_id,
                                std::span<const persistent_event> events, completion done) {
  auto invalid = [&](std::string message) {
    done(reject(storage_errc::invalid_argument,
                fmt::format("journal append for persistence id {}: {}", persistence_id, message)));
  };
  if (events.empty()) return invalid("the batch is empty");
  if (persistence_id.empty() || persistence_id.size() > max_persistence_id_size) {
    return invalid("the persistence id must have 1 to 65535 bytes");
  }
  write_request request;
  request.kind = record_kind::event;
  request.persistence_id = persistence_id;
  request.first_sequence_nr = events.front().sequence_nr;
  request.last_sequence_nr = events.back().sequence_nr;
  request.record_sizes.reserve(events.size());
  std::size_t total = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const persistent_event& event = events[i];
    if (event.sequence_nr != request.first_sequence_nr + i || event.sequence_nr == 0) {
      return invalid(
          fmt::format("sequence numbers must be consecutive and start at 1 or more; "
                      "event {} has {} after {}",
                      i, event.sequence_nr, request.first_sequence_nr));
    }
    if (event.manifest.size() > max_manifest_size) {
      return invalid(fmt::format("manifest of event {} exceeds 65535 bytes", event.sequence_nr));
    }
    std::size_t size =
        encoded_record_size(persistence_id.size(), event.manifest.size(), event.payload.size());
    if (size - record_prefix_size > max_record_body_size) {
      return invalid(fmt::format("event {} has {} bytes; the limit is {} bytes", event.sequence_nr,
                                 size, max_record_body_size));
    }
    request.record_sizes.push_back(static_cast<std::uint32_t>(size));
    total += size;
  }
  // Encoding here, on the submitting thread, keeps the writer thread's
  // share of the work to one pwritev and one fdatasync per group.
  request.encoded.reserve(total);
  for (const persistent_event& event : events) {
    append_record(request.encoded, record_kind::event, persistence_id, event.sequence_nr,
                  event.manifest, event.schema_version, event.payload);
  }
  request.done = std::move(done);
  submit(request);
}

void file_journal::async_delete_up_to(std::string_view persistence_id, std::uint64_t to_sequence_nr,
                                      completion done) {
  if (persistence_id.empty() || persistence_id.size() > max_persistence_id_size) {
    return done(reject(storage_errc::invalid_argument,
                       "journal delete: the persistence id must have 1 to 65535 bytes"));
  }
  write_request request;
  request.kind = record_kind::deletion;
  request.persistence_id = persistence_id;
  request.last_sequence_nr = to_sequence_nr;
  request.done = std::move(done);
  submit(request);
}

std::uint64_t file_journal::highest_sequence_nr(std::string_view persistence_id) {
  std::shared_lock lock(index_mutex_);
  auto it = index_.find(persistence_id);
  return it == index_.end() ? 0 : it->second.highest;
}

void file_journal::read(std::string_view persistence_id, std::uint64_t from_sequence_nr,
                        std::uint64_t to_sequence_nr, std::uint64_t max_count,
                        const event_visitor& visit) {
  std::vector<index_entry> batch;
  std::vector<std::shared_ptr<segment>> batch_segments;  // parallel to batch
  bytes buffer;
  std::uint64_t next = std::max<std::uint64_t>(from_sequence_nr, 1);
  std::uint64_t remaining = max_count;
  // First bring in the sealed segments, known so far only from their
  // summaries, that hold events of the range (file_journal_summary.cpp).
  for (;;) {
    std::shared_ptr<segment> unloaded;
    {
      std::shared_lock lock(index_mutex_);
      auto it = index_.find(persistence_id);
      if (it == index_.end()) return;
      const std::uint64_t from = std::max(next, it->second.deleted_to + 1);
      for (const pending_run& run : it->second.pending) {
        if (run.last >= from && run.first <= to_sequence_nr) {
          unloaded = segments_.at(run.segment);
          break;
        }
      }
    }
    if (unloaded == nullptr) break;
    load_segment(unloaded);
  }
  while (remaining > 0 && next <= to_sequence_nr) {
    batch.clear();
    batch_segments.clear();
    {
      // Copy a bounded slice of the index so the lock is held briefly and
      // the segments stay open (shared_ptr) even if reclaimed meanwhile.
      std::shared_lock lock(index_mutex_);
      auto it = index_.find(persistence_id);
      if (it == index_.end()) return;
      const id_index& id = it->second;
      next = std::max(next, id.deleted_to + 1);
      auto first = std::lower_bound(
          id.entries.begin(), id.entries.end(), next,
          [](const index_entry& e, std::uint64_t seq) { return e.sequence_nr < seq; });
      std::uint64_t limit = std::min<std::uint64_t>(remaining, read_batch_entries);
      for (auto e = first;
           e != id.entries.end() && batch.size() < limit && e->sequence_nr <= to_sequence_nr; ++e) {
        batch.push_back(*e);
        if (batch_segments.empty() || batch_segments.back()->number != e->segment) {
          batch_segments.push_back(segments_.at(e->segment));
        } else {
          batch_segments.push_back(batch_segments.back());
        }
      }
    }
    if (batch.empty()) return;
    // One pread per run of nearby records of one segment.
    for (std::size_t i = 0; i < batch.size();) {
      std::uint64_t start = batch[i].offset;
      std::uint64_t end = start + batch[i].size;
      std::size_t j = i + 1;
      while (j < batch.size() && batch[j].segment == batch[i].segment && batch[j].offset >= end &&
             batch[j].offset - end <= max_read_gap &&
             batch[j].offset + batch[j].size - start <= max_read_span) {
        end = batch[j].offset + batch[j].size;
        ++j;
      }
      const segment& seg = *batch_segments[i];
      buffer.resize(end - start);
      read_exact_at(seg.fd.get(), buffer, start, seg.path);
      for (std::size_t k = i; k < j; ++k) {
        decoded_record record;
        auto data =
            std::span<const std::byte>(buffer).subspan(batch[k].offset - start, batch[k].size);
        if (decode_record(data, record) != decode_outcome::ok ||
            record.kind != record_kind::event || record.persistence_id != persistence_id ||
            record.sequence_nr != batch[k].sequence_nr) {
          throw storage_error(
              storage_errc::corrupt,
              fmt::format("journal segment {}: record at offset {} (persistence id {}, sequence "
                          "number {}) no longer verifies; the file was changed after it was "
                          "written. Stop writers, copy the directory, and reopen the journal "
                          "to locate the damage",
                          seg.path.filename().string(), batch[k].offset, persistence_id,
                          batch[k].sequence_nr));
        }
        visit(record.as_event());
      }
      i = j;
    }
    remaining -= batch.size();
    next = batch.back().sequence_nr + 1;
  }
}

// -- writer thread -----------------------------------------------------------

std::shared_ptr<segment> file_journal::create_segment(std::uint32_t number) {
  auto seg = std::make_shared<segment>();
  seg->number = number;
  seg->path = directory_ / segment_file_name(number);
  auto temporary = seg->path;
  temporary += ".tmp";
  {
    unique_fd fd = open_file(temporary, O_RDWR | O_CREAT | O_TRUNC);
    auto header = encode_segment_header();
    int error = write_all_at(fd.get(), header, 0);
    if (error == 0) error = sync_data(fd.get(), !options_.unsafe_no_sync);
    if (error != 0) {
      ::unlink(temporary.c_str());
      throw storage_error(
          errc_for_write(error),
          fmt::format("journal {}: cannot create segment {}: {}", directory_.string(),
                      seg->path.filename().string(), errno_text(error)));
    }
  }
  if (::rename(temporary.c_str(), seg->path.c_str()) != 0) {
    int error = errno;
    ::unlink(temporary.c_str());
    throw storage_error(
        storage_errc::io_error,
        fmt::format("journal {}: cannot rename {} into place: {}", directory_.string(),
                    temporary.filename().string(), errno_text(error)));
  }
  sync_directory(directory_, !options_.unsafe_no_sync);
  seg->fd = open_file(seg->path, O_RDWR);
  seg->size = segment_header_size;
  seg->zeroed_to = segment_header_size;
  return seg;
}

void file_journal::zero_ahead(std::uint64_t group_end) {
  // Extends the zero-filled space when the group would come within half a
  // step of its end. The zeros are written before the group's records (so
  // where they overlap the records win) and become durable with the group's
  // own fdatasync: the one group in every few MiB that pays for growing the
  // file is the only one that pays.
  const std::uint64_t step = options_.preallocate_bytes;
  segment& seg = *active_;
  if (step == 0 || seg.zeroed_to >= group_end + step / 2) return;
  const std::uint64_t limit = std::max(group_end, options_.segment_size);
  std::uint64_t to = std::min(std::max(seg.zeroed_to, group_end) + step, limit);
  to = (to + 4095) & ~std::uint64_t{4095};  // whole pages
  if (to <= seg.zeroed_to) return;
  static const std::array<std::byte, 64u << 10> zeros{};
  std::vector<iovec> pieces;
  for (std::uint64_t at = seg.zeroed_to; at < to; at += zeros.size()) {
    pieces.push_back({const_cast<std::byte*>(zeros.data()),
                      static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), to - at))});
  }
  // A failure (a full disk) only costs the speed-up: the records are then
  // written past the zeros, and fail cleanly themselves if there is no room.
  if (write_all_at(seg.fd.get(), pieces, seg.zeroed_to) == 0) seg.zeroed_to = to;
}

void file_journal::rotate_if_full() {
  if (active_ && active_->size < options_.segment_size) return;
  auto next = create_segment(active_ ? active_->number + 1 : 1);
  std::shared_ptr<segment> sealed;
  {
    std::unique_lock lock(index_mutex_);
    segments_.emplace(next->number, next);
    sealed = std::exchange(active_, std::move(next));
  }
  // Only after the next segment exists: the newest is always scanned.
  if (sealed != nullptr) write_summary(*sealed);
}

storage_status file_journal::fail_write(std::uint64_t good_size, storage_errc code, std::string what,
                                        bool state_unknown) {
  // Cut off whatever part of the group reached the file: left in place, a
  // later successful write would follow it and recovery would see damage
  // in the middle of the segment.
  bool cleaned = ::ftruncate(active_->fd.get(), static_cast<off_t>(good_size)) == 0 &&
                 sync_data(active_->fd.get(), !options_.unsafe_no_sync) == 0;
  active_->zeroed_to = good_size;  // the zero-filled space went with the cut
  if (!cleaned || state_unknown) {
    failed_ = true;
    failure_ = what;
    return weft::error(storage_errc::journal_failed,
                       what + "; the journal is now failed: close it and reopen to recover");
  }
  return weft::error(code, what + "; the events were not stored");
}

void file_journal::commit_group(std::span<write_request> group, std::span<storage_status> results) {
  if (failed_) {
    for (auto& result : results) {
      result = reject(storage_errc::journal_failed,
                      fmt::format("journal {} failed earlier ({}); reopen it to recover",
                                  directory_.string(), failure_));
    }
    return;
  }
  // An exception (an allocation, a throwing on_warning) means something
  // different at each step, so write_group records how far it got.
  group_stage stage = group_stage::preparing;
  std::uint64_t start = 0;
  bool deleted = false;
  try {
    deleted = write_group(group, results, stage, start);
  } catch (...) {
    const std::string what = current_exception_text();
    auto fail_written = [&](const storage_status& status) {
      for (std::size_t i = 0; i < group.size(); ++i) {
        if (results[i].has_value() && !group[i].encoded.empty()) results[i] = status;
      }
    };
    switch (stage) {
      case group_stage::preparing:  // nothing written; requests not yet validated fail too
        for (auto& result : results) {
          if (result.has_value()) {
            result = reject(storage_errc::io_error,
                            fmt::format("journal {}: preparing the write failed ({}); the events were not stored",
                                        directory_.string(), what));
          }
        }
        break;
      case group_stage::writing:  // cut off what may have reached the file, as for a failed write
        fail_written(fail_write(start, storage_errc::io_error,
                                fmt::format("journal segment {}: writing at offset {} failed ({})",
                                            active_->path.filename().string(), start, what),
                                false));
        break;
      case group_stage::publishing:  // durable, but the index is half updated
        failed_ = true;
        failure_ = fmt::format(
            "journal {}: the group at offset {} of segment {} is durable but updating the index failed ({}); "
            "reopening the journal recovers it",
            directory_.string(), start, active_->path.filename().string(), what);
        fail_written(reject(storage_errc::journal_failed,
                            failure_ + "; the journal is now failed: close it and reopen to recover"));
        break;
    }
    return;
  }
  // Step 6: the group is settled either way; reclaiming is housekeeping.
  if (deleted) {
    try {
      reclaim_segments();
    } catch (...) {
      warn(fmt::format("journal {}: removing fully deleted segments failed ({}); open retries it", directory_.string(),
                       current_exception_text()));
    }
  }
}

bool file_journal::write_group(std::span<write_request> group, std::span<storage_status> results, group_stage& stage,
                               std::uint64_t& start) {
  // Step 1: validation against stored and earlier-in-group numbers.
  struct tentative_state {
    std::uint64_t highest;
    std::uint64_t deleted_to;
  };
  std::unordered_map<std::string_view, tentative_state> tentative;
  std::vector<iovec> pieces;
  std::size_t total = 0;
  for (std::size_t i = 0; i < group.size(); ++i) {
    write_request& request = group[i];
    auto [state, inserted] = tentative.try_emplace(request.persistence_id, tentative_state{0, 0});
    if (inserted) {
      // Reading index_ without the lock is safe: only this thread writes it.
      auto it = index_.find(request.persistence_id);
      if (it != index_.end()) state->second = {it->second.highest, it->second.deleted_to};
    }
    tentative_state& id = state->second;
    if (request.kind == record_kind::event) {
      if (request.first_sequence_nr != id.highest + 1) {
        results[i] = reject(storage_errc::sequence_conflict,
                            fmt::format("journal append for persistence id {}: sequence numbers "
                                        "{}..{} do not follow the highest stored or pending "
                                        "number {}",
                                        request.persistence_id, request.first_sequence_nr,
                                        request.last_sequence_nr, id.highest));
        continue;
      }
      id.highest = request.last_sequence_nr;
    } else {
      std::uint64_t to = std::min(request.last_sequence_nr, id.highest);
      if (to <= id.deleted_to) continue;  // nothing new to delete: succeeds as is
      id.deleted_to = to;
      request.first_sequence_nr = to;
      append_record(request.encoded, record_kind::deletion, request.persistence_id, to, {}, 0, {});
      request.record_sizes.assign(1, static_cast<std::uint32_t>(request.encoded.size()));
    }
    pieces.push_back({request.encoded.data(), request.encoded.size()});
    total += request.encoded.size();
  }
  if (pieces.empty()) return false;

  // Step 2: rotation.
  try {
    rotate_if_full();
  } catch (const storage_error& error) {
    for (std::size_t i = 0; i < group.size(); ++i) {
      if (results[i].has_value() && !group[i].encoded.empty()) {
        results[i] = reject(error.code(), error.what());
      }
    }
    return false;
  }

  // Steps 3 and 4: one write, one sync for the whole group.
  stage = group_stage::writing;
  start = active_->size;
  zero_ahead(start + total);
  int error = write_all_at(active_->fd.get(), pieces, start);
  std::string_view action = "write";
  if (error == 0) {
    error = sync_data(active_->fd.get(), !options_.unsafe_no_sync);
    action = "fdatasync";
  }
  if (error != 0) {
    storage_status status =
        fail_write(start, errc_for_write(error),
                   fmt::format("journal segment {}: {} of {} bytes at offset {} failed: {}",
                               active_->path.filename().string(), action, total, start, errno_text(error)),
                   action == "fdatasync");
    for (std::size_t i = 0; i < group.size(); ++i) {
      if (results[i].has_value() && !group[i].encoded.empty()) results[i] = status;
    }
    return false;
  }
  active_->size = start + total;
  active_->zeroed_to = std::max(active_->zeroed_to, active_->size);

  // Step 5: publish to readers.
  stage = group_stage::publishing;
  return apply_group(group, results, start);
}

bool file_journal::apply_group(std::span<write_request> group, std::span<storage_status> results,
                               std::uint64_t start_offset) {
  bool deleted = false;
  std::uint64_t offset = start_offset;
  {
    std::unique_lock lock(index_mutex_);
    for (std::size_t i = 0; i < group.size(); ++i) {
      write_request& request = group[i];
      if (!results[i].has_value() || request.encoded.empty()) continue;
      id_index& id = index_.try_emplace(request.persistence_id).first->second;
      auto& summary = active_->summary[request.persistence_id];
      if (request.kind == record_kind::event) {
        std::uint64_t seq = request.first_sequence_nr;
        for (std::uint32_t size : request.record_sizes) {
          id.entries.push_back({seq++, offset, active_->number, size});
          offset += size;
        }
        id.highest = request.last_sequence_nr;
        summary.max_event = request.last_sequence_nr;
        if (summary.first_event == 0) summary.first_event = request.first_sequence_nr;
        summary.event_count += request.record_sizes.size();
      } else {
        std::uint64_t to = request.first_sequence_nr;
        id.deleted_to = to;
        auto keep = std::upper_bound(
            id.entries.begin(), id.entries.end(), to,
            [](std::uint64_t seq, const index_entry& e) { return seq < e.sequence_nr; });
        id.entries.erase(id.entries.begin(), keep);
        std::erase_if(id.pending, [to](const pending_run& r) { return r.last <= to; });
        for (pending_run& r : id.pending) r.first = std::max(r.first, to + 1);
        summary.max_deletion = to;
        offset += request.encoded.size();
        deleted = true;
      }
    }
  }
  return deleted;
}

void file_journal::reclaim_segments() {
  std::vector<std::shared_ptr<segment>> removable;
  for (const auto& [number, seg] : segments_) {
    if (seg == active_) continue;
    bool dead = std::all_of(seg->summary.begin(), seg->summary.end(), [&](const auto& item) {
      auto it = index_.find(item.first);
      if (it == index_.end()) return false;
      // The newest deletion mark of an id must survive: it carries
      // deleted_to (and highest, when everything was deleted).
      return item.second.max_event <= it->second.deleted_to &&
             (item.second.max_deletion == 0 || item.second.max_deletion < it->second.deleted_to);
    });
    if (dead) removable.push_back(seg);
  }
  if (removable.empty()) return;
  {
    std::unique_lock lock(index_mutex_);
    for (const auto& seg : removable) segments_.erase(seg->number);
  }
  try {
    for (const auto& seg : removable) {
      if (::unlink(seg->path.c_str()) != 0) {
        warn(fmt::format("journal {}: cannot remove fully deleted segment {}: {}",
                         directory_.string(), seg->path.filename().string(), errno_text(errno)));
      }
      (void)::unlink((directory_ / summary_file_name(seg->number)).c_str());  // open removes an orphan too
    }
    sync_directory(directory_, !options_.unsafe_no_sync);
  } catch (const storage_error& error) {
    // The deletion marks are durable already; a segment that reappears
    // after a crash is filtered by them and removed again later.
    warn(error.what());
  }
}

void file_journal::warn(std::string_view message) const noexcept {
  // Called from the writer thread, which must outlive what on_warning throws.
  try {
    if (options_.on_warning) {
      options_.on_warning(message);
      return;
    }
  } catch (...) {
  }
  std::fprintf(stderr, "weft: %.*s\n", static_cast<int>(message.size()), message.data());
}

}  // namespace weft::persistence::detail

namespace weft::persistence {

std::unique_ptr<journal> open_file_journal(const std::filesystem::path& directory,
                                           journal_options options) {
  return std::make_unique<detail::file_journal>(directory, std::move(options));
}

}  // namespace weft::persistence
