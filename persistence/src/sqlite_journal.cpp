// The SQLite journal. Same contract as the file journal; the group commit
// queue is shared (group_commit.hpp) and each group is one transaction:
// 1. BEGIN IMMEDIATE on the writer connection (writer thread only).
// 2. Validate each request against the cached highest number of its id
//    (loaded from the ids table on first use); insert its events or delete
//    its range, and upsert its ids row.
// 3. COMMIT: in WAL mode with synchronous=FULL, the commit syncs the WAL
//    once for the whole group.
// 4. Any failure (an exception of any type before COMMIT) rolls the whole
//    group back, fails every request in it and drops the cache, which is
//    then reloaded from the database; the journal stays usable.
// Readers use a second connection (WAL lets them run during a write), so
// they only ever see committed groups.

#include <weft/persistence/sqlite_journal.hpp>

#include "group_commit.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace weft::persistence::detail {
namespace {

class statement {
 public:
  statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) != SQLITE_OK) {
      throw storage_error(
          storage_errc::io_error,
          fmt::format("sqlite journal: cannot prepare '{}': {}", sql, sqlite3_errmsg(db)));
    }
  }
  ~statement() { sqlite3_finalize(stmt_); }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;

  statement& reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    return *this;
  }
  statement& bind(int i, std::string_view text) {
    sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
    return *this;
  }
  statement& bind(int i, std::uint64_t value) {
    sqlite3_bind_int64(stmt_, i, static_cast<sqlite3_int64>(value));
    return *this;
  }
  statement& bind(int i, std::span<const std::byte> blob) {
    sqlite3_bind_blob(stmt_, i, blob.data(), static_cast<int>(blob.size()), SQLITE_STATIC);
    return *this;
  }
  // True while rows come; throws on error.
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw storage_error(rc == SQLITE_FULL ? storage_errc::disk_full : storage_errc::io_error,
                        fmt::format("sqlite journal: {}", sqlite3_errmsg(db_)));
  }
  std::uint64_t column_u64(int i) {
    return static_cast<std::uint64_t>(sqlite3_column_int64(stmt_, i));
  }
  std::string_view column_text(int i) {
    auto text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
    return {text ? text : "", static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i))};
  }
  std::span<const std::byte> column_blob(int i) {
    auto blob = static_cast<const std::byte*>(sqlite3_column_blob(stmt_, i));
    return {blob, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i))};
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

struct connection {
  sqlite3* db = nullptr;
  explicit connection(const std::filesystem::path& file) {
    int rc =
        sqlite3_open_v2(file.c_str(), &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      std::string message = db ? sqlite3_errmsg(db) : "out of memory";
      sqlite3_close(db);
      throw storage_error(storage_errc::io_error, fmt::format("sqlite journal {}: cannot open: {}",
                                                              file.string(), message));
    }
    sqlite3_busy_timeout(db, 10000);
  }
  ~connection() { sqlite3_close(db); }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  void exec(const char* sql) {
    char* error = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
      std::string message = error ? error : "unknown error";
      sqlite3_free(error);
      throw storage_error(storage_errc::io_error,
                          fmt::format("sqlite journal: '{}' failed: {}", sql, message));
    }
  }
};

struct sqlite_request {
  bool is_deletion = false;
  std::string persistence_id;
  std::uint64_t to_sequence_nr = 0;
  std::vector<persistent_event> events;
  completion done;

  std::size_t byte_size() const { return 1; }  // groups are limited by count
};

