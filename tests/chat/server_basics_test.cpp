// weft-chat speaks IRC: registration, rooms, messages, errors, IRCv3
// tags, CHATHISTORY, MONITOR and away-notify, against the real server
// tree on a free port (chat_test.hpp).

#include "chat_test.hpp"

#include <doctest/doctest.h>

#include <fmt/format.h>

#include <set>

using chat_test::client;
using chat_test::server;

namespace {

bool has(const std::optional<std::string>& line, std::string_view text) {
  return line && line->find(text) != std::string::npos;
}

}  // namespace

TEST_CASE("registration: numerics 001 to 005 and the MOTD; PING; errors before and after") {
  server s;
  client c(s.port());
  c.send("PING :early");
  CHECK(has(c.wait_for("PONG"), "early"));
  c.send("JOIN #x");
  CHECK(has(c.wait_for(" 451 "), "not registered"));
  c.send("NICK alice");
  c.send("USER alice 0 * :Alice A");
  CHECK(has(c.wait_for(" 001 "), "alice!alice@127.0.0.1"));
  CHECK(c.wait_for(" 002 alice "));
  CHECK(c.wait_for(" 003 alice "));
  CHECK(c.wait_for(" 004 alice "));
  CHECK(has(c.wait_for(" 005 alice "), "CHATHISTORY="));
  CHECK(c.wait_for(" 376 alice "));
  c.send("FROBNICATE");
  CHECK(has(c.wait_for(" 421 "), "FROBNICATE"));
  c.send("JOIN");
  CHECK(has(c.wait_for(" 461 "), "JOIN"));
  c.send("USER again 0 * :x");
  CHECK(c.wait_for(" 462 "));
  c.send("PRIVMSG nobody :hi");
  CHECK(has(c.wait_for(" 401 "), "nobody"));
  c.send("PRIVMSG #nowhere :hi");
  CHECK(has(c.wait_for(" 404 "), "#nowhere"));
  c.send("PART #nowhere");
  CHECK(c.wait_for(" 442 "));
  c.send(std::string(600, 'a'));
  CHECK(c.wait_for(" 417 "));
  c.send("PING :still-here");
  CHECK(has(c.wait_for("PONG"), "still-here"));
}

TEST_CASE("nicks: in use (433), erroneous (432), a change seen once by a user sharing two rooms") {
  server s;
  client a(s.port()), b(s.port()), c(s.port());
  REQUIRE(a.register_as("alice"));
  b.send("NICK Alice");  // CASEMAPPING=ascii: the same nick
  CHECK(has(b.wait_for(" 433 "), "Alice"));
  b.send("NICK 9lives");
  CHECK(b.wait_for(" 432 "));
  REQUIRE(b.register_as("bob"));
  REQUIRE(a.join("#one"));
  REQUIRE(a.join("#two"));
  REQUIRE(b.join("#one"));
  REQUIRE(b.join("#two"));
  a.send("NICK alicia");
  CHECK(has(a.wait_for(" NICK "), ":alice!"));
  CHECK(has(b.wait_for(" NICK "), "alicia"));
  // One NICK line although the change came from both rooms.
  b.send("PING :sync");
  REQUIRE(b.wait_for("PONG"));
  std::size_t nick_lines = 0;
  for (const auto& l : b.seen()) nick_lines += l.find(" NICK ") != std::string::npos ? 1 : 0;
  CHECK(nick_lines == 1);
  // The new nick is taken, the old one free.
  REQUIRE(c.register_as("alice"));
  c.send("NICK alicia");
  CHECK(c.wait_for(" 433 "));
}

