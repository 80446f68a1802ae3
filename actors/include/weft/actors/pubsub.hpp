#pragma once
// weft::actors::pubsub — publish/subscribe on subjects with NATS's rules
// (subject.hpp): tokens separated by '.', '*' matches one token, '>' the
// rest. A broker<T> is an actor that routes messages of payload type T
// from publishers to the actors whose patterns match.
//
//   publisher                   broker actor                      subscriber actor
//   ---------                   ------------                      ----------------
//   b.publish(self, s, v) ----> matches s in its index; for each
//     (the subject and the      matching subscription (and one
//      payload allocated once,  member of each queue group),
//      shared by every          puts the shared message in that
//      subscriber)              subscription's bounded buffer;
//                               if the buffer was empty and no
//                               wake-up is out, sends ONE
//                               deliveries<T> ------------------> d.take(): everything
//                                                                 buffered, oldest first;
//                                                                 the next delivery wakes
//                                                                 it again
//                               a buffer is full (the subscriber
//                               lags): its lag_policy decides
//                                 drop_oldest / drop_newest: the
//                                   drop is counted
//                                 disconnect: unsubscribed and
//                                   told why: lag_evicted ------> (buffered ones may still
//                                                                 be taken)
//   the subscriber exits -----> (the broker monitors it) its
//                               subscriptions go
//
// Why a buffer beside the mailbox, and not one message per delivery: a
// message in a mailbox cannot be taken back, so "drop the oldest" could
// not be kept to a bound. Each subscription has its own buffer of at most
// `subscribe_options::buffer` deliveries, and at most one deliveries<T>
// wake-up sits in the subscriber's mailbox at a time, so a subscriber that
// stops reading costs the broker one bounded buffer and never blocks it or
// the other subscribers. A subscriber that handles a deliveries<T> without
// calling take() is not woken again until it takes (from any copy of the
// message, or from its subscription handle): that is how it pauses.
//
// A subscriber is any actor whose protocol includes subscriber_of<T> (or
// an untyped one, a scoped_actor):
//
//   using prices = pubsub::subscriber_of<quote>;
//   auto watcher = rt.spawn(weft::stateful<prices>(0,
//       [](int& n, pubsub::deliveries<quote> d) {
//         for (const pubsub::delivery<quote>& q : d.take()) n += q.payload().cents;
//       },
//       [](int&, pubsub::lag_evicted e) { /* resubscribe, or give up */ }));
//   pubsub::broker<quote> quotes;
//   quotes.start(rt);
//   weft::scoped_actor self(rt);
//   quotes.subscribe(self, "quotes.*.eur", watcher, {.buffer = 256});
//   quotes.publish(self, "quotes.xetra.eur", quote{1234});
//
// T: movable (publish moves it in once). Subscribers on several threads
// read the same T at once through const T&, so T's const members must be
// safe to call concurrently (true of plain data and standard containers;
// not of a type with a mutable cache).
//
// Ordering: deliveries of one publisher's messages reach each subscriber
// in publish order (a broker handles its mailbox in order, and a buffer is
// FIFO); nothing is promised between publishers.
//
// Queue groups: subscriptions with the same pattern and the same
// queue_group name share the messages: each goes to exactly one of them,
// round robin, skipping members whose buffer is full while one has room
// (if all are full, the next in turn applies its lag policy). NATS groups
// by name across patterns; here a group is per pattern.
//
// Restarts: a broker handle may be supervised (child_spec); a restart is
// a new broker with no subscriptions. Subscribers that must survive it
// monitor broker.actor() and subscribe again.
//
// Who may call what: the handle's members that take a context ask or send
// to the broker (from an actor, or a thread's scoped_actor); the rest are
// any-thread. subscription<T> and deliveries<T> may be used from any
// thread, but take() is meant for the subscriber.