class sqlite_journal final : public journal {
 public:
  sqlite_journal(const std::filesystem::path& file, sqlite_journal_options options)
      : file_(file), writer_(file), reader_(file) {
    writer_.exec("PRAGMA journal_mode=WAL");
    writer_.exec("PRAGMA synchronous=FULL");
    writer_.exec(
        "CREATE TABLE IF NOT EXISTS journal(persistence_id TEXT NOT NULL, sequence_nr INTEGER "
        "NOT NULL, manifest TEXT NOT NULL, schema_version INTEGER NOT NULL, payload BLOB NOT "
        "NULL, PRIMARY KEY(persistence_id, sequence_nr)) WITHOUT ROWID");
    writer_.exec(
        "CREATE TABLE IF NOT EXISTS ids(persistence_id TEXT PRIMARY KEY, highest INTEGER NOT "
        "NULL, deleted_to INTEGER NOT NULL) WITHOUT ROWID");
    reader_.exec("PRAGMA synchronous=FULL");
    insert_ = std::make_unique<statement>(
        writer_.db,
        "INSERT INTO journal(persistence_id, sequence_nr, manifest, schema_version, payload) "
        "VALUES(?1, ?2, ?3, ?4, ?5)");
    upsert_id_ = std::make_unique<statement>(
        writer_.db,
        "INSERT INTO ids(persistence_id, highest, deleted_to) VALUES(?1, ?2, ?3) "
        "ON CONFLICT(persistence_id) DO UPDATE SET highest = ?2, deleted_to = ?3");
    delete_ = std::make_unique<statement>(
        writer_.db, "DELETE FROM journal WHERE persistence_id = ?1 AND sequence_nr <= ?2");
    writer_lookup_ = std::make_unique<statement>(
        writer_.db, "SELECT highest, deleted_to FROM ids WHERE persistence_id = ?1");
    reader_highest_ = std::make_unique<statement>(
        reader_.db, "SELECT highest FROM ids WHERE persistence_id = ?1");
    reader_events_ = std::make_unique<statement>(
        reader_.db,
        "SELECT sequence_nr, manifest, schema_version, payload FROM journal WHERE "
        "persistence_id = ?1 AND sequence_nr BETWEEN ?2 AND ?3 ORDER BY sequence_nr LIMIT ?4");
    begin_ = std::make_unique<statement>(writer_.db, "BEGIN IMMEDIATE");
    commit_ = std::make_unique<statement>(writer_.db, "COMMIT");
    queue_ = std::make_unique<group_commit_queue<sqlite_request>>(
        options.max_group_events,
        [this](std::span<sqlite_request> group, std::span<storage_status> results) {
          commit_group(group, results);
        });
  }

  ~sqlite_journal() override { close(); }

