// weft-chat as a process: kill -9 in the middle of a burst and restart
// on the same --data; every acknowledged message is in CHATHISTORY, and a
// client that reconnects with its last msgid gets exactly what it missed.
// Also: SIGTERM stops it cleanly (clients get an ERROR line, exit 0).

#include "chat_test.hpp"

#include <doctest/doctest.h>

#include <fmt/format.h>

#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <set>

#ifndef WEFT_CHAT_BINARY
#error "WEFT_CHAT_BINARY: the path of weft-chat (tests/chat/CMakeLists.txt)"
#endif

using chat_test::client;

namespace {

// weft-chat in a child process; its port read from its first line.
class process {
 public:
  explicit process(const std::filesystem::path& data) {
    int out[2];
    REQUIRE(::pipe(out) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::close(out[0]);
      ::close(out[1]);
      const std::string dir = data.string();
      ::execl(WEFT_CHAT_BINARY, "weft-chat", "--irc-port", "0", "--ws-port", "0", "--bind", "127.0.0.1", "--data",
              dir.c_str(), "--input-rate", "0", "--workers", "2", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    out_ = ::fdopen(out[0], "r");
    char line[256];
    while (std::fgets(line, sizeof line, out_) != nullptr) {
      unsigned p = 0;
      if (std::sscanf(line, "weft-chat: IRC on port %u", &p) == 1) {
        port_ = static_cast<std::uint16_t>(p);
        break;
      }
    }
    REQUIRE(port_ != 0);
  }
  ~process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_ != nullptr) std::fclose(out_);
  }
  std::uint16_t port() const { return port_; }
  void kill9() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // SIGTERM, then the exit status (-1 if it did not exit normally).
  int terminate() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  std::uint16_t port_ = 0;
};

std::uint64_t seq_of(const std::string& line) {
  const auto at = line.find("msgid=");
  return at == std::string::npos ? 0 : std::stoull(line.substr(at + 6));
}

// Every PRIVMSG of `room` c receives, by sequence number, in order.
std::vector<std::uint64_t> seqs(const client& c, std::string_view room) {
  std::vector<std::uint64_t> out;
  for (const auto& l : c.seen()) {
    if (l.find(fmt::format("PRIVMSG {}", room)) != std::string::npos) out.push_back(seq_of(l));
  }
  return out;
}

// CHATHISTORY AFTER `after`, page by page, to the end.
std::vector<std::uint64_t> history_after(client& h, std::string_view room, std::uint64_t after) {
  std::vector<std::uint64_t> out;
  const std::string tag = chat::room_tag(std::string(room));
  for (;;) {
    h.send(fmt::format("CHATHISTORY AFTER {} msgid={} 100", room, chat::make_msgid(after, tag)));
    std::size_t got = 0;
    REQUIRE(h.wait_for("BATCH +"));
    for (;;) {
      auto l = h.wait_for([](const std::string& x) {
        return x.find("BATCH -") != std::string::npos || x.find("PRIVMSG") != std::string::npos;
      });
      REQUIRE(l);
      if (l->find("BATCH -") != std::string::npos) break;
      out.push_back(seq_of(*l));
      after = out.back();
      ++got;
    }
    if (got == 0) return out;
  }
}

}  // namespace

TEST_CASE("kill -9 mid-burst: acknowledged messages survive; a reconnect with the last msgid misses nothing") {
  chat_test::temp_dir data;
  const int n = 3000;
  std::vector<std::uint64_t> acked, live;
  {
    process server(data.path);
    client a(server.port()), b(server.port());
    REQUIRE(a.register_as("alice", "message-tags echo-message"));
    REQUIRE(b.register_as("bob", "message-tags"));
    REQUIRE(a.join("#d"));
    REQUIRE(b.join("#d"));
    a.send("TOPIC #d :survives kill -9");
    REQUIRE(a.wait_for(" TOPIC "));
    std::string burst;
    for (int i = 0; i < n; ++i) burst += fmt::format("PRIVMSG #d :m{}\r\n", i);
    REQUIRE(a.send_raw(burst));
    // Kill once a third is acknowledged (echo-message: the echo comes once
    // the message is durable).
    REQUIRE(a.wait_for(fmt::format("m{}", n / 3)));
    // bob too has some (his connection may write after alice's: without
    // this the kill could come before his first line left the server).
    REQUIRE(b.wait_for("PRIVMSG #d"));
    server.kill9();
    CHECK(a.wait_closed());
    CHECK(b.wait_closed());
    acked = seqs(a, "#d");
    live = seqs(b, "#d");
  }
  REQUIRE(!acked.empty());
  REQUIRE(!live.empty());
  process again(data.path);
  client h(again.port());
  REQUIRE(h.register_as("historian", "message-tags batch draft/chathistory"));
  const auto durable = history_after(h, "#d", 0);
  // Every acknowledged message is there; numbers have no gaps.
  const std::set<std::uint64_t> stored(durable.begin(), durable.end());
  std::size_t missing = 0;
  for (auto seq : acked) missing += stored.contains(seq) ? 0 : 1;
  CHECK(missing == 0);
  for (std::size_t i = 1; i < durable.size(); ++i) CHECK(durable[i] == durable[i - 1] + 1);  // (1 is the topic)
  // bob reconnects with the last msgid he saw and asks for the rest.
  client b2(again.port());
  REQUIRE(b2.register_as("bob", "message-tags batch draft/chathistory"));
  const auto missed = history_after(b2, "#d", live.back());
  std::vector<std::uint64_t> whole = live;
  whole.insert(whole.end(), missed.begin(), missed.end());
  CHECK(whole == durable);  // 0 gaps, 0 duplicates
  h.send("TOPIC #d");
  auto topic = h.wait_for(" 332 ");
  REQUIRE(topic);
  CHECK(topic->find("survives kill -9") != std::string::npos);
  MESSAGE(fmt::format("{} sent, {} acknowledged before the kill, {} durable, bob had {} live and {} from history",
                      n, acked.size(), durable.size(), live.size(), missed.size()));
}

TEST_CASE("SIGTERM: every client gets an ERROR line, the server exits 0, and the journal reopens") {
  chat_test::temp_dir data;
  {
    process server(data.path);
    client a(server.port());
    REQUIRE(a.register_as("alice"));
    REQUIRE(a.join("#bye"));
    a.send("PRIVMSG #bye :last words");
    a.send("PING :sync");
    REQUIRE(a.wait_for("PONG"));
    CHECK(server.terminate() == 0);
    auto error = a.wait_for("ERROR");
    REQUIRE(error);
    CHECK(error->find("Server shutting down") != std::string::npos);
    CHECK(a.wait_closed());
  }
  process again(data.path);
  client h(again.port());
  REQUIRE(h.register_as("historian", "message-tags batch draft/chathistory"));
  CHECK(history_after(h, "#bye", 0).size() == 1);
}