#include <weft/actors/detail/instance_slot.hpp>
#include <weft/actors/detail/subject_index.hpp>
#include <weft/actors/subject.hpp>
#include <weft/runtime/actor.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/error.hpp>
#include <weft/runtime/expected.hpp>
#include <weft/runtime/messages.hpp>
#include <weft/runtime/pid.hpp>
#include <weft/runtime/protocol.hpp>
#include <weft/runtime/runtime.hpp>
#include <weft/supervisor/child_spec.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace weft::actors::pubsub {

// What happens to a delivery for a subscription whose buffer is full.
enum class lag_policy : std::uint8_t {
  drop_oldest,  // the oldest buffered delivery is dropped to make room (counted)
  drop_newest,  // the new delivery is dropped (counted)
  disconnect,   // the subscription is removed and the subscriber gets lag_evicted
};
std::string_view to_string(lag_policy p) noexcept;

inline constexpr std::size_t default_buffer = 1024;

struct subscribe_options {
  // Non-empty: this subscription shares the pattern's messages with the
  // others of the same name (one of them gets each).
  std::string queue_group{};
  // At most this many deliveries wait in the buffer (at least 1).
  std::size_t buffer = default_buffer;
  lag_policy on_lag = lag_policy::drop_oldest;
};

struct broker_options {
  // Registered name of the broker actor (empty: none).
  std::string name{};
  // The broker's own mailbox: publishes, subscribes. When it is full a
  // publisher waits (overflow_policy::block): publishers are slowed to the
  // broker's pace instead of messages being lost. 0: the runtime default.
  std::size_t mailbox_capacity = 0;
  // A subscriber whose mailbox refused a wake-up (full, with a reject or
  // drop policy) is retried after this delay (on the runtime's clock).
  std::chrono::nanoseconds wake_retry = std::chrono::milliseconds(10);
};

struct subscription_id {
  std::uint64_t value = 0;
  explicit operator bool() const noexcept { return value != 0; }
  friend bool operator==(subscription_id, subscription_id) = default;
};

// One subscription's counters: any thread, a snapshot.
struct subscriber_stats {
  std::uint64_t buffered_total = 0;  // deliveries put in the buffer, ever
  std::uint64_t taken = 0;           // deliveries the subscriber took
  std::uint64_t dropped_oldest = 0;  // lag_policy::drop_oldest drops
  std::uint64_t dropped_newest = 0;  // lag_policy::drop_newest drops
  std::size_t buffered = 0;          // waiting now
  std::size_t max_buffered = 0;      // the most ever waiting at once: never above `bound`
  std::size_t bound = 0;             // subscribe_options::buffer
  bool evicted = false;              // lag_policy::disconnect removed it
};

struct broker_stats {
  std::uint64_t published = 0;       // messages routed
  std::uint64_t unmatched = 0;       // of which no subscription matched
  std::uint64_t delivered = 0;       // deliveries put in buffers
  std::uint64_t dropped_oldest = 0;  // over all subscriptions, also removed ones
  std::uint64_t dropped_newest = 0;
  std::uint64_t evicted = 0;        // subscriptions removed by lag_policy::disconnect
  std::uint64_t wakes_sent = 0;     // deliveries<T> messages sent
  std::uint64_t wakes_refused = 0;  // of which a full mailbox refused (retried later)
  std::size_t subscriptions = 0;    // now
  std::size_t subscribers = 0;      // distinct subscriber actors now (each monitored once)
  std::size_t index_nodes = 0;      // trie nodes now (1 when empty)
};

// What the pubsub calls fail with (besides the ask's own errors when the
// broker is unreachable: ask_errc::no_actor, timeout, ...).
enum class errc : std::uint8_t {
  invalid_subject = 1,  // publish: not a valid_subject (subject.hpp)
  invalid_pattern,      // subscribe: not a valid_pattern
  invalid_options,      // subscribe: buffer 0, or a queue group name with whitespace
  no_subscriber,        // subscribe: the subscriber pid is empty
  not_subscribed,       // unsubscribe: no such subscription (gone, evicted, never)
  already_running,      // start: this broker's actor runs already
};
std::string_view to_string(errc e) noexcept;

