// weft-chat's web front (samples/chat/src/web.hpp) against the whole
// server in this process: the page over HTTP, and web users (a Beast
// WebSocket client in the test's thread) with IRC users in the same rooms.

#include "chat_test.hpp"
#include "web_protocol.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using json = nlohmann::json;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using chat_test::client;
using chat_test::server;

chat::config web_config() {
  chat::config cfg = chat_test::test_config();
  cfg.web = true;
  cfg.ws_port = 0;
  return cfg;
}

// A browser's side of the WebSocket: writes are plain blocking Beast
// calls; reads run the client's own io_context until a deadline, so a
// test that waits in vain fails instead of hanging.
class web_user {
 public:
  // `small_receive_buffer`: a 4 KiB receive buffer from the start (set
  // before connecting, so the window is small too): a user that stops
  // reading soon leaves what the server sends in the server's queue.
  explicit web_user(std::uint16_t port, bool small_receive_buffer = false) : ws_(ioc_) {
    auto& sock = beast::get_lowest_layer(ws_);
    sock.open(tcp::v4());
    if (small_receive_buffer) sock.set_option(asio::socket_base::receive_buffer_size(4096));
    sock.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    ws_.handshake("127.0.0.1:" + std::to_string(port), "/ws");
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::ping) ++pings_;
    });
  }

  void send(std::string_view text) {
    ws_.text(true);
    ws_.write(asio::buffer(text.data(), text.size()));
  }
  void send_json(const json& object) { send(object.dump()); }
  void send_binary(std::string_view bytes) {
    ws_.binary(true);
    ws_.write(asio::buffer(bytes.data(), bytes.size()));
  }

  // The next object for which `match` holds (earlier ones stay in
  // seen()); nullopt after `timeout` or once the server closed.
  std::optional<json> wait_for(const std::function<bool(const json&)>& match, std::chrono::milliseconds timeout = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      while (next_ < seen_.size()) {
        const json& j = seen_[next_++];
        if (match(j)) return j;
      }
      if (!read_one(deadline)) return std::nullopt;
    }
  }
  // The next object of this type (and with these fields, if given).
  std::optional<json> wait_type(const std::string& type, const json& fields = json::object(),
                                std::chrono::milliseconds timeout = 20s) {
    return wait_for(
        [&](const json& j) {
          if (j.value("type", "") != type) return false;
          for (const auto& [key, value] : fields.items()) {
            if (!j.contains(key) || j[key] != value) return false;
          }
          return true;
        },
        timeout);
  }
  // hello, then the welcome.
  bool hello(const std::string& nick) {
    send_json(json{{"type", "hello"}, {"nick", nick}});
    return wait_type("welcome", {{"nick", nick}}).has_value();
  }
  std::optional<json> join(const std::string& room) {
    send_json(json{{"type", "join"}, {"room", room}});
    return wait_type("joined");
  }
  // Whether the server closes within `timeout` (frames before it are kept).
  bool wait_closed(std::chrono::milliseconds timeout = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!closed_) {
      if (!read_one(deadline)) break;
    }
    return closed_;
  }
  bool closed() const { return closed_; }
  const websocket::close_reason& close_reason() const { return close_reason_; }
  const beast::error_code& read_error() const { return read_error_; }
  const std::vector<json>& seen() const { return seen_; }
  int pings() const { return pings_; }

 private:
  // Reads one frame into seen_ (a non-JSON frame is kept as a string);
  // false on timeout or close.
  bool read_one(std::chrono::steady_clock::time_point deadline) {
    if (closed_) return false;
    bool done = false;
    beast::error_code error;
    ws_.async_read(buffer_, [&](beast::error_code ec, std::size_t) {
      done = true;
      error = ec;
    });
    while (!done && std::chrono::steady_clock::now() < deadline) {
      ioc_.restart();
      ioc_.run_one_until(deadline);
    }
    if (!done) {
      // Out of time: the read is abandoned and so is the connection.
      beast::get_lowest_layer(ws_).cancel();
      ioc_.restart();
      while (!done) ioc_.run_one();
      closed_ = true;
      return false;
    }
    if (error) {
      closed_ = true;
      read_error_ = error;
      close_reason_ = ws_.reason();
      return false;
    }
    const std::string text = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    seen_.push_back(json::parse(text, nullptr, false));
    if (seen_.back().is_discarded()) seen_.back() = text;
    return true;
  }

  asio::io_context ioc_;
  websocket::stream<tcp::socket> ws_;
  beast::flat_buffer buffer_;
  std::vector<json> seen_;
  std::size_t next_ = 0;
  bool closed_ = false;
  beast::error_code read_error_;
  websocket::close_reason close_reason_;
  int pings_ = 0;
};

