// weft-chat against clients that send what they should not, too much of
// it, or nothing at all: each case says exactly what the server answers,
// that it relays nothing it should not, that its memory stays bounded,
// and that it still serves a new client afterwards.
//
// Length: 8 s at -O1 on an idle 2-core machine, 30 s on a busy one;
// 35 s under ThreadSanitizer, where the bulk cases are scaled down (the
// 100 MB line to 25 MB, the storm to 200 clients in waves of 50). No
// assertion needs the machine to be fast: waits poll with deadlines, and
// the flood-control case measures time only as bounds that a slow machine
// meets more easily (the PONG comes no sooner than the bucket allows; no
// more lines are answered than it allows in the time that passed).

#include "chat_test.hpp"
#include "irc/protocol.hpp"

#include <doctest/doctest.h>

#include <fmt/format.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CHAT_BAD_INPUT_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) || defined(WEFT_SANITIZE_THREAD)
#define CHAT_BAD_INPUT_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CHAT_BAD_INPUT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CHAT_BAD_INPUT_ASAN 1
#endif
#if defined(CHAT_BAD_INPUT_ASAN)
// The sanitizer runtime's count of live heap bytes (sanitizer_common's
// allocator interface; GCC ships no header for it).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace {

using namespace std::chrono_literals;
using chat_test::client;
using steady = std::chrono::steady_clock;

#if defined(CHAT_BAD_INPUT_TSAN)
constexpr bool under_tsan = true;
#else
constexpr bool under_tsan = false;
#endif

// -- helpers ---------------------------------------------------------------------

// What this process holds, in kB: its RSS; under AddressSanitizer the
// allocator's live bytes instead, as its quarantine keeps freed blocks
// resident (up to 256 MB of them) and RSS would count those.
long memory_kb() {
#if defined(CHAT_BAD_INPUT_ASAN)
  return static_cast<long>(__sanitizer_get_current_allocated_bytes() / 1024);
#else
  return chat_test::rss_kb();
#endif
}

// Like client::wait_for, but answers the server's PINGs meanwhile: the
// servers with short ping timeouts drop a client that does not.
std::optional<std::string> wait_answering(client& c, std::string_view text, std::chrono::milliseconds timeout = 20s) {
  return c.wait_for(
      [&c, text = std::string(text)](const std::string& l) {
        if (l.starts_with("PING ")) c.send("PONG " + l.substr(5));
        return l.find(text) != std::string::npos;
      },
      timeout);
}

bool register_answering(client& c, std::string_view nick) {
  c.send(fmt::format("NICK {}", nick));
  c.send(fmt::format("USER {} 0 * :{}", nick, nick));
  return wait_answering(c, " 376 ").has_value();
}

bool join_answering(client& c, std::string_view room) {
  c.send(fmt::format("JOIN {}", room));
  return wait_answering(c, " 366 ").has_value();
}

// A round trip through the connection: everything sent before it was
// handled once the PONG is back.
bool answers(client& c, std::string_view token) {
  c.send(fmt::format("PING :{}", token));
  return wait_answering(c, fmt::format("PONG weft.chat {}", token)).has_value();
}

std::unique_ptr<client> registered(std::uint16_t port, std::string_view nick) {
  auto c = std::make_unique<client>(port);
  REQUIRE(register_answering(*c, nick));
  return c;
}

std::size_t count_lines(const client& c, std::string_view text) {
  return static_cast<std::size_t>(std::count_if(
      c.seen().begin(), c.seen().end(), [&](const std::string& l) { return l.find(text) != std::string::npos; }));
}

// The check after every case: two new clients register, meet in a new
// room, and one's message reaches the other.
void serves_a_new_client(std::uint16_t port) {
  static std::atomic<int> checks{0};
  const int n = checks++;
  const std::string room = fmt::format("#check{}", n);
  const std::string a = fmt::format("checka{}", n);
  const std::string b = fmt::format("checkb{}", n);
  client ca(port), cb(port);
  REQUIRE(register_answering(ca, a));
  REQUIRE(register_answering(cb, b));
  REQUIRE(join_answering(ca, room));
  REQUIRE(join_answering(cb, room));
  ca.send(fmt::format("PRIVMSG {} :round trip {}", room, n));
  auto got = wait_answering(cb, fmt::format("round trip {}", n));
  REQUIRE(got.has_value());
  CHECK(*got == fmt::format(":{}!{}@127.0.0.1 PRIVMSG {} :round trip {}", a, a, room, n));
}

