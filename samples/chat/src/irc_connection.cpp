// The IRC connection actor (irc_connection.hpp).

#include "irc_connection.hpp"

#include "irc/protocol.hpp"
#include "peer_socket.hpp"

#include <weft/actors/pubsub.hpp>
#include <weft/actors/rate_limiter.hpp>
#include <weft/runtime/runtime.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace chat {

namespace {

namespace net = weft::net;
namespace pubsub = weft::actors::pubsub;
using namespace std::chrono_literals;
using clock_type = weft::clock;

constexpr std::uint64_t input_tag = 1;
constexpr std::uint64_t output_tag = 2;
constexpr std::size_t read_chunk = 16384;
// Lines handled per readable notice before looking at the mailbox again,
// so a client pasting a flood cannot starve its own deliveries.
constexpr std::size_t lines_per_turn = 64;
// The last words to a client that is being cut off get this long.
constexpr auto farewell_timeout = 200ms;

// What the connection sends itself: its timer's tick, the go-ahead to
// read on after flood control held it, and the write of what queued.
struct tick {};
struct resume_input {};
struct flush_output {};

// The IRCv3 capabilities weft-chat offers.
enum cap : unsigned {
  cap_message_tags = 1u << 0,
  cap_server_time = 1u << 1,
  cap_echo_message = 1u << 2,
  cap_away_notify = 1u << 3,
  cap_chathistory = 1u << 4,
  cap_batch = 1u << 5,
};
struct cap_name {
  const char* name;
  unsigned bit;
};
constexpr cap_name offered_caps[] = {
    {"message-tags", cap_message_tags}, {"server-time", cap_server_time},
    {"echo-message", cap_echo_message}, {"away-notify", cap_away_notify},
    {"draft/chathistory", cap_chathistory}, {"batch", cap_batch},
};

class irc_client final : public session_sink {
 public:
  irc_client(weft::context& self, net::socket sock, std::shared_ptr<const hub> h)
      : self_(self),
        sock_(std::move(sock)),
        cfg_(h->cfg),
        session_(self, h, *this, peer_host(sock_, "unknown"), false),
        started_(now()),
        last_input_(started_) {
    if (cfg_.input_rate > 0) {
      bucket_.emplace(weft::actors::token_bucket_config{.rate = cfg_.input_rate,
                                                        .burst = static_cast<double>(cfg_.input_burst)},
                      now());
    }
  }

  // Inside the new actor, before its first message: the timer and the
  // first readable notice. False if the socket is gone already.
  bool start() {
    pin_send_buffer(sock_);  // so a slow reader's output waits where the sendq sees it
    self_.trap_exit(true);  // to say goodbye when the server stops
    self_.set_label("irc (unregistered)");
    const auto period = std::clamp<std::chrono::nanoseconds>(
        std::min<std::chrono::nanoseconds>({cfg_.ping_after, cfg_.register_timeout, cfg_.idle_after}) / 4, 10ms, 5s);
    timer_ = self_.send_interval(period, self_.self(), tick{});
    return static_cast<bool>(sock_.notify_readable(input_tag));
  }

  // After every message: output waits for a flush_output posted behind
  // the messages queued now, so a burst of deliveries goes out in one
  // write; a connection that is closing says goodbye and stops.
  template <class M>
  void handle(const M& m) {
    on_message(m);
    if (closing_) {
      self_.cancel_timer(timer_);
      finish();
      self_.exit(weft::exit_reason::normal());
      return;
    }
    if (out_pos_ == out_.size() || flush_posted_ || write_armed_) return;
    flush_posted_ = self_.try_send(self_.self(), flush_output{}) == weft::send_status::ok;
    if (!flush_posted_) flush();  // the mailbox is full: write now
  }

 private:
  // -- the mailbox ---------------------------------------------------------------

  void on_message(const deliver& d) { on_event(d.e, false); }
  void on_message(const net::readable&) { read_input(); }
  void on_message(const net::writable&) {
    write_armed_ = false;
    flush();
  }
  void on_message(const pubsub::deliveries<presence_change>& d) {
    for (const auto& change : d.take()) presence(change.payload());
  }
  void on_message(const pubsub::lag_evicted&) {}
  void on_message(const weft::down_msg& down) { (void)session_.on_down(down); }
  // Trapped: the supervisor stops the server (shutdown), or died. Only
  // the supervisor is linked to a connection.
  void on_message(const weft::exit_msg& exit) {
    close_with(exit.reason.is_clean_stop() ? "Server shutting down" : exit.reason.to_string());
  }
  void on_message(const tick&) { on_tick(); }
  void on_message(const flush_output&) {
    flush_posted_ = false;
    flush();
  }
  void on_message(const resume_input&) {
    resume_armed_ = false;
    if (drain_held()) read_input();
  }

