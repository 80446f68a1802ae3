#pragma once
// The non-template half of weft's API: the runtime functions that the
// inline templates of context.hpp and runtime.hpp call. Internal.

#include <weft/runtime/behavior.hpp>
#include <weft/runtime/detail/envelope.hpp>
#include <weft/runtime/exit_reason.hpp>
#include <weft/runtime/messages.hpp>
#include <weft/runtime/options.hpp>
#include <weft/runtime/pid.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>

namespace weft {

class context;

namespace detail {

class cell;
struct cell_owned;
class runtime_impl;

// Drops the public runtime's hold on its implementation, which lives on
// (closed, its threads gone) while any pid still refers to one of its cells.
struct runtime_release {
  void operator()(runtime_impl* rt) const noexcept;
};

// A negative timeout means "no deadline".
inline constexpr std::chrono::nanoseconds no_timeout{-1};

// What user code an actor runs (actor.hpp makes them). Pooled: made on the
// spawner's worker, freed wherever the actor ends (small_pool.hpp).
struct actor_body : pooled {
  virtual ~actor_body() = default;
  // Handler style: returns the initial behavior (and run() is not called).
  // Erlang style: returns an empty behavior; run() is the actor's life.
  virtual behavior init(context&) { return {}; }
  virtual bool handler_style() const noexcept = 0;
  virtual void run(context&) {}
  virtual void on_exit(context&, const exit_reason&) noexcept {}
  // The typed protocol the actor is spawned with (nullptr: untyped).
  virtual const protocol_info* protocol() const noexcept { return nullptr; }
};

enum class send_mode : std::uint8_t { blocking, try_once, timed };

// from == nullptr: the caller is not an actor (a thread blocks instead of
// a fiber under overflow_policy::block). `rt` counts a send to an empty pid.
send_status send_envelope(runtime_impl* rt, cell* from, const pid& to, envelope* e, send_mode mode,
                          std::chrono::nanoseconds timeout);

struct matcher {
  bool (*fn)(const void* arg, const envelope& e);
  const void* arg;
};

// Which queued messages a receive looks at first.
enum class scan_from : std::uint8_t {
  stash,     // every message already set aside (a selective receive)
  arrivals,  // only what arrives from now on: the caller knows nothing set
             // aside can match (below)
};

// Removes and returns the oldest queued message that `m` accepts, waiting
// up to `timeout`; nullptr on timeout. Signals are handled on the way.
//
// scan_from::arrivals is Erlang's receive marker: the reply to a request
// cannot be older than the request, and the stash only grows when its
// owner pulls from the mailbox, which it has not done since it sent the
// request. So an ask waits on new arrivals only, and its cost does not
// grow with the number of messages the asker has set aside (an actor with
// 1,000 queued messages used to scan all of them for every ask).
envelope* receive_envelope(cell* self, matcher m, std::chrono::nanoseconds timeout,
                           scan_from from = scan_from::stash);

// Marks `e` as the message being handled (for reply()), and deletes it
// when the scope ends.
class handling_scope {
 public:
  // release_later: the message's mailbox slot is given back with the rest
  // of the activation's (the handler loop's batching, mailbox.cpp), not at
  // once.
  handling_scope(cell* self, envelope* e, bool release_later = false) noexcept;
  ~handling_scope();
  handling_scope(const handling_scope&) = delete;
  handling_scope& operator=(const handling_scope&) = delete;

 private:
  cell* self_;
  envelope* e_;
  envelope* previous_;
  bool release_later_;
};

// Sends `request` and waits for the reply envelope (nullptr and `failure`
// set on failure, including a reply_error the server answered with).
envelope* ask_envelope(cell* self, const pid& to, envelope* request, std::chrono::nanoseconds timeout,
                       error& failure);

// What an asker of R makes of a reply envelope (not a reply_error).
template <class R>
expected<R> open_reply(envelope& reply) {
  if constexpr (std::is_void_v<R>) {
    (void)reply;  // any answer acknowledges
    return {};
  } else {
    if (holds<R>(reply)) return expected<R>(std::move(payload<R>(reply)));
    if (holds<ack_reply>(reply)) {
      return error(ask_errc::bad_reply_type,
                   "the handler returned nothing (void), not the " + std::string(type_name_of<R>()) + " asked for");
    }
    return error(ask_errc::bad_reply_type, "the reply is a " + std::string(reply.tag->name) + ", not the " +
                                               std::string(type_name_of<R>()) + " asked for");
  }
}

void reply_current(cell* self, envelope* reply);
// Detaches the current request so that someone may answer it later.
bool take_current_request(cell* self, pid& reply_to, std::uint64_t& request_id);
// from: the answering actor, if known (for tracing).
void send_reply(const pid& to, std::uint64_t request_id, envelope* reply, cell* from = nullptr);

pid spawn_body(runtime_impl* rt, cell* parent, std::unique_ptr<actor_body> body, spawn_options options, bool link);

struct timer_ref_data {
  std::uint64_t id = 0;
};
std::uint64_t start_timer(runtime_impl* rt, std::chrono::nanoseconds delay, std::chrono::nanoseconds period,
                          const pid& to, std::function<envelope*()> make_message);
bool cancel_timer(runtime_impl* rt, std::uint64_t id);

void run_blocking(cell* self, const std::function<void()>& fn);

runtime_impl* runtime_of(const cell* c) noexcept;
context& context_of(cell* c) noexcept;

}  // namespace detail
}  // namespace weft