// Polls until a new client can take `nick` (the server let go of the
// session that had it); false at the deadline.
bool nick_becomes_free(std::uint16_t port, std::string_view nick) {
  client c(port);
  c.send(fmt::format("USER {} 0 * :{}", nick, nick));
  const auto deadline = steady::now() + 20s;
  while (steady::now() < deadline) {
    c.send(fmt::format("NICK {}", nick));
    auto answer = c.wait_for(
        [&c](const std::string& l) {
          if (l.starts_with("PING ")) c.send("PONG " + l.substr(5));
          return l.find(" 001 ") != std::string::npos || l.find(" 433 ") != std::string::npos;
        },
        5s);
    if (!answer) return false;
    if (answer->find(" 001 ") != std::string::npos) return true;
    std::this_thread::sleep_for(20ms);  // in use still: poll again
  }
  return false;
}

chat::config config_with(void (*change)(chat::config&)) {
  chat::config cfg = chat_test::test_config();
  change(cfg);
  return cfg;
}

// -- lines ------------------------------------------------------------------------------

TEST_CASE("a line may end with LF alone, and a last line without a newline waits for one") {
  chat_test::server s;
  client lf(s.port());
  // Registration with bare LF line ends.
  REQUIRE(lf.send_raw("NICK lfonly\nUSER lfonly 0 * :lf only\n"));
  REQUIRE(lf.wait_for(" 376 "));
  REQUIRE(lf.send_raw("JOIN #lf\n"));
  REQUIRE(lf.wait_for(" 366 "));
  auto reader = registered(s.port(), "lfreader");
  REQUIRE(reader->join("#lf"));
  auto marker = registered(s.port(), "lfmarker");
  REQUIRE(marker->join("#lf"));

  // A complete line and the start of the next in one write: the PONG
  // shows the write was read; the unfinished PRIVMSG must not go out.
  REQUIRE(lf.send_raw("PING :first\nPRIVMSG #lf :held back"));
  REQUIRE(lf.wait_for("PONG weft.chat first"));
  marker->send("PRIVMSG #lf :the marker");
  REQUIRE(reader->wait_for("PRIVMSG #lf :the marker"));
  CHECK(count_lines(*reader, "held back") == 0);

  REQUIRE(lf.send_raw("\n"));
  auto held = reader->wait_for("held back");
  REQUIRE(held.has_value());
  CHECK(*held == ":lfonly!lfonly@127.0.0.1 PRIVMSG #lf :held back");
  serves_a_new_client(s.port());
}

TEST_CASE(
    "100 MB without a newline is dropped as it comes: memory stays bounded, then one 417 and the connection goes on") {
  chat_test::server s;
  auto sender = registered(s.port(), "bulk");
  REQUIRE(sender->join("#bulk"));
  auto reader = registered(s.port(), "bulkreader");
  REQUIRE(reader->join("#bulk"));

  const std::size_t megabytes = under_tsan ? 25 : 100;
  const long memory_before = memory_kb();
  REQUIRE(sender->send_raw("PRIVMSG #bulk :"));
  const std::string chunk(1u << 20, 'x');
  for (std::size_t i = 0; i < megabytes; ++i)
    REQUIRE(sender->send_raw(chunk));
  REQUIRE(answers(*reader, "meanwhile"));  // the server is not stuck on it
  const long memory_after = memory_kb();
  INFO("memory before ", memory_before, " kB, after ", memory_after, " kB");
  CHECK(memory_after - memory_before < 64 * 1024);

  // The line's end: one 417, nothing relayed, and the next line works.
  REQUIRE(sender->send_raw("\r\n"));
  auto too_long = sender->wait_for(" 417 ");
  REQUIRE(too_long.has_value());
  CHECK(*too_long == ":weft.chat 417 bulk :Input line was too long");
  REQUIRE(answers(*sender, "after"));
  CHECK(count_lines(*sender, " 417 ") == 1);
  sender->send("PRIVMSG #bulk :short again");
  auto next = reader->wait_for("PRIVMSG #bulk");
  REQUIRE(next.has_value());
  CHECK(*next == ":bulk!bulk@127.0.0.1 PRIVMSG #bulk :short again");
  serves_a_new_client(s.port());
}