// The overflow decision, alone (a pure policy): what a new delivery does
// to a buffer holding `buffered` of at most `bound`.
enum class lag_action : std::uint8_t {
  buffer,       // room: buffer it
  drop_oldest,  // drop the oldest buffered one, then buffer it
  drop_newest,  // drop it
  evict,        // drop it and remove the subscription
};
lag_action on_delivery(lag_policy policy, std::size_t buffered, std::size_t bound) noexcept;

namespace detail {
std::string_view errc_name(int code) noexcept;
inline constexpr error_domain domain{error_category::actors, &errc_name};
}  // namespace detail

}  // namespace weft::actors::pubsub

template <>
struct weft::error_code_traits<weft::actors::pubsub::errc> {
  static constexpr const error_domain* domain = &weft::actors::pubsub::detail::domain;
};

namespace weft::actors::pubsub {

namespace detail {

// A published message: subject and payload in one allocation, shared
// read-only by every subscription it reaches.
struct published_base {
  explicit published_base(std::string s) : subject(std::move(s)) {}
  std::string subject;
};
template <class T>
struct published final : published_base {
  published(std::string s, T p) : published_base(std::move(s)), payload(std::move(p)) {}
  T payload;
};
using published_ptr = std::shared_ptr<const published_base>;

// One subscription's bounded buffer. Producer: the broker actor;
// consumer: whoever calls take() (the subscriber). One mutex: the two
// sides meet once per wake-up, not per message.
class inbox {
 public:
  inbox(lag_policy policy, std::size_t bound) : policy_(policy), bound_(bound) {}

  struct push_result {
    lag_action action;
    bool wake;  // the caller must send a wake-up (it was claimed)
  };
  // -- the broker actor only --
  push_result push(published_ptr message);
  // For a retry: claims the wake-up if something waits and none is out.
  bool claim_wake();
  // The claimed wake-up was not sent: the next push or retry claims again.
  void wake_refused();
  // Whether a push would find room (a hint for queue-group picks).
  bool has_room() const;
  // No more pushes (unsubscribed, evicted, the broker stopped); what is
  // buffered may still be taken.
  void close(bool evicted);

  // -- any thread --
  // Moves everything buffered to `out` (appended, oldest first) and lets
  // the next push wake the subscriber again.
  void take(std::vector<published_ptr>& out);
  subscriber_stats stats() const;

 private:
  mutable std::mutex mutex_;
  std::deque<published_ptr> buffer_;
  const lag_policy policy_;
  const std::size_t bound_;
  bool wake_out_ = false;
  bool closed_ = false;
  subscriber_stats counts_;
};

struct wake_retry {
  std::uint64_t generation;
};
struct unsubscribe_request {
  subscription_id id;
};
struct flush_request {};
struct broker_stats_request {};
template <class T>
struct publish_request {
  std::shared_ptr<const published<T>> message;
};
template <class T>
struct subscribe_request {
  std::string pattern;
  pid subscriber;
  subscribe_options options;
};

// The broker's state and routing, independent of T: the typed actor
// (broker_actor<T>) forwards each message here. Owner: the broker actor.
class broker_core {
 public:
  // Sends the subscriber its deliveries<T> wake-up (never blocking).
  using wake_fn = send_status (*)(context& self, const pid& to, subscription_id id, const std::shared_ptr<inbox>& box);

  broker_core(context& self, wake_fn wake, std::chrono::nanoseconds wake_retry);
  // Closes every buffer: subscribers see no more deliveries.
  ~broker_core();
  broker_core(const broker_core&) = delete;
  broker_core& operator=(const broker_core&) = delete;

  struct subscribed {
    subscription_id id;
    std::shared_ptr<inbox> box;
  };
  expected<subscribed> subscribe(std::string pattern, pid subscriber, subscribe_options options);
  expected<void> unsubscribe(subscription_id id);
  void publish(const published_ptr& message);
  void on_down(const down_msg& down);
  void on_retry(std::uint64_t generation);
  broker_stats stats() const;