  // -- input --------------------------------------------------------------------

  // Reads what the kernel has, line by line through flood control; asks
  // for the next readable notice only once every line read was handled
  // (a throttled client is not read: its kernel buffer fills and it
  // waits, which is the delay flood control promises).
  void read_input() {
    for (;;) {
      auto bytes = sock_.read_some(read_chunk, 0ns);
      if (!bytes) {
        if (bytes.error() == net::errc::timeout) break;
        lost(bytes.error() == net::errc::closed ? "Connection closed" : "Connection reset by peer");
        return;
      }
      last_input_ = now();
      ping_sent_ = false;
      splitter_.feed(*bytes, [&](std::string_view line, bool too_long) {
        // A line never holds '\n': that stands for a dropped over-long one,
        // answered with 417 in its turn.
        held_.emplace_back(too_long ? std::string_view("\n") : line);
      });
      if (bucket_ && held_.size() - held_pos_ > cfg_.abuse_lines) {  // that many lines waiting for tokens
        close_with("Excess Flood");
        return;
      }
      if (!drain_held() || closing_) return;  // throttled: read again once the lines went
    }
    if (!closing_) (void)sock_.notify_readable(input_tag);
  }

  // Handles the lines read, as fast as flood control lets them: true once
  // all went.
  bool drain_held() {
    std::size_t done = 0;
    while (held_pos_ < held_.size() && !closing_) {
      if (bucket_ && !bucket_->try_take(now(), 1)) {
        if (!resume_armed_) {
          resume_armed_ = true;
          self_.send_after(std::max<std::chrono::nanoseconds>(bucket_->time_until(now(), 1), 1ms), self_.self(),
                           resume_input{});
        }
        return false;
      }
      std::string line = std::move(held_[held_pos_++]);
      if (held_pos_ == held_.size()) {
        held_.clear();
        held_pos_ = 0;
      }
      if (line == "\n") {
        numeric("417", {"Input line was too long"});
      } else {
        on_line(line);
      }
      if (++done == lines_per_turn && held_pos_ < held_.size()) {
        // Let the deliveries queued meanwhile in; come back for the rest.
        resume_armed_ = true;
        self_.send(self_.self(), resume_input{});
        return false;
      }
    }
    return !closing_;
  }

  void on_line(std::string_view line) {
    irc::parse_error why{};
    auto m = irc::parse(line, &why);
    if (!m) {
      if (why == irc::parse_error::empty) return;
      if (why == irc::parse_error::too_long) return numeric("417", {"Input line was too long"});
      return numeric("400", {"*", fmt::format("Malformed line: {}", irc::to_string(why))});
    }
    session_.active();
    dispatch(*m);
  }

  // -- commands -----------------------------------------------------------------

  void dispatch(irc::message& m) {
    const std::string& c = m.command;
    auto& p = m.params;
    if (c == "PING") return p.empty() ? need_more(c) : send_line(irc::line(server(), "PONG", {server(), p.back()}));
    if (c == "PONG") return;  // last_input_ is refreshed by any line
    if (c == "CAP") return on_cap(p);
    if (c == "NICK") return on_nick(p);
    if (c == "USER") return on_user(p);
    if (c == "PASS") return;
    if (c == "QUIT") return on_quit(p.empty() ? "Quit" : "Quit: " + p.back());
    if (!session_.registered()) return numeric("451", {"You have not registered"});
    if (c == "JOIN") return on_join(p);
    if (c == "PART") return on_part(p);
    if (c == "PRIVMSG" || c == "NOTICE") return on_say(c, p);
    if (c == "TAGMSG") return;  // client-only tags (typing...) are not relayed
    if (c == "NAMES") return on_names(p);
    if (c == "TOPIC") return on_topic(p);
    if (c == "WHO") return on_who(p);
    if (c == "WHOIS") return on_whois(p);
    if (c == "AWAY") return on_away(p);
    if (c == "MONITOR") return on_monitor(p);
    if (c == "CHATHISTORY") return on_chathistory(p);
    if (c == "MODE") return on_mode(p);
    if (c == "LIST") return numeric("323", {"End of /LIST"});
    if (c == "MOTD") return motd();
    if (c == "LUSERS") return numeric("251", {"There are users on 1 server"});
    if (c == "USERHOST" || c == "ISON") return on_ison(c, p);
    numeric("421", {c, "Unknown command"});
  }