TEST_CASE("a line with a NUL byte is malformed (400) and nothing of it is relayed") {
  chat_test::server s;
  auto sender = registered(s.port(), "nul");
  REQUIRE(sender->join("#nul"));
  auto reader = registered(s.port(), "nulreader");
  REQUIRE(reader->join("#nul"));

  REQUIRE(sender->send_raw(std::string("PRIVMSG #nul :before\0after\r\n", 29)));
  auto malformed = sender->wait_for(" 400 ");
  REQUIRE(malformed.has_value());
  CHECK(*malformed == ":weft.chat 400 nul * :Malformed line: NUL byte in the line");
  REQUIRE(sender->send_raw(std::string("NICK nul\0bad\r\n", 14)));
  REQUIRE(answers(*sender, "nick"));
  CHECK(count_lines(*sender, " 400 ") == 2);

  sender->send("PRIVMSG #nul :clean again");
  auto next = reader->wait_for("PRIVMSG #nul");
  REQUIRE(next.has_value());
  CHECK(*next == ":nul!nul@127.0.0.1 PRIVMSG #nul :clean again");
  serves_a_new_client(s.port());
}

TEST_CASE("invalid UTF-8 in a PRIVMSG reaches the receiver as valid UTF-8 with U+FFFD") {
  chat_test::server s;
  auto sender = registered(s.port(), "mangler");
  REQUIRE(sender->join("#utf"));
  auto reader = registered(s.port(), "utfreader");
  REQUIRE(reader->join("#utf"));

  // 0xFF and 0xFE never appear in UTF-8; 0xC3 needs a continuation byte.
  sender->send("PRIVMSG #utf :bad \xFF\xFE \xC3( end");
  auto in_room = reader->wait_for("PRIVMSG #utf");
  REQUIRE(in_room.has_value());
  CHECK(*in_room == ":mangler!mangler@127.0.0.1 PRIVMSG #utf :bad \xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD( end");
  CHECK(chat::irc::valid_utf8(*in_room));

  // A surrogate (ED A0 80) and a truncated sequence (E2 82), to a nick.
  sender->send("PRIVMSG utfreader :\xED\xA0\x80 and \xE2\x82 cut");
  auto direct = reader->wait_for("PRIVMSG utfreader");
  REQUIRE(direct.has_value());
  CHECK(*direct ==
        ":mangler!mangler@127.0.0.1 PRIVMSG utfreader :\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD and \xEF\xBF\xBD cut");
  CHECK(chat::irc::valid_utf8(*direct));
  serves_a_new_client(s.port());
}

// -- names -------------------------------------------------------------------------------

bool nick_character(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("[]\\`_^{|}-").find(static_cast<char>(c)) != std::string_view::npos;
}

TEST_CASE("a nick with any character a nick may not have gets 432, and the nick stays") {
  chat_test::server s;
  auto c = registered(s.port(), "namer");
  std::vector<std::string> bad;
  // Every byte but the nick characters, NUL (a malformed line: 400) and
  // LF (ends the line). The trailing form carries the space too.
  for (int b = 1; b < 256; ++b) {
    if (b == '\n' || nick_character(static_cast<unsigned char>(b))) continue;
    bad.push_back(std::string("a") + static_cast<char>(b) + "b");
  }
  // Nick characters that may not come first, and one too many.
  for (char first : std::string_view("0123456789-"))
    bad.push_back(std::string(1, first) + "ab");
  bad.push_back(std::string(chat::irc::max_nick_length + 1, 'n'));
  REQUIRE(bad.size() == 182 + 11 + 1);

  std::string lines;
  for (const std::string& nick : bad)
    lines += "NICK :" + nick + "\r\n";
  REQUIRE(c->send_raw(lines));
  REQUIRE(answers(*c, "nicks"));
  CHECK(count_lines(*c, " 432 namer ") == bad.size());
  CHECK(count_lines(*c, " NICK ") == 0);
  c->send("WHOIS namer");
  auto whois = c->wait_for(" 311 ");
  REQUIRE(whois.has_value());
  CHECK(*whois == ":weft.chat 311 namer namer namer 127.0.0.1 * namer");
  serves_a_new_client(s.port());
}

