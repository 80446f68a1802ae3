// The web connection actor (web.hpp): the page over HTTP (web_http.hpp),
// then the WebSocket and its JSON protocol (web_protocol.hpp) on a session.
//
// The actor's function serves HTTP (blocking: it has nothing else to do),
// then returns a behavior: after the upgrade it is a handler-style actor,
// and an idle web user holds no fiber stack, only a web_client. Each
// message is handled in three steps (web_client::handle):
//   1. on_message: a delivery becomes a queued frame; a net::readable /
//      net::writable notice lets the pending Beast read or write go on,
//      which posts its completion to tasks_.
//   2. pump(): run tasks_ until none is left. A finished read only marks
//      frame_ready_; the frame is handled after the tasks ran, outside
//      every Beast call (handling asks rooms and presence: the fiber
//      waits, and Beast is not in the middle of anything), then the next
//      read starts, or waits for a flood-control token. A finished write
//      starts the next one: one async_write in flight at a time.
//   3. Once closing_: leave the rooms, start the close handshake and keep
//      handling the socket's notices until it is done or farewell_over
//      comes (farewell_timeout later); then close and exit.
//
// Before the upgrade the actor does not trap exits: a server stopping
// while it waits for an HTTP request unwinds it (there is no one to say
// goodbye to). After, it traps them, to send the close frame.

#include "web.hpp"

#include "irc/protocol.hpp"
#include "peer_socket.hpp"
#include "web_http.hpp"
#include "web_protocol.hpp"
#include "web_stream.hpp"

