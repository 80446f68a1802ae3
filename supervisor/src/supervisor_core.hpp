#pragma once
// supervisor_core: the state and the handlers of one supervisor actor.
// Owner: that actor only (every member runs inside it).
//
// Children live in `children_`, in start order for the static strategies
// (any order for dynamic, which removes by swapping with the last), with
// lookups by pid (exit signals), by key (timers and retries, which must
// not reach a child deleted meanwhile) and by id.

#include "protocol.hpp"

#include <weft/runtime/behavior.hpp>
#include <weft/runtime/clock.hpp>
#include <weft/runtime/context.hpp>
#include <weft/supervisor/supervisor.hpp>

#include <any>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace weft::sup::detail {

struct child {
  std::uint64_t key = 0;
  std::shared_ptr<const child_spec> spec;
  std::any args;  // dynamic children: what start_child was given
  pid current;    // empty unless running
  std::size_t index = 0;
  std::uint32_t restarts = 0;
  backoff_state backoff;
  std::chrono::steady_clock::time_point started_at{};
  std::uint64_t pending_batch = 0;  // != 0: waiting to be restarted
};

class supervisor_core {
 public:
  supervisor_core(supervisor_spec spec, pid parent);

  // The actor's function: init, then the behavior.
  behavior run(context& self);

 private:
  using time_point = std::chrono::steady_clock::time_point;

  // -- init and the behavior (supervisor_core.cpp) --
  std::optional<std::string> init(context& self);
  behavior running_behavior(context& self);
  behavior failed_behavior(context& self, std::string error);

  // -- children --
  child& add_child(std::shared_ptr<const child_spec> spec, std::any args);
  void remove_child(child& c);
  child* find_id(const std::string& id);
  // Runs c's start function; an actor it spawns starts with `restarts`.
  start_result start_process(context& self, child& c, std::uint32_t restarts);
  void mark_running(context& self, child& c, const pid& who, std::string_view event);

  // -- restarts --
  void on_exit(context& self, const exit_msg& m);
  void restart_after_failure(context& self, child& failed);
  void restart_group(context& self, std::vector<child*>& group, child& trigger);
  void start_group(context& self, std::vector<child*>& group);
  void schedule_batch(context& self, const std::vector<child*>& group, std::chrono::nanoseconds delay, bool retry);
  std::vector<child*> take_batch(std::uint64_t batch);
  [[noreturn]] void give_up(context& self);
  [[noreturn]] void stop_self(context& self, exit_reason reason);

  // -- requests --
  std::vector<child_info> which_children() const;
  child_counts count_children() const;
  expected<pid> start_new(context& self, std::shared_ptr<const child_spec> spec, std::any args);
  expected<void> terminate(context& self, const terminate_child_request& r);
  expected<pid> restart_stopped(context& self, const std::string& id);
  expected<void> delete_stopped(const std::string& id);

  // -- the shutdown protocol (shutdown.cpp) --
  // Stops `batch` in parallel (each with its own shutdown spec); use a
  // batch of one for ordered stops. Running children only.
  void stop_batch(context& self, const std::vector<child*>& batch);
  void stop_one(context& self, child& c);
  // Every running child: reverse start order, or all at once (dynamic).
  void stop_all(context& self);

  // -- helpers --
  // The spec's hook, else the runtime's clock (weft/runtime/clock.hpp).
  time_point now() const { return spec_.clock ? spec_.clock() : clock_->now(); }
  double random_unit();
  bool dynamic() const noexcept { return spec_.strategy == restart_strategy::dynamic; }
  void report(context& self, std::string_view kind, const pid& who, std::string text);
  std::string describe() const;
  std::string label(const child& c) const;

  supervisor_spec spec_;
  std::shared_ptr<const child_spec> dynamic_template_;
  pid parent_;
  pid self_pid_;
  const weft::clock* clock_ = nullptr;  // the runtime's, set in init
  restart_intensity intensity_;
  std::vector<std::unique_ptr<child>> children_;
  std::unordered_map<pid, child*> by_pid_;
  std::unordered_map<std::uint64_t, child*> by_key_;
  std::unordered_map<std::uint64_t, std::vector<std::uint64_t>> batches_;  // pending restarts
  std::uint64_t next_key_ = 1;
  std::uint64_t next_batch_ = 1;
  std::uint64_t total_restarts_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace weft::sup::detail