TEST_CASE("rooms: join, names, messages, notices, topic, part and quit as the other members see them") {
  server s;
  client a(s.port()), b(s.port());
  REQUIRE(a.register_as("alice"));
  REQUIRE(b.register_as("bob"));
  a.send("JOIN #Weft");
  CHECK(has(a.wait_for(" JOIN "), ":alice!alice@127.0.0.1 JOIN #Weft"));
  CHECK(has(a.wait_for(" 353 "), "alice"));
  REQUIRE(a.wait_for(" 366 "));
  b.send("JOIN #weft");  // another case: the same room, shown as first created
  CHECK(has(b.wait_for(" JOIN "), "JOIN #Weft"));
  CHECK(has(b.wait_for(" 353 "), "alice bob"));
  CHECK(has(a.wait_for(" JOIN "), ":bob!bob@127.0.0.1 JOIN #Weft"));
  a.send("PRIVMSG #weft :hello, bob");
  CHECK(has(b.wait_for("PRIVMSG"), ":alice!alice@127.0.0.1 PRIVMSG #Weft :hello, bob"));
  a.send("NOTICE #weft :a notice");
  CHECK(has(b.wait_for("NOTICE"), "a notice"));
  a.send("TOPIC #weft :actors all the way down");
  CHECK(has(a.wait_for(" TOPIC "), "actors all the way down"));  // the setter sees it too
  CHECK(has(b.wait_for(" TOPIC "), "actors all the way down"));
  b.send("TOPIC #weft");
  CHECK(has(b.wait_for(" 332 "), "actors all the way down"));
  CHECK(has(b.wait_for(" 333 "), "alice"));
  b.send("NAMES #weft");
  CHECK(has(b.wait_for(" 353 "), "alice bob"));
  b.send("WHO #weft");
  CHECK(has(b.wait_for(" 352 "), "alice"));
  CHECK(b.wait_for(" 315 "));
  // alice did not get her own message back (no echo-message).
  a.send("PING :sync");
  REQUIRE(a.wait_for("PONG"));
  for (const auto& l : a.seen()) CHECK(l.find("hello, bob") == std::string::npos);
  b.send("PART #weft :later");
  CHECK(has(a.wait_for(" PART "), "later"));
  b.send("JOIN #weft");
  REQUIRE(a.wait_for(" JOIN "));
  b.send("QUIT :gone fishing");
  CHECK(has(b.wait_for("ERROR"), "gone fishing"));
  CHECK(b.wait_closed());
  CHECK(has(a.wait_for(" QUIT "), "gone fishing"));
}

TEST_CASE("direct messages, AWAY (301, 305, 306) and WHOIS") {
  server s;
  client a(s.port()), b(s.port());
  REQUIRE(a.register_as("alice"));
  REQUIRE(b.register_as("bob"));
  a.send("PRIVMSG bob :psst");
  CHECK(has(b.wait_for("PRIVMSG"), ":alice!alice@127.0.0.1 PRIVMSG bob"));
  CHECK(b.seen().back().ends_with("psst"));
  b.send("AWAY :lunch");
  CHECK(b.wait_for(" 306 "));
  a.send("PRIVMSG bob :are you there");
  CHECK(has(a.wait_for(" 301 "), "lunch"));
  a.send("WHOIS bob");
  CHECK(has(a.wait_for(" 311 "), "bob"));
  CHECK(has(a.wait_for(" 301 "), "lunch"));
  CHECK(a.wait_for(" 318 "));
  b.send("AWAY");
  CHECK(b.wait_for(" 305 "));
}

TEST_CASE("IRCv3: server-time and msgid tags, echo-message, away-notify") {
  server s;
  client a(s.port()), b(s.port());
  REQUIRE(a.register_as("alice", "message-tags server-time echo-message"));
  REQUIRE(b.register_as("bob", "away-notify server-time"));
  REQUIRE(a.join("#t"));
  REQUIRE(b.join("#t"));
  a.send("PRIVMSG #t :tagged");
  auto echo = a.wait_for("PRIVMSG #t");
  REQUIRE(echo);
  CHECK(echo->starts_with("@time="));
  CHECK(echo->find(";msgid=1-") != std::string::npos);
  auto got = b.wait_for("PRIVMSG #t");
  REQUIRE(got);
  CHECK(got->find("msgid=1-") != std::string::npos);
  a.send("AWAY :brb");
  CHECK(has(b.wait_for(" AWAY "), "brb"));
}

