// The soak: 1,000 clients in 100 rooms talking for a while, with joins,
// parts, reconnects and crashes of connections and rooms injected; then
// everyone leaves, and live actors, descriptors and memory come back to
// where they were after a warm-up round.
//
// Length: 120 s by default (the default suite), 20 s under a sanitizer,
// WEFT_CHAT_SOAK_SECONDS to choose; WEFT_STRESS builds run 30 minutes.

#include "chat_test.hpp"

#include <doctest/doctest.h>

#include <fmt/format.h>

#include <fcntl.h>
#include <malloc.h>

#include <cstddef>
#include <cstdlib>
#include <random>
#include <thread>

#if defined(__SANITIZE_ADDRESS__) || defined(WEFT_SANITIZE_ADDRESS)
// ASan's runtime exports it; GCC ships no <sanitizer/allocator_interface.h>.
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#define WEFT_SOAK_ASAN 1
#endif

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

#if defined(WEFT_SANITIZE_THREAD) || defined(WEFT_SANITIZE_ADDRESS) || defined(__SANITIZE_ADDRESS__) || \
    defined(__SANITIZE_THREAD__)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif

std::chrono::seconds soak_length() {
  if (const char* s = std::getenv("WEFT_CHAT_SOAK_SECONDS")) return std::chrono::seconds(std::atoi(s));
#if defined(WEFT_STRESS)
  return std::chrono::minutes(30);
#endif
  return sanitized ? 20s : 120s;
}

// One non-blocking client socket, driven by the crowd below.
struct peer {
  int fd = -1;
  std::string in;
  std::string nick;
  std::vector<int> rooms;
  bool registered = false;
};

class crowd {
 public:
  crowd(std::uint16_t port, int clients, int rooms) : port_(port), rooms_(rooms), peers_(clients) {}
  ~crowd() {
    for (auto& p : peers_) close(p);
  }

  void connect_all() {
    for (std::size_t i = 0; i < peers_.size(); ++i) open(i);
    // Everyone registered and in their rooms before the clock starts.
    wait_until([&] {
      for (auto& p : peers_) {
        if (!p.registered) return false;
      }
      return true;
    });
  }

  // One step of random activity for a random client.
  void act(std::mt19937& rng) {
    peer& p = peers_[rng() % peers_.size()];
    const std::size_t i = static_cast<std::size_t>(&p - peers_.data());
    if (p.fd < 0 || !p.registered) return;
    const unsigned dice = rng() % 100;
    if (dice < 85) {
      if (!p.rooms.empty()) say(p, fmt::format("PRIVMSG #soak{} :hello from {}", p.rooms[rng() % p.rooms.size()], p.nick));
    } else if (dice < 93) {
      const int room = static_cast<int>(rng() % rooms_);
      if (std::find(p.rooms.begin(), p.rooms.end(), room) == p.rooms.end()) {
        say(p, fmt::format("JOIN #soak{}", room));
        p.rooms.push_back(room);
      } else {
        say(p, fmt::format("PART #soak{}", room));
        std::erase(p.rooms, room);
      }
    } else {
      say(p, "QUIT :reconnecting");
      close(p);
      open(i);
    }
  }

  // Reads whatever came (answering PINGs); reopens clients the server cut.
  void pump() {
    for (std::size_t i = 0; i < peers_.size(); ++i) {
      peer& p = peers_[i];
      if (p.fd < 0) continue;
      char buf[16384];
      for (;;) {
        const ssize_t n = ::recv(p.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
          close(p);  // crashed by the test, or cut off: come back
          open(i);
          break;
        }
        if (n < 0) break;
        p.in.append(buf, static_cast<std::size_t>(n));
      }
      std::size_t nl;
      while ((nl = p.in.find('\n')) != std::string::npos) {
        std::string_view line(p.in.data(), nl);
        if (line.starts_with("PING")) say(p, "PONG " + std::string(line.substr(5)));
        if (line.find(" 376 ") != std::string::npos) p.registered = true;
        p.in.erase(0, nl + 1);
      }
    }
  }