// An HTTP request on a fresh connection, and the response's lines.
struct http_answer {
  std::string status;  // "HTTP/1.1 200 OK"
  std::vector<std::string> lines;
  bool has(std::string_view text) const {
    for (const auto& l : lines) {
      if (l.find(text) != std::string::npos) return true;
    }
    return false;
  }
};
http_answer http(std::uint16_t port, const std::string& request) {
  client c(port);
  c.send_raw(request);
  http_answer answer;
  if (auto status = c.wait_for("HTTP/1.1")) answer.status = *status;
  (void)c.wait_closed(20s);
  answer.lines = c.seen();
  return answer;
}
std::string get(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
}

}  // namespace

TEST_CASE("the page, its script and its style are served; other paths are 404 and bad requests 400") {
  server s(web_config());
  REQUIRE(s.ws_port() != 0);

  auto page = http(s.ws_port(), get("/"));
  CHECK(page.status == "HTTP/1.1 200 OK");
  CHECK(page.has("Content-Type: text/html; charset=utf-8"));
  CHECK(page.has("<title>weft-chat</title>"));
  auto script = http(s.ws_port(), get("/app.js"));
  CHECK(script.status == "HTTP/1.1 200 OK");
  CHECK(script.has("Content-Type: text/javascript; charset=utf-8"));
  auto style = http(s.ws_port(), get("/style.css?v=2"));
  CHECK(style.status == "HTTP/1.1 200 OK");
  CHECK(style.has("Content-Type: text/css; charset=utf-8"));

  CHECK(http(s.ws_port(), get("/nothing-here")).status == "HTTP/1.1 404 Not Found");
  CHECK(http(s.ws_port(), get("/../etc/passwd")).status == "HTTP/1.1 404 Not Found");
  CHECK(http(s.ws_port(), "GARBAGE\r\n\r\n").status.starts_with("HTTP/1.1 400"));
  CHECK(http(s.ws_port(), "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n").status.starts_with("HTTP/1.1 400"));
  CHECK(http(s.ws_port(), "GET / HTTP/1.1\r\nHost: x\r\n" + std::string(10000, 'X') + ": y\r\n\r\n")
            .status.starts_with("HTTP/1.1 400"));
  CHECK(http(s.ws_port(), "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").status ==
        "HTTP/1.1 405 Method Not Allowed");
  CHECK(http(s.ws_port(), get("/ws")).status == "HTTP/1.1 426 Upgrade Required");
  // An upgrade Beast refuses (no Sec-WebSocket-Key) gets Beast's 400.
  CHECK(http(s.ws_port(), "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n")
            .status.starts_with("HTTP/1.1 400"));
}

TEST_CASE("over max_connections a browser gets a 503 and the connections already there carry on") {
  chat::config cfg = web_config();
  cfg.max_connections = 1;
  server s(cfg);
  web_user first(s.ws_port());
  auto refused = http(s.ws_port(), get("/"));
  CHECK(refused.status == "HTTP/1.1 503 Service Unavailable");
  CHECK(refused.has("Too many connections"));
  REQUIRE(first.hello("first"));
}