  void on_cap(const std::vector<std::string>& p) {
    if (p.empty()) return need_more("CAP");
    const std::string sub = upper(p[0]);
    if (sub == "LS") {
      if (!session_.registered()) cap_negotiating_ = true;
      std::string list;
      for (const cap_name& c : offered_caps) list += (list.empty() ? "" : " ") + std::string(c.name);
      send_line(irc::line(server(), "CAP", {nick_or_star(), "LS", list}));
    } else if (sub == "LIST") {
      std::string list;
      for (const cap_name& c : offered_caps) {
        if (caps_ & c.bit) list += (list.empty() ? "" : " ") + std::string(c.name);
      }
      send_line(irc::line(server(), "CAP", {nick_or_star(), "LIST", list}));
    } else if (sub == "REQ") {
      if (p.size() < 2) return need_more("CAP");
      if (!session_.registered()) cap_negotiating_ = true;
      unsigned add = 0, remove = 0;
      bool ok = true;
      std::string_view rest = p[1];
      while (!rest.empty()) {
        const auto space = rest.find(' ');
        std::string_view word = rest.substr(0, space);
        rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
        if (word.empty()) continue;
        const bool off = word.front() == '-';
        if (off) word.remove_prefix(1);
        auto known = std::find_if(std::begin(offered_caps), std::end(offered_caps),
                                  [&](const cap_name& c) { return word == c.name; });
        if (known == std::end(offered_caps)) {
          ok = false;
          break;
        }
        (off ? remove : add) |= known->bit;
      }
      if (ok) {
        caps_ = (caps_ | add) & ~remove;
        session_.set_echo(caps_ & cap_echo_message);
      }
      send_line(irc::line(server(), "CAP", {nick_or_star(), ok ? "ACK" : "NAK", p[1]}));
    } else if (sub == "END") {
      cap_negotiating_ = false;
      try_register();
    } else {
      numeric("410", {p[0], "Invalid CAP command"});
    }
  }

  void on_nick(const std::vector<std::string>& p) {
    if (p.empty() || p[0].empty()) return numeric("431", {"No nickname given"});
    const std::string old_prefix = session_.prefix();
    auto set = session_.set_nick(p[0]);
    if (!set) {
      if (set.error() == session_errc::nick_in_use) return numeric("433", {p[0], "Nickname is already in use"});
      if (set.error() == session_errc::invalid_name) return numeric("432", {p[0], "Erroneous nickname"});
      return numeric("400", {"NICK", fmt::format("{}", set.error())});
    }
    if (session_.registered()) {
      send_line(irc::line(old_prefix, "NICK", {session_.nick()}));
    } else {
      nick_given_ = true;
      try_register();
    }
  }

  void on_user(const std::vector<std::string>& p) {
    if (session_.registered()) return numeric("462", {"You may not reregister"});
    if (p.size() < 4) return need_more("USER");
    session_.set_user(p[0], p[3]);
    user_given_ = true;
    try_register();
  }

  void try_register() {
    if (session_.registered() || !nick_given_ || !user_given_ || cap_negotiating_) return;
    session_.mark_registered();
    self_.set_label(fmt::format("irc {}", session_.nick()));
    const std::string& n = session_.nick();
    numeric("001", {fmt::format("Welcome to the {} IRC network, {}", cfg_.network, session_.prefix())});
    numeric("002", {fmt::format("Your host is {}, running weft-chat", cfg_.server_name)});
    numeric("003", {"This server was started with weft"});
    send_line(irc::line(server(), "004", {n, cfg_.server_name, "weft-chat", "i", "nt"}));
    send_line(irc::line(server(), "005",
                        {n, fmt::format("NETWORK={}", cfg_.network), "CASEMAPPING=ascii", "CHANTYPES=#&",
                         fmt::format("CHANLIMIT=#&:{}", cfg_.channels_per_user),
                         fmt::format("NICKLEN={}", irc::max_nick_length),
                         fmt::format("CHANNELLEN={}", irc::max_channel_length), "PREFIX=()", "CHANMODES=,,,nt",
                         fmt::format("MONITOR={}", cfg_.monitor_limit),
                         fmt::format("CHATHISTORY={}", cfg_.history_page), "MSGREFTYPES=msgid,timestamp",
                         "are supported by this server"}));
    motd();
  }

