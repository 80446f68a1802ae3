// The room actor (room.hpp).

#include "room.hpp"

#include "history.hpp"
#include "irc/protocol.hpp"

#include <weft/actors/server.hpp>
#include <weft/persistence/journal.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/runtime.hpp>
#include <weft/supervisor/supervisor.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <utility>

namespace chat {

namespace wp = weft::persistence;

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Posted by the room to itself: write the says queued so far.
struct flush {};
// Posted after config::idle_room_stop without members: stop if still empty.
struct idle_check {
  std::uint64_t generation = 0;
};

class room {
 public:
  using protocol_type = room_protocol;
  using self_type = weft::actors::server_context<room>;
  using info_messages = weft::actors::messages<flush, idle_check>;

  room(config cfg, wp::journal* journal, std::string folded, std::string display)
      : cfg_(std::move(cfg)),
        journal_(journal),
        folded_(std::move(folded)),
        display_(std::move(display)),
        tag_(room_tag(folded_)) {}

  // Starts the history child (linked: it dies with this incarnation) and
  // takes topic and recent history from it.
  weft::expected<void> init(self_type& self) {
    self->set_label(fmt::format("room {}", display_));
    wp::persistent_options<history_state, record> options{
        .persistence_id = "room:" + folded_,
        .journal = journal_,

        .event_manifest = history_manifest,
    };
    // The history child of a crashed incarnation is linked to it and dies
    // with it, but its exit signal may still be on its way: the journal
    // takes one live writer per persistence id, so wait for it first.
    const std::string history_name = "history:" + folded_;
    if (weft::pid previous = self->system().whereis(history_name)) {
      self->monitor(previous);
      if (!self->receive_if<weft::down_msg>([&](const weft::down_msg& d) { return d.who == previous; },
                                            std::chrono::seconds(30))) {
        return weft::error(weft::ask_errc::timeout, "the previous history actor of " + display_ + " did not stop");
      }
    }
    history_ = self->spawn_link(wp::persistent<history>(std::move(options)),
                                {.name = history_name, .label = "history " + display_});
    auto state = self->ask(history_, wp::get_state{}, std::chrono::seconds(60));
    if (!state) return state.error();
    topic_ = state->topic;
    topic_by_ = state->topic_by;
    topic_time_ = state->topic_time_ms;
    last_seq_ = state->last_seq;
    const std::uint64_t keep = cfg_.history_in_memory;
    if (last_seq_ > 0 && keep > 0) {
      const std::uint64_t first = last_seq_ > keep ? last_seq_ - keep + 1 : 1;
      journal_->read("room:" + folded_, first, last_seq_, keep, [&](const wp::event_view& v) {
        recent_.push_back(to_event(wp::decode<record>(v.payload), v.sequence_nr));
      });
    }
    self->set_describe([this] {
      return fmt::format("{} members, {} history events, topic '{}'", members_.size(), last_seq_, topic_);
    });
    arm_idle_check(self);
    return {};
  }

  joined handle_call(self_type& self, join_room j) {
    auto it = find(j.member.who);
    if (it == members_.end()) {
      self->monitor(j.member.who);
      if (j.announce) {
        publish_event(self, event::make({.kind = event_kind::join,
                                   .room = display_,
                                   .nick = j.member.nick,
                                   .prefix = j.member.prefix,
                                   .time_ms = now_ms(),
                                   .from = j.member.who}),
                /*to_sender=*/false);
      }
      members_.push_back(std::move(j.member));
    } else {
      *it = std::move(j.member);  // a rejoin: same member, maybe new details
    }
    return describe();
  }

  joined handle_call(self_type&, describe_room) { return describe(); }

  joined describe() const {
    joined reply{.name = display_,
                 .topic = topic_,
                 .topic_by = topic_by_,
                 .topic_time_ms = topic_time_,
                 .last_seq = last_seq_,
                 .tag = tag_};
    reply.names.reserve(members_.size());
    for (const member_info& m : members_) reply.names.push_back(m.nick);
    return reply;
  }

  void handle_cast(self_type& self, leave_room l) {
    auto it = find(l.who);
    if (it == members_.end()) return;
    member_info gone = std::move(*it);
    members_.erase(it);
    // The monitor stays until the member exits; a down_msg for a
    // non-member is ignored (handle_info).
    publish_event(self, event::make({.kind = l.how,
                         .room = display_,
                         .nick = gone.nick,
                         .prefix = gone.prefix,
                         .text = std::move(l.reason),
                         .time_ms = now_ms(),
                         .from = gone.who,
                         .once_id = l.once_id}),
            false);
    if (members_.empty()) arm_idle_check(self);
  }

  void handle_cast(self_type& self, say s) {
    auto it = find(s.who);
    if (it == members_.end()) return;  // not (or no longer) a member: +n, no outside messages
    pending_.push_back({.kind = static_cast<std::uint8_t>(s.kind),
                        .nick = it->nick,
                        .prefix = it->prefix,
                        .text = std::move(s.text),
                        .time_ms = now_ms()});
    senders_.push_back(s.who);
    schedule_flush(self);
  }

