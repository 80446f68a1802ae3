// The registry's actor (registry.hpp): it monitors the actors that
// register and removes their entries when they exit. The table itself is
// written by the registering actors under its exclusive lock.
//
// Why no entry of a dead actor stays behind:
//   1. register_key inserts the entry and, if it is the owner's first,
//      sends watch_request{owner} to the registry actor read from the slot
//      under the same lock (registry_table::add).
//   2. The registry actor monitors each owner once (monitored_). A watch
//      for an owner that already exited still gets a down (noproc).
//   3. The down removes every entry of the owner. The owner's inserts all
//      happened before it exited, hence before the down was sent, so the
//      removal sees them all.
//   4. An owner that unregisters everything stays monitored (its next
//      first entry sends another watch, which is then a no-op) until it
//      exits: one monitor per live owner, never one per entry.
//   5. A restarted registry actor monitors every owner in the table
//      (rebuild), and the slot is read under the table lock in step 1, so
//      an entry added during the restart is either in the rebuild's view
//      or watched by the new actor.

#include <weft/actors/registry.hpp>

#include <weft/runtime/actor.hpp>
#include <weft/runtime/protocol.hpp>

#include <unordered_set>

namespace weft::actors {

std::string_view to_string(registry_keys k) noexcept {
  switch (k) {
    case registry_keys::unique:
      return "unique";
    case registry_keys::duplicate:
      return "duplicate";
  }
  return "unknown";
}

std::string_view to_string(registry_errc e) noexcept {
  switch (e) {
    case registry_errc::already_registered:
      return "already_registered";
    case registry_errc::already_running:
      return "already_running";
  }
  return "unknown";
}

namespace detail {

std::string_view registry_errc_name(int code) noexcept {
  return to_string(static_cast<registry_errc>(code));
}

namespace {

struct watch_request {
  pid owner;
};
struct monitors_request {};

struct registry_protocol : weft::protocol<void(watch_request), std::size_t(monitors_request)> {};

using table_ptr = std::shared_ptr<registry_table_base>;

std::string label(const registry_options& o) {
  return o.name.empty() ? std::string("registry") : "registry '" + o.name + "'";
}

class registry_actor {
 public:
  explicit registry_actor(table_ptr table) : table_(std::move(table)) {}
  registry_actor(const registry_actor&) = delete;
  registry_actor& operator=(const registry_actor&) = delete;
  ~registry_actor() {
    if (me_) table_->slot.clear_if(me_);
  }

  behavior_of<registry_protocol> make_behavior(context& self) {
    self_ = &self;
    me_ = self.self();
    self.set_label(label(table_->options));
    for (const pid& owner : table_->owners())
      watch(owner);
    return {
        [this](watch_request r) { watch(r.owner); },
        [this](monitors_request) { return monitored_.size(); },
        [this](const down_msg& d) {
          if (monitored_.erase(d.who) != 0) table_->remove_owner(d.who);
        },
    };
  }

  void on_exit(context&, const exit_reason& reason) {
    if (reason.is_clean_stop()) table_->clear();  // a crash keeps it for the restart
  }

 private:
  void watch(const pid& owner) {
    if (monitored_.insert(owner).second) self_->monitor(owner);
  }

  table_ptr table_;
  context* self_ = nullptr;
  pid me_;
  std::unordered_set<pid> monitored_;
};

spawn_options spawn_opts(const registry_options& o) {
  spawn_options s;
  s.name = o.name;
  // A lost or blocked watch request would leave entries of a dead actor
  // behind: the registry actor's mailbox never refuses one.
  s.mailbox_capacity = unbounded;
  return s;
}

error already_running(const registry_options& o) {
  return error(registry_errc::already_running, label(o) + ": already running; one instance per registry handle");
}

}  // namespace

expected<void> start_registry(runtime& rt, const table_ptr& table) {
  bool already = false;
  table->slot.start(
      rt, [&]() -> pid { return rt.spawn(make_actor<registry_actor>(table), spawn_opts(table->options)); }, already);
  if (already) return already_running(table->options);
  return {};
}

expected<void> start_registry_link(context& self, const table_ptr& table) {
  bool already = false;
  table->slot.start(
      self.system(),
      [&]() -> pid { return self.spawn_link(make_actor<registry_actor>(table), spawn_opts(table->options)); }, already);
  if (already) return already_running(table->options);
  return {};
}

sup::child_spec registry_child_spec(std::string id, sup::child_options options, const table_ptr& table) {
  spawn_options spawn = options.spawn;
  const spawn_options defaults = spawn_opts(table->options);
  spawn.name = defaults.name;
  spawn.mailbox_capacity = defaults.mailbox_capacity;
  return sup::child_spec{
      .id = std::move(id),
      .start = [table, spawn](sup::child_starter& s) -> sup::start_result {
        bool already = false;
        pid p = table->slot.start(
            s.self().system(), [&]() -> pid { return s.spawn_link(make_actor<registry_actor>(table), spawn); },
            already);
        if (already) return sup::start_result::error(already_running(table->options).to_string());
        return p;
      },
      .restart = options.restart,
      .shutdown = options.shutdown,
      .type = sup::child_type::worker,
      .name = table->options.name,
      .backoff = options.backoff,
  };
}

void watch_owner(context& self, const pid& registry_actor, const pid& owner) {
  // A dead registry actor: the entry waits for a restart's rebuild.
  (void)self.send(ref<registry_protocol>::adopt_checked(registry_actor), watch_request{owner});
}

expected<std::size_t> registry_monitors(context& self, const pid& registry_actor) {
  return self.ask(ref<registry_protocol>::adopt_checked(registry_actor), monitors_request{});
}

error registry_not_running(const registry_options& options) {
  return error(ask_errc::no_actor, label(options) + ": its actor is not running (start it, or wait for its restart)");
}

error key_taken(const registry_options& options, const pid& owner) {
  return error(registry_errc::already_registered,
               label(options) + ": the key is held by " + owner.to_string() + " (unique keys)");
}

}  // namespace detail
}  // namespace weft::actors