TEST_CASE("CHATHISTORY: latest, before, after, around, between; pages of at most CHATHISTORY=") {
  server s;
  client a(s.port()), b(s.port());
  REQUIRE(a.register_as("alice", "message-tags server-time echo-message"));
  REQUIRE(b.register_as("bob", "message-tags server-time batch draft/chathistory"));
  REQUIRE(a.join("#h"));
  const int n = 250;
  std::vector<std::string> ids;
  for (int i = 1; i <= n; ++i) a.send(fmt::format("PRIVMSG #h :m{}", i));
  for (int i = 1; i <= n; ++i) {
    auto echo = a.wait_for([&](const std::string& l) { return l.ends_with(fmt::format(" m{}", i)) || l.ends_with(fmt::format(":m{}", i)); });
    REQUIRE(echo);
    const auto at = echo->find("msgid=");
    ids.push_back(echo->substr(at + 6, echo->find_first_of("; ", at) - at - 6));
  }
  auto history = [&](const std::string& command) {
    b.send(command);
    std::vector<std::string> texts;
    REQUIRE(b.wait_for("BATCH +"));
    for (;;) {
      auto l = b.wait_for([](const std::string& x) { return x.find("BATCH -") != std::string::npos || x.find("PRIVMSG") != std::string::npos; });
      REQUIRE(l);
      if (l->find("BATCH -") != std::string::npos) break;
      texts.push_back(l->substr(l->find_last_of(": ") + 1));
    }
    return texts;
  };
  auto latest = history("CHATHISTORY LATEST #h * 10");
  REQUIRE(latest.size() == 10);
  CHECK(latest.front() == "m241");
  CHECK(latest.back() == "m250");
  auto before = history(fmt::format("CHATHISTORY BEFORE #h msgid={} 5", ids[99]));  // before m100
  REQUIRE(before.size() == 5);
  CHECK(before.front() == "m95");
  CHECK(before.back() == "m99");
  auto after = history(fmt::format("CHATHISTORY AFTER #h msgid={} 3", ids[99]));
  CHECK(after == std::vector<std::string>{"m101", "m102", "m103"});
  auto around = history(fmt::format("CHATHISTORY AROUND #h msgid={} 4", ids[9]));
  CHECK(around == std::vector<std::string>{"m8", "m9", "m10", "m11"});
  auto between = history(fmt::format("CHATHISTORY BETWEEN #h msgid={} msgid={} 100", ids[19], ids[24]));
  CHECK(between == std::vector<std::string>{"m21", "m22", "m23", "m24"});
  auto capped = history("CHATHISTORY LATEST #h * 1000");
  CHECK(capped.size() == s.cfg().history_page);
  auto oldest = history(fmt::format("CHATHISTORY AFTER #h msgid={} 2", ids[0]));
  CHECK(oldest == std::vector<std::string>{"m2", "m3"});
  b.send("CHATHISTORY LATEST #h");
  CHECK(has(b.wait_for("FAIL CHATHISTORY"), "NEED_MORE_PARAMS"));
}

TEST_CASE("MONITOR: 730 when a watched nick comes on line, 731 when it leaves; idle shows as away") {
  chat::config cfg = chat_test::test_config();
  cfg.idle_after = std::chrono::milliseconds(300);
  cfg.ping_after = std::chrono::milliseconds(100000);
  server s(cfg);
  client w(s.port());
  REQUIRE(w.register_as("watcher", "away-notify"));
  w.send("MONITOR + carol,dave");
  CHECK(has(w.wait_for(" 731 "), "carol"));
  {
    client c(s.port());
    REQUIRE(c.register_as("carol"));
    CHECK(has(w.wait_for(" 730 "), "carol!carol@127.0.0.1"));
    // carol says nothing: after idle_after she shows away (Idle).
    CHECK(has(w.wait_for(" AWAY ", std::chrono::seconds(20)), "Idle"));
    c.send("PING :back");  // any input: back
    auto back = w.wait_for([](const std::string& l) { return l.ends_with(" AWAY"); });
    CHECK(back);
    c.send("QUIT");
    CHECK(c.wait_closed());
  }
  CHECK(has(w.wait_for(" 731 "), "carol"));
  w.send("MONITOR L");
  CHECK(has(w.wait_for(" 732 "), "carol"));
  CHECK(w.wait_for(" 733 "));
}