  void async_append(std::string_view persistence_id, std::span<const persistent_event> events,
                    completion done) override {
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (events[i].sequence_nr != events[0].sequence_nr + i || events[i].sequence_nr == 0) {
        return done(weft::error(storage_errc::invalid_argument,
                     fmt::format("journal append for persistence id {}: sequence numbers must be "
                                 "consecutive and start at 1 or more",
                                 persistence_id)));
      }
    }
    if (events.empty() || persistence_id.empty()) {
      return done(weft::error(storage_errc::invalid_argument, "journal append: empty batch or empty persistence id"));
    }
    sqlite_request request;
    request.persistence_id = persistence_id;
    request.events.assign(events.begin(), events.end());
    request.done = std::move(done);
    submit(request);
  }

  void async_delete_up_to(std::string_view persistence_id, std::uint64_t to_sequence_nr,
                          completion done) override {
    sqlite_request request;
    request.is_deletion = true;
    request.persistence_id = persistence_id;
    request.to_sequence_nr = to_sequence_nr;
    request.done = std::move(done);
    submit(request);
  }

  void read(std::string_view persistence_id, std::uint64_t from_sequence_nr,
            std::uint64_t to_sequence_nr, std::uint64_t max_count,
            const event_visitor& visit) override {
    std::lock_guard lock(reader_mutex_);
    // SQLite integers are signed: clamp the open-ended bounds.
    constexpr std::uint64_t largest = std::numeric_limits<std::int64_t>::max();
    auto& query = reader_events_->reset()
                      .bind(1, persistence_id)
                      .bind(2, from_sequence_nr)
                      .bind(3, std::min(to_sequence_nr, largest))
                      .bind(4, std::min(max_count, largest));
    while (query.step()) {
      visit(event_view{persistence_id, query.column_u64(0), query.column_text(1),
                       static_cast<std::uint32_t>(query.column_u64(2)), query.column_blob(3)});
    }
    query.reset();
  }

  std::uint64_t highest_sequence_nr(std::string_view persistence_id) override {
    std::lock_guard lock(reader_mutex_);
    auto& query = reader_highest_->reset().bind(1, persistence_id);
    std::uint64_t highest = query.step() ? query.column_u64(0) : 0;
    query.reset();
    return highest;
  }

  void close() override {
    if (queue_) queue_->close();
  }

 private:
  struct id_state {
    std::uint64_t highest = 0;
    std::uint64_t deleted_to = 0;
  };

  void submit(sqlite_request& request) {
    if (!queue_->submit(request)) {
      request.done(weft::error(storage_errc::closed, fmt::format("sqlite journal {}: closed", file_.string())));
    }
  }

  id_state& state_of(const std::string& persistence_id) {
    auto it = cache_.find(persistence_id);
    if (it != cache_.end()) return it->second;
    id_state state;
    auto& query = writer_lookup_->reset().bind(1, persistence_id);
    if (query.step()) state = {query.column_u64(0), query.column_u64(1)};
    query.reset();
    return cache_.emplace(persistence_id, state).first->second;
  }

  void commit_group(std::span<sqlite_request> group, std::span<storage_status> results) {
    try {
      begin_->reset().step();
      for (std::size_t i = 0; i < group.size(); ++i) {
        sqlite_request& request = group[i];
        id_state& state = state_of(request.persistence_id);
        if (request.is_deletion) {
          std::uint64_t to = std::min(request.to_sequence_nr, state.highest);
          if (to <= state.deleted_to) continue;
          delete_->reset().bind(1, request.persistence_id).bind(2, to).step();
          state.deleted_to = to;
        } else {
          if (request.events.front().sequence_nr != state.highest + 1) {
            results[i] = weft::error(storage_errc::sequence_conflict,
                          fmt::format("journal append for persistence id {}: sequence numbers "
                                      "{}.. do not follow the highest stored or pending number {}",
                                      request.persistence_id, request.events.front().sequence_nr,
                                      state.highest));
            continue;
          }
          for (const persistent_event& event : request.events) {
            insert_->reset()
                .bind(1, request.persistence_id)
                .bind(2, event.sequence_nr)
                .bind(3, event.manifest)
                .bind(4, std::uint64_t{event.schema_version})
                .bind(5, event.payload)
                .step();
          }
          state.highest = request.events.back().sequence_nr;
        }
        upsert_id_->reset()
            .bind(1, request.persistence_id)
            .bind(2, state.highest)
            .bind(3, state.deleted_to)
            .step();
      }
      commit_->reset().step();
    } catch (...) {
      // Nothing after COMMIT throws, so whatever was thrown (a failed
      // statement, an allocation) came before it: rolling back restores a
      // known state and the journal stays usable.
      sqlite3_exec(writer_.db, "ROLLBACK", nullptr, nullptr, nullptr);
      cache_.clear();
      storage_errc code = storage_errc::io_error;
      try {
        throw;
      } catch (const storage_error& error) {
        code = error.code();
      } catch (...) {
      }
      const std::string what = current_exception_text() + "; the group was rolled back";
      for (auto& result : results) {
        if (result.has_value()) result = weft::error(code, what);
      }
    }
  }

  const std::filesystem::path file_;
  connection writer_;  // writer thread only (after construction)
  connection reader_;  // guarded by reader_mutex_
  std::mutex reader_mutex_;
  std::unique_ptr<statement> insert_, upsert_id_, delete_, writer_lookup_, begin_, commit_;
  std::unique_ptr<statement> reader_highest_, reader_events_;
  std::unordered_map<std::string, id_state> cache_;  // writer thread only
  std::unique_ptr<group_commit_queue<sqlite_request>> queue_;
};

}  // namespace
}  // namespace weft::persistence::detail

namespace weft::persistence {

std::unique_ptr<journal> open_sqlite_journal(const std::filesystem::path& database_file,
                                             sqlite_journal_options options) {
  return std::make_unique<detail::sqlite_journal>(database_file, options);
}

}  // namespace weft::persistence
