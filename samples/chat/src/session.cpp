// A user's session (session.hpp).

#include "session.hpp"

#include "irc/protocol.hpp"

#include <weft/runtime/runtime.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>

namespace chat {

using namespace std::chrono_literals;

namespace {

// How long a session waits for a room or presence to answer.
constexpr auto call_timeout = 10s;
// A room being restarted by its supervisor: tries and pause between them.
constexpr int open_attempts = 200;
constexpr auto open_pause = 10ms;
// once_ids seen recently (a quit or nick change comes once per shared room).
constexpr std::size_t once_memory = 64;

std::atomic<std::uint64_t> next_once_id{1};

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

weft::error fail(session_errc e, std::string detail = {}) {
  return weft::error(e, detail.empty() ? std::string(to_string(e)) : std::move(detail));
}

}  // namespace

std::string_view to_string(session_errc e) noexcept {
  switch (e) {
    case session_errc::invalid_name: return "invalid name";
    case session_errc::nick_in_use: return "nickname is already in use";
    case session_errc::no_such_nick: return "no such nick";
    case session_errc::no_such_room: return "no such channel";
    case session_errc::not_on_room: return "you're not on that channel";
    case session_errc::too_many_rooms: return "you have joined too many channels";
    case session_errc::unavailable: return "the server could not do it now";
    case session_errc::monitor_full: return "monitor list is full";
  }
  return "unknown";
}

std::string_view detail::session_errc_name(int code) noexcept {
  return to_string(static_cast<session_errc>(code));
}

weft::expected<weft::pid> open_room(weft::context& self, const hub& h, std::string_view folded,
                                    std::string_view display) {
  namespace sup = weft::sup;
  weft::error last;
  for (int attempt = 0; attempt < open_attempts; ++attempt) {
    if (weft::pid running = self.system().whereis(room_name(folded))) return running;
    auto rooms = sup::supervisor::from(self.system().whereis(h.rooms_supervisor));
    if (!rooms) {
      last = rooms.error();
      self.sleep_for(open_pause);
      continue;
    }
    auto started = rooms->start_child(self, room_spec(h.cfg, *h.journal, std::string(folded), std::string(display)),
                                       call_timeout);
    if (started && *started) return *started;
    if (!started) {
      last = started.error();
      // A room that stopped empty is a stopped child: start it again.
      if (started.error() == sup::errc::already_present) {
        auto again = rooms->restart_child(self, std::string(folded), call_timeout);
        if (again && *again) return *again;
        if (!again) last = again.error();
      } else if (started.error() != sup::errc::running) {
        return last;  // the room cannot start (its journal is broken, say)
      }
    }
    // Running but not registered yet, or being restarted: look again soon.
    self.sleep_for(open_pause);
  }
  return fail(session_errc::unavailable, fmt::format("room {} is not available: {}", display, last));
}

session::session(weft::context& self, std::shared_ptr<const hub> h, session_sink& sink, std::string host, bool web)
    : self_(self),
      hub_(std::move(h)),
      sink_(sink),
      host_(std::move(host)),
      web_(web),
      echo_(web),
      last_input_(self.system().clock().now()) {}

member_info session::as_member() const { return {self_.self(), nick_, prefix(), echo_}; }

weft::expected<void> session::set_nick(std::string nick) {
  if (!irc::valid_nick(nick)) return fail(session_errc::invalid_name);
  if (nick == nick_) return {};
  const std::string old_prefix = prefix();
  const std::string new_prefix = nick + "!" + user_ + "@" + host_;
  auto claimed = claim(nick, new_prefix, registered_);
  if (!claimed) return claimed.error();
  if (*claimed == claim_result::in_use) return fail(session_errc::nick_in_use);
  if (registered_) {
    const std::uint64_t once = next_once_id.fetch_add(1, std::memory_order_relaxed);
    for (auto& [folded, r] : rooms_) {
      self_.send(r.who, member_changed{self_.self(), event_kind::nick, nick, new_prefix, once});
    }
    (void)old_prefix;
  }
  nick_ = std::move(nick);
  self_.set_label(fmt::format("{} {}", web_ ? "web" : "irc", nick_));
  return {};
}

weft::expected<claim_result> session::claim(const std::string& nick, const std::string& prefix, bool on_line) {
  auto typed = weft::ref_cast<presence_protocol>(self_.system().whereis(presence_name));
  if (!typed) return fail(session_errc::unavailable, "presence is not running");
  auto claimed = self_.ask(*typed, claim_nick{self_.self(), nick, prefix, on_line}, call_timeout);
  if (!claimed) return fail(session_errc::unavailable, fmt::format("presence: {}", claimed.error()));
  return claimed;
}

void session::mark_registered() {
  registered_ = true;
  (void)claim(nick_, prefix(), true);
}

void session::set_user(std::string user, std::string realname) {
  // The ident part: no spaces, '@' or '!' (it goes into prefixes).
  std::erase_if(user, [](char c) { return c == '@' || c == '!' || c == ' ' || c == '\0'; });
  if (user.empty()) user = "user";
  if (user.size() > 16) user.resize(16);
  user_ = std::move(user);
  realname_ = irc::to_valid_utf8(realname);
}

weft::expected<joined> session::enter(const std::string& folded, std::string_view display, room_entry& entry,
                                      bool announce) {
  auto room = open_room(self_, *hub_, folded, display);
  if (!room) return room.error();
  auto typed = weft::ref_cast<room_protocol>(*room);
  if (!typed) return typed.error();
  // Monitor before joining: a crash right after the join is seen.
  if (entry.who != *room) self_.monitor(*room);
  auto reply = self_.ask(*typed, join_room{as_member(), announce}, call_timeout);
  if (!reply) {
    // No answer in time (a room swamped by a JOIN/PART storm): the join
    // may still be in the room's mailbox and take effect later, making a
    // member this session does not know it is (NAMES would list it until
    // the user quits). A leave sent now, from the same sender, comes
    // after it: the room ends up without this member either way.
    self_.send(*room, leave_room{self_.self(), event_kind::part, {}, 0});
    return reply.error();
  }
  entry.who = *room;
  entry.display = reply->name;
  entry.tag = reply->tag;
  return reply;
}

weft::expected<joined> session::join(std::string_view room) {
  if (!irc::valid_channel(room)) return fail(session_errc::invalid_name);
  std::string folded = irc::casefold(room);
  if (auto it = rooms_.find(folded); it != rooms_.end()) return room_info(room);
  if (rooms_.size() >= hub_->cfg.channels_per_user) return fail(session_errc::too_many_rooms);
  room_entry entry;
  auto reply = enter(folded, room, entry, true);
  if (!reply) return reply;
  entry.last_seq = reply->last_seq;
  rooms_.emplace(std::move(folded), std::move(entry));
  return reply;
}

weft::expected<void> session::part(std::string_view room, std::string reason) {
  auto it = rooms_.find(irc::casefold(room));
  if (it == rooms_.end()) return fail(irc::valid_channel(room) ? session_errc::not_on_room : session_errc::no_such_room);
  self_.send(it->second.who, leave_room{self_.self(), event_kind::part, std::move(reason), 0});
  rooms_.erase(it);
  return {};
}

weft::expected<std::string> session::say(std::string_view target, event_kind kind, std::string text) {
  text = irc::to_valid_utf8(text);
  if (irc::is_channel(target)) {
    auto it = rooms_.find(irc::casefold(target));
    if (it == rooms_.end()) {
      return fail(irc::valid_channel(target) ? session_errc::not_on_room : session_errc::no_such_room);
    }
    self_.send(it->second.who, chat::say{self_.self(), kind, std::move(text)});
    return std::string();
  }
  auto found = find(target);
  if (!found) return found.error();
  auto e = event::make({.kind = kind,
                        .room = found->nick,
                        .nick = nick_,
                        .prefix = prefix(),
                        .text = std::move(text),
                        .time_ms = now_ms(),
                        .from = self_.self()});
  // A session whose mailbox is full is being cut off by its rooms already.
  (void)self_.try_send(found->who, deliver{e});
  if (echo_) (void)self_.try_send(self_.self(), deliver{e});
  return found->away;
}

weft::expected<void> session::set_topic(std::string_view room, std::string topic) {
  auto it = rooms_.find(irc::casefold(room));
  if (it == rooms_.end()) return fail(irc::valid_channel(room) ? session_errc::not_on_room : session_errc::no_such_room);
  self_.send(it->second.who, chat::say{self_.self(), event_kind::topic, irc::to_valid_utf8(topic)});
  return {};
}

weft::expected<joined> session::room_info(std::string_view room) {
  auto it = rooms_.find(irc::casefold(room));
  weft::pid who;
  if (it != rooms_.end()) {
    who = it->second.who;
  } else {
    // NAMES / TOPIC of a room one is not in: only if it runs.
    if (!irc::valid_channel(room)) return fail(session_errc::no_such_room);
    who = self_.system().whereis(room_name(irc::casefold(room)));
    if (!who) return fail(session_errc::no_such_room);
  }
  auto typed = weft::ref_cast<room_protocol>(who);
  if (!typed) return fail(session_errc::unavailable);
  // Asking to join again is how a member reads the room: a no-op join.
  if (it != rooms_.end()) return self_.ask(*typed, join_room{as_member(), false}, call_timeout);
  return self_.ask(*typed, describe_room{}, call_timeout);
}

weft::expected<std::vector<member_info>> session::who(std::string_view room) {
  weft::pid who = self_.system().whereis(room_name(irc::casefold(room)));
  auto typed = weft::ref_cast<room_protocol>(who);
  if (!typed) return fail(session_errc::no_such_room);
  return self_.ask(*typed, who_request{}, call_timeout);
}

weft::expected<std::vector<event_ptr>> session::history(std::string_view room, history_request request) {
  const std::string folded = irc::casefold(room);
  weft::pid who;
  if (auto it = rooms_.find(folded); it != rooms_.end()) who = it->second.who;
  if (!who && irc::valid_channel(room)) {
    // History of a room one is not in (a client catching up before it
    // joins): the room is opened for it.
    auto opened = open_room(self_, *hub_, folded, room);
    if (!opened) return opened.error();
    who = *opened;
  }
  auto typed = weft::ref_cast<room_protocol>(who);
  if (!typed) return fail(session_errc::no_such_room);
  return self_.ask(*typed, std::move(request), call_timeout);
}

weft::expected<nick_found> session::find(std::string_view nick) {
  auto typed = weft::ref_cast<presence_protocol>(self_.system().whereis(presence_name));
  if (!typed) return fail(session_errc::unavailable);
  auto found = self_.ask(*typed, find_nick{std::string(nick)}, call_timeout);
  if (!found) return found.error();
  if (!found->who) return fail(session_errc::no_such_nick);
  return found;
}

weft::expected<nick_found> session::whois(std::string_view nick) { return find(nick); }

bool session::in_room(std::string_view room) const { return rooms_.contains(irc::casefold(room)); }

std::vector<std::string> session::rooms() const {
  std::vector<std::string> out;
  for (const auto& [folded, r] : rooms_) out.push_back(r.display);
  return out;
}

void session::set_away(std::string text) {
  text = irc::to_valid_utf8(text);
  if (text == away_) return;
  away_ = std::move(text);
  idle_ = false;
  if (auto typed = weft::ref_cast<presence_protocol>(self_.system().whereis(presence_name))) {
    self_.send(*typed, set_presence{self_.self(), !away_.empty(), away_});
  }
  const std::uint64_t once = next_once_id.fetch_add(1, std::memory_order_relaxed);
  for (auto& [folded, r] : rooms_) self_.send(r.who, member_changed{self_.self(), event_kind::away, away_, {}, once});
}

void session::active() {
  last_input_ = self_.system().clock().now();
  if (idle_) set_away("");  // idle was an automatic away: back
}

void session::check_idle() {
  if (!registered_ || idle_ || !away_.empty()) return;
  if (self_.system().clock().now() - last_input_ < hub_->cfg.idle_after) return;
  set_away("Idle");
  idle_ = true;
}

weft::expected<void> session::monitor_add(const std::vector<std::string>& nicks) {
  for (const std::string& nick : nicks) {
    if (!irc::valid_nick(nick)) continue;
    std::string folded = irc::casefold(nick);
    if (watching_.contains(folded)) continue;
    if (watching_.size() >= hub_->cfg.monitor_limit) return fail(session_errc::monitor_full);
    auto sub = hub_->presence_events.subscribe(self_, presence_subject(folded), self_.self(),
                                               {.buffer = 64, .on_lag = weft::actors::pubsub::lag_policy::drop_oldest});
    if (!sub) return fail(session_errc::unavailable, fmt::format("presence events: {}", sub.error()));
    watching_.emplace(folded, std::move(*sub));
    // Subscribed first, then asked: a change in between is seen twice
    // at worst, never missed.
    auto found = find(nick);
    if (found) {
      sink_.presence({found->nick, found->prefix,
                      found->away.empty() ? presence_state::online : presence_state::away, found->away, true});
    } else {
      sink_.presence({nick, {}, presence_state::offline, {}});
    }
  }
  return {};
}

void session::monitor_remove(const std::vector<std::string>& nicks) {
  for (const std::string& nick : nicks) {
    auto it = watching_.find(irc::casefold(nick));
    if (it == watching_.end()) continue;
    (void)hub_->presence_events.unsubscribe(self_, it->second.id());
    watching_.erase(it);
  }
}

void session::monitor_clear() {
  for (auto& [folded, sub] : watching_) (void)hub_->presence_events.unsubscribe(self_, sub.id());
  watching_.clear();
}

std::vector<std::string> session::monitored() const {
  std::vector<std::string> out;
  for (const auto& [folded, sub] : watching_) out.push_back(folded);
  return out;
}

bool session::accept(const event& e) {
  if (e.once_id != 0) {
    if (std::find(seen_once_.begin(), seen_once_.end(), e.once_id) != seen_once_.end()) return false;
    if (seen_once_.size() < once_memory) {
      seen_once_.push_back(e.once_id);
    } else {
      seen_once_[once_next_++ % once_memory] = e.once_id;  // a ring, once full
    }
  }
  if (e.seq != 0) {
    auto it = rooms_.find(irc::casefold(e.room));
    if (it != rooms_.end()) {
      if (e.seq <= it->second.last_seq) return false;  // had it (a replay overlapping live events)
      it->second.last_seq = e.seq;
    }
  }
  return true;
}

bool session::on_down(const weft::down_msg& down) {
  auto it = std::find_if(rooms_.begin(), rooms_.end(), [&](const auto& r) { return r.second.who == down.who; });
  if (it == rooms_.end()) return false;
  room_entry& entry = it->second;
  const std::string folded = it->first;
  const std::string display = entry.display;
  // The room crashed (or stopped with the server): join its next
  // incarnation without announcing, then fetch what was durable but not
  // delivered (the batch written just before the crash).
  auto rejoined = enter(folded, display, entry, false);
  if (!rejoined) {
    rooms_.erase(it);
    sink_.lost_room(display, fmt::format("{}", rejoined.error()));
    return true;
  }
  while (entry.last_seq < rejoined->last_seq) {
    auto typed = weft::ref_cast<room_protocol>(entry.who);
    if (!typed) break;
    history_request missed{.what = history_request::selector::after,
                           .a = {.seq = entry.last_seq},
                           .limit = hub_->cfg.history_page};
    auto events = self_.ask(*typed, missed, call_timeout);
    if (!events || events->empty()) break;
    for (const event_ptr& e : *events) {
      if (accept(*e)) sink_.replay(e);
    }
  }
  return true;
}

void session::quit(const std::string& reason) {
  const std::uint64_t once = next_once_id.fetch_add(1, std::memory_order_relaxed);
  for (auto& [folded, r] : rooms_) self_.send(r.who, leave_room{self_.self(), event_kind::quit, reason, once});
  rooms_.clear();
  monitor_clear();
  // The nick goes when this actor exits (presence monitors it).
}

}  // namespace chat
