#pragma once
// A user's session: what a connected user is (nick, rooms, watched nicks)
// and does (join, part, say, topic, away, nick, quit), whatever protocol
// they speak. The IRC connection (irc_connection.hpp) and the web
// connection (web.hpp) each own one and translate their protocol to these
// calls and the session's events back.
//
//   connection actor                 session (a member, no actor of its own)
//   ----------------                 ---------------------------------------
//   NICK / {"type":"nick"} --------> nick(): presence claims it
//   JOIN / {"type":"join"} --------> join(): find or start the room
//                                    (rooms supervisor), monitor it,
//                                    join it, remember its sequence
//   PRIVMSG #r ------------------- > say(): cast to the room
//   PRIVMSG nick -----------------> say(): presence finds the session;
//                                    deliver{event} straight to it
//   deliver{event} (from a room) --> accept(): false for a copy already
//                                    seen (a quit or nick change from a
//                                    second shared room) or an event the
//                                    session had (a replay after a room
//                                    restart); else the connection
//                                    writes it
//   down_msg of a room -----------> on_down(): join its new incarnation
//                                    quietly, then fetch what was said
//                                    since the last event seen
//                                    (sink::replay)
//
// Owner only: every member runs in the connection actor that owns it,
// and the calls that ask (join, nick, history...) block that actor only.

#include "config.hpp"
#include "event.hpp"
#include "presence.hpp"
#include "room.hpp"

#include <weft/runtime/context.hpp>
#include <weft/runtime/error.hpp>
#include <weft/runtime/expected.hpp>
#include <weft/supervisor/supervisor.hpp>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace weft::persistence {
class journal;
}

namespace chat {

// What every session shares: the server's configuration and the actors
// of the tree (server.hpp fills it in).
struct hub {
  config cfg;
  // The rooms supervisor's registered name (found at each use: the tree
  // may have restarted it). One transient child per room, id = folded name.
  std::string rooms_supervisor = "chat_rooms";
  presence_broker presence_events;
  weft::persistence::journal* journal = nullptr;
};

// Opens a room: the running one, or starts it (rooms supervisor). Retries
// for a short while if it is being restarted.
weft::expected<weft::pid> open_room(weft::context& self, const hub& h, std::string_view folded,
                                    std::string_view display);

// Why a session call failed; each maps to one IRC numeric.
enum class session_errc : std::uint8_t {
  invalid_name = 1,  // 432 (nick) / 479 (room)
  nick_in_use,       // 433
  no_such_nick,      // 401
  no_such_room,      // 403 (an invalid room name in PART/TOPIC)
  not_on_room,       // 442 / 404 (cannot send)
  too_many_rooms,    // 405
  unavailable,       // the room or presence did not answer
  monitor_full,      // 734
};
std::string_view to_string(session_errc e) noexcept;
namespace detail {
std::string_view session_errc_name(int code) noexcept;
inline constexpr weft::error_domain session_domain{weft::error_category::user, &session_errc_name};
}  // namespace detail

// Where a session's asynchronous output goes (the connection).
class session_sink {
 public:
  virtual ~session_sink() = default;
  // History recovered after a room restart (older than what comes live).
  virtual void replay(const event_ptr& e) = 0;
  // A MONITOR target came on line, went away or off line.
  virtual void presence(const presence_change& change) = 0;
  // A room could not be rejoined after a restart: the user is no longer in it.
  virtual void lost_room(const std::string& room, const std::string& why) = 0;
};

class session {
 public:
  session(weft::context& self, std::shared_ptr<const hub> h, session_sink& sink, std::string host, bool web);
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  const config& cfg() const noexcept { return hub_->cfg; }
  const std::string& nick() const noexcept { return nick_; }
  const std::string& user() const noexcept { return user_; }
  const std::string& host() const noexcept { return host_; }
  std::string prefix() const { return nick_ + "!" + user_ + "@" + host_; }
  bool registered() const noexcept { return registered_; }

  // -- identity ---------------------------------------------------------
  // Claims `nick`; once registered, rooms tell their members (NICK).
  weft::expected<void> set_nick(std::string nick);
  void set_user(std::string user, std::string realname);
  const std::string& realname() const noexcept { return realname_; }
  // NICK and USER are in: presence shows the user on line (MONITOR).
  void mark_registered();
  void set_echo(bool on) noexcept { echo_ = on; }

  // -- rooms --------------------------------------------------------------
  weft::expected<joined> join(std::string_view room);
  weft::expected<void> part(std::string_view room, std::string reason);
  // PRIVMSG / NOTICE to a room or a nick. For a nick, the reply is the
  // target's away text (empty if not away).
  weft::expected<std::string> say(std::string_view target, event_kind kind, std::string text);
  weft::expected<void> set_topic(std::string_view room, std::string topic);
  weft::expected<joined> room_info(std::string_view room);
  weft::expected<std::vector<member_info>> who(std::string_view room);
  weft::expected<std::vector<event_ptr>> history(std::string_view room, history_request request);
  weft::expected<nick_found> whois(std::string_view nick);
  bool in_room(std::string_view room) const;
  std::vector<std::string> rooms() const;  // display names

  // -- presence -------------------------------------------------------------
  void set_away(std::string text);  // "" = back
  bool away() const noexcept { return !away_.empty(); }
  // Input came: clears the idle state (and its auto-away).
  void active();
  // Called by the connection's timer: marks the user idle after idle_after.
  void check_idle();
  // MONITOR + / - / C / L: for +, the nicks on line now (730) and off
  // line (731) are returned through the sink.
  weft::expected<void> monitor_add(const std::vector<std::string>& nicks);
  void monitor_remove(const std::vector<std::string>& nicks);
  void monitor_clear();
  std::vector<std::string> monitored() const;

  // -- events -----------------------------------------------------------------
  // Whether the connection should show this event (see the top of the file).
  bool accept(const event& e);
  // A down_msg: true if it was one of this session's rooms (handled).
  bool on_down(const weft::down_msg& down);
  // Leaves every room (members see QUIT) and releases the nick.
  void quit(const std::string& reason);

 private:
  struct room_entry {
    weft::pid who;
    std::string display;
    std::string tag;
    std::uint64_t last_seq = 0;  // the newest history event this session has seen
  };
  weft::expected<joined> enter(const std::string& folded, std::string_view display, room_entry& entry, bool announce);
  member_info as_member() const;
  weft::expected<nick_found> find(std::string_view nick);
  weft::expected<claim_result> claim(const std::string& nick, const std::string& prefix, bool on_line);

  weft::context& self_;
  std::shared_ptr<const hub> hub_;
  session_sink& sink_;
  weft::pid presence_;
  std::string nick_ = "*";
  std::string user_ = "user";
  std::string realname_;
  std::string host_;
  bool web_ = false;
  bool echo_ = false;
  bool registered_ = false;
  std::string away_;
  bool idle_ = false;
  weft::clock::time_point last_input_;
  std::map<std::string, room_entry> rooms_;  // by folded name
  std::map<std::string, weft::actors::pubsub::subscription<presence_change>> watching_;  // by folded nick
  std::vector<std::uint64_t> seen_once_;  // recent once_ids (quits, nick changes), a ring
  std::size_t once_next_ = 0;
};

}  // namespace chat

template <>
struct weft::error_code_traits<chat::session_errc> {
  static constexpr const weft::error_domain* domain = &chat::detail::session_domain;
};
