// kill -9 of a process running persistent actors loses no acknowledged
// command and applies no garbage (the storage layer has its own crash test;
// this one goes through the actor: batching, replies, snapshots).
//
// 1. The parent forks a child while it has no runtime or journal (so no
//    other thread exists at fork time). The child runs persistent counters
//    whose k-th command increments by k; a driver thread per counter asks
//    one command at a time and, after each reply, writes "id k\n" to a pipe
//    (one write() under PIPE_BUF bytes, so lines never mix).
// 2. The parent waits for the first acknowledgement, lets the child run a
//    random time more, SIGKILLs it and reads the pipe to its end.
// 3. The parent reopens the journal (truncate_corrupt_tail: the kill may
//    tear the write in flight, which held no acknowledged event), recovers
//    each counter in a runtime of its own and checks: no event out of order
//    (the event handler checks each `by` is the next k), at least every
//    acknowledged command applied, and the sum matches the count. The
//    runtime is destroyed before the next fork.

#include <weft/persistence/file_journal.hpp>
#include <weft/persistence/persistent_actor.hpp>
#include <weft/persistence/snapshot_store.hpp>

#include "counter_support.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace weft::persistence;
using namespace weft::persistence::test;
using namespace std::chrono_literals;

namespace {

struct checked_counter {
  std::int64_t count = 0;
  std::int64_t sum = 0;
  bool garbage = false;
};

}  // namespace

template <>
struct weft::persistence::codec<checked_counter> {
  static void encode(const checked_counter& s, byte_writer& out) {
    out.write(s.count);
    out.write(s.sum);
    out.write(s.garbage);
  }
  static checked_counter decode(byte_reader& in) {
    checked_counter s;
    s.count = in.read<std::int64_t>();
    s.sum = in.read<std::int64_t>();
    s.garbage = in.read<bool>();
    return s;
  }
};

namespace {

constexpr int counters = 4;

// The k-th increment must be by k: anything else is recorded as garbage.
struct checked : event_sourced<counter_protocol, checked_counter, incremented> {
  effect<std::int64_t> on_command(const checked_counter&, const increment& c) const {
    return persist(incremented{c.by}).then_reply([](const checked_counter& s) { return s.count; });
  }
  void on_event(checked_counter& s, const incremented& e) const {
    if (e.by != s.count + 1) s.garbage = true;
    ++s.count;
    s.sum += e.by;
  }
};

persistent_options<checked_counter, incremented> checked_options(int n, journal& j, snapshot_store& snaps) {
  persistent_options<checked_counter, incremented> o;
  o.persistence_id = "crash-" + std::to_string(n);
  o.journal = &j;
  o.snapshots = &snaps;
  o.snapshot_every = 64;  // recovery mixes snapshots and replay
  return o;
}

journal_options recovering() {
  journal_options o;
  o.truncate_corrupt_tail = true;
  o.segment_size = 64u << 10;  // rotations happen during the run too
  o.on_warning = [](std::string_view) {};
  return o;
}

[[noreturn]] void run_child(const std::filesystem::path& dir, int pipe_fd) {
  try {
    auto j = open_file_journal(dir / "journal", recovering());
    auto snaps = open_file_snapshot_store(dir / "snapshots");
    weft::runtime_options ro;
    ro.workers = 2;
    weft::runtime rt(ro);
    std::vector<std::thread> drivers;
    for (int n = 0; n < counters; ++n) {
      drivers.emplace_back([&, n] {
        weft::scoped_actor self(rt);
        auto p = rt.spawn(persistent<checked>(checked_options(n, *j, *snaps)));
        auto start = self.ask(p, get_state{}, 60s);
        if (!start) ::_exit(4);
        for (std::int64_t k = start->count + 1;; ++k) {
          auto r = self.ask(p, increment{k}, 60s);
          if (!r || *r != k) ::_exit(5);
          std::string line = "crash-" + std::to_string(n) + " " + std::to_string(k) + "\n";
          if (::write(pipe_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) ::_exit(3);
        }
      });
    }
    for (auto& t : drivers)
      t.join();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "crash child: %s\n", e.what());
    ::_exit(2);
  }
  ::_exit(0);
}

void crash_trial(const std::filesystem::path& dir, unsigned seed) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(fds[0]);
    run_child(dir, fds[1]);
  }
  ::close(fds[1]);
  std::string acknowledged;
  char buffer[4096];
  auto read_some = [&] {
    ssize_t n;
    do {
      n = ::read(fds[0], buffer, sizeof buffer);
    } while (n < 0 && errno == EINTR);
    if (n > 0) acknowledged.append(buffer, static_cast<std::size_t>(n));
    return n > 0;
  };
  while (acknowledged.find('\n') == std::string::npos) {
    if (!read_some()) break;
  }
  std::mt19937 rng(seed);
  std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 150));
  ::kill(child, SIGKILL);
  while (read_some()) {
  }
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));  // ran until killed: no error exit
  CHECK(WTERMSIG(status) == SIGKILL);

  std::map<std::string, std::int64_t> last_acked;
  std::istringstream lines(acknowledged);
  std::string id;
  std::int64_t k;
  while (lines >> id >> k)
    last_acked[id] = std::max(last_acked[id], k);
  REQUIRE(!last_acked.empty());

  auto j = open_file_journal(dir / "journal", recovering());
  auto snaps = open_file_snapshot_store(dir / "snapshots");
  weft::runtime_options ro;
  ro.workers = 2;
  weft::runtime rt(ro);
  weft::scoped_actor self(rt);
  for (int n = 0; n < counters; ++n) {
    std::string name = "crash-" + std::to_string(n);
    CAPTURE(name);
    watched w(self, persistent<checked>(checked_options(n, *j, *snaps)));
    auto s = self.ask(w.ref(), get_state{}, 60s);
    REQUIRE(s.has_value());
    CHECK_FALSE(s->garbage);
    CHECK(s->count >= last_acked[name]);
    CHECK(s->sum == s->count * (s->count + 1) / 2);
    CHECK(j->highest_sequence_nr(name) == static_cast<std::uint64_t>(s->count));
    self.exit(w.pid(), weft::exit_reason::kill());
    REQUIRE(w.exit_reason().has_value());
  }
}

}  // namespace

TEST_CASE("every command acknowledged by a persistent actor survives kill -9 of its process") {
#if WEFT_STRESS
  constexpr unsigned trials = 60;
#else
  constexpr unsigned trials = 5;
#endif
  temp_dir dir;
  // One directory across trials: later trials recover actors whose journal
  // and snapshots already went through crashes.
  std::random_device entropy;
  unsigned base = entropy();
  for (unsigned trial = 0; trial < trials; ++trial) {
    CAPTURE(trial);
    CAPTURE(base);
    crash_trial(dir.path(), base + trial * 7919);
  }
}