  void motd() {
    numeric("375", {fmt::format("- {} Message of the day -", cfg_.server_name)});
    numeric("372", {"- weft-chat: an IRC server made of actors (https://github.com/weft)"});
    numeric("372", {"- One actor per connection, per room, and one for presence."});
    numeric("376", {"End of /MOTD command."});
  }

  void on_quit(const std::string& reason) { close_with(reason, /*announce=*/reason); }

  void on_join(const std::vector<std::string>& p) {
    if (p.empty()) return need_more("JOIN");
    if (p[0] == "0") {  // JOIN 0: leave every room
      for (const std::string& r : session_.rooms()) on_part({r, "Left all channels"});
      return;
    }
    for (std::string_view name : split_commas(p[0])) {
      auto j = session_.join(name);
      if (!j) {
        if (j.error() == session_errc::invalid_name) {
          numeric("479", {std::string(name), "Illegal channel name"});
        } else if (j.error() == session_errc::too_many_rooms) {
          numeric("405", {std::string(name), "You have joined too many channels"});
        } else {
          numeric("403", {std::string(name), fmt::format("Cannot join: {}", j.error())});
        }
        continue;
      }
      send_line(irc::line(session_.prefix(), "JOIN", {j->name}));
      send_topic(*j, false);
      send_names(j->name, j->names);
    }
  }

  void on_part(const std::vector<std::string>& p) {
    if (p.empty()) return need_more("PART");
    const std::string reason = p.size() > 1 ? p[1] : std::string();
    for (std::string_view name : split_commas(p[0])) {
      auto display = display_of(name);
      auto left = session_.part(name, reason);
      if (!left) {
        if (left.error() == session_errc::no_such_room) {
          numeric("403", {std::string(name), "No such channel"});
        } else {
          numeric("442", {std::string(name), "You're not on that channel"});
        }
        continue;
      }
      send_line(reason.empty() ? irc::line(session_.prefix(), "PART", {display})
                               : irc::line(session_.prefix(), "PART", {display, reason}));
    }
  }

  void on_say(const std::string& command, const std::vector<std::string>& p) {
    const bool notice = command == "NOTICE";  // NOTICE never gets an automatic error reply (RFC 2812)
    if (p.empty()) return notice ? void() : numeric("411", {fmt::format("No recipient given ({})", command)});
    if (p.size() < 2 || p[1].empty()) return notice ? void() : numeric("412", {"No text to send"});
    for (std::string_view target : split_commas(p[0])) {
      auto said = session_.say(target, notice ? event_kind::notice : event_kind::privmsg, p[1]);
      if (notice) continue;
      if (!said) {
        if (said.error() == session_errc::no_such_nick) {
          numeric("401", {std::string(target), "No such nick/channel"});
        } else if (said.error() == session_errc::no_such_room) {
          numeric("403", {std::string(target), "No such channel"});
        } else {
          numeric("404", {std::string(target), "Cannot send to channel"});
        }
      } else if (!said->empty()) {
        numeric("301", {std::string(target), *said});
      }
    }
  }

  void on_names(const std::vector<std::string>& p) {
    if (p.empty()) return numeric("366", {"*", "End of /NAMES list"});
    for (std::string_view name : split_commas(p[0])) {
      auto info = session_.room_info(name);
      if (!info) {
        numeric("366", {std::string(name), "End of /NAMES list"});
        continue;
      }
      send_names(info->name, info->names);
    }
  }

  void on_topic(const std::vector<std::string>& p) {
    if (p.empty()) return need_more("TOPIC");
    if (p.size() == 1) {
      auto info = session_.room_info(p[0]);
      if (!info) return numeric("403", {p[0], "No such channel"});
      return send_topic(*info, true);
    }
    auto set = session_.set_topic(p[0], p[1]);
    if (!set) numeric(set.error() == session_errc::no_such_room ? "403" : "442", {p[0], "You're not on that channel"});
    // The TOPIC line comes back from the room once durable.
  }

