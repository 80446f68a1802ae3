// The non-template half of persistent actors: the single-writer registry
// and the wait for a write. The protocol is described in
// include/weft/persistence/detail/persistent_engine.hpp.

#include <weft/persistence/detail/persistent_engine.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <utility>

namespace weft::persistence::detail {
namespace {

// Live writers, keyed by journal: two journals never share storage (the
// file journal holds an exclusive lock on its directory), so (journal, id)
// is exactly the scope within which sequence numbers must not be reused.
// It is process-wide because a journal may be shared by several runtimes.
struct writer_entry {
  std::uint64_t owner = 0;  // actor id, for the conflict message
  bool live = true;         // false: retired, waiting for its writes
};

struct writer_registry {
  std::mutex mutex;
  std::condition_variable released;
  std::map<std::pair<const journal*, std::string>, writer_entry> entries;
};

writer_registry& registry() {
  static writer_registry instance;
  return instance;
}

// What a write's completion shares with the waiting actor.
struct write_wait {
  std::atomic<bool> done{false};
  storage_status status;
};

}  // namespace

std::shared_ptr<writer_claim> writer_claim::acquire(const journal* j, std::string_view persistence_id, const pid& owner,
                                                    std::chrono::nanoseconds wait, std::string& error) {
  writer_registry& r = registry();
  std::unique_lock lock(r.mutex);
  auto key = std::make_pair(j, std::string(persistence_id));
  const bool free = r.released.wait_for(lock, wait, [&] {
    auto it = r.entries.find(key);
    return it == r.entries.end() || it->second.live;
  });
  auto it = r.entries.find(key);
  if (it != r.entries.end()) {
    error = free ? fmt::format(
                       "persistence id '{}' is already written by live actor #{} on this journal; a second writer "
                       "would reuse its sequence numbers, so this one does not start. Stop the first actor before "
                       "starting another with the same id, or use a different id",
                       persistence_id, it->second.owner)
                 : fmt::format(
                       "persistence id '{}': the write of its previous actor #{} did not complete within {} ms; not "
                       "starting, as recovery could miss that write. Is the journal's disk hanging?",
                       persistence_id, it->second.owner,
                       std::chrono::duration_cast<std::chrono::milliseconds>(wait).count());
    return nullptr;
  }
  r.entries.emplace(key, writer_entry{owner.id(), true});
  return std::make_shared<writer_claim>(j, std::string(persistence_id));
}

writer_claim::~writer_claim() {
  writer_registry& r = registry();
  {
    std::lock_guard lock(r.mutex);
    r.entries.erase(std::make_pair(journal_, id_));
  }
  r.released.notify_all();
}

void writer_claim::retire() noexcept {
  writer_registry& r = registry();
  std::lock_guard lock(r.mutex);
  auto it = r.entries.find(std::make_pair(journal_, id_));
  if (it != r.entries.end()) it->second.live = false;
}

storage_status append_and_wait(context& self, journal& j, const std::string& persistence_id,
                               std::vector<persistent_event>& events, std::shared_ptr<writer_claim> claim,
                               std::uint64_t token) {
  auto wait = std::make_shared<write_wait>();
  weft::runtime* system = &self.system();
  j.async_append(
      persistence_id, events,
      [wait, token, system, me = self.self(), claim = std::move(claim)](const storage_status& status) mutable {
        wait->status = status;
        // release pairs with the acquire below: status is visible.
        wait->done.store(true, std::memory_order_release);
        claim.reset();  // a successor may now recover and see this write
        (void)system->try_send(me, write_completed{token});
      });
  events.clear();
  // The wake-up message can be refused (a full mailbox, a draining
  // runtime); the bounded wait re-checks the flag, so the actor then
  // resumes within one poll interval instead of never.
  while (!wait->done.load(std::memory_order_acquire)) {
    (void)self.receive_if<write_completed>([token](const write_completed& w) { return w.token == token; },
                                           write_poll_interval);
  }
  return wait->status;
}

void delete_events(journal& j, const std::string& persistence_id, std::uint64_t up_to) {
  j.async_delete_up_to(persistence_id, up_to, [](const storage_status&) {});
}

void throw_decode_mismatch(std::string_view what, std::uint64_t sequence_nr, std::string_view manifest,
                           std::uint32_t version, std::string_view expected_manifest, std::uint32_t expected_version,
                           std::string_view hook) {
  throw storage_error(storage_errc::invalid_argument,
                      fmt::format("{} {} has manifest '{}' schema version {}, but this actor reads '{}' version {} and "
                                  "has no {} to convert it; set one (or fix the manifest/version options)",
                                  what, sequence_nr, manifest, version, expected_manifest, expected_version, hook));
}

void throw_foreign_exception(std::string_view who, std::uint64_t number) {
  throw std::runtime_error(number == 0
                               ? fmt::format("{} threw an exception not derived from std::exception", who)
                               : fmt::format("{} {} threw an exception not derived from std::exception", who, number));
}

std::uint64_t snapshot_retry_gap(std::uint64_t snapshot_every, std::uint64_t failures_in_row) noexcept {
  constexpr std::uint64_t cap = 65536;
  const std::uint64_t limit = std::max(snapshot_every, cap);
  std::uint64_t gap = std::max<std::uint64_t>(snapshot_every, 1);
  for (std::uint64_t doubled = 1; doubled < failures_in_row && gap < limit; ++doubled)
    gap *= 2;
  return std::min(gap, limit);
}

std::int64_t wall_clock_ms() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace weft::persistence::detail
