#pragma once
// Starting a behaviour (a server or a state machine) and waiting until its
// init has run: OTP's gen_server:start / start_link.
//
//   auto cache = weft::actors::start_link(self, weft::actors::server<lru_cache>(1024),
//                                         {.init_timeout = std::chrono::seconds(5)});
//   if (!cache) ...            // init failed, threw, or did not finish in time
//   else call(self, *cache, get{"k"});
//
// Spawning a behaviour's definition directly (rt.spawn, self.spawn,
// sup::worker) also works: it returns at once and init runs at the actor's
// first activation, as for any actor. start / start_link add the wait:
//
//   starter (start / start_link)             the new actor
//   ----------------------------             -------------
//   spawn it (start_link: spawn_link),
//   monitor it, ask it "started?" ------->   first activation: takes that
//                                             request before anything else;
//                                             files the init deadline on the
//                                             runtime's clock (if any)
//                                             constructs the implementation,
//                                             runs its init
//   returns ref<P> <--------------------     init succeeded: cancels the
//                                             deadline, answers; then runs
//                                             the continue steps init asked
//                                             for, then takes messages
//   returns the error <------------------    init failed (returned an error
//                                             or threw): unlinks the starter,
//                                             answers with the error, exits
//   returns ask_errc::timeout <----------    the deadline passed: the clock
//                                             answers the request itself, and
//                                             the actor, finding the deadline
//                                             gone, never answers
//   on any failure: unlinks, exit(kill), waits for its down_msg. So when
//   start returns an error the half-started actor is gone, and exactly one
//   answer was ever sent: nothing of the start arrives late.
//
// Errors: the init's own error as it returned it; ask_errc::actor_down
// ("init of <0.12> failed: ...") if init threw or the actor died;
// ask_errc::timeout if init did not finish within init_timeout;
// ask_errc::stopping if the runtime refused the spawn.
//
// Hazards:
//   * init_timeout runs on the runtime's clock (clock.hpp): on a
//     manual_clock it passes only when the test advances time.
//   * An init blocked in context::blocking() cannot be killed until the call
//     returns: start then returns only after it does.
//   * start_link links at the spawn, as OTP does, so a starter that dies
//     during init takes the new actor with it; a failed init does not send
//     the starter an exit signal (the new actor unlinks before exiting).
//
// Owner: start and start_link block the calling actor (or scoped_actor
// thread) like an ask; call them from the actor that owns `self`.

#include <weft/runtime/context.hpp>
#include <weft/runtime/expected.hpp>
#include <weft/runtime/options.hpp>
#include <weft/runtime/pid.hpp>
#include <weft/runtime/protocol.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

namespace weft::actors {

struct start_options {
  // How long init may take, on the runtime's clock. Unset: no limit (OTP's
  // default, infinity).
  std::optional<std::chrono::nanoseconds> init_timeout{};
  // Mailbox, name, trap_exit, ... of the new actor.
  spawn_options spawn{};
};

namespace detail {

// What start() asks the new actor, and what it answers once init has run.
struct startup_request {};
struct startup_done {};

// Carried by a definition that start() spawns: whether the new actor waits
// for the starter's request before its init, and whom to unlink on failure.
struct startup_config {
  bool handshake = false;
  bool linked = false;
  pid starter;
  std::int64_t timeout_ns = -1;  // init deadline on the runtime's clock; negative: none
};

// The new actor's side of the start (see the diagram above). Owner: the
// new actor, inside its first activation.
class startup_handshake {
 public:
  startup_handshake() = default;
  // Dying in init (unwinding) without an answer: the starter learns it now
  // (it then reads the exit reason from its monitor).
  ~startup_handshake();
  startup_handshake(const startup_handshake&) = delete;
  startup_handshake& operator=(const startup_handshake&) = delete;

  // Takes the starter's request (queued right after the spawn) and files
  // its deadline. No-op unless config.handshake.
  void begin(context& self, const startup_config& config);
  // init succeeded: the starter gets its ref.
  void succeed();
  // init failed: the starter gets `why`, and is unlinked so that the exit
  // which follows does not reach it as a signal.
  void fail(error why);

 private:
  // Whether the starter still waits for our answer: true unless the
  // deadline has fired (then it has its timeout, and an answer from us
  // would only be a late reply). Cancels the deadline.
  bool still_awaited();
  void answer(weft::detail::envelope* reply);

  context* self_ = nullptr;
  pid asker_;
  std::uint64_t request_ = 0;  // 0: nothing to answer
  timer_ref deadline_;
  bool linked_ = false;
  pid starter_;
};

// The starter's side: waits for `child`'s answer; on failure makes sure it
// is gone. `child` is empty if the spawn was refused.
expected<void> await_startup(context& self, const pid& child, bool linked);

template <class D>
concept startable = requires(D& d) {
  typename D::protocol_type;
  { d.startup } -> std::same_as<startup_config&>;
};

template <class D>
expected<ref<typename std::decay_t<D>::protocol_type>> start_definition(context& self, D&& definition,
                                                                         start_options options, bool link) {
  std::decay_t<D> copy(std::forward<D>(definition));
  copy.startup = startup_config{.handshake = true,
                                .linked = link,
                                .starter = self.self(),
                                .timeout_ns = options.init_timeout
                                                  ? std::max<std::int64_t>(0, options.init_timeout->count())
                                                  : -1};
  auto child = link ? self.spawn_link(std::move(copy), std::move(options.spawn))
                    : self.spawn(std::move(copy), std::move(options.spawn));
  expected<void> started = await_startup(self, child, link);
  if (!started) return std::move(started).error();
  return child;
}

}  // namespace detail

// Spawns `definition` (server<Impl>(...), state_machine<Impl>(...)) and
// waits for its init. Unlinked: the new actor outlives a starter that dies.
template <class D>
  requires detail::startable<std::decay_t<D>>
expected<ref<typename std::decay_t<D>::protocol_type>> start(context& self, D&& definition,
                                                              start_options options = {}) {
  return detail::start_definition(self, std::forward<D>(definition), std::move(options), false);
}

// As start, linked to the caller from the spawn on (it becomes the new
// actor's parent: a trapped exit from it stops the behaviour, terminate
// runs).
template <class D>
  requires detail::startable<std::decay_t<D>>
expected<ref<typename std::decay_t<D>::protocol_type>> start_link(context& self, D&& definition,
                                                                   start_options options = {}) {
  return detail::start_definition(self, std::forward<D>(definition), std::move(options), true);
}

}  // namespace weft::actors
