// Starting a behaviour and waiting for its init (startup.hpp), and the
// exit rule the behaviours share (detail/behaviour.hpp).
//
// The init deadline is the one timer here, and it runs on the runtime's
// clock. It is filed by the new actor, not by the starter: only the new
// actor learns the number of the starter's request (it takes that request
// before its init), and a reply envelope carrying that number is what the
// deadline delivers. So the starter waits in an ordinary ask, and:
//   1. exactly one answer is sent: the new actor answers (success, the
//      init's error, or "died" from the handshake's destructor while
//      unwinding) only if cancelling the deadline succeeds; once the clock
//      has taken the deadline to fire, the starter gets the timeout and the
//      actor stays silent. So nothing late reaches the starter at all;
//   2. on any failure the starter unlinks, kills the new actor and waits for
//      its down_msg (monitored before asking): when start returns, the actor
//      has exited.

#include <weft/actors/detail/behaviour.hpp>
#include <weft/actors/startup.hpp>
#include <weft/runtime/internal.hpp>
#include <weft/runtime/runtime.hpp>

#include <fmt/format.h>

namespace weft::actors::detail {

startup_handshake::~startup_handshake() {
  if (still_awaited()) {
    // No detail: the starter explains it with the exit reason.
    answer(weft::detail::make_envelope(weft::detail::reply_error{error(ask_errc::actor_down)},
                                       weft::detail::envelope_kind::reply));
  }
}

void startup_handshake::begin(context& self, const startup_config& config) {
  if (!config.handshake) return;
  self_ = &self;
  linked_ = config.linked;
  starter_ = config.starter;
  // The starter asks right after spawning, so its request is the first
  // message; anything sent meanwhile (via a registered name) stays queued
  // for after init.
  self.receive([&](startup_request) {
    if (!weft::detail::take_current_request(internal::context_access::cell(self), asker_, request_)) return;
    if (config.timeout_ns < 0) return;
    const auto timeout = std::chrono::nanoseconds(config.timeout_ns);
    std::string text =
        fmt::format("init of {} did not finish within {} ms (on the runtime's clock)", self.self().to_string(),
                    std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
    deadline_ = timer_ref{weft::detail::start_timer(
        weft::detail::runtime_of(internal::context_access::cell(self)), timeout, std::chrono::nanoseconds::zero(),
        asker_, [request = request_, text = std::move(text)]() {
          weft::detail::envelope* e = weft::detail::make_envelope(
              weft::detail::reply_error{error(ask_errc::timeout, text)}, weft::detail::envelope_kind::reply);
          e->request_id = request;
          return e;
        })};
  });
}

bool startup_handshake::still_awaited() {
  if (request_ == 0) return false;
  if (!deadline_) return true;
  if (self_->cancel_timer(std::exchange(deadline_, timer_ref{}))) return true;
  request_ = 0;
  return false;
}

void startup_handshake::answer(weft::detail::envelope* reply) {
  weft::detail::send_reply(asker_, std::exchange(request_, 0), reply);
}

void startup_handshake::succeed() {
  if (still_awaited()) answer(weft::detail::make_envelope(startup_done{}, weft::detail::envelope_kind::reply));
}

void startup_handshake::fail(error why) {
  if (linked_) self_->unlink(starter_);
  if (still_awaited()) {
    answer(weft::detail::make_envelope(weft::detail::reply_error{std::move(why)}, weft::detail::envelope_kind::reply));
  }
}

expected<void> await_startup(context& self, const pid& child, bool linked) {
  if (!child) return error(ask_errc::stopping, "start: the runtime refused the spawn (is it shutting down?)");
  const monitor_ref watch = self.monitor(child);
  expected<startup_done> answer = self.ask<startup_done>(child, startup_request{}, weft::detail::no_timeout);
  if (answer) {
    self.demonitor(watch);
    return {};
  }
  error failure = std::move(answer).error();
  if (linked) self.unlink(child);
  self.exit(child, exit_reason::kill());
  std::optional<down_msg> down =
      self.receive_if<down_msg>([&](const down_msg& d) { return d.ref == watch; }, weft::detail::no_timeout);
  // The actor died without saying why (killed, or an exception not derived
  // from std::exception): its exit reason says it. Errors the handshake
  // itself answered with ("init of <pid> ...") already do.
  const bool unexplained = (failure == ask_errc::broken_promise || failure == ask_errc::actor_down) &&
                           !failure.detail().starts_with("init of ");
  if (unexplained) {
    return error(ask_errc::actor_down, fmt::format("init of {} failed: {}", child.to_string(),
                                                   down ? down->reason.to_string() : std::string("it exited")));
  }
  return failure;
}

bool is_stop_order(context& self, const exit_msg& exit) {
  if (!exit.from) return true;
  std::optional<actor_info> me = self.system().info(self.self());
  return me && me->parent && me->parent == exit.from;
}

}  // namespace weft::actors::detail
