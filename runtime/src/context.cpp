// The members of weft::context (and scoped_actor) that are not templates:
// links, monitors, exits, names; each runs on the owning actor (or the
// scoped_actor's thread). Calls into other actors go through post /
// post_signal, which take the runtime's gate when the caller is a thread
// the runtime does not own (lifetime.cpp).

#include "cell.hpp"
#include "runtime_impl.hpp"

#include <weft/runtime/runtime.hpp>

#include <algorithm>

namespace weft {


scoped_actor::scoped_actor(runtime& rt, spawn_options options) : context(rt.impl_->make_thread_cell(options)) {}
scoped_actor::~scoped_actor() { cell_->rt->finish_thread_cell(cell_); }

// -- public: context --------------------------------------------------------

pid context::self() const { return detail::pid_of(cell_); }
runtime& context::system() const { return *cell_->rt->public_; }

void context::become(behavior next) { cell_->owned().pending_behavior_ = std::make_unique<behavior>(std::move(next)); }

void context::link(const pid& other) {
  if (!other || other == self()) return;
  auto& links = cell_->links_;
  if (std::find(links.begin(), links.end(), other) != links.end()) return;
  {
    std::lock_guard meta(cell_->meta_lock_);
    links.push_back(other);
  }
  if (detail::post_signal(cell_, detail::as_cell(other),
                          detail::make_envelope(detail::link_payload{self()}, detail::envelope_kind::link))) {
    return;
  }
  // Linking to a dead actor: an exit signal `noproc` comes back at once.
  auto* signal = detail::make_envelope(detail::exit_signal_payload{other, exit_reason::noproc(), true},
                                       detail::envelope_kind::exit_signal);
  cell_->absorb_pending();  // after what `other` sent before it died, as a monitor's down_msg
  if (detail::envelope* visible = cell_->filter(signal)) cell_->owned().stash_.push_back(visible);
}

void context::unlink(const pid& other) {
  if (!other) return;
  {
    std::lock_guard meta(cell_->meta_lock_);
    std::erase(cell_->links_, other);
  }
  detail::post_signal(cell_, detail::as_cell(other),
                      detail::make_envelope(detail::link_payload{self()}, detail::envelope_kind::unlink));
}

monitor_ref context::monitor(const pid& other) {
  monitor_ref ref{cell_->rt->next_monitor_ref_.fetch_add(1, std::memory_order_relaxed)};
  if (!other) return ref;
  if (!cell_->owned().monitors_out_) cell_->owned().monitors_out_ = std::make_unique<std::unordered_map<std::uint64_t, pid>>();
  cell_->owned().monitors_out_->emplace(ref.value, other);
  cell_->monitors_out_count_.store(static_cast<std::uint32_t>(cell_->owned().monitors_out_->size()), std::memory_order_relaxed);
  if (!detail::post_signal(cell_, detail::as_cell(other),
                           detail::make_envelope(detail::monitor_payload{ref, self()}, detail::envelope_kind::monitor))) {
    cell_->owned().monitors_out_->erase(ref.value);
    // As in Erlang, the down_msg comes after everything `other` sent us
    // before it died: what already arrived is taken into the queue first.
    cell_->absorb_pending();
    cell_->owned().stash_.push_back(
        detail::make_envelope(down_msg{ref, other, exit_reason::noproc()}, detail::envelope_kind::down));
  }
  return ref;
}

void context::demonitor(monitor_ref ref) {
  auto* held = cell_->owned().monitors_out_.get();
  auto it = held != nullptr ? held->find(ref.value) : decltype(held->end()){};
  if (held != nullptr && it != held->end()) {
    detail::post_signal(cell_, detail::as_cell(it->second),
                        detail::make_envelope(detail::monitor_payload{ref, self()}, detail::envelope_kind::demonitor));
    held->erase(it);
    cell_->monitors_out_count_.store(static_cast<std::uint32_t>(held->size()), std::memory_order_relaxed);
  }
  // Flush a down_msg for it that may already be queued (Erlang's [flush]).
  detail::envelope* prev = nullptr;
  for (detail::envelope* e = cell_->owned().stash_.head; e != nullptr;) {
    auto* next = static_cast<detail::envelope*>(e->next.load(std::memory_order_relaxed));
    if (detail::holds<down_msg>(*e) && detail::payload<down_msg>(*e).ref == ref) {
      cell_->owned().stash_.unlink(prev, e);
      delete e;
    } else {
      prev = e;
    }
    e = next;
  }
}

void context::trap_exit(bool on) {
  cell_->owned().trap_exit_ = on || cell_->thread_bound_;
  cell_->trap_exit_published_.store(cell_->owned().trap_exit_, std::memory_order_relaxed);
}
bool context::trapping_exits() const { return cell_->owned().trap_exit_; }
void context::exit(exit_reason reason) { cell_->throw_exit(std::move(reason)); }
void context::exit(const pid& target, exit_reason reason) {
  if (!target) return;
  detail::post_signal(cell_, detail::as_cell(target),
                      detail::make_envelope(detail::exit_signal_payload{self(), std::move(reason), false},
                                            detail::envelope_kind::exit_signal));
}

void context::sleep_for(std::chrono::nanoseconds duration) {
  const auto deadline = std::chrono::steady_clock::now() + duration;
  // Asleep is `waiting` to introspection (as blocked sends and blocking
  // calls are), not `running`.
  do {
    cell_->status.store(actor_status::waiting, std::memory_order_relaxed);
  } while (cell_->await_input(deadline, true));
  cell_->status.store(actor_status::running, std::memory_order_relaxed);
}

void context::yield() { cell_->yield_now(); }

bool context::register_name(std::string name) { return cell_->rt->register_name(std::move(name), cell_); }
void context::set_label(std::string label) {
  std::lock_guard meta(cell_->meta_lock_);
  cell_->extras_locked().label = std::move(label);
}
void context::set_describe(std::function<std::string()> describe) {
  std::lock_guard meta(cell_->meta_lock_);
  cell_->extras_locked().describe = std::move(describe);
}

void reply_promise::abandon() noexcept {
  if (request_id_ == 0) return;
  try {
    detail::send_reply(to_, std::exchange(request_id_, 0),
                       detail::make_envelope(detail::reply_error{error(ask_errc::broken_promise,
                                                                       "the request's reply_promise was dropped unanswered")},
                                             detail::envelope_kind::reply));
  } catch (...) {  // NOLINT(bugprone-empty-catch): out of memory while abandoning; the asker times out
  }
}

}  // namespace weft