TEST_CASE("a room name with any character a room name may not have gets 479 (a comma splits a list: 403)") {
  chat_test::server s;
  auto c = registered(s.port(), "roomer");
  // '\a' is BEL.
  std::vector<std::string> bad = {
      "#a b", "#a\ab", "#a:b", "#a\rb", "nohash", "#", "#" + std::string(chat::irc::max_channel_length, 'r')};
  // Any byte of 0x80 and up alone is not UTF-8.
  for (int b = 0x80; b < 0x100; ++b)
    bad.push_back(std::string("#a") + static_cast<char>(b) + "b");
  std::string lines;
  for (const std::string& room : bad)
    lines += "JOIN :" + room + "\r\n";
  REQUIRE(c->send_raw(lines));
  REQUIRE(answers(*c, "rooms"));
  CHECK(count_lines(*c, " 479 roomer ") == bad.size());
  CHECK(count_lines(*c, " JOIN ") == 0);

  // In JOIN and PART a comma separates rooms; where a command takes one
  // room, a name with a comma is no room.
  c->send("TOPIC #a,b");
  auto no_room = c->wait_for(" 403 ");
  REQUIRE(no_room.has_value());
  CHECK(*no_room == ":weft.chat 403 roomer #a,b :No such channel");
  // A NUL in the name: a malformed line.
  REQUIRE(c->send_raw(std::string("JOIN #a\0b\r\n", 11)));
  auto malformed = c->wait_for(" 400 ");
  REQUIRE(malformed.has_value());
  CHECK(*malformed == ":weft.chat 400 roomer * :Malformed line: NUL byte in the line");
  serves_a_new_client(s.port());
}

TEST_CASE("a 600-byte line gets 417, is not relayed, and the connection stays usable") {
  chat_test::server s;
  auto sender = registered(s.port(), "longer");
  REQUIRE(sender->join("#long"));
  auto reader = registered(s.port(), "longreader");
  REQUIRE(reader->join("#long"));

  const std::string prefix = "PRIVMSG #long :";
  const std::string line = prefix + std::string(600 - prefix.size(), 'y');
  REQUIRE(line.size() == 600);
  sender->send(line);
  auto too_long = sender->wait_for(" 417 ");
  REQUIRE(too_long.has_value());
  CHECK(*too_long == ":weft.chat 417 longer :Input line was too long");

  sender->send("PRIVMSG #long :this fits");
  auto next = reader->wait_for("PRIVMSG #long");
  REQUIRE(next.has_value());
  CHECK(*next == ":longer!longer@127.0.0.1 PRIVMSG #long :this fits");
  CHECK(count_lines(*reader, "yyyy") == 0);
  serves_a_new_client(s.port());
}

// -- floods ---------------------------------------------------------------------------------

TEST_CASE("10,000 JOINs from one client: the first CHANLIMIT rooms, then 405 for each other, and the server stays up") {
  chat_test::server s;
  auto c = registered(s.port(), "joiner");
  const std::size_t limit = s.cfg().channels_per_user;
  constexpr std::size_t joins = 10000;
  constexpr std::size_t batch = 500;  // then a PING: the answers never pile up past the sendq
  for (std::size_t from = 0; from < joins; from += batch) {
    std::string lines;
    for (std::size_t i = from; i < from + batch; ++i)
      lines += fmt::format("JOIN #many{}\r\n", i);
    REQUIRE(c->send_raw(lines));
    REQUIRE(answers(*c, fmt::format("joined-{}", from)));
  }
  CHECK(count_lines(*c, ":joiner!joiner@127.0.0.1 JOIN ") == limit);
  CHECK(count_lines(*c, " 405 joiner ") == joins - limit);
  auto first_refused = std::find_if(c->seen().begin(), c->seen().end(),
                                    [](const std::string& l) { return l.find(" 405 ") != std::string::npos; });
  REQUIRE(first_refused != c->seen().end());
  CHECK(*first_refused == fmt::format(":weft.chat 405 joiner #many{} :You have joined too many channels", limit));
  serves_a_new_client(s.port());
}

