#pragma once
// Credit-based pull between a producer and a consumer (Reactive Streams'
// request(n), HTTP/2 and gRPC flow-control windows): the consumer grants
// credits, the producer sends one item per credit and stops when it has
// none, so however fast the producer, at most `window` items are ever in
// flight or waiting in the consumer, and nothing is dropped to keep it so.
//
//   consumer (credit_receiver)          producer (credit_sender / credit_source)
//   --------------------------          -----------------------------------------
//   subscribe(self, source) ----------> subscribe_flow{sink}
//                           ----------> demand{window}      credit += window
//                                       <- flow_item{seq 0}  credit -= 1, one per item
//                                       <- flow_item{seq 1}  ...
//   accept(item): checks seq            (credit 0: the producer waits; it
//   and that a credit was out;           generates nothing more)
//   ...process...
//   processed(self): after each batch
//   of items processed -------------->  demand{batch}       credit += batch
//                                       <- flow_end{total}  (needs no credit)
//   cancel(self) -------------------->  cancel_flow         the producer stops
//
// Credits are granted only for items already processed, so the items sent
// but not yet processed never exceed the window: with W the window,
// granted <= W + processed, and sent <= granted.
//
// Why explicit credit when mailboxes are bounded already: a bounded
// mailbox under the block policy stalls the producer's whole fiber (and
// it then handles nothing else), and drop/reject lose items. Credit keeps
// the producer responsive while it waits, loses nothing, lets the
// consumer pace it (grant slowly or quickly), and carries across a
// network where no mailbox is shared.
//
// Rules: one subscriber per source at a time (a second subscribe is
// refused); a demand of 0 is a protocol violation (Reactive Streams 3.9)
// and ends the flow with that error; grants add up, saturating at 2^64-1
// (practically unbounded). A source watches its subscriber and stops when
// it exits.
//
// Thread safety: everything here is owner-only (one actor's state), the
// messages are values.

#include <weft/actors/flow_error.hpp>
#include <weft/runtime/behavior.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/expected.hpp>
#include <weft/runtime/messages.hpp>
#include <weft/runtime/protocol.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace weft::actors {

// -- the protocol -------------------------------------------------------------

// Consumer -> producer: n more items may be sent (request(n)).
struct demand {
  std::uint64_t n = 0;
};
// Consumer -> producer: send nothing more.
struct cancel_flow {};
// Producer -> consumer: one item, numbered from 0; costs one credit.
template <class T>
struct flow_item {
  std::uint64_t seq = 0;
  T value{};
};
// Producer -> consumer: no more items. `failure` is empty (category none)
// when the flow completed; otherwise why it ended.
struct flow_end {
  std::uint64_t total = 0;
  error failure{};
};
// What a consumer speaks (at least).
template <class T>
struct flow_sink : protocol<void(flow_item<T>), void(flow_end)> {};

template <class T>
struct subscribe_flow {
  ref<flow_sink<T>> sink{};
};
struct get_flow_stats {};
struct flow_source_stats {
  std::uint64_t granted = 0;  // credits received, in all
  std::uint64_t sent = 0;     // items sent
  std::uint64_t credit = 0;   // granted - sent: what may still be sent now
  bool subscribed = false;
  bool ended = false;
};
// What a producer made with credit_source speaks.
template <class T>
struct flow_source
    : protocol<void(subscribe_flow<T>), void(demand), void(cancel_flow), flow_source_stats(get_flow_stats)> {};

// -- pure policies --------------------------------------------------------------

// The producer's count of what it may send. Owner-only.
class credit_window {
 public:
  // Adds n credits, saturating.
  void grant(std::uint64_t n) noexcept;
  // Uses one credit, if there is one.
  bool try_take() noexcept;
  std::uint64_t available() const noexcept { return granted_ - used_; }
  std::uint64_t granted() const noexcept { return granted_; }
  std::uint64_t used() const noexcept { return used_; }