 private:
  struct subscription_entry {
    std::string pattern;
    std::string queue_group;
    pid subscriber;
    std::shared_ptr<inbox> box;
  };
  struct subscriber_entry {
    monitor_ref monitor;
    std::vector<std::uint64_t> subscriptions;
  };

  void deliver(std::uint64_t id, subscription_entry& s, const published_ptr& message);
  void send_wake(std::uint64_t id, subscription_entry& s);
  void evict(std::uint64_t id);
  void remove(std::uint64_t id, bool evicted);
  void arm_retry();

  context& self_;
  wake_fn wake_;
  std::chrono::nanoseconds wake_retry_;
  actors::detail::subject_index index_;
  actors::detail::subject_index::matches matches_;
  std::unordered_map<std::uint64_t, subscription_entry> subscriptions_;
  std::unordered_map<pid, subscriber_entry> subscribers_;
  std::vector<std::uint64_t> evictions_;  // found full during one publish
  std::vector<std::uint64_t> retry_;      // subscriptions whose wake-up a mailbox refused
  std::uint64_t retry_generation_ = 0;
  bool retry_armed_ = false;
  std::uint64_t next_id_ = 1;
  broker_stats stats_;
};

}  // namespace detail

// One routed message as a subscriber sees it: the subject it was
// published on and the payload, both shared with every other subscriber
// of the same publish (never copied per subscriber).
template <class T>
class delivery {
 public:
  std::string_view subject() const noexcept { return message_->subject; }
  const T& payload() const noexcept { return static_cast<const detail::published<T>&>(*message_).payload; }
  // The payload as a shared pointer (no allocation: it shares the message).
  std::shared_ptr<const T> share() const { return std::shared_ptr<const T>(message_, &payload()); }

  // For the broker and subscription<T>: `m` must hold a published<T>.
  explicit delivery(detail::published_ptr m) noexcept : message_(std::move(m)) {}

 private:
  detail::published_ptr message_;
};

// A subscription's handle: its id, its buffer, its counters. Copies share
// them. Any thread.
template <class T>
class subscription {
 public:
  subscription() = default;
  subscription(subscription_id id, std::shared_ptr<detail::inbox> box) : id_(id), box_(std::move(box)) {}

  subscription_id id() const noexcept { return id_; }
  explicit operator bool() const noexcept { return static_cast<bool>(box_); }

  // Everything buffered now, oldest first; the next delivery wakes the
  // subscriber again (a new deliveries<T>).
  std::vector<delivery<T>> take() const {
    std::vector<delivery<T>> out;
    if (!box_) return out;
    std::vector<detail::published_ptr> raw;
    box_->take(raw);
    out.reserve(raw.size());
    for (auto& m : raw)
      out.emplace_back(std::move(m));
    return out;
  }
  subscriber_stats stats() const { return box_ ? box_->stats() : subscriber_stats{}; }

 private:
  subscription_id id_;
  std::shared_ptr<detail::inbox> box_;
};

// The wake-up a subscriber gets when its buffer stops being empty: at
// most one is out per subscription until take() is called.
template <class T>
class deliveries {
 public:
  explicit deliveries(subscription<T> from) : from_(std::move(from)) {}
  const subscription<T>& from() const noexcept { return from_; }
  subscription_id id() const noexcept { return from_.id(); }
  std::vector<delivery<T>> take() const { return from_.take(); }