TEST_CASE("a keep-alive connection gets the page and its script, then its WebSocket still works elsewhere") {
  server s(web_config());
  client c(s.ws_port());
  c.send_raw("GET / HTTP/1.1\r\nHost: x\r\n\r\nHEAD /app.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  REQUIRE(c.wait_for("HTTP/1.1 200 OK"));
  REQUIRE(c.wait_for("</html>"));
  REQUIRE(c.wait_for("HTTP/1.1 200 OK"));
  REQUIRE(c.wait_for("Content-Type: text/javascript"));
  CHECK(c.wait_closed());
  // HEAD sent no body: nothing of the script came.
  for (const auto& l : c.seen()) CHECK(l.find("'use strict'") == std::string::npos);
}

TEST_CASE("a web user and an IRC user in one room see each other's messages, joins and parts") {
  server s(web_config());
  client irc(s.port());
  REQUIRE(irc.register_as("ian"));
  REQUIRE(irc.join("#mix"));

  web_user web(s.ws_port());
  REQUIRE(web.hello("wendy"));
  auto joined = web.join("#mix");
  REQUIRE(joined);
  CHECK((*joined)["room"] == "#mix");
  CHECK((*joined)["names"] == json::array({"ian", "wendy"}));
  CHECK(irc.wait_for(":wendy!web@127.0.0.1 JOIN #mix"));

  web.send_json(json{{"type", "say"}, {"room", "#mix"}, {"text", "hello from the web"}});
  CHECK(irc.wait_for(":wendy!web@127.0.0.1 PRIVMSG #mix :hello from the web"));
  auto echoed = web.wait_type("message", {{"nick", "wendy"}, {"text", "hello from the web"}});
  REQUIRE(echoed);
  CHECK((*echoed)["room"] == "#mix");
  CHECK((*echoed)["kind"] == "privmsg");
  CHECK((*echoed)["msgid"].get<std::string>().starts_with("1-"));

  irc.send("PRIVMSG #mix :hello from IRC");
  auto heard = web.wait_type("message", {{"nick", "ian"}});
  REQUIRE(heard);
  CHECK((*heard)["text"] == "hello from IRC");
  CHECK((*heard)["msgid"].get<std::string>().starts_with("2-"));

  irc.send("NOTICE #mix :a notice");
  CHECK(web.wait_type("message", {{"nick", "ian"}, {"kind", "notice"}, {"text", "a notice"}}));

  irc.send("PART #mix :see you");
  CHECK(web.wait_type("part", {{"room", "#mix"}, {"nick", "ian"}, {"reason", "see you"}}));
  REQUIRE(irc.join("#mix"));
  CHECK(web.wait_type("join", {{"room", "#mix"}, {"nick", "ian"}}));

  web.send_json(json{{"type", "part"}, {"room", "#mix"}, {"reason", "bye"}});
  CHECK(web.wait_type("part", {{"room", "#mix"}, {"nick", "wendy"}, {"reason", "bye"}}));
  CHECK(irc.wait_for(":wendy!web@127.0.0.1 PART #mix bye"));
  REQUIRE(web.join("#mix"));
  CHECK(irc.wait_for("JOIN #mix"));
}

TEST_CASE("a web user that closes its page quits every room it was in, once") {
  server s(web_config());
  client irc(s.port());
  REQUIRE(irc.register_as("ian"));
  REQUIRE(irc.join("#a"));
  REQUIRE(irc.join("#b"));
  {
    web_user web(s.ws_port());
    REQUIRE(web.hello("wendy"));
    REQUIRE(web.join("#a"));
    REQUIRE(web.join("#b"));
    REQUIRE(irc.wait_for("JOIN #b"));
  }
  CHECK(irc.wait_for(":wendy!web@127.0.0.1 QUIT"));
  irc.send("PING :marker");
  REQUIRE(irc.wait_for("PONG"));
  std::size_t quits = 0;
  for (const auto& l : irc.seen()) quits += l.find(" QUIT ") != std::string::npos;
  CHECK(quits == 1);
}

TEST_CASE("direct messages, topics, nick changes and away go both ways between web and IRC") {
  server s(web_config());
  client irc(s.port());
  REQUIRE(irc.register_as("ian", "away-notify"));
  REQUIRE(irc.join("#mix"));
  web_user web(s.ws_port());
  REQUIRE(web.hello("wendy"));
  REQUIRE(web.join("#mix"));

  web.send_json(json{{"type", "say"}, {"to", "ian"}, {"text", "psst"}});
  CHECK(irc.wait_for(":wendy!web@127.0.0.1 PRIVMSG ian psst"));
  CHECK(web.wait_type("message", {{"to", "ian"}, {"nick", "wendy"}, {"text", "psst"}}));
  irc.send("PRIVMSG wendy :psst back");
  CHECK(web.wait_type("message", {{"to", "wendy"}, {"nick", "ian"}, {"text", "psst back"}}));

  web.send_json(json{{"type", "topic"}, {"room", "#mix"}, {"text", "web and IRC"}});
  CHECK(irc.wait_for(":wendy!web@127.0.0.1 TOPIC #mix :web and IRC"));
  auto topic = web.wait_type("topic", {{"room", "#mix"}, {"nick", "wendy"}});
  REQUIRE(topic);
  CHECK((*topic)["text"] == "web and IRC");

  irc.send("AWAY :lunch");
  CHECK(web.wait_type("away", {{"nick", "ian"}, {"text", "lunch"}}));
  web.send_json(json{{"type", "say"}, {"to", "ian"}, {"text", "are you there?"}});
  CHECK(web.wait_type("away", {{"nick", "ian"}, {"text", "lunch"}}));

  web.send_json(json{{"type", "away"}, {"text", "coffee"}});
  CHECK(web.wait_type("away", {{"nick", "wendy"}, {"text", "coffee"}}));
  CHECK(irc.wait_for(":wendy!web@127.0.0.1 AWAY coffee"));

  web.send_json(json{{"type", "nick"}, {"nick", "wanda"}});
  CHECK(web.wait_type("nick", {{"nick", "wendy"}, {"new", "wanda"}}));
  CHECK(irc.wait_for(":wendy!web@127.0.0.1 NICK wanda"));
  irc.send("NICK ivan");
  CHECK(web.wait_type("nick", {{"nick", "ian"}, {"new", "ivan"}}));
  // Its own nick change came once: answered directly, not again from the room.
  web.send_json(json{{"type", "say"}, {"room", "#mix"}, {"text", "marker"}});
  REQUIRE(web.wait_type("message", {{"text", "marker"}}));
  std::size_t own = 0;
  for (const auto& j : web.seen()) own += j.value("type", "") == "nick" && j.value("new", "") == "wanda";
  CHECK(own == 1);
}

TEST_CASE("a joiner gets the room's latest 50 messages and pages back with before") {
  server s(web_config());
  client irc(s.port());
  REQUIRE(irc.register_as("ian", "echo-message"));
  REQUIRE(irc.join("#log"));
  for (int i = 1; i <= 60; ++i) irc.send("PRIVMSG #log :line " + std::to_string(i));
  REQUIRE(irc.wait_for("PRIVMSG #log :line 60"));

  web_user web(s.ws_port());
  REQUIRE(web.hello("wendy"));
  auto joined = web.join("#log");
  REQUIRE(joined);
  const json& history = (*joined)["history"];
  REQUIRE(history.size() == chat::web::default_history);
  CHECK(history.front()["text"] == "line 11");
  CHECK(history.back()["text"] == "line 60");
  CHECK(history.back()["nick"] == "ian");

  web.send_json(json{{"type", "history"}, {"room", "#log"}, {"before", history.front()["msgid"]}, {"limit", 100}});
  auto older = web.wait_type("history", {{"room", "#log"}});
  REQUIRE(older);
  REQUIRE((*older)["messages"].size() == 10);
  CHECK((*older)["messages"].front()["text"] == "line 1");
  CHECK((*older)["messages"].back()["text"] == "line 10");

  web.send_json(json{{"type", "history"}, {"room", "#log"}, {"limit", 3}});
  auto latest = web.wait_type("history");
  REQUIRE(latest);
  REQUIRE((*latest)["messages"].size() == 3);
  CHECK((*latest)["messages"].back()["text"] == "line 60");
}

TEST_CASE("every malformed request gets an error object with its code and the connection stays up") {
  server s(web_config());
  client irc(s.port());
  REQUIRE(irc.register_as("ian"));
  web_user web(s.ws_port());

  auto refused = [&](std::string_view frame, std::string_view code) {
    INFO("frame: ", std::string(frame));
    web.send(frame);
    auto error = web.wait_type("error");
    REQUIRE(error);
    CHECK((*error)["code"] == code);
    CHECK_FALSE((*error)["text"].get<std::string>().empty());
  };
  refused(R"({"type":"join","room":"#early"})", "not_registered");
  refused(R"({"type":"hello","nick":"ian"})", "nick_in_use");
  refused(R"({"type":"hello","nick":"9lives"})", "invalid_name");
  refused(R"({"type":"hello","nick":"has space"})", "invalid_name");
  refused(R"({"type":"hello","nick":")" + std::string(31, 'n') + R"("})", "invalid_name");
  REQUIRE(web.hello("wendy"));
  refused(R"({"type":"hello","nick":"again"})", "already_registered");

  refused("{", "bad_json");
  refused("", "bad_json");
  refused("[1,2]", "not_an_object");
  refused("42", "not_an_object");
  // 8000 levels deep: parsed and freed without recursion (a fiber's stack is 128 KiB).
  refused(std::string(8000, '[') + std::string(8000, ']'), "not_an_object");
  refused(std::string(16000, '['), "bad_json");
  refused(R"("hello")", "not_an_object");
  refused("{}", "unknown_type");
  refused(R"({"type":5})", "unknown_type");
  refused(R"({"type":"zap"})", "unknown_type");
  refused(R"({"type":"join"})", "missing_field");
  refused(R"({"type":"say","room":"#r"})", "missing_field");
  refused(R"({"type":"say","text":"to nobody"})", "missing_field");
  refused(R"({"type":"topic","room":"#r"})", "missing_field");
  refused(R"({"type":"history"})", "missing_field");
  refused(R"({"type":"nick"})", "missing_field");
  refused(R"({"type":"join","room":7})", "bad_field");
  refused(R"({"type":"say","room":"#r","text":"x","notice":"yes"})", "bad_field");
  refused(R"({"type":"say","room":"#r","to":"ian","text":"x"})", "bad_field");
  refused(R"({"type":"say","room":"nochannel","text":"x"})", "bad_field");
  refused(R"({"type":"say","to":"#r","text":"x"})", "bad_field");
  refused(R"({"type":"say","room":"#r","text":""})", "bad_field");
  refused(R"({"type":"history","room":"#r","limit":0})", "bad_field");
  refused(R"({"type":"history","room":"#r","limit":-3})", "bad_field");
  refused(R"({"type":"history","room":"#r","limit":"ten"})", "bad_field");
  refused(R"({"type":"history","room":"#r","before":"not-a-msgid"})", "bad_field");
  refused(R"({"type":"say","room":"#r","text":")" + std::string(chat::web::max_text_bytes + 1, 'x') + "\"}",
          "text_too_long");
  refused(R"({"type":"join","room":"no-hash"})", "invalid_name");
  refused(R"({"type":"join","room":"#has space"})", "invalid_name");
  refused(R"({"type":"nick","nick":"ian"})", "nick_in_use");
  refused(R"({"type":"say","room":"#notjoined","text":"x"})", "not_in_room");
  refused(R"({"type":"part","room":"#notjoined"})", "not_in_room");
  refused(R"({"type":"part","room":"nohash"})", "no_such_room");
  refused(R"({"type":"say","to":"nobody","text":"x"})", "no_such_nick");

  web.send_binary(R"({"type":"join","room":"#r"})");
  auto binary = web.wait_type("error");
  REQUIRE(binary);
  CHECK((*binary)["code"] == "binary_frame");

  // Still up, and still the same user.
  auto joined = web.join("#r");
  REQUIRE(joined);
  CHECK((*joined)["names"] == json::array({"wendy"}));
  web.send_json(json{{"type", "say"}, {"room", "#r"}, {"text", "still here"}, {"extra", {1, 2, 3}}});
  CHECK(web.wait_type("message", {{"text", "still here"}}));
}

TEST_CASE("a message of exactly 16 KiB is read and one byte more closes the connection with 1009") {
  server s(web_config());
  web_user web(s.ws_port());
  REQUIRE(web.hello("wendy"));
  std::string largest = R"({"type":"away","text":")";
  largest += std::string(16384 - largest.size() - 2, 'a') + "\"}";
  REQUIRE(largest.size() == 16384);
  web.send(largest);
  auto error = web.wait_type("error");
  REQUIRE(error);
  CHECK((*error)["code"] == "text_too_long");

  web.send(largest + " ");
  REQUIRE(web.wait_closed());
  CHECK(web.close_reason().code == websocket::close_code::too_big);
}

TEST_CASE("a text frame that is not UTF-8 closes the connection with 1007, as RFC 6455 says") {
  server s(web_config());
  client irc(s.port());
  REQUIRE(irc.register_as("ian"));
  REQUIRE(irc.join("#r"));
  web_user web(s.ws_port());
  REQUIRE(web.hello("wendy"));
  REQUIRE(web.join("#r"));
  web.send("{\"type\":\"say\",\"room\":\"#r\",\"text\":\"\xc3\x28\"}");
  REQUIRE(web.wait_closed());
  CHECK(web.close_reason().code == websocket::close_code::bad_payload);
  CHECK(irc.wait_for(":wendy!web@127.0.0.1 QUIT"));
  for (const auto& l : irc.seen()) CHECK(l.find("PRIVMSG") == std::string::npos);
}

TEST_CASE("a web user that stops reading is cut off at its sendq and the others get every message") {
  chat::config cfg = web_config();
  cfg.sendq_bytes = 64 * 1024;
  server s(cfg);
  client talker(s.port());
  REQUIRE(talker.register_as("talker"));
  REQUIRE(talker.join("#busy"));
  client listener(s.port());
  REQUIRE(listener.register_as("listener"));
  REQUIRE(listener.join("#busy"));
  web_user sleeper(s.ws_port(), /*small_receive_buffer=*/true);
  REQUIRE(sleeper.hello("sleeper"));
  REQUIRE(sleeper.join("#busy"));

  const std::string text(300, 'z');
  constexpr int messages = 2000;  // 2000 * ~400 bytes of JSON: far past 64 KiB and the kernel's buffers
  // The IRC listener has the same sendq: it reads as the talker goes.
  for (int i = 0; i < messages; ++i) {
    talker.send("PRIVMSG #busy :" + std::to_string(i) + " " + text);
    if (i % 50 == 49) REQUIRE(listener.wait_for("PRIVMSG #busy :" + std::to_string(i) + " "));
  }
  const std::string cut_off = ":sleeper!web@127.0.0.1 QUIT :SendQ exceeded";
  auto seen_cut_off = [&] {
    const auto& lines = listener.seen();
    return std::find(lines.begin(), lines.end(), cut_off) != lines.end();
  };
  CHECK((seen_cut_off() || listener.wait_for(cut_off)));
  std::size_t got = 0;
  for (const auto& l : listener.seen()) got += l.find("PRIVMSG #busy :") != std::string::npos;
  CHECK(got == messages);
}

TEST_CASE("a silent web user is pinged after ping_after, one that answers stays, one that does not is dropped") {
  chat::config cfg = web_config();
  cfg.ping_after = 200ms;
  cfg.ping_timeout = 3s;
  server s(cfg);
  web_user deaf(s.ws_port());
  REQUIRE(deaf.hello("deaf"));
  REQUIRE(deaf.join("#r"));
  web_user awake(s.ws_port());
  REQUIRE(awake.hello("awake"));
  REQUIRE(awake.join("#r"));

  // `awake` reads (and so answers pings) until `deaf`, which does not, is gone.
  auto dropped = awake.wait_type("quit", {{"nick", "deaf"}}, 60s);
  REQUIRE(dropped);
  CHECK((*dropped)["reason"] == "Ping timeout: 3 seconds");
  CHECK(awake.pings() >= 1);
  CHECK_FALSE(awake.closed());
  awake.send_json(json{{"type", "say"}, {"room", "#r"}, {"text", "still here"}});
  CHECK(awake.wait_type("message", {{"nick", "awake"}, {"text", "still here"}}));
}

TEST_CASE("a WebSocket that never says hello is closed after register_timeout") {
  chat::config cfg = web_config();
  cfg.register_timeout = 300ms;
  server s(cfg);
  web_user web(s.ws_port());
  REQUIRE(web.wait_closed());
  CHECK(web.close_reason().code == websocket::close_code::policy_error);
  CHECK(std::string(web.close_reason().reason.data(), web.close_reason().reason.size()) == "Registration timed out");
}

TEST_CASE("stopping the server sends web users a close frame saying so") {
  server s(web_config());
  web_user web(s.ws_port());
  REQUIRE(web.hello("wendy"));
  // A page still being fetched over HTTP does not hold the stop up.
  client half(s.ws_port());
  half.send_raw("GET / HTTP/1.1\r\nHost: x\r\n");
  const auto before = std::chrono::steady_clock::now();
  s.stop();
  CHECK(std::chrono::steady_clock::now() - before < 10s);  // the HTTP wait alone would be 15 s
  REQUIRE(web.wait_closed());
  CHECK(web.close_reason().code == websocket::close_code::going_away);
  CHECK(std::string(web.close_reason().reason.data(), web.close_reason().reason.size()) == "Server shutting down");
  CHECK(half.wait_closed());
}

TEST_CASE("with flood control a burst of frames is answered in full, only later") {
  chat::config cfg = web_config();
  cfg.input_rate = 50;
  cfg.input_burst = 5;
  server s(cfg);
  web_user web(s.ws_port());
  REQUIRE(web.hello("wendy"));
  REQUIRE(web.join("#r"));
  for (int i = 0; i < 40; ++i) web.send_json(json{{"type", "say"}, {"room", "#r"}, {"text", std::to_string(i)}});
  CHECK(web.wait_type("message", {{"text", "39"}}));
  std::size_t got = 0;
  for (const auto& j : web.seen()) got += j.value("type", "") == "message";
  CHECK(got == 40);
  CHECK_FALSE(web.closed());
}