  void quit_all() {
    for (auto& p : peers_) {
      if (p.fd >= 0) say(p, "QUIT :done");
      close(p);
    }
  }

  template <class F>
  void wait_until(F done, std::chrono::seconds limit = 60s) {
    const auto end = steady::now() + limit;
    while (!done() && steady::now() < end) {
      pump();
      std::this_thread::sleep_for(1ms);
    }
    REQUIRE(done());
  }

  std::size_t reconnects() const { return reconnects_; }

 private:
  void open(std::size_t i) {
    peer& p = peers_[i];
    p = peer{};
    p.fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(p.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    p.nick = fmt::format("u{}x{}", i, generation_++);
    p.rooms = {static_cast<int>(i % rooms_)};
    say(p, fmt::format("NICK {}\r\nUSER {} 0 * :soak\r\nJOIN #soak{}", p.nick, p.nick, p.rooms[0]));
    ++reconnects_;
  }
  void close(peer& p) {
    if (p.fd >= 0) ::close(p.fd);
    p.fd = -1;
    p.registered = false;
  }
  void say(peer& p, const std::string& line) {
    const std::string out = line + "\r\n";
    (void)::send(p.fd, out.data(), out.size(), MSG_NOSIGNAL);  // a full buffer drops it: a slow client's loss
  }

  std::uint16_t port_;
  int rooms_;
  std::vector<peer> peers_;
  std::uint64_t generation_ = 0;
  std::size_t reconnects_ = 0;
};

weft::pid random_actor(weft::runtime& rt, std::string_view label_prefix, std::mt19937& rng) {
  std::vector<weft::pid> found;
  for (const auto& a : rt.actors()) {
    if (a.label.starts_with(label_prefix)) found.push_back(a.self);
  }
  return found.empty() ? weft::pid{} : found[rng() % found.size()];
}

}  // namespace