  void on_who(const std::vector<std::string>& p) {
    const std::string mask = p.empty() ? "*" : p[0];
    if (irc::is_channel(mask)) {
      auto members = session_.who(mask);
      if (members) {
        for (const member_info& m : *members) {
          const auto bang = m.prefix.find('!'), at = m.prefix.find('@');
          const std::string user = m.prefix.substr(bang + 1, at - bang - 1);
          const std::string host = m.prefix.substr(at + 1);
          send_line(irc::line(server(), "352", {session_.nick(), mask, user, host, cfg_.server_name, m.nick, "H",
                                                "0 " + m.nick}));
        }
      }
    } else if (auto found = session_.whois(mask)) {
      const auto bang = found->prefix.find('!'), at = found->prefix.find('@');
      send_line(irc::line(server(), "352",
                          {session_.nick(), "*", found->prefix.substr(bang + 1, at - bang - 1),
                           found->prefix.substr(at + 1), cfg_.server_name, found->nick,
                           found->away.empty() ? "H" : "G", "0 " + found->nick}));
    }
    numeric("315", {mask, "End of /WHO list"});
  }

  void on_whois(const std::vector<std::string>& p) {
    if (p.empty()) return numeric("431", {"No nickname given"});
    const std::string& nick = p.back();
    auto found = session_.whois(nick);
    if (!found) {
      numeric("401", {nick, "No such nick/channel"});
    } else {
      const auto bang = found->prefix.find('!'), at = found->prefix.find('@');
      send_line(irc::line(server(), "311", {session_.nick(), found->nick, found->prefix.substr(bang + 1, at - bang - 1),
                                            found->prefix.substr(at + 1), "*", found->nick}));
      send_line(irc::line(server(), "312", {session_.nick(), found->nick, cfg_.server_name, "weft-chat"}));
      if (!found->away.empty()) send_line(irc::line(server(), "301", {session_.nick(), found->nick, found->away}));
    }
    numeric("318", {nick, "End of /WHOIS list"});
  }

  void on_away(const std::vector<std::string>& p) {
    const std::string text = p.empty() ? std::string() : p[0];
    session_.set_away(text);
    if (text.empty()) {
      numeric("305", {"You are no longer marked as being away"});
    } else {
      numeric("306", {"You have been marked as being away"});
    }
  }

  void on_monitor(const std::vector<std::string>& p) {
    if (p.empty()) return need_more("MONITOR");
    const std::string sub = p[0];
    std::vector<std::string> nicks;
    if (p.size() > 1) {
      for (std::string_view n : split_commas(p[1])) nicks.emplace_back(n);
    }
    if (sub == "+") {
      auto added = session_.monitor_add(nicks);
      if (!added) {
        send_line(irc::line(server(), "734", {session_.nick(), std::to_string(cfg_.monitor_limit), p.size() > 1 ? p[1] : "",
                                              "Monitor list is full."}));
      }
    } else if (sub == "-") {
      session_.monitor_remove(nicks);
    } else if (sub == "C") {
      session_.monitor_clear();
    } else if (sub == "L") {
      auto list = session_.monitored();
      if (!list.empty()) numeric("732", {join_commas(list)});
      numeric("733", {"End of MONITOR list"});
    } else if (sub == "S") {
      auto list = session_.monitored();
      session_.monitor_remove(list);
      (void)session_.monitor_add(list);  // re-reads every state: 730 / 731
    }
  }

