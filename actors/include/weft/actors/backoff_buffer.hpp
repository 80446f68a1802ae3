#pragma once
// weft::actors::backoff_buffer — a child actor behind a buffer that rides
// out its restarts: while the child is down, waiting out a backoff delay,
// or starting, messages for it are held (a bounded stash, stash.hpp) and
// handed over, in order, once it has started. A child that fails again
// while starting does not cost the held messages: they stay in the buffer
// until a start succeeds. (Akka Typed's backoff supervision with its
// internal stash lost them in that case, akka/akka-core#31814; that is the
// case tests/actors/backoff_buffer_test.cpp checks.)
//
//   weft::ref<weft::actors::backoff_buffered<db>> d =
//       rt.spawn(weft::actors::backoff_buffer(db_connection(url), {
//           .backoff = {.min_delay = 100ms, .max_delay = 10s}}));
//   self.send(d, query{...});   // a ref<backoff_buffered<db>> is a ref<db>
//
// What user code does and what the buffer actor does:
//
//   user code / the child                the backoff buffer
//   ---------------------                ------------------
//   (spawn) ---------------------------> traps exits; spawns the child linked
//   a message of P, child started -----> the envelope moves on to the child (no
//                                        copy); a request is answered by it
//   a message of P, child not started -> held, in arrival order; past the
//                                        capacity a request is answered
//                                        delivery_errc::stash_full and a plain
//                                        message is a dead letter
//   the child's initialization returns
//   its behavior ----------------------> "started": every held message goes to
//                                        it, oldest first, before anything that
//                                        arrives later
//   the child exits abnormally
//   (also during its initialization) ---> after the backoff delay (runtime
//                                        clock), spawns it again; held messages
//                                        stay held
//   the child exits normally or with
//   shutdown --------------------------> the buffer exits with the same reason
//                                        (held requests: ask_errc::actor_down)
//   an exit signal from elsewhere
//   (not normal) ----------------------> the buffer exits with it, and the
//                                        linked child with it
//   ask get_child{} -------------------> the started child, or an empty ref
//
// "Started" is observed, not assumed: the buffer spawns the child's
// definition wrapped so that, once the child's own initialization (the
// function returning its behavior, a stateful init) has returned, the
// child itself tells the buffer. Until then nothing is handed over, so a
// child that throws in its initialization loses nothing.
//
// The delay before restart n is sup::backoff_delay (weft/supervisor/
// backoff.hpp): min_delay doubling up to max_delay, plus jitter; a child
// that ran for reset_after counts as healthy again. Timers run on the
// runtime's clock, so tests move a manual_clock instead of sleeping.
//
// Hazards: messages already handed to a started child are the child's: if
// it then crashes, what was in its mailbox is lost (exited_unread), as for
// any actor. The buffer restarts forever (no intensity limit): put it under
// a supervisor if a child that never comes back must stop something.
//
// For Akka users: BackoffSupervisor / Behaviors.supervise(...).onFailure(
// SupervisorStrategy.restartWithBackoff(...)) with its stash, except that a
// normal stop of the child stops the buffer. For Erlang users: a tiny
// supervisor with one child that also queues its messages.

#include <weft/actors/detail/forward.hpp>
#include <weft/actors/stash.hpp>
#include <weft/runtime/actor.hpp>
#include <weft/runtime/behavior.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/messages.hpp>
#include <weft/runtime/options.hpp>
#include <weft/runtime/pid.hpp>
#include <weft/runtime/protocol.hpp>
#include <weft/runtime/runtime.hpp>
#include <weft/supervisor/backoff.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace weft::actors {

struct backoff_buffer_options {
  // The restart delays (weft/supervisor/backoff.hpp); defaults 100 ms
  // doubling to 10 s, jitter 0.2, healthy again after 10 s up.
  sup::backoff_policy backoff{};
  // Messages held while the child is not started (at least 1).
  std::size_t buffer_capacity = 1000;
  // How the child is spawned (mailbox, stack, label...).
  spawn_options child{};
  // The uniform [0, 1) source of jitter; unset: a per-buffer generator.
  // Called inside the buffer actor only.
  std::function<double()> random{};
};

// Answered with the child if it has started, else an empty ref.
struct get_child {};

namespace detail {

// Sent by the child itself once its initialization has returned.
struct child_started {
  std::uint64_t incarnation;
};
// The backoff timer: restart incarnation `incarnation` + 1 (stale ones,
// from an incarnation already replaced, are ignored).
struct restart_due {
  std::uint64_t incarnation;
};

// The body of `inner` that, once inner's initialization has returned a
// behavior (or an Erlang-style actor begins), sends `watcher`
// child_started{incarnation}.
std::unique_ptr<weft::detail::actor_body> announce_start(std::unique_ptr<weft::detail::actor_body> inner,
                                                         pid watcher, std::uint64_t incarnation);

template <class D>
struct announced_definition {
  using protocol_type = weft::detail::definition_protocol<D>;
  const D* definition;  // the buffer's own copy, alive while it spawns
  pid watcher;
  std::uint64_t incarnation;
  std::unique_ptr<weft::detail::actor_body> make_body() const {
    return announce_start(weft::detail::make_body(*definition), watcher, incarnation);
  }
};

// One uniform [0, 1) draw from a counter-based generator.
double unit_random(std::uint64_t& state) noexcept;

}  // namespace detail