TEST_CASE("soak: 1,000 clients, 100 rooms, churn and crashes; actors, descriptors and memory return to baseline") {
  const int clients = sanitized ? 200 : 1000;
  const int rooms = sanitized ? 20 : 100;
  chat::config cfg = chat_test::test_config();
  cfg.idle_room_stop = 500ms;  // empty rooms go soon, so actors can come back to baseline
  cfg.no_fsync = true;         // the soak is about leaks, not the disk
  chat_test::server s(cfg);
  std::mt19937 rng(20261202);
  auto live_actors = [&] { return s.rt().actors().size(); };
  const std::size_t tree_actors = live_actors();
  // Memory in use, not what the allocator keeps cached for later.
  auto rss_in_use = [] {
    ::malloc_trim(0);
    return chat_test::rss_anon_kb();
  };
  // Bytes the program holds on the heap (every arena), whatever the
  // allocator keeps around them.
  // Under AddressSanitizer malloc is ASan's, and mallinfo2 reports 0: ask
  // ASan's allocator for the bytes it has handed out and not had back.
  auto heap_in_use_kb = [] {
#if defined(WEFT_SOAK_ASAN)
    return static_cast<long>(__sanitizer_get_current_allocated_bytes() / 1024);
#else
    const struct mallinfo2 m = ::mallinfo2();
    return static_cast<long>((m.uordblks + m.hblkhd) / 1024);
#endif
  };

  // Warm-up round: the allocator's and the runtime's pools reach their
  // working size; the baseline is taken after everyone left.
  {
    crowd warm(s.port(), clients, rooms);
    warm.connect_all();
    for (int i = 0; i < clients * 5; ++i) warm.act(rng);
    warm.pump();
    warm.quit_all();
  }
  if (!weft_test::eventually([&] { return live_actors() == tree_actors; }, 60s)) {
    for (const auto& a : s.rt().actors()) MESSAGE(a.label << " " << a.name << " " << weft::to_string(a.status));
  }
  REQUIRE(live_actors() == tree_actors);
  const std::size_t base_actors = live_actors();
  // Descriptors other than the journal's: sockets, and what else the tree
  // opens. The journal keeps one per segment file, and a long soak writes
  // new segments (64 MiB each), so its descriptors are checked apart.
  const std::filesystem::path journal_dir = s.data() / "journal";
  const std::size_t base_fds = chat_test::open_fds(journal_dir);
  const long base_rss = rss_in_use();
  const long base_heap = heap_in_use_kb();

  std::size_t crashes = 0, actions = 0, opened = 0;
  {
    // (The clients' own buffers are this process's memory too: the crowd
    // is gone before memory is measured.)
    crowd c(s.port(), clients, rooms);
    c.connect_all();
    const auto end = steady::now() + soak_length();
    auto next_crash = steady::now() + 1s;
    auto next_report = steady::now() + 15s;
    while (steady::now() < end) {
      // About 2,000 actions a second: 85% messages, joins and parts, reconnects.
      for (int i = 0; i < 20; ++i, ++actions) c.act(rng);
      c.pump();
      if (steady::now() >= next_crash) {
        next_crash += 1s;
        weft::scoped_actor self(s.rt());
        if (weft::pid who = random_actor(s.rt(), (crashes % 2 == 0) ? "irc " : "room ", rng)) {
          self.exit(who, weft::exit_reason::error("soak: injected crash"));
          ++crashes;
        }
      }
      if (steady::now() >= next_report) {
        next_report += 15s;
        MESSAGE(fmt::format("after {} actions: anonymous RSS {} kB, heap in use {} kB, {} actors", actions,
                            chat_test::rss_anon_kb(), heap_in_use_kb(), live_actors()));
      }
      std::this_thread::sleep_for(10ms);
    }
    c.quit_all();
    opened = c.reconnects();
  }
  REQUIRE(weft_test::eventually([&] { return live_actors() <= base_actors; }, 60s));
  CHECK(live_actors() == base_actors);
  REQUIRE(weft_test::eventually([&] { return chat_test::open_fds(journal_dir) <= base_fds; }, 30s));
  CHECK(chat_test::open_fds(journal_dir) == base_fds);
  // The journal holds its LOCK file and one descriptor per segment: never
  // more descriptors than files (a leaked one would be a second opening).
  std::size_t journal_files = 0;
  for (const auto& e : std::filesystem::directory_iterator(journal_dir)) {
    if (e.is_regular_file()) ++journal_files;
  }
  CHECK(chat_test::open_fds_under(journal_dir) <= journal_files);
  const long rss = rss_in_use();
  const long heap = heap_in_use_kb();
  MESSAGE(fmt::format("{} s, {} actions, {} crashes injected, {} connections opened; actors {} -> {}, fds {} -> {}, "
                      "heap in use {} kB -> {} kB, anonymous RSS {} kB -> {} kB",
                      soak_length().count(), actions, crashes, opened, base_actors, live_actors(), base_fds,
                      chat_test::open_fds(journal_dir), base_heap, heap, base_rss, rss));
  // The leak check is the heap in use: it must come back to the baseline
  // but for the journal's index (24 bytes per stored event, with a
  // vector's doubling: at most 64 per action) and a few MB of slack. A
  // leak of one connection or room per action would be far above that.
  CHECK(heap <= base_heap + static_cast<long>(actions) * 64 / 1024 + 4096);
  // The resident size does not come back all the way: glibc keeps the
  // pages of its worker-thread arenas that still hold a few live blocks
  // (measured: +45 MB after 120 s with 4 MB of heap in use). Bounded, so
  // only checked against a runaway. Not under AddressSanitizer: its
  // quarantine keeps up to 256 MB of freed blocks resident on purpose, and
  // its size-class caches never go back to the system (CI measured +440 MB
  // with the heap back at baseline), so there the heap check above is the
  // leak check.
#if !defined(WEFT_SOAK_ASAN)
  CHECK(rss <= base_rss + 160 * 1024);
#endif
}
