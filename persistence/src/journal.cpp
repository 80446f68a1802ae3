#include <weft/persistence/journal.hpp>

#include "group_commit.hpp"

#include <atomic>
#include <exception>
#include <memory>

namespace weft::persistence {
namespace {

// Shared with the completion so it stays alive until the writer thread has
// finished notifying, even if the waiter wakes early and returns.
struct blocking_result {
  std::atomic<bool> done{false};
  storage_status status;
};

void wait_for(const std::shared_ptr<blocking_result>& result) {
  result->done.wait(false, std::memory_order_acquire);
  if (!result->status) throw storage_error(result->status.error());
}

completion notify(const std::shared_ptr<blocking_result>& result) {
  return [result](const storage_status& status) {
    result->status = status;
    // release pairs with the acquire in wait_for: status is visible there.
    result->done.store(true, std::memory_order_release);
    result->done.notify_one();
  };
}

}  // namespace

std::string_view to_string(storage_errc code) noexcept {
  switch (code) {
    case storage_errc::io_error:
      return "I/O error";
    case storage_errc::disk_full:
      return "disk full";
    case storage_errc::sequence_conflict:
      return "sequence conflict";
    case storage_errc::invalid_argument:
      return "invalid argument";
    case storage_errc::corrupt:
      return "corrupt data";
    case storage_errc::journal_failed:
      return "journal failed";
    case storage_errc::closed:
      return "closed";
    case storage_errc::already_open:
      return "already open";
  }
  return "unknown";
}

namespace detail {
std::string_view storage_errc_name(int code) noexcept {
  switch (static_cast<storage_errc>(code)) {
    case storage_errc::io_error:
      return "io_error";
    case storage_errc::disk_full:
      return "disk_full";
    case storage_errc::sequence_conflict:
      return "sequence_conflict";
    case storage_errc::invalid_argument:
      return "invalid_argument";
    case storage_errc::corrupt:
      return "corrupt";
    case storage_errc::journal_failed:
      return "journal_failed";
    case storage_errc::closed:
      return "closed";
    case storage_errc::already_open:
      return "already_open";
  }
  return "unknown";
}
}  // namespace detail

void journal::append(std::string_view persistence_id, std::span<const persistent_event> events) {
  auto result = std::make_shared<blocking_result>();
  async_append(persistence_id, events, notify(result));
  wait_for(result);
}

void journal::delete_up_to(std::string_view persistence_id, std::uint64_t to_sequence_nr) {
  auto result = std::make_shared<blocking_result>();
  async_delete_up_to(persistence_id, to_sequence_nr, notify(result));
  wait_for(result);
}

std::vector<persistent_event> journal::read_all(std::string_view persistence_id,
                                                std::uint64_t from_sequence_nr,
                                                std::uint64_t to_sequence_nr) {
  std::vector<persistent_event> events;
  read(persistence_id, from_sequence_nr, to_sequence_nr, max_sequence_nr,
       [&](const event_view& event) { events.push_back(event.to_event()); });
  return events;
}

namespace detail {

std::size_t group_take_count(std::span<const std::size_t> queued_sizes,
                             std::size_t max_group_bytes) {
  std::size_t total = 0;
  std::size_t count = 0;
  for (std::size_t size : queued_sizes) {
    if (count > 0 && total + size > max_group_bytes) break;
    total += size;
    ++count;
  }
  return count;
}

std::string current_exception_text() noexcept {
  try {
    try {
      throw;
    } catch (const std::exception& e) {
      return e.what();
    } catch (...) {
      return "an exception not derived from std::exception";
    }
  } catch (...) {
    return {};
  }
}

}  // namespace detail
}  // namespace weft::persistence