#include <weft/actors/rate_limiter.hpp>
#include <weft/runtime/runtime.hpp>

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace chat {

class web_front {
 public:
  explicit web_front(std::shared_ptr<const hub> h) : hub_(std::move(h)) {}
  const std::shared_ptr<const hub>& shared() const noexcept { return hub_; }
  boost::asio::io_context& services() noexcept { return services_; }

 private:
  std::shared_ptr<const hub> hub_;
  // Never run: Beast's timer service lives here (web_stream.hpp).
  boost::asio::io_context services_{1};
};

std::shared_ptr<web_front> make_web_front(std::shared_ptr<const hub> h) {
  return std::make_shared<web_front>(std::move(h));
}

const config& config_of(const web_front& front) noexcept { return front.shared()->cfg; }

namespace {

namespace net = weft::net;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using namespace std::chrono_literals;
using beast_io::error_code;

// The largest WebSocket message a client may send (Beast refuses a larger
// one with close code 1009 and the connection ends).
constexpr std::size_t max_frame_bytes = 16384;
// The close handshake with a client being cut off gets this long.
constexpr auto farewell_timeout = 200ms;

struct tick {};
struct resume_input {};
struct farewell_over {};

// -- the WebSocket user ------------------------------------------------------------------

web::event_fields fields_of(const event& e) {
  web::event_fields f{.nick = e.nick, .text = e.text, .time_ms = e.time_ms, .msgid = e.msgid};
  switch (e.kind) {
    case event_kind::privmsg:
    case event_kind::notice:
      f.type = web::event_type::message;
      f.notice = e.kind == event_kind::notice;
      (irc::is_channel(e.room) ? f.room : f.to) = e.room;
      break;
    case event_kind::topic: f.type = web::event_type::topic; break;
    case event_kind::join: f.type = web::event_type::join; break;
    case event_kind::part: f.type = web::event_type::part; break;
    case event_kind::quit: f.type = web::event_type::quit; break;
    case event_kind::nick: f.type = web::event_type::nick; break;
    case event_kind::away: f.type = web::event_type::away; break;
  }
  if (f.type != web::event_type::message) f.room = e.room;
  return f;
}

web::error_code error_for(const weft::error& e) {
  if (e == session_errc::invalid_name) return web::error_code::invalid_name;
  if (e == session_errc::nick_in_use) return web::error_code::nick_in_use;
  if (e == session_errc::no_such_nick) return web::error_code::no_such_nick;
  if (e == session_errc::no_such_room) return web::error_code::no_such_room;
  if (e == session_errc::not_on_room) return web::error_code::not_in_room;
  if (e == session_errc::too_many_rooms) return web::error_code::too_many_rooms;
  return web::error_code::unavailable;
}

class web_client final : public session_sink {
 public:
  web_client(weft::context& self, net::socket sock, std::shared_ptr<web_front> front, upgrade_request upgrade)
      : self_(self),
        front_(std::move(front)),
        cfg_(front_->shared()->cfg),
        sock_(std::move(sock)),
        ws_(beast_io::actor_stream(sock_, beast_io::actor_executor(tasks_, front_->services()),
                                   std::move(upgrade.read_ahead))),
        upgrade_(std::move(upgrade.request)),
        session_(self, front_->shared(), *this, peer_host(sock_, "web"), true),
        started_(now()),
        last_input_(started_) {
    if (cfg_.input_rate > 0) {
      bucket_.emplace(weft::actors::token_bucket_config{.rate = cfg_.input_rate,
                                                        .burst = static_cast<double>(cfg_.input_burst)},
                      now());
    }
  }

  // Inside the actor, before its first message: the timer, and Beast's
  // handshake (the 101) under way.
  void start() {
    pin_send_buffer(sock_);  // so a slow reader's output waits where the sendq sees it
    self_.trap_exit(true);  // to send the close frame when the server stops
    self_.set_label("web (unregistered)");
    const auto period = std::clamp<std::chrono::nanoseconds>(
        std::min<std::chrono::nanoseconds>(cfg_.ping_after, cfg_.register_timeout) / 4, 10ms, 5s);
    timer_ = self_.send_interval(period, self_.self(), tick{});
    ws_.read_message_max(max_frame_bytes);
    ws_.auto_fragment(false);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "weft-chat"); }));
    // Pings and pongs count as signs of life (not as activity: a browser
    // answers pings by itself).
    ws_.control_callback([this](websocket::frame_type, beast::string_view) { heard(); });
    ws_.async_accept(upgrade_, [this](error_code ec) {
      upgrade_ = {};  // its headers are not needed any more
      if (ec) return lost("WebSocket handshake failed");
      accepted_ = true;
      start_read();
    });
    pump();
    after_message();
  }

  template <class M>
  void handle(const M& m) {
    on_message(m);
    pump();
    after_message();
  }

 private:
  // -- the mailbox -----------------------------------------------------------------------

  void on_message(const deliver& d) {
    if (!closing_) on_event(d.e, false);
  }
  void on_message(const net::readable&) { ws_.next_layer().on_readable(); }
  void on_message(const net::writable&) { ws_.next_layer().on_writable(); }
  void on_message(const weft::down_msg& down) {
    if (!closing_) (void)session_.on_down(down);
  }
  // Trapped: the supervisor stops the server (or died); only it is linked.
  void on_message(const weft::exit_msg& exit) {
    close_with(websocket::close_code::going_away,
               exit.reason.is_clean_stop() ? "Server shutting down" : exit.reason.to_string());
  }
  void on_message(const tick&) {
    if (!closing_) check_time();
  }
  void on_message(const resume_input&) {
    resume_armed_ = false;
    start_read();
  }
  void on_message(const farewell_over&) { end(); }

  // Runs Beast's completions, and handles a frame one of them finished,
  // until there is nothing left to do now.
  void pump() {
    for (;;) {
      (void)tasks_.run();
      if (!frame_ready_) return;
      frame_ready_ = false;
      on_frame();
    }
  }

  // -- input -----------------------------------------------------------------------------

  void start_read() {
    if (reading_ || closing_ || !accepted_) return;
    reading_ = true;
    ws_.async_read(in_, [this](error_code ec, std::size_t) {
      reading_ = false;
      frame_error_ = ec;
      frame_ready_ = true;
    });
  }

  void on_frame() {
    if (closing_) return;
    if (frame_error_) {
      if (frame_error_ == websocket::error::closed) return lost("Connection closed");
      if (frame_error_ == websocket::error::message_too_big) {
        return lost(fmt::format("Message over {} bytes", max_frame_bytes));
      }
      if (frame_error_ == websocket::error::bad_frame_payload) return lost("Text frame not UTF-8");
      return lost(frame_error_ == boost::asio::error::eof ? "Connection closed" : "Connection reset by peer");
    }
    heard();
    if (!ws_.got_text()) {
      send(web::encode_error(web::error_code::binary_frame, "frames are JSON text, not binary"));
    } else {
      const std::string frame = beast::buffers_to_string(in_.data());
      on_request(web::parse(frame));
    }
    in_.consume(in_.size());
    if (in_.capacity() > 4096) in_.shrink_to_fit();  // an idle connection keeps no big buffer
    if (closing_) return;
    // Flood control: a frame takes a token; without one the next read
    // waits (the client's frames wait in the kernel meanwhile).
    if (bucket_ && !bucket_->try_take(now(), 1)) {
      if (!resume_armed_) {
        resume_armed_ = true;
        self_.send_after(std::max<std::chrono::nanoseconds>(bucket_->time_until(now(), 1), 1ms), self_.self(),
                         resume_input{});
      }
      return;
    }
    start_read();
  }

  void heard() {
    last_input_ = now();
    ping_sent_ = false;
  }

  // -- requests -----------------------------------------------------------------------------

  void on_request(const web::request& r) {
    if (const auto* refused = std::get_if<web::refusal>(&r)) {
      return send(web::encode_error(refused->code, refused->text, refused->request));
    }
    session_.active();
    if (const auto* hello = std::get_if<web::hello_request>(&r)) return on_hello(*hello);
    if (!session_.registered()) {
      return send(web::encode_error(web::error_code::not_registered, "say hello with a nick first"));
    }
    std::visit([this](const auto& q) { on(q); }, r);
  }

  void on(const web::refusal&) {}
  void on(const web::hello_request&) {}

  void on_hello(const web::hello_request& q) {
    if (session_.registered()) {
      return send(web::encode_error(web::error_code::already_registered,
                                    fmt::format("you are {} already; change nick with \"nick\"", session_.nick()),
                                    "hello"));
    }
    auto set = session_.set_nick(q.nick);
    if (!set) return fail("hello", set.error(), q.nick);
    session_.set_user("web", "web user");
    session_.mark_registered();
    send(web::encode_welcome(session_.nick(), cfg_.server_name));
  }

  void on(const web::nick_request& q) {
    const std::string old = session_.nick();
    auto set = session_.set_nick(q.nick);
    if (!set) return fail("nick", set.error(), q.nick);
    if (old != session_.nick()) {
      send(web::encode_event({.type = web::event_type::nick, .nick = old, .text = session_.nick(), .time_ms = now_ms()}));
    }
  }

  void on(const web::join_request& q) {
    auto j = session_.join(q.room);
    if (!j) return fail("join", j.error(), q.room);
    // The history up to the join; what comes after it arrives live.
    std::vector<event_ptr> history;
    if (j->last_seq > 0) {
      auto got = session_.history(j->name, history_request{.what = history_request::selector::before,
                                                            .a = {.seq = j->last_seq + 1},
                                                            .limit = web::default_history});
      if (got) history = std::move(*got);
    }
    std::vector<web::event_fields> fields;
    fields.reserve(history.size());
    for (const event_ptr& e : history) fields.push_back(fields_of(*e));
    send(web::encode_joined({.room = j->name,
                             .topic = j->topic,
                             .topic_by = j->topic_by,
                             .topic_time_ms = j->topic_time_ms,
                             .names = &j->names,
                             .history = &fields}));
  }

  void on(const web::part_request& q) {
    const std::string display = display_of(q.room);
    auto left = session_.part(q.room, q.reason);
    if (!left) return fail("part", left.error(), q.room);
    send(web::encode_event(
        {.type = web::event_type::part, .room = display, .nick = session_.nick(), .text = q.reason, .time_ms = now_ms()}));
  }

  void on(const web::say_request& q) {
    auto said = session_.say(q.target, q.notice ? event_kind::notice : event_kind::privmsg, q.text);
    if (!said) return fail("say", said.error(), q.target);
    // To a nick that is away: its away text, as IRC's 301.
    if (!said->empty()) {
      send(web::encode_event({.type = web::event_type::away, .nick = q.target, .text = *said, .time_ms = now_ms()}));
    }
  }

  void on(const web::topic_request& q) {
    auto set = session_.set_topic(q.room, q.text);
    if (!set) fail("topic", set.error(), q.room);
    // The topic comes back from the room once durable, to every member.
  }

  void on(const web::away_request& q) {
    session_.set_away(q.text);
    send(web::encode_event({.type = web::event_type::away, .nick = session_.nick(), .text = q.text, .time_ms = now_ms()}));
  }

  void on(const web::history_query& q) {
    history_request req{.what = history_request::selector::latest, .limit = q.limit};
    if (!q.before.empty()) {
      req.what = history_request::selector::before;
      req.a.seq = seq_of_msgid(q.before, room_tag(irc::casefold(q.room)));
      if (req.a.seq == 0) {
        return send(web::encode_error(web::error_code::bad_field,
                                      fmt::format("\"before\": {} is no msgid of {}", q.before, q.room), "history"));
      }
    }
    if (!irc::valid_channel(q.room)) {
      return send(web::encode_error(web::error_code::invalid_name, fmt::format("{}: not a room name", q.room),
                                    "history"));
    }
    auto events = session_.history(q.room, req);
    if (!events) return fail("history", events.error(), q.room);
    std::vector<web::event_fields> fields;
    fields.reserve(events->size());
    for (const event_ptr& e : *events) fields.push_back(fields_of(*e));
    send(web::encode_history(display_of(q.room), fields));
  }

  void fail(std::string_view request, const weft::error& e, std::string_view what) {
    send(web::encode_error(error_for(e), fmt::format("{}: {}", what, e.detail()), request));
  }

  // -- output ------------------------------------------------------------------------------

  void on_event(const event_ptr& e, bool replayed) {
    if (!replayed && !session_.accept(*e)) return;
    // This user's own nick and away changes were answered already.
    if ((e->kind == event_kind::nick || e->kind == event_kind::away) && e->from == self_.self()) return;
    send(web::encode_event(fields_of(*e)));
  }

  void replay(const event_ptr& e) override { on_event(e, true); }
  // The web protocol has no MONITOR: nothing to tell.
  void presence(const presence_change&) override {}
  void lost_room(const std::string& room, const std::string& why) override {
    send(web::encode_event({.type = web::event_type::part,
                            .room = room,
                            .nick = session_.nick(),
                            .text = fmt::format("Room unavailable: {}", why),
                            .time_ms = now_ms()}));
  }

  // Queues one frame; over the sendq the client is cut off.
  void send(std::string frame) {
    if (closing_) return;
    queued_bytes_ += frame.size();
    out_.push_back(std::move(frame));
    if (queued_bytes_ > cfg_.sendq_bytes) {
      // The frame being written stays: Beast holds its bytes.
      while (out_.size() > (writing_ ? 1u : 0u)) {
        queued_bytes_ -= out_.back().size();
        out_.pop_back();
      }
      return close_with(websocket::close_code::policy_error, "SendQ exceeded");
    }
    start_write();
  }

  void start_write() {
    if (writing_ || out_.empty() || closing_ || !accepted_) return;
    writing_ = true;
    ws_.text(true);
    ws_.async_write(boost::asio::buffer(out_.front()), [this](error_code ec, std::size_t) {
      writing_ = false;
      queued_bytes_ -= out_.front().size();
      out_.pop_front();
      if (ec) return lost("Connection reset by peer");
      start_write();
    });
  }

  // -- timers and endings ---------------------------------------------------------------------

  void check_time() {
    const auto t = now();
    if (!session_.registered()) {
      if (t - started_ >= cfg_.register_timeout) close_with(websocket::close_code::policy_error, "Registration timed out");
      return;
    }
    session_.check_idle();
    if (t - last_input_ >= cfg_.ping_timeout) {
      close_with(websocket::close_code::policy_error,
                 fmt::format("Ping timeout: {} seconds",
                             std::chrono::duration_cast<std::chrono::seconds>(cfg_.ping_timeout).count()));
    } else if (t - last_input_ >= cfg_.ping_after && !ping_sent_ && !pinging_ && accepted_) {
      ping_sent_ = true;
      pinging_ = true;
      ws_.async_ping({}, [this](error_code) { pinging_ = false; });
    }
  }

  // The client went away: nothing to say to it.
  void lost(std::string_view why) {
    if (closing_) return;
    closing_ = true;
    quit_reason_ = why;
  }

  // Cuts the client off with a reason: a close frame, then close.
  void close_with(websocket::close_code code, std::string_view why) {
    if (closing_) return;
    closing_ = true;
    quit_reason_ = why;
    // A close reason holds at most 123 bytes of UTF-8.
    const std::string reason = irc::to_valid_utf8(why.substr(0, 100));
    farewell_ = websocket::close_reason(code, beast::string_view(reason.data(), reason.size()));
  }

  // After each message: once closing, leave the rooms and say goodbye:
  // the close frame (after the write in flight, if any), then the
  // client's answer, handled as the socket's notices come, for at most
  // farewell_timeout: a client that does not read is cut off without it.
  void after_message() {
    if (!closing_ || ending_) {
      if (ending_ && farewell_done_) end();
      return;
    }
    ending_ = true;
    self_.cancel_timer(timer_);
    session_.quit(quit_reason_);
    if (!farewell_ || !accepted_ || !sock_.is_open()) return end();
    ws_.async_close(*farewell_, [this](error_code) { farewell_done_ = true; });
    self_.send_after(farewell_timeout, self_.self(), farewell_over{});
    pump();
    if (farewell_done_) end();
  }

  void end() {
    tasks_.clear();
    sock_.close();
    self_.exit(weft::exit_reason::normal());
  }

  // -- helpers --------------------------------------------------------------------------------

  weft::clock::time_point now() const { return self_.system().clock().now(); }
  static std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  std::string display_of(std::string_view room) const {
    for (const std::string& r : session_.rooms()) {
      if (irc::casefold(r) == irc::casefold(room)) return r;
    }
    return std::string(room);
  }

  weft::context& self_;
  std::shared_ptr<web_front> front_;  // before ws_: Beast's timer service outlives it
  const config& cfg_;
  net::socket sock_;           // before ws_: its stream points here
  beast_io::task_list tasks_;  // before ws_: its executor points here
  websocket::stream<beast_io::actor_stream> ws_;
  http::request<http::empty_body> upgrade_;  // until the handshake is done
  session session_;
  beast::flat_buffer in_;
  std::deque<std::string> out_;  // frames to write; the front one is being written when writing_
  std::size_t queued_bytes_ = 0;
  std::optional<weft::actors::token_bucket> bucket_;
  bool accepted_ = false;    // the WebSocket handshake is done
  bool reading_ = false;     // an async_read is in flight
  bool frame_ready_ = false; // it finished: frame_error_ and in_ hold the result
  error_code frame_error_;
  bool writing_ = false;       // an async_write is in flight
  bool pinging_ = false;       // an async_ping is in flight
  bool ping_sent_ = false;     // no frame since the last ping
  bool resume_armed_ = false;  // a resume_input is due
  bool closing_ = false;         // no more input or output: saying goodbye
  bool ending_ = false;          // the rooms were left, the close frame is on its way
  bool farewell_done_ = false;   // the close handshake finished
  std::string quit_reason_ = "Connection closed";
  std::optional<websocket::close_reason> farewell_;
  weft::timer_ref timer_;
  weft::clock::time_point started_;
  weft::clock::time_point last_input_;
};

}  // namespace

weft::behavior web_connection(weft::context& self, handed_socket handed, std::shared_ptr<web_front> front) {
  net::socket sock = std::move(*handed);
  self.set_label("web (http)");
  auto upgrade = serve_http(sock);
  if (!upgrade) return {};  // the client is done: the socket closes as the actor ends
  auto client = std::make_shared<web_client>(self, std::move(sock), std::move(front), std::move(*upgrade));
  client->start();
  return {
      [client](const deliver& m) { client->handle(m); },
      [client](const net::readable& m) { client->handle(m); },
      [client](const net::writable& m) { client->handle(m); },
      [client](const weft::down_msg& m) { client->handle(m); },
      [client](const weft::exit_msg& m) { client->handle(m); },
      [client](const tick& m) { client->handle(m); },
      [client](const resume_input& m) { client->handle(m); },
      [client](const farewell_over& m) { client->handle(m); },
  };
}

}  // namespace chat
