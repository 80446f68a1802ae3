// pubsub::broker's untyped half: the per-subscription buffers and the
// broker's routing (pubsub.hpp has the user's view; subject_index.cpp the
// index).
//
// Routing one publish (broker_core::publish, inside the broker actor):
//   1. Match the subject in the index: plain subscriptions, and the queue
//      groups whose pattern matches.
//   2. For each queue group pick one member: round robin from the group's
//      cursor, the first with room; none has room: the one in turn (its
//      lag policy then decides).
//   3. For each chosen subscription push the shared message into its
//      buffer (inbox::push, under the buffer's mutex): the lag policy
//      (on_delivery) says buffer, drop the oldest, drop this one, or evict.
//   4. A push into a buffer that had no wake-up out claims one, and the
//      broker sends deliveries<T> with try_send: it never waits for a
//      subscriber. A refused wake-up (a full mailbox with a reject or drop
//      policy) is released and retried on a timer (wake_retry, generation-
//      tagged so a stale tick is ignored).
//   5. Evict: remove the subscription from the index and the tables, close
//      its buffer, and tell the subscriber (lag_evicted).
//
// Wake-up protocol, why no delivery is stranded: `wake_out_` and the
// buffer change together under the inbox mutex. push sets wake_out_ when
// it buffers into an inbox without one; take() empties the buffer and
// clears wake_out_ in one step. So after any take, the next push claims a
// wake-up, and while a wake-up is out (sent, not yet taken) the
// subscriber will call take() and see everything pushed meanwhile.

#include <weft/actors/pubsub.hpp>

#include <algorithm>

