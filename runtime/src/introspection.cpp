// Snapshots, describe and trace: what runtime::actors(), info(),
// describe() and trace() do (see introspection.hpp for the contract).

#include "cell.hpp"
#include "runtime_impl.hpp"

#include <weft/runtime/runtime.hpp>

#include <algorithm>
#include <memory>
#include <new>
#include <thread>

namespace weft {

namespace detail {

// Reclaiming a tracer: the owner (runtime::trace) may free it only once
// no sender can still be using it. A sender may have loaded the pointer
// just before the owner cleared it, so clearing it is not enough; and the
// sender's path must stay one relaxed load when nobody traces. So:
//
//   sender (record_if_traced)              owner (runtime::trace)
//   S0 tracer_ != null (relaxed, deliver)  O0 CAS tracer_: null -> t
//   S1 tracer_users_ += 1    (seq_cst)     ... the trace runs ...
//   S2 t = tracer_           (seq_cst)     O1 tracer_ = null     (seq_cst)
//   S3 if t: record into *t                O2 wait until tracer_users_
//   S4 tracer_users_ -= 1    (release)        reads 0             (seq_cst)
//                                          O3 delete t
//
// Why O3 is safe. S1, S2, O1 and O2 are seq_cst, so they lie in one total
// order that agrees with each thread's program order. If S2 comes after
// O1 in it, S2 does not read t (it reads null, or a later trace's tracer).
// If S2 comes before O1, then S1 < S2 < O1 < O2, so O2 reads S1's
// increment or a later value of the counter: it cannot read 0 until S4 has
// taken it back, and once it does, S4 (release) synchronizes with O2 (the
// load reads the end of S4's release sequence), so everything S3 did to *t
// happens before O3. A sender whose S1 comes after O2 read 0 has its S2
// after O1 too. O2 must be seq_cst, not merely acquire: it is a load of one
// variable after a store to another (O1), the store-buffering pattern, and
// an acquire load could still read a 0 that S1 has already replaced.
//
// S0 is only a hint: a stale null skips one record (the trace had not
// started for this sender yet); a stale non-null costs the re-check.
// O0 publishes the tracer's fields to S2 (seq_cst includes release and
// acquire). The counter is per runtime, so O2 may also wait for senders to
// other traced actors; each stays for one record, and no new sender of
// this trace enters after O1, so O2 ends once the other traces' records
// pause (at worst when those traces end).
void tracer::record_if_traced(cell& traced, trace_event::direction dir, cell* from, cell& to, const envelope& e) {
  std::atomic<std::uint64_t>& users = traced.rt->tracer_users_;
  users.fetch_add(1, std::memory_order_seq_cst);  // S1
  if (tracer* t = traced.tracer_.load(std::memory_order_seq_cst)) {  // S2
    t->record(dir, from != nullptr ? pid_of(from) : pid(), pid_of(&to), e);  // S3
  }
  users.fetch_sub(1, std::memory_order_release);  // S4
}

void tracer::record(trace_event::direction dir, const pid& from, const pid& to, const envelope& e) noexcept {
  std::lock_guard lock(mutex);
  if (events.size() >= limit) return;
  try {
    events.push_back(trace_event{dir, std::chrono::system_clock::now(), from, to, std::string(e.tag->name),
                                 e.payload_size()});
  } catch (const std::bad_alloc&) {
    return;  // the trace misses this message; the send itself goes on
  }
  if (events.size() >= limit) cv.notify_all();
}

namespace {

actor_info snapshot(cell* c) {
  actor_info info;
  info.self = pid_of(c);
  info.status = c->status.load(std::memory_order_relaxed);
  // The edge, not the status, says whether it is blocked: the status is
  // relaxed and passes through running around each check (mailbox.cpp).
  info.blocked_sending_to = c->rt->deadlocks_.blocked_on(c);
  info.handler_style = c->handler_style_;
  if (c->protocol_ != nullptr) info.protocol = std::string(c->protocol_->name);
  info.mailbox_length = c->mailbox_length();
  info.mailbox_capacity = c->capacity();
  info.overflow = c->policy();
  info.dropped = c->dropped.load(std::memory_order_relaxed);
  info.rejected = c->rejected.load(std::memory_order_relaxed);
  info.processed = c->processed.load(std::memory_order_relaxed);
  info.restarts = c->restarts_.load(std::memory_order_relaxed);
  info.spawned_at = c->spawned_at_;
  info.stack_size = c->stack_size_;
  const double lifetime =
      std::chrono::duration<double>(std::chrono::system_clock::now() - c->spawned_at_).count();
  info.messages_per_second = lifetime > 0 ? static_cast<double>(info.processed) / lifetime : 0;
  std::lock_guard meta(c->meta_lock_);
  if (c->extras_ != nullptr) {
    info.name = c->extras_->name;
    info.label = c->extras_->label;
  }
  info.parent = c->parent_;
  info.links = c->links_;
  info.monitored_by.reserve(c->monitors_in_.size());
  for (const auto& m : c->monitors_in_) info.monitored_by.push_back(m.watcher);
  // Owner-private fields read racily would be a data race; these two are
  // plain flags the owner flips rarely, so report what the owner published.
  info.trap_exit = c->trap_exit_published_.load(std::memory_order_relaxed);
  info.holds_fiber = c->suspended_published_.load(std::memory_order_relaxed);
  info.stack_in_use = info.holds_fiber ? c->stack_in_use_.load(std::memory_order_relaxed) : 0;
  info.stack_high_water = c->stack_high_water_.load(std::memory_order_relaxed);
  info.monitors = c->monitors_out_count_.load(std::memory_order_relaxed);
  return info;
}

}  // namespace

// Runs fn inside the actor (as a `call` signal) and waits for its answer.
std::optional<std::string> call_in_actor(runtime_impl* rt, const pid& who, std::function<std::string(cell&)> fn,
                                         std::chrono::nanoseconds timeout) {
  if (!who) return std::nullopt;
  cell* asker = rt->make_thread_cell({});
  const std::uint64_t id = asker->owned().next_request_id_++;
  asker->owned().awaited_request_ = id;
  pid reply_to = pid_of(asker);
  auto* e = make_envelope(call_payload{[fn = std::move(fn), reply_to, id](cell& target) {
                            send_reply(reply_to, id, make_envelope(fn(target), envelope_kind::reply));
                          }},
                          envelope_kind::call);
  std::optional<std::string> out;
  if (as_cell(who)->deliver_signal(e)) {
    struct wanted {
      std::uint64_t id;
    } w{id};
    matcher m{[](const void* arg, const envelope& env) {
                return env.kind == envelope_kind::reply && env.request_id == static_cast<const wanted*>(arg)->id;
              },
              &w};
    if (envelope* reply = receive_envelope(asker, m, timeout, scan_from::arrivals)) {
      if (holds<std::string>(*reply)) out = std::move(payload<std::string>(*reply));
      delete reply;
    }
  } else {
    delete e;
  }
  asker->owned().awaited_request_ = 0;
  rt->finish_thread_cell(asker);
  return out;
}

}  // namespace detail

std::vector<actor_info> runtime::actors() const {
  std::vector<actor_info> out;
  for (const pid& p : impl_->live_pids()) out.push_back(detail::snapshot(detail::as_cell(p)));
  return out;
}

std::optional<actor_info> runtime::info(const pid& who) const {
  if (!who) return std::nullopt;
  detail::cell* c = detail::as_cell(who);
  if (c->rt != impl_.get()) return std::nullopt;
  actor_info info = detail::snapshot(c);
  if (c->closed()) info.status = actor_status::dead;
  return info;
}

std::optional<std::string> runtime::describe(const pid& who, std::chrono::nanoseconds timeout) {
  return detail::call_in_actor(
      impl_.get(), who,
      [](detail::cell& c) -> std::string {
        std::function<std::string()> hook;
        {
          std::lock_guard meta(c.meta_lock_);
          if (c.extras_ != nullptr) hook = c.extras_->describe;
        }
        if (hook) return hook();
        return "(no describe hook: call context::set_describe)";
      },
      timeout);
}

std::vector<trace_event> runtime::trace(const pid& who, std::size_t count, std::chrono::nanoseconds timeout) {
  if (!who || count == 0) return {};
  detail::cell* c = detail::as_cell(who);
  auto t = std::make_unique<detail::tracer>();
  t->limit = count;
  detail::tracer* expected = nullptr;
  // O0 (see tracer::record_if_traced). Already traced: t is freed on return.
  if (!c->tracer_.compare_exchange_strong(expected, t.get(), std::memory_order_seq_cst)) return {};
  {
    // Nobody signals an exit to the tracer, so the wait looks at closed()
    // now and then: a trace of an actor that exits ends soon after.
    constexpr auto exit_check = std::chrono::milliseconds(100);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(t->mutex);
    while (t->events.size() < t->limit && !c->closed()) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) break;
      t->cv.wait_for(lock, std::min<std::chrono::nanoseconds>(deadline - now, exit_check));
    }
  }
  c->tracer_.store(nullptr, std::memory_order_seq_cst);  // O1
  std::atomic<std::uint64_t>& users = c->rt->tracer_users_;
  for (int spins = 0; users.load(std::memory_order_seq_cst) != 0; ++spins) {  // O2
    // A sender stays for one record; one preempted inside it may take a
    // time slice, so stop burning the core after a while.
    if (spins < 64) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  // No sender can reach *t any more, and all their writes happen before
  // this point (O2): its events are ours without the lock.
  return std::move(t->events);  // O3: t is freed on return
}

std::string_view to_string(actor_status s) {
  switch (s) {
    case actor_status::runnable:
      return "runnable";
    case actor_status::running:
      return "running";
    case actor_status::waiting:
      return "waiting";
    case actor_status::receiving:
      return "receiving";
    case actor_status::exiting:
      return "exiting";
    case actor_status::dead:
      return "dead";
  }
  return "unknown";
}

}  // namespace weft