 private:
  std::uint64_t granted_ = 0;
  std::uint64_t used_ = 0;
};

// The consumer's side: how much credit is out, and when to grant more.
// Grants `window` at the start, then `batch` at a time, each time `batch`
// more items have been processed (granting per item would send one demand
// per item; per batch, one per `batch`). Owner-only.
class demand_policy {
 public:
  // window >= 1; batch in [1, window], 0 meaning half the window (rounded
  // up). Throws std::invalid_argument otherwise.
  explicit demand_policy(std::uint64_t window, std::uint64_t batch = 0);

  // The first grant (the whole window).
  std::uint64_t initial() noexcept;
  // An item arrived. False if no credit was out for it (the producer
  // overran the window): a protocol violation.
  bool on_received() noexcept;
  // An item was processed: the credits to grant now (0, or `batch` or more).
  std::uint64_t on_processed() noexcept;

  std::uint64_t window() const noexcept { return window_; }
  std::uint64_t batch() const noexcept { return batch_; }
  std::uint64_t outstanding() const noexcept { return outstanding_; }  // granted, not yet arrived
  std::uint64_t unprocessed() const noexcept { return unprocessed_; }  // arrived, not yet processed

 private:
  std::uint64_t window_;
  std::uint64_t batch_;
  std::uint64_t outstanding_ = 0;
  std::uint64_t unprocessed_ = 0;
  std::uint64_t to_grant_ = 0;  // processed since the last grant
};

// -- helpers for actors ----------------------------------------------------------

struct credit_receiver_stats {
  std::uint64_t received = 0;
  std::uint64_t processed = 0;
  std::uint64_t granted = 0;
  std::uint64_t violations = 0;
  bool ended = false;
};

namespace detail {
error subscribe_refused(const pid& self, std::string_view protocol_name, const error& why);
error credit_overrun(std::uint64_t seq, std::uint64_t window);
error out_of_sequence(std::uint64_t seq, std::uint64_t expected);
}  // namespace detail

// The consumer's helper: one per flow, kept in the consumer actor's state.
template <class T>
class credit_receiver {
 public:
  explicit credit_receiver(std::uint64_t window, std::uint64_t batch = 0) : policy_(window, batch) {}

  // Subscribes this actor (which must speak flow_sink<T>) to `source` and
  // grants the first window. Errors: wrong_protocol (this actor does not
  // speak flow_sink<T>).
  expected<void> subscribe(context& self, const ref<flow_source<T>>& source) {
    auto sink = ref_cast<flow_sink<T>>(self.self());
    if (!sink) return detail::subscribe_refused(self.self(), weft::detail::type_name_of<flow_sink<T>>(), sink.error());
    source_ = source;
    self.send(source_, subscribe_flow<T>{*sink});
    grant(self, policy_.initial());
    return {};
  }

  // An item arrived: its value, or protocol_violation (no credit was out
  // for it, or its number is not the next one). Counts either way.
  expected<T> accept(flow_item<T> item) {
    if (!policy_.on_received()) {
      ++stats_.violations;
      return detail::credit_overrun(item.seq, policy_.window());
    }
    ++stats_.received;
    if (item.seq != next_seq_) {
      ++stats_.violations;
      return detail::out_of_sequence(item.seq, next_seq_);
    }
    ++next_seq_;
    return std::move(item.value);
  }

  // The item accept() returned has been dealt with: grants more credit
  // when a batch is complete.
  void processed(context& self) {
    ++stats_.processed;
    if (const std::uint64_t n = policy_.on_processed(); n > 0) grant(self, n);
  }

  // The flow ended (call from the flow_end handler).
  void ended(const flow_end&) noexcept { stats_.ended = true; }

  // Tells the producer to stop.
  void cancel(context& self) {
    if (source_) self.send(source_, cancel_flow{});
  }

  const credit_receiver_stats& stats() const noexcept { return stats_; }
  const demand_policy& policy() const noexcept { return policy_; }