  void on_chathistory(const std::vector<std::string>& p) {
    if (p.size() < 2) return fail_line("CHATHISTORY", "NEED_MORE_PARAMS", {}, "Missing parameters");
    const std::string sub = upper(p[0]);
    if (sub == "TARGETS") {
      return batch("draft/chathistory-targets", {}, {});
    }
    if (p.size() < 4 && sub != "BETWEEN") {
      return fail_line("CHATHISTORY", "NEED_MORE_PARAMS", {sub}, "Missing parameters");
    }
    const std::string& target = p[1];
    history_request req;
    std::size_t limit_at = 3;
    auto ref = [&](const std::string& text, history_ref& out) -> bool {
      if (text == "*") return true;
      if (text.starts_with("msgid=")) {
        const std::string tag = room_tag(irc::casefold(target));
        out.seq = seq_of_msgid(std::string_view(text).substr(6), tag);
        // "0-<tag>" names the start of the history; another unknown msgid
        // matches nothing (a msgid of another room, say).
        if (out.seq == 0 && text != "msgid=" + make_msgid(0, tag)) out.seq = ~std::uint64_t{0} >> 1;
        return true;
      }
      if (text.starts_with("timestamp=")) {
        auto t = irc::parse_time(std::string_view(text).substr(10));
        if (!t) return false;
        out.time_ms = *t;
        return true;
      }
      return false;
    };
    bool ok = true;
    if (sub == "LATEST") {
      req.what = history_request::selector::latest;
      ok = ref(p[2], req.a);
    } else if (sub == "BEFORE" || sub == "AFTER" || sub == "AROUND") {
      req.what = sub == "BEFORE"  ? history_request::selector::before
                 : sub == "AFTER" ? history_request::selector::after
                                  : history_request::selector::around;
      ok = p[2] != "*" && ref(p[2], req.a);
    } else if (sub == "BETWEEN") {
      if (p.size() < 5) return fail_line("CHATHISTORY", "NEED_MORE_PARAMS", {sub}, "Missing parameters");
      req.what = history_request::selector::between;
      ok = ref(p[2], req.a) && ref(p[3], req.b);
      limit_at = 4;
    } else {
      return fail_line("CHATHISTORY", "INVALID_PARAMS", {sub}, "Unknown subcommand");
    }
    if (!ok) return fail_line("CHATHISTORY", "INVALID_PARAMS", {sub}, "Invalid message reference");
    req.limit = static_cast<std::size_t>(std::max(1L, std::atol(p[limit_at].c_str())));
    if (!irc::is_channel(target)) {
      return batch("chathistory", {target}, {});  // direct messages are not kept
    }
    auto events = session_.history(target, req);
    if (!events) {
      return fail_line("CHATHISTORY", "INVALID_TARGET", {sub, target}, fmt::format("{}", events.error()));
    }
    batch("chathistory", {target}, *events);
  }

  void on_mode(const std::vector<std::string>& p) {
    if (p.empty()) return need_more("MODE");
    if (irc::is_channel(p[0])) {
      if (p.size() > 1 && (p[1] == "b" || p[1] == "+b")) return numeric("368", {p[0], "End of channel ban list"});
      return send_line(irc::line(server(), "324", {session_.nick(), p[0], "+nt"}));
    }
    send_line(irc::line(server(), "221", {session_.nick(), "+i"}));
  }

  void on_ison(const std::string& c, const std::vector<std::string>& p) {
    std::vector<std::string> on;
    for (const std::string& n : p) {
      if (auto found = session_.whois(n)) {
        on.push_back(c == "ISON" ? found->nick
                                 : fmt::format("{}={}{}", found->nick, found->away.empty() ? '+' : '-',
                                               found->prefix.substr(found->prefix.find('!') + 1)));
      }
    }
    std::string joined;
    for (const auto& s : on) joined += (joined.empty() ? "" : " ") + s;
    numeric(c == "ISON" ? "303" : "302", {joined});
  }

  // -- output -------------------------------------------------------------------

  void on_event(const event_ptr& e, bool replayed) {
    if (!replayed && !session_.accept(*e)) return;
    if (e->kind == event_kind::away && !(caps_ & cap_away_notify)) return;
    const bool tags = (caps_ & (cap_server_time | cap_message_tags)) != 0;
    send_line(tags ? e->tagged : e->line);
  }

  void replay(const event_ptr& e) override { on_event(e, true); }
  void presence(const presence_change& c) override {
    switch (c.state) {
      case presence_state::online:
        if (c.arrived) {
          numeric("730", {c.prefix.empty() ? c.nick : c.prefix});
        } else if (caps_ & cap_away_notify) {
          send_line(irc::line(c.prefix, "AWAY", {}));  // back
        }
        break;
      case presence_state::away:
        if (c.arrived) numeric("730", {c.prefix});  // on line, and away already
        if (caps_ & cap_away_notify) send_line(irc::line(c.prefix, "AWAY", {c.away}));
        break;
      case presence_state::offline: numeric("731", {c.nick}); break;
    }
  }
  void lost_room(const std::string& room, const std::string& why) override {
    send_line(irc::line(server(), "KICK", {room, session_.nick(), fmt::format("Room unavailable: {}", why)}));
  }

