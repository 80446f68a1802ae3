#pragma once
// weft::actors::registry<Key, Value> — a local key/value registry of
// actors, with unique or duplicate keys (Elixir's Registry).
//
//   an actor (its own entries)        the table (shared)          the registry actor
//   --------------------------        ------------------          ------------------
//   reg.register_key(self, k, v) ---> entry (self, v) under k,
//                                     exclusive lock; the
//                                     actor's first key: ---------> monitors it (once)
//   reg.unregister_key(self, k) ----> its entries under k go
//   the actor exits ---------------------------------------------> down: all its
//                                                                  entries go
//   any thread: lookup, dispatch,
//   count, keys(pid) -------------> shared lock, a copy
//
// The table belongs to the registry object and is read under a shared
// lock, so reads are cheap, never wait for a mailbox, and work from any
// thread (a plain thread needs no scoped_actor to read). Writes happen in
// the caller, under the exclusive lock: a register_key that returned is
// visible to every later lookup. The registry's actor does one thing:
// it monitors each actor that registered, and removes that actor's
// entries when it exits.
//
// Keys: `unique` (one entry per key: a second register_key of a held key
// fails with already_registered, naming the holder, also for the holder
// itself) or `duplicate` (any number of entries per key, also several
// from one actor: a pub/sub-like directory), fixed at construction.
//
// Between an actor's exit and the registry actor handling its down
// message, lookups may still return the dead actor's entries (Elixir's
// registry has the same window): a send to it is a dead letter, never a
// crash.
//
// Restarts: a supervised registry (child_spec) keeps its table across a
// restart of its actor; the new actor monitors every owner in the table
// again (one that exited meanwhile is removed at once). While no actor
// runs, register_key fails (ask_errc::no_actor) and reads answer from the
// table as it was. A clean stop (normal, shutdown) empties the table.
//
// Key needs std::hash and ==; Key and Value are copied out by reads.
//
// Who may call what: register_key and unregister_key act for the calling
// actor (its context: an actor, or a thread's scoped_actor); reads, start
// and child_spec: any thread.

#include <weft/actors/detail/instance_slot.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/error.hpp>
#include <weft/runtime/expected.hpp>
#include <weft/runtime/pid.hpp>
#include <weft/runtime/runtime.hpp>
#include <weft/supervisor/child_spec.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace weft::actors {

enum class registry_keys : std::uint8_t {
  unique,     // one entry per key
  duplicate,  // any number of entries per key
};
std::string_view to_string(registry_keys k) noexcept;

struct registry_options {
  registry_keys keys = registry_keys::unique;
  // Registered name of the registry's actor (empty: none).
  std::string name{};
};

// What registry calls fail with (besides ask_errc::no_actor when the
// registry's actor is not running).
enum class registry_errc : std::uint8_t {
  already_registered = 1,  // unique keys: the key has an entry (the detail names its owner)
  already_running,         // start: this registry's actor runs already
};
std::string_view to_string(registry_errc e) noexcept;

namespace detail {
std::string_view registry_errc_name(int code) noexcept;
inline constexpr error_domain registry_domain{error_category::actors, &registry_errc_name};
}  // namespace detail

}  // namespace weft::actors

template <>
struct weft::error_code_traits<weft::actors::registry_errc> {
  static constexpr const error_domain* domain = &weft::actors::detail::registry_domain;
};

namespace weft::actors {

struct registry_stats {
  std::size_t entries = 0;   // all entries
  std::size_t keys = 0;      // keys with at least one entry
  std::size_t owners = 0;    // actors with at least one entry
  std::size_t monitors = 0;  // actors the registry's actor monitors (owners now, or since their last registration)
};

namespace detail {

// The part of a registry the (untyped) registry actor works on.
class registry_table_base {
 public:
  explicit registry_table_base(registry_options o) : options(std::move(o)) {}
  virtual ~registry_table_base() = default;
  registry_table_base(const registry_table_base&) = delete;
  registry_table_base& operator=(const registry_table_base&) = delete;