TEST_CASE(
    "with flood control on, lines past the burst are delayed, and 10,000 JOINs cut the client off with Excess Flood") {
  chat_test::server s(config_with([](chat::config& c) {
    c.input_rate = 10;
    c.input_burst = 40;
  }));
  const auto connected = steady::now();
  client c(s.port());
  REQUIRE(c.register_as("flooder"));  // 2 lines

  // 60 JOINs and a PING: 63 lines since connecting, 23 past the burst.
  // At 10 lines a second the PONG cannot come before 2.3 s (a lower
  // bound: a slow machine only makes it later).
  std::string lines;
  for (int i = 0; i < 60; ++i)
    lines += fmt::format("JOIN #flood{}\r\n", i);
  REQUIRE(c.send_raw(lines));
  REQUIRE(answers(c, "delayed"));
  const double delayed = std::chrono::duration<double>(steady::now() - connected).count();
  CHECK(delayed >= 2.2);
  CHECK(count_lines(c, ":flooder!flooder@127.0.0.1 JOIN ") == 50);
  CHECK(count_lines(c, " 405 flooder ") == 10);
  CHECK_FALSE(c.closed());

  // The rest at once: more lines wait than abuse_lines allows.
  lines.clear();
  for (int i = 60; i < 10000; ++i)
    lines += fmt::format("JOIN #flood{}\r\n", i);
  (void)c.send_raw(lines);  // fails once the server has closed
  REQUIRE(c.wait_closed(60s));
  const double total = std::chrono::duration<double>(steady::now() - connected).count();
  REQUIRE_FALSE(c.seen().empty());
  CHECK(c.seen().back() == "ERROR :Closing Link: 127.0.0.1 (Excess Flood)");
  // Handled: what was answered. Never more than the bucket allows.
  const std::size_t handled = count_lines(c, ":flooder!flooder@127.0.0.1 JOIN ") + count_lines(c, " 405 flooder ");
  INFO("JOINs answered: ", handled, " in ", total, " s");
  CHECK(handled < 10000);
  CHECK(static_cast<double>(handled + 3) <= 40 + 10 * total + 1);
  serves_a_new_client(s.port());
}

// 1,000 connections driven by one thread with poll(): each line is looked
// at as it comes and not kept (a storm sends each client thousands).
class crowd {
 public:
  struct peer {
    int fd = -1;
    std::string nick;
    std::string partial;
    bool registered = false;
    bool closed = false;
    std::set<std::string> pongs;
    std::vector<std::string> errors;  // error numerics (4xx) and ERROR lines
  };

  crowd(std::uint16_t port, std::size_t size) : port_(port), peers_(size) {}
  crowd(const crowd&) = delete;
  crowd& operator=(const crowd&) = delete;
  ~crowd() {
    for (peer& p : peers_) {
      if (p.fd >= 0) ::close(p.fd);
    }
  }

  std::size_t size() const { return peers_.size(); }
  peer& operator[](std::size_t i) { return peers_[i]; }