  void handle_cast(self_type& self, member_changed c) {
    auto it = find(c.who);
    if (it == members_.end()) return;
    const std::string old_prefix = it->prefix;
    const std::string old_nick = it->nick;
    if (c.kind == event_kind::nick) {
      it->nick = c.text;
      it->prefix = c.new_prefix;
    }
    publish_event(self, event::make({.kind = c.kind,
                         .room = display_,
                         .nick = old_nick,
                         .prefix = old_prefix,
                         .text = std::move(c.text),
                         .time_ms = now_ms(),
                         .from = c.who,
                         .once_id = c.once_id}),
            false);
  }

  std::vector<event_ptr> handle_call(self_type&, const history_request& h) {
    const std::size_t limit = std::clamp<std::size_t>(h.limit, 1, cfg_.history_page);
    using sel = history_request::selector;
    switch (h.what) {
      case sel::latest: {
        const std::uint64_t after = h.a.any() ? 0 : resolve(h.a);
        return range(after + 1, last_seq_, limit, /*newest=*/true);
      }
      case sel::before: {
        const std::uint64_t before = resolve(h.a);
        if (before <= 1) return {};
        return range(1, before - 1, limit, true);
      }
      case sel::after: return range(resolve(h.a) + 1, last_seq_, limit, false);
      case sel::around: {
        const std::uint64_t at = resolve(h.a);
        auto older = range(1, at > 0 ? at - 1 : 0, limit / 2, true);
        auto rest = range(std::max<std::uint64_t>(at, 1), last_seq_, limit - older.size(), false);
        older.insert(older.end(), rest.begin(), rest.end());
        return older;
      }
      case sel::between: {
        std::uint64_t a = resolve(h.a), b = resolve(h.b);
        if (a > b) {
          std::swap(a, b);
          return range(a + 1, b > 0 ? b - 1 : 0, limit, true);
        }
        return range(a + 1, b > 0 ? b - 1 : 0, limit, false);
      }
    }
    return {};
  }

  std::vector<member_info> handle_call(self_type&, who_request) { return members_; }

  void handle_info(self_type& self, flush) {
    flush_posted_ = false;
    write_batch(self);
  }

 private:
  // Writes the batch, then hands every record to the members.
  void write_batch(self_type& self) {
    if (pending_.empty()) return;
    std::vector<record> batch = std::exchange(pending_, {});
    std::vector<weft::pid> senders = std::exchange(senders_, {});
    auto last = self->ask(history_, append_records{batch}, std::chrono::seconds(60));
    if (!last) {
      // Not durable: stop, and let the supervisor's restart recover
      // from what is. (The history child stopped already if the
      // journal failed.)
      throw std::runtime_error(fmt::format("room {}: history write failed: {}", display_, last.error()));
    }
    std::uint64_t seq = *last - batch.size();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      record& r = batch[i];
      if (r.kind == static_cast<std::uint8_t>(event_kind::topic)) {
        topic_ = r.text;
        topic_by_ = r.nick;
        topic_time_ = r.time_ms;
      }
      event_ptr e = to_event(r, ++seq);
      recent_.push_back(e);
      if (recent_.size() > cfg_.history_in_memory) recent_.pop_front();
      // The sender sees its own TOPIC (as IRC servers echo it) and,
      // with echo-message, its messages.
      publish(self, e, senders[i], r.kind == static_cast<std::uint8_t>(event_kind::topic));
    }
    last_seq_ = *last;
  }


 public:
  void handle_info(self_type& self, const weft::down_msg& down) {
    auto it = find(down.who);
    if (it == members_.end()) return;
    member_info gone = std::move(*it);
    members_.erase(it);
    publish_event(self, event::make({.kind = event_kind::quit,
                         .room = display_,
                         .nick = gone.nick,
                         .prefix = gone.prefix,
                         .text = down.reason.is_normal() ? "Client exited" : "Connection lost",
                         .time_ms = now_ms(),
                         .from = gone.who,
                         // one QUIT per user, whatever rooms it shared
                         .once_id = std::hash<std::string>{}(gone.prefix) | 1}),
            false);
    if (members_.empty()) arm_idle_check(self);
  }

  void handle_info(self_type& self, idle_check check) {
    if (check.generation == idle_generation_ && members_.empty() && pending_.empty()) {
      // shutdown, not normal: a normal exit does not travel through links,
      // and the history child must go with the room. For the supervisor
      // it is a clean stop (a transient child is not restarted).
      self->exit(weft::exit_reason::shutdown());
    }
  }

 private:
  std::vector<member_info>::iterator find(const weft::pid& who) {
    return std::find_if(members_.begin(), members_.end(), [&](const member_info& m) { return m.who == who; });
  }

  // Batching: the first say of a batch posts `flush` behind the messages
  // queued now, so they all join it. The post never waits: a room posting
  // to its own full mailbox would wait for itself forever. If the mailbox
  // is full the post is retried with the next say (handling one freed a
  // slot), and a batch that reaches max_batch is written at once.
  void schedule_flush(self_type& self) {
    if (pending_.size() >= max_batch) {
      write_batch(self);
      return;
    }
    if (flush_posted_) return;
    flush_posted_ = self->try_send(self->self(), flush{}) == weft::send_status::ok;
  }

