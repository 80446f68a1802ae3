#pragma once

// A journal in one SQLite database (WAL mode, synchronous=FULL), behind the
// same interface and with the same group commit as the file journal: each
// group of appends is one transaction and so one WAL sync.

#include <weft/persistence/journal.hpp>

#include <cstddef>
#include <filesystem>
#include <memory>

namespace weft::persistence {

struct sqlite_journal_options {
  std::size_t max_group_events = 10000;
};

// Opens or creates the database file. Throws storage_error on failure.
std::unique_ptr<journal> open_sqlite_journal(const std::filesystem::path& database_file,
                                             sqlite_journal_options options = {});

}  // namespace weft::persistence
