// Every documented options and spec struct (and a few messages users send),
// written the way the guides write them: C++20 designated initializers
// naming one or two fields and leaving the rest to their defaults. This
// project builds with -Wall -Wextra -Werror (CMakeLists.txt), so a public
// struct member without a default member initializer fails the build here
// with -Wmissing-field-initializers instead of warning in users' builds.
#include <weft/actors/backoff_buffer.hpp>
#include <weft/actors/circuit_breaker.hpp>
#include <weft/actors/deadline.hpp>
#include <weft/actors/pool.hpp>
#include <weft/actors/process_groups.hpp>
#include <weft/actors/pubsub.hpp>
#include <weft/actors/rate_limiter.hpp>
#include <weft/actors/registry.hpp>
#include <weft/actors/retry.hpp>
#include <weft/actors/router.hpp>
#include <weft/actors/startup.hpp>
#include <weft/actors/sticky.hpp>
#include <weft/persistence/file_journal.hpp>
#include <weft/persistence/persistent_actor.hpp>
#include <weft/persistence/saga.hpp>
#include <weft/persistence/sqlite_journal.hpp>
#include <weft/runtime/net.hpp>
#include <weft/runtime/weft.hpp>
#include <weft/shell/endpoint.hpp>
#include <weft/supervisor/supervisor.hpp>

#include <chrono>
#include <string>

namespace {

namespace wa = weft::actors;
namespace wp = weft::persistence;
using namespace std::chrono_literals;

struct order {
  int id = 0;
};
struct order_placed {
  int id = 0;
};

// The runtime: spawn and runtime options, sockets.
bool runtime_structs() {
  [[maybe_unused]] auto rt = weft::runtime_options{.workers = 2};
  [[maybe_unused]] auto strict = weft::runtime_options{.on_send_deadlock = weft::send_deadlock_action::fail};
  [[maybe_unused]] auto spawn = weft::spawn_options{.mailbox_capacity = 1 << 16, .name = "x"};
  [[maybe_unused]] auto labelled = weft::spawn_options{.label = "worker"};
  [[maybe_unused]] auto listen = weft::net::listen_options{.backlog = 16};
  return spawn.stack_size == 0 && !spawn.overflow && spawn.label.empty() && rt.clock == nullptr &&
         labelled.name.empty();
}

// Supervision: a tree in one expression.
bool supervisor_structs() {
  [[maybe_unused]] auto backoff = weft::sup::backoff_policy{.min_delay = 10ms};
  [[maybe_unused]] auto options = weft::sup::child_options{.name = "child"};
  [[maybe_unused]] auto spec = weft::sup::child_spec{.id = "child"};
  [[maybe_unused]] auto tree = weft::sup::supervisor_spec{
      .strategy = weft::sup::restart_strategy::one_for_all,
      .children = {weft::sup::child_spec{.id = "a", .restart = weft::sup::restart_type::transient}},
  };
  [[maybe_unused]] auto named = weft::sup::supervisor_spec{.name = "root"};
  return !options.shutdown && !options.backoff && spec.name.empty() && !spec.start && tree.name.empty() &&
         named.children.empty();
}

// Persistence: persistent actors, journals, sagas.
bool persistence_structs() {
  [[maybe_unused]] auto journal = wp::journal_options{.unsafe_no_sync = true};
  [[maybe_unused]] auto sqlite = wp::sqlite_journal_options{.max_group_events = 100};
  [[maybe_unused]] auto persistent = wp::persistent_options<int, order_placed>{.persistence_id = "orders"};
  [[maybe_unused]] auto snapshotting = wp::persistent_options<int, order_placed>{.snapshot_every = 1000};
  [[maybe_unused]] auto retry = wp::saga_retry{.maximum_attempts = 3};
  [[maybe_unused]] auto step = wp::saga_step<order>{.name = "reserve"};
  [[maybe_unused]] auto pivot = wp::saga_step<order>{.name = "charge", .pivot = true};
  [[maybe_unused]] auto saga = wp::saga_options{.journal = nullptr};
  [[maybe_unused]] auto limited = wp::saga_options{.max_running = 8};
  [[maybe_unused]] auto start = wp::start_saga{.id = "order-1"};
  [[maybe_unused]] auto signal = wp::signal_saga{.id = "order-1", .name = "paid"};
  [[maybe_unused]] auto event = wp::persistent_event{.sequence_nr = 1};
  return !journal.on_warning && !persistent.open_journal && !step.action && !step.compensation &&
         retry.non_retryable.empty() && !saga.on_write && signal.payload.empty() && event.payload.empty();
}

// The debug shell's endpoint.
bool shell_structs() {
  [[maybe_unused]] auto endpoint = weft::shell::endpoint_options{.allow_mutations = true};
  [[maybe_unused]] auto tcp = weft::shell::endpoint_options{.tcp_port = weft::shell::tcp_any_port};
  return endpoint.socket_path.empty() && !endpoint.tcp_port && endpoint.program.empty() && tcp.tcp_token.empty();
}

// weft::actors: the building blocks' options (docs/guide/actors/).
bool actors_structs() {
  [[maybe_unused]] auto pool = wa::pool_options{.max_workers = 4};
  [[maybe_unused]] auto broker = wa::pubsub::broker_options{.name = "events"};
  [[maybe_unused]] auto subscribe = wa::pubsub::subscribe_options{.buffer = 16};
  [[maybe_unused]] auto grouped = wa::pubsub::subscribe_options{.queue_group = "workers"};
  [[maybe_unused]] auto scope = wa::pg::scope_options{.name = "groups"};
  [[maybe_unused]] auto registry = wa::registry_options{.keys = wa::registry_keys::duplicate};
  [[maybe_unused]] auto sticky = wa::sticky_options{.idle_timeout = 1s};
  [[maybe_unused]] auto start = wa::start_options{.init_timeout = 5s};
  [[maybe_unused]] auto buffer = wa::backoff_buffer_options{.buffer_capacity = 10};
  [[maybe_unused]] auto bucket = wa::token_bucket_config{.rate = 100, .burst = 20};
  [[maybe_unused]] auto admission = wa::admission_options{.when_empty = wa::on_empty::reject};
  [[maybe_unused]] auto acquire = wa::acquire_options{.tokens = 2};
  [[maybe_unused]] auto breaker = wa::circuit_breaker_config{.consecutive_failures = 3};
  [[maybe_unused]] auto budget = wa::retry_budget_config{.ratio = 0.1};
  [[maybe_unused]] auto policy = wa::retry_policy{.max_attempts = 5};
  [[maybe_unused]] auto routee = wa::routee{.node = 7};
  [[maybe_unused]] auto job = wa::with_deadline<order>{.message = {.id = 1}};
  return pool.worker.name.empty() && !pool.backoff && broker.mailbox_capacity == 0 && subscribe.queue_group.empty() &&
         registry.name.empty() && sticky.entity.name.empty() && start.spawn.mailbox_capacity == 0 && !buffer.random &&
         admission.limit.rate == 0 && !breaker.is_failure && !policy.budget && !policy.retryable && job.due.is_never();
}

}  // namespace

// Called by main.cpp: the values are built, and the fields left out hold
// their defaults.
bool designated_options_keep_their_defaults() {
  return runtime_structs() && supervisor_structs() && persistence_structs() && shell_structs() && actors_structs();
}