namespace weft::actors::pubsub {

std::string_view to_string(lag_policy p) noexcept {
  switch (p) {
    case lag_policy::drop_oldest:
      return "drop_oldest";
    case lag_policy::drop_newest:
      return "drop_newest";
    case lag_policy::disconnect:
      return "disconnect";
  }
  return "unknown";
}

std::string_view to_string(errc e) noexcept {
  switch (e) {
    case errc::invalid_subject:
      return "invalid_subject";
    case errc::invalid_pattern:
      return "invalid_pattern";
    case errc::invalid_options:
      return "invalid_options";
    case errc::no_subscriber:
      return "no_subscriber";
    case errc::not_subscribed:
      return "not_subscribed";
    case errc::already_running:
      return "already_running";
  }
  return "unknown";
}

lag_action on_delivery(lag_policy policy, std::size_t buffered, std::size_t bound) noexcept {
  if (buffered < bound) return lag_action::buffer;
  switch (policy) {
    case lag_policy::drop_oldest:
      return lag_action::drop_oldest;
    case lag_policy::drop_newest:
      return lag_action::drop_newest;
    case lag_policy::disconnect:
      return lag_action::evict;
  }
  return lag_action::drop_newest;
}

namespace detail {

std::string_view errc_name(int code) noexcept {
  return to_string(static_cast<errc>(code));
}

error not_running_error(std::string_view what) {
  return error(ask_errc::no_actor, "pubsub: " + std::string(what) + ": the broker is not running (start it first)");
}

error already_running_error(std::string_view name) {
  return error(errc::already_running, "pubsub broker" +
                                          (name.empty() ? std::string() : " '" + std::string(name) + "'") +
                                          ": already running; one instance per broker handle");
}

expected<void> check_subscribe(std::string_view pattern, const pid& subscriber, const subscribe_options& options) {
  if (!valid_pattern(pattern)) {
    return error(errc::invalid_pattern, "subscribe: '" + std::string(pattern) +
                                            "' is not a valid pattern (tokens separated by '.'; '*' a whole token; "
                                            "'>' only as the last token)");
  }
  if (!subscriber)
    return error(errc::no_subscriber, "subscribe '" + std::string(pattern) + "': the subscriber pid is empty");
  if (options.buffer == 0) {
    return error(errc::invalid_options, "subscribe '" + std::string(pattern) + "': buffer must be at least 1");
  }
  if (options.queue_group.find_first_of(" \t\r\n") != std::string::npos) {
    return error(errc::invalid_options, "subscribe '" + std::string(pattern) + "': queue group '" +
                                            options.queue_group + "' contains whitespace");
  }
  return {};
}

expected<void> publish_outcome(send_status status) {
  switch (status) {
    case send_status::ok:
      return {};
    case send_status::dead:
      return not_running_error("publish");
    case send_status::stopping:
      return error(ask_errc::stopping, "publish: the runtime is shutting down");
    case send_status::dropped:
    case send_status::rejected:
    case send_status::timeout:
    case send_status::deadlock:
      break;
  }
  return error(ask_errc::rejected,
               "publish: the broker's mailbox refused the message (" + std::string(weft::to_string(status)) + ")");
}

// -- inbox ----------------------------------------------------------------

inbox::push_result inbox::push(published_ptr message) {
  std::lock_guard lock(mutex_);
  if (closed_) return {lag_action::drop_newest, false};
  const lag_action action = on_delivery(policy_, buffer_.size(), bound_);
  switch (action) {
    case lag_action::buffer:
      break;
    case lag_action::drop_oldest:
      buffer_.pop_front();
      ++counts_.dropped_oldest;
      break;
    case lag_action::drop_newest:
      ++counts_.dropped_newest;
      return {action, false};
    case lag_action::evict:
      closed_ = true;
      counts_.evicted = true;
      return {action, false};
  }
  buffer_.push_back(std::move(message));
  ++counts_.buffered_total;
  counts_.max_buffered = std::max(counts_.max_buffered, buffer_.size());
  const bool wake = !wake_out_;
  wake_out_ = true;
  return {action, wake};
}

bool inbox::claim_wake() {
  std::lock_guard lock(mutex_);
  if (wake_out_ || buffer_.empty()) return false;
  wake_out_ = true;
  return true;
}

void inbox::wake_refused() {
  std::lock_guard lock(mutex_);
  wake_out_ = false;
}

bool inbox::has_room() const {
  std::lock_guard lock(mutex_);
  return !closed_ && buffer_.size() < bound_;
}

void inbox::close(bool evicted) {
  std::lock_guard lock(mutex_);
  closed_ = true;
  if (evicted) counts_.evicted = true;
}

void inbox::take(std::vector<published_ptr>& out) {
  std::lock_guard lock(mutex_);
  counts_.taken += buffer_.size();
  out.reserve(out.size() + buffer_.size());
  for (auto& m : buffer_)
    out.push_back(std::move(m));
  buffer_.clear();
  wake_out_ = false;
}

subscriber_stats inbox::stats() const {
  std::lock_guard lock(mutex_);
  subscriber_stats s = counts_;
  s.buffered = buffer_.size();
  s.bound = bound_;
  return s;
}

// -- broker_core ----------------------------------------------------------

broker_core::broker_core(context& self, wake_fn wake, std::chrono::nanoseconds wake_retry)
    : self_(self), wake_(wake), wake_retry_(wake_retry) {}

broker_core::~broker_core() {
  for (auto& [id, s] : subscriptions_)
    s.box->close(false);
}

expected<broker_core::subscribed> broker_core::subscribe(std::string pattern, pid subscriber,
                                                         subscribe_options options) {
  // The handle checked already; a message built by hand is checked here.
  if (auto ok = check_subscribe(pattern, subscriber, options); !ok) return ok.error();
  const std::uint64_t id = next_id_++;
  auto box = std::make_shared<inbox>(options.on_lag, options.buffer);
  index_.insert(pattern, options.queue_group, id);
  auto [who, fresh] = subscribers_.try_emplace(subscriber);
  // One monitor per subscriber actor, however many subscriptions it has.
  if (fresh) who->second.monitor = self_.monitor(subscriber);
  who->second.subscriptions.push_back(id);
  subscriptions_.emplace(
      id, subscription_entry{std::move(pattern), std::move(options.queue_group), std::move(subscriber), box});
  return subscribed{subscription_id{id}, std::move(box)};
}

expected<void> broker_core::unsubscribe(subscription_id id) {
  if (subscriptions_.find(id.value) == subscriptions_.end()) {
    return error(errc::not_subscribed,
                 "unsubscribe: no subscription " + std::to_string(id.value) + " (already unsubscribed or evicted?)");
  }
  remove(id.value, false);
  return {};
}

void broker_core::remove(std::uint64_t id, bool evicted) {
  auto it = subscriptions_.find(id);
  if (it == subscriptions_.end()) return;
  subscription_entry& s = it->second;
  index_.erase(s.pattern, s.queue_group, id);
  s.box->close(evicted);
  if (auto who = subscribers_.find(s.subscriber); who != subscribers_.end()) {
    auto& ids = who->second.subscriptions;
    ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
    if (ids.empty()) {
      self_.demonitor(who->second.monitor);
      subscribers_.erase(who);
    }
  }
  subscriptions_.erase(it);
}

void broker_core::publish(const published_ptr& message) {
  ++stats_.published;
  index_.match(message->subject, matches_);
  if (matches_.size() == 0) {
    ++stats_.unmatched;
    return;
  }
  // Evictions wait until the fan-out is done: removing a subscription
  // edits the index, which the group pointers in matches_ point into.
  evictions_.clear();
  for (std::uint64_t id : matches_.plain) {
    auto it = subscriptions_.find(id);
    if (it != subscriptions_.end()) deliver(id, it->second, message);
  }
  for (auto* group : matches_.groups) {
    const std::size_t n = group->members.size();
    std::size_t pick = group->next % n;
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = (group->next + k) % n;
      auto it = subscriptions_.find(group->members[i]);
      if (it != subscriptions_.end() && it->second.box->has_room()) {
        pick = i;
        break;
      }
    }
    group->next = (pick + 1) % n;
    const std::uint64_t id = group->members[pick];
    auto it = subscriptions_.find(id);
    if (it != subscriptions_.end()) deliver(id, it->second, message);
  }
  matches_.clear();
  for (std::uint64_t id : evictions_)
    evict(id);
}

void broker_core::deliver(std::uint64_t id, subscription_entry& s, const published_ptr& message) {
  const inbox::push_result r = s.box->push(message);
  switch (r.action) {
    case lag_action::buffer:
      ++stats_.delivered;
      break;
    case lag_action::drop_oldest:
      ++stats_.delivered;
      ++stats_.dropped_oldest;
      break;
    case lag_action::drop_newest:
      ++stats_.dropped_newest;
      break;
    case lag_action::evict:
      evictions_.push_back(id);
      return;
  }
  if (r.wake) send_wake(id, s);
}

void broker_core::send_wake(std::uint64_t id, subscription_entry& s) {
  ++stats_.wakes_sent;
  const send_status st = wake_(self_, s.subscriber, subscription_id{id}, s.box);
  if (st == send_status::ok) return;
  s.box->wake_refused();
  if (st == send_status::dead) return;  // its down_msg removes the subscription
  ++stats_.wakes_refused;
  retry_.push_back(id);
  arm_retry();
}

void broker_core::arm_retry() {
  if (retry_armed_) return;
  retry_armed_ = true;
  self_.send_after(wake_retry_, self_.self(), wake_retry{++retry_generation_});
}

void broker_core::on_retry(std::uint64_t generation) {
  if (generation != retry_generation_ || !retry_armed_) return;  // a stale tick
  retry_armed_ = false;
  std::vector<std::uint64_t> ids;
  ids.swap(retry_);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  for (std::uint64_t id : ids) {
    auto it = subscriptions_.find(id);
    if (it == subscriptions_.end()) continue;
    if (it->second.box->claim_wake()) send_wake(id, it->second);
  }
}

void broker_core::evict(std::uint64_t id) {
  auto it = subscriptions_.find(id);
  if (it == subscriptions_.end()) return;
  ++stats_.evicted;
  lag_evicted notice{subscription_id{id}, it->second.pattern, it->second.box->stats().bound, {}};
  notice.reason = "subscription " + std::to_string(id) + " on '" + notice.pattern + "': its buffer of " +
                  std::to_string(notice.buffer) +
                  " deliveries was full (the subscriber lags) and its lag policy is disconnect";
  pid to = it->second.subscriber;
  remove(id, true);
  // Never blocks the broker; a subscriber whose mailbox refuses it still
  // finds subscriber_stats::evicted set on its handle.
  self_.try_send(to, std::move(notice));
}

void broker_core::on_down(const down_msg& down) {
  auto who = subscribers_.find(down.who);
  if (who == subscribers_.end() || who->second.monitor != down.ref) return;
  const std::vector<std::uint64_t> ids = who->second.subscriptions;
  for (std::uint64_t id : ids)
    remove(id, false);
}

broker_stats broker_core::stats() const {
  broker_stats s = stats_;
  s.subscriptions = subscriptions_.size();
  s.subscribers = subscribers_.size();
  s.index_nodes = index_.node_count();
  return s;
}

}  // namespace detail
}  // namespace weft::actors::pubsub