  void batch(std::string_view type, std::vector<std::string_view> params, const std::vector<event_ptr>& events) {
    const bool batched = (caps_ & cap_batch) != 0;
    const bool tags = (caps_ & (cap_server_time | cap_message_tags)) != 0;
    const std::string id = fmt::format("h{}", ++batch_ids_);
    if (batched) {
      const std::string plus = "+" + id;
      std::vector<std::string_view> open{plus, type};
      open.insert(open.end(), params.begin(), params.end());
      send_line(irc::line(server(), "BATCH", open));
    }
    for (const event_ptr& e : events) {
      if (batched) {
        send_line(fmt::format("@batch={};{}", id, std::string_view(e->tagged).substr(1)));
      } else {
        send_line(tags ? e->tagged : e->line);
      }
    }
    if (batched) send_line(irc::line(server(), "BATCH", {"-" + id}));
  }

  void send_topic(const joined& j, bool always) {
    if (j.topic.empty()) {
      if (always) numeric("331", {j.name, "No topic is set"});
      return;
    }
    numeric("332", {j.name, j.topic});
    send_line(irc::line(server(), "333", {session_.nick(), j.name, j.topic_by.empty() ? cfg_.server_name : j.topic_by,
                                          std::to_string(j.topic_time_ms / 1000)}));
  }

  void send_names(const std::string& room, const std::vector<std::string>& names) {
    std::string chunk;
    for (const std::string& n : names) {
      if (chunk.size() + n.size() > 400) {
        send_line(irc::line(server(), "353", {session_.nick(), "=", room, chunk}));
        chunk.clear();
      }
      chunk += (chunk.empty() ? "" : " ") + n;
    }
    if (!chunk.empty()) send_line(irc::line(server(), "353", {session_.nick(), "=", room, chunk}));
    numeric("366", {room, "End of /NAMES list"});
  }

  // ":server NNN nick params..." (the client's nick, '*' before it has one).
  void numeric(std::string_view code, std::initializer_list<std::string_view> params) {
    std::vector<std::string_view> all{nick_or_star()};
    all.insert(all.end(), params.begin(), params.end());
    send_line(irc::line(server(), code, all));
  }
  void need_more(std::string_view command) { numeric("461", {command, "Not enough parameters"}); }
  void fail_line(std::string_view command, std::string_view code, std::vector<std::string_view> context,
                 std::string_view text) {
    std::vector<std::string_view> all{command, code};
    all.insert(all.end(), context.begin(), context.end());
    all.push_back(text);
    send_line(irc::line(server(), "FAIL", all));
  }

  // Queues a line (CR LF included); over the sendq the client is cut off.
  void send_line(std::string_view line) {
    if (closing_) return;
    out_.append(line);
    if (out_.size() - out_pos_ > cfg_.sendq_bytes) {
      out_.clear();
      out_pos_ = 0;
      close_with("SendQ exceeded");
    }
  }

  void flush() {
    if (out_pos_ == out_.size() || write_armed_ || !sock_.is_open()) return;
    auto sent = sock_.write_some(std::string_view(out_).substr(out_pos_));
    if (!sent) {
      out_.clear();
      out_pos_ = 0;
      lost("Connection reset by peer");
      return;
    }
    out_pos_ += *sent;
    if (out_pos_ == out_.size()) {
      // All gone: a queue that grew for a burst is given back, so an idle
      // connection holds no output buffer.
      if (out_.capacity() > 512) {
        std::string().swap(out_);
      } else {
        out_.clear();
      }
      out_pos_ = 0;
    } else {
      if (out_pos_ > out_.size() / 2) {
        out_.erase(0, out_pos_);
        out_pos_ = 0;
      }
      write_armed_ = static_cast<bool>(sock_.notify_writable(output_tag));
    }
  }

  // -- timers and endings -----------------------------------------------------

  void on_tick() {
    const auto t = now();
    if (!session_.registered()) {
      if (t - started_ >= cfg_.register_timeout) close_with("Registration timed out");
      return;
    }
    session_.check_idle();
    if (t - last_input_ >= cfg_.ping_timeout) {
      // In seconds as configured: "90", or "0.6" (whole seconds would say 0).
      close_with(fmt::format("Ping timeout: {} seconds", std::chrono::duration<double>(cfg_.ping_timeout).count()));
    } else if (t - last_input_ >= cfg_.ping_after && !ping_sent_) {
      ping_sent_ = true;
      send_line(irc::line({}, "PING", {cfg_.server_name}));
    }
  }