  // -- the registry actor --
  virtual void remove_owner(const pid& who) = 0;
  virtual std::vector<pid> owners() const = 0;
  virtual void clear() = 0;
  // -- any thread --
  virtual registry_stats counts() const = 0;

  const registry_options options;
  instance_slot slot;
};

// Runs the registry actor for `table` (registry.cpp).
expected<void> start_registry(runtime& rt, const std::shared_ptr<registry_table_base>& table);
expected<void> start_registry_link(context& self, const std::shared_ptr<registry_table_base>& table);
sup::child_spec registry_child_spec(std::string id, sup::child_options options,
                                    const std::shared_ptr<registry_table_base>& table);
// Asks the registry actor to monitor `owner` (a send; its mailbox is unbounded).
void watch_owner(context& self, const pid& registry_actor, const pid& owner);
expected<std::size_t> registry_monitors(context& self, const pid& registry_actor);
error registry_not_running(const registry_options& options);
error key_taken(const registry_options& options, const pid& owner);

template <class Key, class Value>
class registry_table final : public registry_table_base {
 public:
  struct entry {
    pid owner;
    Value value;
  };

  using registry_table_base::registry_table_base;

  void remove_owner(const pid& who) override {
    std::unique_lock lock(mutex_);
    auto o = by_owner_.find(who);
    if (o == by_owner_.end()) return;
    for (const Key& k : o->second)
      erase_entries(k, who);
    by_owner_.erase(o);
  }
  std::vector<pid> owners() const override {
    std::shared_lock lock(mutex_);
    std::vector<pid> out;
    out.reserve(by_owner_.size());
    for (const auto& [p, keys] : by_owner_)
      out.push_back(p);
    return out;
  }
  void clear() override {
    std::unique_lock lock(mutex_);
    by_key_.clear();
    by_owner_.clear();
    entries_ = 0;
  }
  registry_stats counts() const override {
    std::shared_lock lock(mutex_);
    return registry_stats{entries_, by_key_.size(), by_owner_.size(), 0};
  }

  enum class added : std::uint8_t { ok, not_running, taken };
  // Adds (owner, value) under key. `actor` is the registry actor that
  // must watch owner, `first` whether it must be told to (owner's first
  // entry). Reading the slot under the table's lock orders this against
  // a restarted actor's rebuild: either the rebuild sees the entry, or
  // this sees the new actor. `taken`: `holder` holds the unique key.
  added add(const Key& key, const pid& owner, Value value, pid& actor, bool& first, pid& holder) {
    std::unique_lock lock(mutex_);
    actor = slot.current();
    if (!actor) return added::not_running;
    auto [it, fresh] = by_key_.try_emplace(key);
    auto& list = it->second;
    if (options.keys == registry_keys::unique && !list.empty()) {
      holder = list.front().owner;
      return added::taken;
    }
    list.push_back(entry{owner, std::move(value)});
    auto& keys = by_owner_[owner];
    first = keys.empty();
    keys.push_back(key);
    ++entries_;
    return added::ok;
  }
  std::size_t remove(const Key& key, const pid& owner) {
    std::unique_lock lock(mutex_);
    auto o = by_owner_.find(owner);
    if (o == by_owner_.end()) return 0;
    auto& keys = o->second;
    keys.erase(std::remove(keys.begin(), keys.end(), key), keys.end());
    if (keys.empty()) by_owner_.erase(o);
    return erase_entries(key, owner);
  }

  std::vector<entry> lookup(const Key& key) const {
    std::shared_lock lock(mutex_);
    auto it = by_key_.find(key);
    return it == by_key_.end() ? std::vector<entry>() : it->second;
  }
  std::size_t count() const {
    std::shared_lock lock(mutex_);
    return entries_;
  }
  std::size_t count(const Key& key) const {
    std::shared_lock lock(mutex_);
    auto it = by_key_.find(key);
    return it == by_key_.end() ? 0 : it->second.size();
  }
  std::vector<Key> keys(const pid& owner) const {
    std::shared_lock lock(mutex_);
    auto it = by_owner_.find(owner);
    return it == by_owner_.end() ? std::vector<Key>() : it->second;
  }