template <class P>
struct backoff_buffered : extend<P, ref<P>(get_child), void(detail::child_started), void(detail::restart_due)> {};

namespace detail {

template <class P, class D>
class backoff_core {
 public:
  backoff_core(D definition, backoff_buffer_options options)
      : definition_(std::move(definition)),
        options_(std::move(options)),
        buffer_(options_.buffer_capacity),
        random_state_(reinterpret_cast<std::uintptr_t>(this)) {}

  // -- the buffer actor only ------------------------------------------------

  void start(context& self) {
    ++incarnation_;
    started_ = false;
    started_at_ = self.system().clock().now();
    child_ = self.spawn_link(announced_definition<D>{&definition_, self.self(), incarnation_}, options_.child);
  }

  template <class M>
  void route(context& self, const M&) {
    if (started_) {
      forward_current(self, child_);
      return;
    }
    if (auto held = buffer_.stash(self); !held) refuse_current(self, held.error());
  }

  void on_started(context& self, std::uint64_t incarnation) {
    if (incarnation != incarnation_ || !child_ || started_) return;
    started_ = true;
    // Held messages go back to the head of this actor's queue, oldest
    // first; handled again by route(), they now go to the child, ahead of
    // whatever arrived after them.
    buffer_.unstash_all(self);
  }

  void on_exit(context& self, const exit_msg& m) {
    if (!child_ || m.from != child_) {
      if (!m.reason.is_normal()) self.exit(m.reason);
      return;
    }
    child_ = pid();
    started_ = false;
    if (m.reason.is_clean_stop()) self.exit(m.reason);
    const auto uptime =
        std::chrono::duration_cast<std::chrono::nanoseconds>(self.system().clock().now() - started_at_);
    const double u = options_.random ? options_.random() : unit_random(random_state_);
    const auto delay = curve_.next_delay(options_.backoff, uptime, u);
    self.send_after(delay, self.self(), restart_due{incarnation_});
  }

  void on_restart_due(context& self, std::uint64_t incarnation) {
    if (incarnation != incarnation_ || child_) return;
    start(self);
  }

  ref<P> started_child() const { return started_ ? ref<P>::adopt_checked(child_) : ref<P>(); }

 private:
  D definition_;
  backoff_buffer_options options_;
  stash_buffer buffer_;
  sup::backoff_state curve_;
  pid child_;
  bool started_ = false;
  std::uint64_t incarnation_ = 0;
  std::chrono::steady_clock::time_point started_at_{};
  std::uint64_t random_state_;
};

}  // namespace detail

// The buffer around `child` (any definition whose protocol includes P) as
// a definition for spawn: spawning it gives ref<backoff_buffered<P>>. P
// defaults to the child's protocol. A buffer_capacity of 0 throws
// std::invalid_argument here.
template <class P = void, class D>
auto backoff_buffer(D child, backoff_buffer_options options = {}) {
  using child_protocol = weft::detail::definition_protocol<D>;
  using protocol = std::conditional_t<std::is_void_v<P>, child_protocol, P>;
  static_assert(!std::is_same_v<child_protocol, untyped>,
                "backoff_buffer: the child must be a typed actor (behavior_of<P>, stateful<P>, a typed class)");
  static_assert(weft::detail::includes_list<child_protocol, weft::detail::signatures_of<protocol>>::value,
                "backoff_buffer<P>: the child's protocol must include every message of P");
  stash_buffer probe(options.buffer_capacity);  // refuses a bad capacity now, not inside the actor
  (void)probe;
  return [child = std::move(child),
          options = std::move(options)](context& self) -> behavior_of<backoff_buffered<protocol>> {
    auto core = std::make_shared<detail::backoff_core<protocol, D>>(child, options);
    self.trap_exit(true);
    core->start(self);
    return detail::forwarding_behavior<backoff_buffered<protocol>>(
        self, core, weft::detail::signatures_of<protocol>{}, [core](get_child) { return core->started_child(); },
        [&self, core](detail::child_started s) { core->on_started(self, s.incarnation); },
        [&self, core](detail::restart_due r) { core->on_restart_due(self, r.incarnation); },
        [&self, core](const exit_msg& m) { core->on_exit(self, m); });
  };
}

}  // namespace weft::actors