 private:
  subscription<T> from_;
};

// Sent to a subscriber whose subscription lag_policy::disconnect removed.
struct lag_evicted {
  subscription_id id{};
  std::string pattern{};
  std::size_t buffer = 0;  // the bound its buffer hit
  std::string reason{};    // in words, for logs
};

// What a subscriber of a broker<T> takes.
template <class T>
using subscriber_of = weft::protocol<void(deliveries<T>), void(lag_evicted)>;

template <class T>
struct broker_protocol : weft::protocol<void(detail::publish_request<T>), subscription<T>(detail::subscribe_request<T>),
                                        void(detail::unsubscribe_request), void(detail::flush_request),
                                        broker_stats(detail::broker_stats_request), void(detail::wake_retry)> {};

namespace detail {

error not_running_error(std::string_view what);
error already_running_error(std::string_view name);
expected<void> check_subscribe(std::string_view pattern, const pid& subscriber, const subscribe_options& options);
expected<void> publish_outcome(send_status status);

// The broker actor: a class-style actor around broker_core.
template <class T>
class broker_actor {
 public:
  explicit broker_actor(std::shared_ptr<actors::detail::instance_slot> slot, std::chrono::nanoseconds wake_retry)
      : slot_(std::move(slot)), wake_retry_(wake_retry) {}
  broker_actor(const broker_actor&) = delete;
  broker_actor& operator=(const broker_actor&) = delete;
  ~broker_actor() {
    if (me_) slot_->clear_if(me_);
  }

  behavior_of<broker_protocol<T>> make_behavior(context& self) {
    me_ = self.self();
    self.set_label("pubsub broker");
    core_.emplace(self, &wake, wake_retry_);
    return {
        [this](publish_request<T> r) { core_->publish(r.message); },
        [this](subscribe_request<T> r) -> expected<subscription<T>> {
          auto s = core_->subscribe(std::move(r.pattern), std::move(r.subscriber), std::move(r.options));
          if (!s) return s.error();
          return subscription<T>(s->id, std::move(s->box));
        },
        [this](unsubscribe_request r) -> expected<void> { return core_->unsubscribe(r.id); },
        [](flush_request) {},
        [this](broker_stats_request) { return core_->stats(); },
        [this](wake_retry r) { core_->on_retry(r.generation); },
        [this](const down_msg& d) { core_->on_down(d); },
    };
  }

 private:
  static send_status wake(context& self, const pid& to, subscription_id id, const std::shared_ptr<inbox>& box) {
    return self.try_send(to, deliveries<T>(subscription<T>(id, box)));
  }

  std::shared_ptr<actors::detail::instance_slot> slot_;
  std::chrono::nanoseconds wake_retry_;
  pid me_;
  std::optional<broker_core> core_;
};

}  // namespace detail

// A broker's handle. Made before its actor runs (start it, or give its
// child_spec to a supervisor); copies share the running instance, also
// across supervisor restarts.
template <class T>
class broker {
 public:
  explicit broker(broker_options options = {})
      : options_(std::make_shared<const broker_options>(std::move(options))),
        slot_(std::make_shared<actors::detail::instance_slot>()) {}

  // -- any thread: running it (one instance at a time) ----------------------

  // As a top-level actor of `rt`. Error: already_running.
  expected<void> start(runtime& rt) const {
    bool already = false;
    slot_->start(
        rt, [&]() -> pid { return rt.spawn(definition(), spawn_opts()); }, already);
    if (already) return detail::already_running_error(options_->name);
    return {};
  }
  // Linked to the calling actor.
  expected<void> start_link(context& self) const {
    bool already = false;
    slot_->start(
        self.system(), [&]() -> pid { return self.spawn_link(definition(), spawn_opts()); }, already);
    if (already) return detail::already_running_error(options_->name);
    return {};
  }
  // For a supervisor: a worker that runs this broker.
  sup::child_spec child_spec(std::string id, sup::child_options options = {}) const {
    auto slot = slot_;
    auto opts = options_;
    spawn_options spawn = options.spawn;
    spawn.name = opts->name;
    spawn.mailbox_capacity = opts->mailbox_capacity;
    spawn.overflow = overflow_policy::block;
    return sup::child_spec{
        .id = std::move(id),
        .start = [slot, opts, spawn](sup::child_starter& s) -> sup::start_result {
          bool already = false;
          pid p = slot->start(
              s.self().system(),
              [&]() -> pid { return s.spawn_link(detail_definition(slot, opts->wake_retry), spawn); }, already);
          if (already) return sup::start_result::error(detail::already_running_error(opts->name).to_string());
          return p;
        },
        .restart = options.restart,
        .shutdown = options.shutdown,
        .type = sup::child_type::worker,
        .name = opts->name,
        .backoff = options.backoff,
    };
  }