  // The client went away: no farewell to write.
  void lost(std::string_view why) {
    if (closing_) return;
    quit_reason_ = why;
    closing_ = true;
  }

  // Cuts the client off with a reason: the ERROR line, then close.
  void close_with(std::string_view why, std::string_view announce = {}) {
    if (closing_) return;
    quit_reason_ = announce.empty() ? std::string(why) : std::string(announce);
    farewell_ = irc::line({}, "ERROR", {fmt::format("Closing Link: {} ({})", session_.host(), why)});
    closing_ = true;
  }

  void finish() {
    session_.quit(quit_reason_);
    if (!farewell_.empty() && sock_.is_open()) {
      // What was queued, then the farewell, within a short time: a client
      // that does not read gets cut off without it.
      std::string last = out_.substr(out_pos_) + farewell_;
      if (last.size() > 65536) last = farewell_;
      (void)sock_.write_all(last, farewell_timeout);
    }
    sock_.close();
  }

  // -- helpers --------------------------------------------------------------------

  clock_type::time_point now() const { return self_.system().clock().now(); }
  const std::string& server() const { return cfg_.server_name; }
  const std::string& nick_or_star() const { return session_.nick(); }
  static std::string upper(std::string s) {
    for (char& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return s;
  }
  static std::vector<std::string_view> split_commas(std::string_view list) {
    std::vector<std::string_view> out;
    while (!list.empty()) {
      const auto comma = list.find(',');
      if (comma != 0) out.push_back(list.substr(0, comma));
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
    return out;
  }
  static std::string join_commas(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
    return out;
  }
  std::string display_of(std::string_view room) const {
    for (const std::string& r : session_.rooms()) {
      if (irc::casefold(r) == irc::casefold(room)) return r;
    }
    return std::string(room);
  }

  weft::context& self_;
  net::socket sock_;
  const config& cfg_;
  session session_;
  irc::line_splitter splitter_;
  // Lines read, waiting for flood-control tokens: held_[held_pos_...].
  // (A vector, not a deque: an empty deque still allocates ~600 bytes,
  // and every idle connection has one.)
  std::vector<std::string> held_;
  std::size_t held_pos_ = 0;
  std::optional<weft::actors::token_bucket> bucket_;
  std::string out_;          // output not yet written, from out_pos_
  std::size_t out_pos_ = 0;
  bool write_armed_ = false;   // a net::writable notice is due
  bool flush_posted_ = false;  // a flush_output is queued
  bool resume_armed_ = false;  // a resume_input is due
  unsigned caps_ = 0;
  bool cap_negotiating_ = false;
  bool nick_given_ = false;
  bool user_given_ = false;
  bool ping_sent_ = false;
  bool closing_ = false;
  std::string quit_reason_ = "Connection closed";
  std::string farewell_;
  std::uint64_t batch_ids_ = 0;
  weft::timer_ref timer_;
  clock_type::time_point started_;
  clock_type::time_point last_input_;
};

}  // namespace

weft::behavior irc_connection(weft::context& self, handed_socket handed, std::shared_ptr<const hub> h) {
  // Handler style: between messages an idle connection holds no fiber
  // stack, only this state (a blocking call inside a handler, such as the
  // ask of a JOIN, keeps a fiber until it returns).
  auto client = std::make_shared<irc_client>(self, std::move(*handed), std::move(h));
  if (!client->start()) return {};
  return {
      [client](const deliver& m) { client->handle(m); },
      [client](const net::readable& m) { client->handle(m); },
      [client](const net::writable& m) { client->handle(m); },
      [client](const flush_output& m) { client->handle(m); },
      [client](const pubsub::deliveries<presence_change>& m) { client->handle(m); },
      [client](const pubsub::lag_evicted& m) { client->handle(m); },
      [client](const weft::down_msg& m) { client->handle(m); },
      [client](const weft::exit_msg& m) { client->handle(m); },
      [client](const tick& m) { client->handle(m); },
      [client](const resume_input& m) { client->handle(m); },
  };
}

}  // namespace chat