  void arm_idle_check(self_type& self) {
    self->send_after(cfg_.idle_room_stop, self->self(), idle_check{++idle_generation_});
  }

  // A presence event (join, part, quit, nick, away): its sender is in it.
  void publish_event(self_type& self, const event_ptr& e, bool to_sender) { publish(self, e, e->from, to_sender); }

  // One event to every member; a member that cannot take it (its mailbox
  // is full: it stopped reading long ago) is cut off.
  // (The sender is passed apart, not read from the event: history events
  // stay in recent_, and a pid kept there would keep a departed session's
  // actor from being freed.)
  void publish(self_type& self, const event_ptr& e, const weft::pid& sender, bool to_sender) {
    for (const member_info& m : members_) {
      if (m.who == sender && !to_sender && !m.echo) continue;
      if (self->try_send(m.who, deliver{e}) == weft::send_status::rejected) {
        self->exit(m.who, weft::exit_reason::error("SendQ exceeded"));
      }
    }
  }

  event_ptr to_event(const record& r, std::uint64_t seq) const {
    return event::make({.kind = static_cast<event_kind>(r.kind),
                        .room = display_,
                        .nick = r.nick,
                        .prefix = r.prefix,
                        .text = r.text,
                        .time_ms = r.time_ms,
                        .seq = seq,
                        .msgid = make_msgid(seq, tag_)});
  }

  // A reference as a sequence number: a msgid's, or the first event at or
  // after a timestamp (last_seq_ + 1 if none).
  std::uint64_t resolve(const history_ref& ref) {
    if (ref.seq != 0) return std::min(ref.seq, last_seq_ + 1);
    if (ref.time_ms < 0) return 0;
    if (!recent_.empty() && recent_.front()->time_ms <= ref.time_ms) {
      auto it = std::lower_bound(recent_.begin(), recent_.end(), ref.time_ms,
                                 [](const event_ptr& e, std::int64_t t) { return e->time_ms < t; });
      return it == recent_.end() ? last_seq_ + 1 : (*it)->seq;
    }
    std::uint64_t found = 0;
    journal_->read("room:" + folded_, 1, last_seq_, wp::max_sequence_nr, [&](const wp::event_view& v) {
      if (found == 0 && wp::decode<record>(v.payload).time_ms >= ref.time_ms) found = v.sequence_nr;
    });
    return found == 0 ? last_seq_ + 1 : found;
  }

  // At most `limit` events numbered first..last: the newest ones of the
  // range if `newest`, else the oldest; always oldest first.
  std::vector<event_ptr> range(std::uint64_t first, std::uint64_t last, std::size_t limit, bool newest) {
    std::vector<event_ptr> out;
    if (first == 0) first = 1;
    last = std::min(last, last_seq_);
    if (limit == 0 || first > last) return out;
    if (last - first + 1 > limit) {
      if (newest) {
        first = last - limit + 1;
      } else {
        last = first + limit - 1;
      }
    }
    const std::uint64_t in_memory = recent_.empty() ? last_seq_ + 1 : recent_.front()->seq;
    if (first >= in_memory) {
      for (std::uint64_t s = first; s <= last; ++s) out.push_back(recent_[s - in_memory]);
      return out;
    }
    journal_->read("room:" + folded_, first, last, limit, [&](const wp::event_view& v) {
      out.push_back(to_event(wp::decode<record>(v.payload), v.sequence_nr));
    });
    return out;
  }

  config cfg_;
  wp::journal* journal_;
  std::string folded_;
  std::string display_;
  std::string tag_;
  weft::ref<wp::persistent_protocol<history_protocol, history_state>> history_;
  std::vector<member_info> members_;
  std::string topic_, topic_by_;
  std::int64_t topic_time_ = 0;
  std::uint64_t last_seq_ = 0;
  std::deque<event_ptr> recent_;
  std::vector<record> pending_;       // says waiting for the next flush
  std::vector<weft::pid> senders_;    // who said each of them
  bool flush_posted_ = false;         // a flush message is queued
  static constexpr std::size_t max_batch = 1024;
  std::uint64_t idle_generation_ = 0;
};

}  // namespace

std::string room_name(std::string_view folded) { return fmt::format("room:{}", folded); }

weft::sup::child_spec room_spec(const config& cfg, wp::journal& journal, std::string folded, std::string display) {
  std::string id = folded;
  std::string name = room_name(folded);
  return weft::sup::worker(std::move(id), weft::actors::server<room>(cfg, &journal, std::move(folded), std::move(display)),
                           {.restart = weft::sup::restart_type::transient,
                            .name = std::move(name),
                            // Says wait here while a batch is written; a full
                            // mailbox makes senders wait (back-pressure).
                            .spawn = {.mailbox_capacity = 1u << 14}});
}

}  // namespace chat