 private:
  void grant(context& self, std::uint64_t n) {
    stats_.granted += n;
    self.send(source_, demand{n});
  }

  demand_policy policy_;
  ref<flow_source<T>> source_;
  std::uint64_t next_seq_ = 0;
  credit_receiver_stats stats_;
};

// The producer's helper for a hand-written producer actor: it never sends
// without a credit. Owner-only.
template <class T>
class credit_sender {
 public:
  // The subscriber; false (and nothing changes) if one is attached already.
  bool attach(const ref<flow_sink<T>>& sink) {
    if (sink_) return false;
    sink_ = sink;
    return true;
  }
  bool attached() const noexcept { return static_cast<bool>(sink_); }
  const ref<flow_sink<T>>& sink() const noexcept { return sink_; }
  void on_demand(const demand& d) noexcept { window_.grant(d.n); }
  // Whether send() would send now.
  bool can_send() const noexcept { return sink_ && !ended_ && window_.available() > 0; }

  // Sends one item, using a credit. protocol_violation, nothing sent, if
  // there is no credit, no subscriber, or the flow has ended.
  expected<void> send(context& self, T value) {
    if (!can_send()) {
      return error(flow_errc::protocol_violation,
                   ended_ ? "credit flow: send after the flow ended"
                          : (sink_ ? "credit flow: send without credit; wait for the consumer's demand"
                                   : "credit flow: send before a consumer subscribed"));
    }
    (void)window_.try_take();
    self.send(sink_, flow_item<T>{sent_++, std::move(value)});
    return {};
  }
  // Ends the flow (once), completed or with `failure`.
  void end(context& self, error failure = {}) {
    if (ended_) return;
    ended_ = true;
    if (sink_) self.send(sink_, flow_end{sent_, std::move(failure)});
  }

  flow_source_stats stats() const noexcept {
    return {window_.granted(), sent_, window_.available(), static_cast<bool>(sink_), ended_};
  }

 private:
  ref<flow_sink<T>> sink_;
  credit_window window_;
  std::uint64_t sent_ = 0;
  bool ended_ = false;
};

// A producer actor that pulls its items from `next` only against credit:
// each item costs a credit, and without one `next` is not called. `next`
// returns the next item, or nullopt at the end (the source then sends
// flow_end and stops, reason normal); it runs inside the source actor
// (called with its context). cancel_flow, a demand of 0, or the
// subscriber's exit stop the source too.
//
//   auto source = rt.spawn(weft::actors::credit_source<int>([i = 0](weft::context&) mutable
//                                                           -> std::optional<int> { return i++; }));
template <class T, class Next>
auto credit_source(Next next) {
  return [next](context& self) mutable -> behavior_of<flow_source<T>> {
    struct state {
      credit_sender<T> sender;
      Next next;
    };
    auto st = std::make_shared<state>(state{{}, next});
    auto pump = [&self, st] {
      while (st->sender.can_send()) {
        std::optional<T> item = st->next(self);
        if (!item) {
          st->sender.end(self);
          self.exit();
        }
        (void)st->sender.send(self, std::move(*item));
      }
    };
    return {[&self, st](subscribe_flow<T> s) -> expected<void> {
              if (!st->sender.attach(s.sink)) {
                return error(flow_errc::protocol_violation,
                             "credit_source " + self.self().to_string() + " already has a subscriber");
              }
              self.monitor(s.sink);
              return {};
            },
            [&self, st, pump](demand d) {
              if (d.n == 0) {
                st->sender.end(self, error(flow_errc::protocol_violation, "credit flow: a demand of 0 items"));
                self.exit();
              }
              st->sender.on_demand(d);
              pump();
            },
            [&self](cancel_flow) { self.exit(); },
            [&self, st](const down_msg& down) {
              if (down.who == st->sender.sink().to_pid()) self.exit();
            },
            [st](get_flow_stats) { return st->sender.stats(); }};
  };
}

}  // namespace weft::actors