  // -- any thread -----------------------------------------------------------

  // The running broker actor (empty when none): monitor it to learn of a
  // restart.
  ref<broker_protocol<T>> actor() const { return ref<broker_protocol<T>>::adopt_checked(slot_->current()); }
  const broker_options& options() const noexcept { return *options_; }

  // -- the caller's context (an actor, or a thread's scoped_actor) ---------

  // Subscribes `subscriber` (typed: its protocol must include
  // subscriber_of<T>) to `pattern`. Errors: invalid_pattern,
  // invalid_options, no_subscriber, and the ask's own.
  template <class P>
  expected<subscription<T>> subscribe(context& self, std::string_view pattern, const ref<P>& subscriber,
                                      subscribe_options options = {}) const {
    weft::detail::require_message_in_protocol<deliveries<T>, P>();
    weft::detail::require_message_in_protocol<lag_evicted, P>();
    return subscribe(self, pattern, subscriber.to_pid(), std::move(options));
  }
  // An untyped subscriber (a scoped_actor, an Erlang-style actor): it must
  // handle deliveries<T> and lag_evicted.
  expected<subscription<T>> subscribe(context& self, std::string_view pattern, const pid& subscriber,
                                      subscribe_options options = {}) const {
    if (auto ok = detail::check_subscribe(pattern, subscriber, options); !ok) return ok.error();
    return self.ask(actor(), detail::subscribe_request<T>{std::string(pattern), subscriber, std::move(options)});
  }
  // Errors: not_subscribed, and the ask's own.
  expected<void> unsubscribe(context& self, subscription_id id) const {
    return self.ask(actor(), detail::unsubscribe_request{id});
  }
  // Sends `payload` to every matching subscription (a send, not an ask: it
  // returns once the broker has it queued; a full broker mailbox makes
  // the caller wait). Errors: invalid_subject; ask_errc::no_actor when the
  // broker is not running, stopping when the runtime stops.
  expected<void> publish(context& self, std::string_view subject, T payload) const {
    if (!valid_subject(subject)) {
      return error(
          pubsub::errc::invalid_subject,
          "publish: '" + std::string(subject) + "' is not a valid subject (tokens separated by '.', no wildcards)");
    }
    auto message = std::make_shared<const detail::published<T>>(std::string(subject), std::move(payload));
    return detail::publish_outcome(self.send(actor(), detail::publish_request<T>{std::move(message)}));
  }
  // Answers once every message this caller published before has been put
  // in its subscribers' buffers (or dropped). It waits behind everything
  // queued at the broker: give a long timeout after a large burst.
  expected<void> flush(context& self, std::chrono::nanoseconds timeout = default_ask_timeout) const {
    return self.ask(actor(), detail::flush_request{}, timeout);
  }
  expected<broker_stats> stats(context& self, std::chrono::nanoseconds timeout = default_ask_timeout) const {
    return self.ask(actor(), detail::broker_stats_request{}, timeout);
  }

 private:
  static auto detail_definition(std::shared_ptr<actors::detail::instance_slot> slot,
                                std::chrono::nanoseconds wake_retry) {
    return make_actor<detail::broker_actor<T>>(std::move(slot), wake_retry);
  }
  auto definition() const { return detail_definition(slot_, options_->wake_retry); }
  spawn_options spawn_opts() const {
    spawn_options o;
    o.name = options_->name;
    o.mailbox_capacity = options_->mailbox_capacity;
    o.overflow = overflow_policy::block;
    return o;
  }

  std::shared_ptr<const broker_options> options_;
  std::shared_ptr<actors::detail::instance_slot> slot_;
};

}  // namespace weft::actors::pubsub