 private:
  // Under the exclusive lock: drops owner's entries under key; erases a
  // key left without entries.
  std::size_t erase_entries(const Key& key, const pid& owner) {
    auto it = by_key_.find(key);
    if (it == by_key_.end()) return 0;
    auto& list = it->second;
    const std::size_t before = list.size();
    list.erase(std::remove_if(list.begin(), list.end(), [&](const entry& e) { return e.owner == owner; }), list.end());
    const std::size_t removed = before - list.size();
    entries_ -= removed;
    if (list.empty()) by_key_.erase(it);
    return removed;
  }

  mutable std::shared_mutex mutex_;
  std::unordered_map<Key, std::vector<entry>> by_key_;
  std::unordered_map<pid, std::vector<Key>> by_owner_;  // a key once per entry
  std::size_t entries_ = 0;
};

}  // namespace detail

// A registry's handle: made before its actor runs (start it, or give its
// child_spec to a supervisor); copies share the table and the running
// instance.
template <class Key, class Value = std::monostate>
class registry {
 public:
  using entry = typename detail::registry_table<Key, Value>::entry;

  explicit registry(registry_options options = {})
      : table_(std::make_shared<detail::registry_table<Key, Value>>(std::move(options))) {}

  // -- any thread: running it (one instance at a time) ----------------------

  expected<void> start(runtime& rt) const { return detail::start_registry(rt, table_); }
  expected<void> start_link(context& self) const { return detail::start_registry_link(self, table_); }
  sup::child_spec child_spec(std::string id, sup::child_options options = {}) const {
    return detail::registry_child_spec(std::move(id), std::move(options), table_);
  }

  // -- the calling actor, for itself ----------------------------------------

  // Registers the caller under `key` with `value`. Errors:
  // already_registered (unique keys), ask_errc::no_actor (not running).
  expected<void> register_key(context& self, Key key, Value value = Value()) const {
    using added = typename detail::registry_table<Key, Value>::added;
    const pid me = self.self();
    pid actor;
    pid holder;
    bool first = false;
    switch (table_->add(key, me, std::move(value), actor, first, holder)) {
      case added::not_running:
        return detail::registry_not_running(table_->options);
      case added::taken:
        return detail::key_taken(table_->options, holder);
      case added::ok:
        break;
    }
    if (first) detail::watch_owner(self, actor, me);
    return {};
  }
  // Removes the caller's entries under `key`; how many there were.
  std::size_t unregister_key(context& self, const Key& key) const { return table_->remove(key, self.self()); }

  // -- any thread: reads ----------------------------------------------------

  // The entries under `key`, in registration order.
  std::vector<entry> lookup(const Key& key) const { return table_->lookup(key); }
  // Calls fn(owner, value) for each entry under `key` (on a copy, outside
  // the lock: fn may use the registry); how many entries there were.
  template <class F>
  std::size_t dispatch(const Key& key, F&& fn) const {
    const std::vector<entry> entries = table_->lookup(key);
    for (const entry& e : entries)
      fn(e.owner, e.value);
    return entries.size();
  }
  // Entries in all, or under `key`.
  std::size_t count() const { return table_->count(); }
  std::size_t count(const Key& key) const { return table_->count(key); }
  // The keys `owner` holds entries under (a key once per entry).
  std::vector<Key> keys(const pid& owner) const { return table_->keys(owner); }

  registry_keys mode() const noexcept { return table_->options.keys; }
  // The registry's actor (empty when not running).
  pid actor() const { return table_->slot.current(); }

  // -- the caller's context -------------------------------------------------

  // The table's counts, and the registry actor's monitors (an ask).
  expected<registry_stats> stats(context& self) const {
    auto monitors = detail::registry_monitors(self, actor());
    if (!monitors) return monitors.error();
    registry_stats s = table_->counts();
    s.monitors = *monitors;
    return s;
  }

 private:
  std::shared_ptr<detail::registry_table<Key, Value>> table_;
};

}  // namespace weft::actors
