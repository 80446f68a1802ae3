// kill -9 at a random moment must not lose an acknowledged event.
//
// 1. The test forks a child (no journal is open in the parent, so no other
//    thread exists at fork time). The child opens the journal and runs a few
//    writer threads; after each acknowledgement it writes "id seq\n" to a
//    pipe (one write() of less than PIPE_BUF bytes, so lines never mix).
// 2. The parent waits for the first acknowledgement, lets the child run for
//    a random time more, SIGKILLs it, then reads the pipe to its end: every
//    line is an acknowledged event.
// 3. The parent reopens the journal (truncate_corrupt_tail on: the kill may
//    tear the write in progress, which held no acknowledged event) and
//    checks each id holds 1..highest, consecutive, with the expected
//    payloads, and highest >= the last acknowledged number.

#include <weft/persistence/file_journal.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace weft::persistence;
using weft::persistence::test::payload_text;
using weft::persistence::test::temp_dir;
using weft::persistence::test::text_event;

namespace {

constexpr int child_writers = 4;

std::string payload_for(const std::string& id, std::uint64_t seq) {
  return id + "/" + std::to_string(seq) + std::string(seq % 50, '.');
}

[[noreturn]] void run_child(const std::filesystem::path& dir, int pipe_fd, unsigned seed) {
  try {
    journal_options options;
    options.truncate_corrupt_tail = true;
    options.segment_size = 64u << 10;  // rotations happen during the run too
    options.on_warning = [](std::string_view) {};
    auto j = open_file_journal(dir, options);
    std::vector<std::thread> threads;
    for (int w = 0; w < child_writers; ++w) {
      threads.emplace_back([&, w] {
        std::mt19937 rng(seed + static_cast<unsigned>(w));
        std::string id = "crash-" + std::to_string(w);
        std::uint64_t seq = j->highest_sequence_nr(id) + 1;
        for (;;) {
          std::vector<persistent_event> batch;
          int size = 1 + static_cast<int>(rng() % 4);
          for (int k = 0; k < size; ++k, ++seq)
            batch.push_back(text_event(seq, payload_for(id, seq)));
          j->append(id, batch);
          std::string line = id + " " + std::to_string(seq - 1) + "\n";
          if (::write(pipe_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
            ::_exit(3);
          }
        }
      });
    }
    for (auto& t : threads) t.join();
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
    run_child(dir, fds[1], seed);
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
  // The random kill point starts after the first acknowledgement, so even a
  // slow (sanitizer) build kills a child that is busy writing.
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
  REQUIRE(WIFSIGNALED(status));  // the child ran until killed, no error exit
  CHECK(WTERMSIG(status) == SIGKILL);

  std::map<std::string, std::uint64_t> last_acked;
  std::istringstream lines(acknowledged);
  std::string id;
  std::uint64_t seq;
  while (lines >> id >> seq) last_acked[id] = std::max(last_acked[id], seq);
  REQUIRE(!last_acked.empty());

  journal_options options;
  options.truncate_corrupt_tail = true;
  options.on_warning = [](std::string_view message) {
    if (std::getenv("WEFT_CRASH_VERBOSE"))
      std::fprintf(stderr, "recovery: %.*s\n", static_cast<int>(message.size()), message.data());
  };
  auto j = open_file_journal(dir, options);
  for (int w = 0; w < child_writers; ++w) {
    std::string name = "crash-" + std::to_string(w);
    CAPTURE(name);
    std::uint64_t highest = j->highest_sequence_nr(name);
    CHECK(highest >= last_acked[name]);
    std::uint64_t expected = 1;
    bool garbage = false;
    j->read(name, 1, max_sequence_nr, max_sequence_nr, [&](const event_view& e) {
      if (e.sequence_nr != expected++ ||
          as_string_view(e.payload) != payload_for(name, e.sequence_nr)) {
        garbage = true;
      }
    });
    CHECK_FALSE(garbage);
    CHECK(expected - 1 == highest);
  }
}

}  // namespace

TEST_CASE("every acknowledged event survives kill -9 of the writing process") {
#if WEFT_STRESS
  constexpr unsigned trials = 60;
#else
  constexpr unsigned trials = 6;
#endif
  temp_dir dir;
  // The same directory across trials: later trials also recover journals
  // that already went through crashes and truncations.
  std::random_device entropy;
  unsigned base = entropy();
  for (unsigned trial = 0; trial < trials; ++trial) {
    CAPTURE(trial);
    CAPTURE(base);
    crash_trial(dir.path(), base + trial * 7919);
  }
}