  // Connects and registers everyone, `batch` at a time (the listen
  // backlog is finite).
  void connect_all(const std::string& nick_prefix, std::size_t batch = 100) {
    for (std::size_t from = 0; from < peers_.size(); from += batch) {
      const std::size_t to = std::min(peers_.size(), from + batch);
      for (std::size_t i = from; i < to; ++i) {
        peer& p = peers_[i];
        p.fd = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(p.fd >= 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port_);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(p.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        p.nick = fmt::format("{}{}", nick_prefix, i);
        send(i, fmt::format("NICK {}\r\nUSER {} 0 * :{}\r\n", p.nick, p.nick, p.nick));
      }
      REQUIRE(pump_until([&] {
        for (std::size_t i = from; i < to; ++i) {
          if (!peers_[i].registered) return false;
        }
        return true;
      }));
    }
  }

  void send(std::size_t i, std::string_view bytes) {
    peer& p = peers_[i];
    while (!bytes.empty()) {
      const ssize_t n = ::send(p.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        p.closed = true;
        return;
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // Reads what comes until `done` holds; false after the deadline.
  template <class Done>
  bool pump_until(Done done, std::chrono::seconds timeout = 60s) {
    const auto deadline = steady::now() + timeout;
    std::vector<pollfd> fds(peers_.size());
    char buf[65536];
    while (!done()) {
      if (steady::now() > deadline) return false;
      for (std::size_t i = 0; i < peers_.size(); ++i)
        fds[i] = {peers_[i].closed ? -1 : peers_[i].fd, POLLIN, 0};
      if (::poll(fds.data(), fds.size(), 100) <= 0) continue;
      for (std::size_t i = 0; i < peers_.size(); ++i) {
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        const ssize_t n = ::recv(peers_[i].fd, buf, sizeof buf, 0);
        if (n <= 0) {
          peers_[i].closed = true;
          continue;
        }
        take(peers_[i], std::string_view(buf, static_cast<std::size_t>(n)));
      }
    }
    return true;
  }

 private:
  static void take(peer& p, std::string_view bytes) {
    p.partial.append(bytes);
    std::size_t start = 0, nl;
    while ((nl = p.partial.find('\n', start)) != std::string::npos) {
      std::string_view line(p.partial.data() + start, nl - start);
      if (line.ends_with('\r')) line.remove_suffix(1);
      on_line(p, line);
      start = nl + 1;
    }
    p.partial.erase(0, start);
  }

  static void on_line(peer& p, std::string_view line) {
    if (line.starts_with(":weft.chat 001 ")) p.registered = true;
    if (line.starts_with(":weft.chat PONG ")) p.pongs.emplace(line.substr(line.rfind(' ') + 1));
    if (line.starts_with(":weft.chat 4") || line.starts_with("ERROR ")) p.errors.emplace_back(line);
  }

  std::uint16_t port_;
  std::vector<peer> peers_;
};

// The nicks in a room, as NAMES gives them to someone outside it.
std::set<std::string> names_of(client& c, std::string_view room) {
  c.send(fmt::format("NAMES {}", room));
  std::set<std::string> names;
  const std::string reply = fmt::format(" 353 {} = {} :", "observer", room);
  for (;;) {
    auto l = c.wait_for([](const std::string& x) {
      return x.find(" 353 ") != std::string::npos || x.find(" 366 ") != std::string::npos;
    });
    REQUIRE(l.has_value());
    if (l->find(" 366 ") != std::string::npos) return names;
    const auto at = l->find(reply);
    REQUIRE(at != std::string::npos);
    std::string_view list = std::string_view(*l).substr(at + reply.size());
    while (!list.empty()) {
      const auto space = list.find(' ');
      names.emplace(list.substr(0, space));
      if (space == std::string_view::npos) break;
      list.remove_prefix(space + 1);
    }
  }
}

TEST_CASE(
    "1,000 clients each join and part the same 5 rooms 20 times: then every room's NAMES is exact and every connection "
    "answers") {
  // Two descriptors a client (its end and the server's).
  rlimit files{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &files) == 0);
  files.rlim_cur = files.rlim_max;
  (void)::setrlimit(RLIMIT_NOFILE, &files);
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &files) == 0);
  std::size_t clients = under_tsan ? 200 : 1000;
  if (files.rlim_cur != RLIM_INFINITY && files.rlim_cur < 2 * clients + 200) {
    clients = (files.rlim_cur - 200) / 2;
    WARN_MESSAGE(false, "only ", clients, " clients: RLIMIT_NOFILE is ", files.rlim_cur);
  }
  constexpr std::size_t rooms = 5;
  constexpr std::size_t cycles = 20;

  chat_test::server s;
  crowd storm(s.port(), clients);
  storm.connect_all("storm");
  // The storm, `wave` clients at a time: each joins and parts the 5
  // rooms in turn, 20 times, then a PING says it is through. Why waves:
  // every JOIN and PART goes to every member of its room, and each JOIN
  // is an ask whose reply search starts by scanning all the connection
  // has stashed, which grows with every JOIN of a pipelined burst; the
  // cost grows faster than the square of the clients at once. 100 at once
  // take about a second here; 500 at once take 45 s, and JOINs then time
  // out in the swamped rooms (403 "ask timeout").
  const std::size_t wave = under_tsan ? 50 : 100;
  for (std::size_t from = 0; from < clients; from += wave) {
    const std::size_t to = std::min(clients, from + wave);
    for (std::size_t i = from; i < to; ++i) {
      std::string lines;
      for (std::size_t k = 0; k < cycles; ++k) {
        const std::size_t room = (i + k) % rooms;
        lines += fmt::format("JOIN #storm{}\r\nPART #storm{}\r\n", room, room);
      }
      storm.send(i, lines + "PING :stormed\r\n");
    }
    REQUIRE(storm.pump_until([&] {
      for (std::size_t i = from; i < to; ++i) {
        if (!storm[i].pongs.contains("stormed") && !storm[i].closed) return false;
      }
      return true;
    }));
  }
  // Then everyone stays in room i % 5.
  for (std::size_t i = 0; i < clients; ++i)
    storm.send(i, fmt::format("JOIN #storm{}\r\nPING :settled\r\n", i % rooms));
  REQUIRE(storm.pump_until([&] {
    for (std::size_t i = 0; i < clients; ++i) {
      if (!storm[i].pongs.contains("settled") && !storm[i].closed) return false;
    }
    return true;
  }));
  for (std::size_t i = 0; i < clients; ++i) {
    INFO("client ", storm[i].nick, " first error: ", storm[i].errors.empty() ? "" : storm[i].errors.front());
    REQUIRE_FALSE(storm[i].closed);
    REQUIRE(storm[i].errors.empty());
  }

  client observer(s.port());
  REQUIRE(observer.register_as("observer"));
  for (std::size_t r = 0; r < rooms; ++r) {
    std::set<std::string> expected;
    for (std::size_t i = r; i < clients; i += rooms)
      expected.insert(storm[i].nick);
    CHECK(names_of(observer, fmt::format("#storm{}", r)) == expected);
  }

  for (std::size_t i = 0; i < clients; ++i)
    storm.send(i, "PING :alive\r\n");
  REQUIRE(storm.pump_until([&] {
    for (std::size_t i = 0; i < clients; ++i) {
      if (!storm[i].pongs.contains("alive") && !storm[i].closed) return false;
    }
    return true;
  }));
  for (std::size_t i = 0; i < clients; ++i)
    REQUIRE_FALSE(storm[i].closed);
  serves_a_new_client(s.port());
}

// -- clients that go quiet -----------------------------------------------------------------------

TEST_CASE("a client that resets its connection leaves its rooms at once: QUIT with Connection reset by peer") {
  chat_test::server s;
  auto watcher = registered(s.port(), "watcher");
  REQUIRE(watcher->join("#reset"));
  auto victim = registered(s.port(), "victim");
  REQUIRE(victim->join("#reset"));
  REQUIRE(watcher->wait_for("JOIN #reset"));

  // SO_LINGER 0: close sends RST, no FIN.
  linger reset{1, 0};
  REQUIRE(::setsockopt(victim->fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset) == 0);
  victim.reset();
  auto quit = watcher->wait_for(" QUIT ");
  REQUIRE(quit.has_value());
  CHECK(*quit == ":victim!victim@127.0.0.1 QUIT :Connection reset by peer");
  CHECK(nick_becomes_free(s.port(), "victim"));
  serves_a_new_client(s.port());
}

TEST_CASE("a client that goes silent and stops reading is pinged, then dropped after ping_timeout") {
  // Short timeouts, with room for a loaded machine: the clients that
  // check the server afterwards must get their lines in within them.
  chat_test::server s(config_with([](chat::config& c) {
    c.ping_after = 300ms;
    c.ping_timeout = 1500ms;
  }));
  client silent(s.port());
  REQUIRE(register_answering(silent, "silent"));
  REQUIRE(join_answering(silent, "#quiet"));
  // From here on it neither sends nor reads: its socket is only read
  // below, after the server closed it (the server cannot tell).
  REQUIRE(silent.wait_closed(30s));
  CHECK(count_lines(silent, "PING weft.chat") >= 1);
  CHECK(silent.seen().back() == "ERROR :Closing Link: 127.0.0.1 (Ping timeout: 1.5 seconds)");
  CHECK(nick_becomes_free(s.port(), "silent"));
  serves_a_new_client(s.port());
}

TEST_CASE("a client that never registers is dropped after register_timeout") {
  // 1 s: short, and still room for the check at the end to register
  // a client on a loaded machine.
  chat_test::server s(config_with([](chat::config& c) { c.register_timeout = 1s; }));
  client mute(s.port());  // sends nothing
  client nick_only(s.port());
  nick_only.send("NICK halfway");
  client capping(s.port());  // CAP LS holds registration until CAP END
  capping.send("CAP LS 302");
  capping.send("NICK capping");
  capping.send("USER capping 0 * :capping");
  for (client* c : {&mute, &nick_only, &capping}) {
    REQUIRE(c->wait_closed(30s));
    REQUIRE_FALSE(c->seen().empty());
    CHECK(c->seen().back() == "ERROR :Closing Link: 127.0.0.1 (Registration timed out)");
    CHECK(count_lines(*c, " 001 ") == 0);
  }
  CHECK(nick_becomes_free(s.port(), "halfway"));
  CHECK(nick_becomes_free(s.port(), "capping"));
  serves_a_new_client(s.port());
}

TEST_CASE("a client that stops reading while others talk is cut off at its sendq, and the others get every message") {
  chat_test::server s(config_with([](chat::config& c) { c.sendq_bytes = 64 * 1024; }));
  client slow(s.port());
  slow.shrink_receive_buffer();
  REQUIRE(slow.register_as("slow"));
  REQUIRE(slow.join("#busy"));
  auto talker = registered(s.port(), "talker");
  REQUIRE(talker->join("#busy"));
  std::vector<std::unique_ptr<client>> readers;
  for (int i = 0; i < 2; ++i) {
    readers.push_back(registered(s.port(), fmt::format("reader{}", i)));
    REQUIRE(readers.back()->join("#busy"));
  }

  // ~400-byte messages in windows of 50: the readers keep up (their sendq
  // is small too), the slow client does not read at all. How much goes
  // before the cut depends on the kernel's socket buffers (4 MB here), so
  // the talker goes on until the QUIT shows, then 10 windows more; at
  // most 80 MB.
  constexpr std::size_t window = 50;
  constexpr std::size_t most = 200000;
  const std::string padding(360, 'p');
  const std::string cut_off = ":slow!slow@127.0.0.1 QUIT :SendQ exceeded";
  std::size_t sent = 0, looked_at = 0, after_cut = 0;
  bool cut = false;
  while (sent < most && after_cut < 10 * window) {
    std::string lines;
    for (std::size_t i = sent; i < sent + window; ++i)
      lines += fmt::format("PRIVMSG #busy :{} {}\r\n", i, padding);
    REQUIRE(talker->send_raw(lines));
    sent += window;
    for (auto& r : readers)
      REQUIRE(r->wait_for(fmt::format("PRIVMSG #busy :{} ", sent - 1)));
    const auto& seen = readers.front()->seen();
    for (; !cut && looked_at < seen.size(); ++looked_at)
      cut = seen[looked_at] == cut_off;
    if (cut) after_cut += window;
  }
  INFO("messages sent: ", sent);
  REQUIRE(cut);
  for (auto& r : readers) {
    std::size_t next = 0;
    bool in_order = true;
    for (const std::string& l : r->seen()) {
      if (!l.starts_with(":talker!talker@127.0.0.1 PRIVMSG #busy :")) continue;
      in_order = in_order && l.find(fmt::format(":{} ", next)) != std::string::npos;
      ++next;
    }
    CHECK(next == sent);
    CHECK(in_order);
    CHECK(count_lines(*r, cut_off) == 1);
    CHECK_FALSE(r->closed());
  }
  // Gone from the server: its nick is free. (Not read from its socket:
  // with its tiny receive buffer the kernel trickles the rest to it.)
  CHECK(nick_becomes_free(s.port(), "slow"));
  serves_a_new_client(s.port());
}

}  // namespace
