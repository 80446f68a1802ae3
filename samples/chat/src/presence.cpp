// The presence server (presence.hpp).

#include "presence.hpp"

#include "irc/protocol.hpp"

#include <weft/actors/server.hpp>
#include <weft/runtime/context.hpp>
#include <weft/supervisor/child_spec.hpp>

#include <fmt/format.h>

#include <unordered_map>

namespace chat {

std::string presence_subject(std::string_view folded_nick) {
  // Nicks may hold characters subjects may not ('.', '*', '>'... no, but
  // '[' '|' are fine): hex keeps every nick one valid token.
  std::string subject = "presence.";
  for (unsigned char c : folded_nick) subject += fmt::format("{:02x}", c);
  return subject;
}

namespace {

class presence {
 public:
  using protocol_type = presence_protocol;
  using self_type = weft::actors::server_context<presence>;

  explicit presence(presence_broker broker) : broker_(std::move(broker)) {}

  void init(self_type& self) {
    self->set_describe([this] { return fmt::format("{} nicks on line", by_nick_.size()); });
  }

  claim_result handle_call(self_type& self, claim_nick c) {
    const std::string key = irc::casefold(c.nick);
    auto taken = by_nick_.find(key);
    if (taken != by_nick_.end() && taken->second.who != c.who) return claim_result::in_use;
    bool was_on_line = false;
    auto old = by_pid_.find(c.who);
    const bool renamed = old != by_pid_.end() && old->second != key;
    if (old == by_pid_.end()) {
      self->monitor(c.who);
    } else if (old->second != key) {
      entry was = std::move(by_nick_[old->second]);
      by_nick_.erase(old->second);
      was_on_line = was.on_line;
      if (was.on_line) publish(self, old->second, was, presence_state::offline);
    } else {
      was_on_line = by_nick_[key].on_line;
    }
    entry& e = by_nick_[key];
    e.who = c.who;
    e.nick = std::move(c.nick);
    e.prefix = std::move(c.prefix);
    e.on_line = c.on_line || was_on_line;
    by_pid_[e.who] = key;
    // On line now under this nick: a new nick, or registration done.
    if (e.on_line && (renamed || !was_on_line)) {
      publish(self, key, e, presence_state::online, /*arrived=*/true);
    }
    return claim_result::ok;
  }

  nick_found handle_call(self_type&, const find_nick& f) {
    auto it = by_nick_.find(irc::casefold(f.nick));
    if (it == by_nick_.end()) return {};
    return {it->second.who, it->second.nick, it->second.prefix, it->second.away};
  }

  void handle_cast(self_type& self, set_presence p) {
    auto key = by_pid_.find(p.who);
    if (key == by_pid_.end()) return;
    entry& e = by_nick_[key->second];
    const std::string text = p.away ? std::move(p.text) : std::string();
    if (text == e.away) return;
    e.away = text;
    publish(self, key->second, e, e.away.empty() ? presence_state::online : presence_state::away);
  }

  presence_stats handle_call(self_type&, presence_stats_request) {
    presence_stats s{.online = by_nick_.size()};
    for (const auto& [key, e] : by_nick_) s.away += e.away.empty() ? 0 : 1;
    return s;
  }

  void handle_info(self_type& self, const weft::down_msg& down) {
    auto key = by_pid_.find(down.who);
    if (key == by_pid_.end()) return;
    auto it = by_nick_.find(key->second);
    if (it != by_nick_.end()) {
      if (it->second.on_line) publish(self, it->first, it->second, presence_state::offline);
      by_nick_.erase(it);
    }
    by_pid_.erase(key);
  }

 private:
  struct entry {
    weft::pid who;
    std::string nick;
    std::string prefix;
    std::string away;
    bool on_line = false;
  };

  void publish(self_type& self, const std::string& key, const entry& e, presence_state state,
               bool arrived = false) {
    // A broker that is restarting loses this notice (see server.hpp).
    (void)broker_.publish(self, presence_subject(key), presence_change{e.nick, e.prefix, state, e.away, arrived});
  }

  presence_broker broker_;
  std::unordered_map<std::string, entry> by_nick_;
  std::unordered_map<weft::pid, std::string> by_pid_;
};

}  // namespace

weft::sup::child_spec presence_spec(presence_broker broker) {
  return weft::sup::worker("presence", weft::actors::server<presence>(std::move(broker)), {.name = presence_name});
}

}  // namespace chat
