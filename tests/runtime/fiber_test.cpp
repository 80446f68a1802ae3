#include "weft_test.hpp"

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <string>

using namespace weft_test;

namespace {

// Recurses with a big frame until the stack runs out.
#pragma GCC diagnostic ignored "-Winfinite-recursion"
int overflow(volatile char* prev, int depth) {
  volatile char frame[4096];
  frame[0] = static_cast<char>(depth);
  frame[4095] = prev != nullptr ? prev[0] : 0;
  return overflow(frame, depth + 1) + frame[100];
}

std::string run_child_capture_stderr(void (*body)()) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[0]);
    body();
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  std::array<char, 4096> buf;
  ssize_t n;
  while ((n = ::read(fds[0], buf.data(), buf.size())) > 0) out.append(buf.data(), static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK_FALSE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  return out;
}

}  // namespace

#if !defined(WEFT_SANITIZE_ADDRESS) && !defined(WEFT_SANITIZE_THREAD)
// Sanitizers install their own SIGSEGV handling and stack bookkeeping;
// this test runs in the plain build, where the guard page is what catches it.
TEST_CASE("a stack overflow names the actor on stderr instead of an anonymous SIGSEGV") {
  std::string err = run_child_capture_stderr([] {
    weft::runtime rt(small_runtime(1));
    rt.spawn([](weft::context&) { overflow(nullptr, 0); }, {.stack_size = 64 * 1024, .name = "deep_thinker"});
    std::this_thread::sleep_for(10s);
  });
  INFO("stderr: " << err);
  CHECK(err.find("weft: stack overflow in actor <0.") != std::string::npos);
  CHECK(err.find("'deep_thinker'") != std::string::npos);
  // 64 KiB is below the runtime's default, so it ran on a default stack.
  CHECK(err.find("its fiber stack of 131072 bytes is exhausted") != std::string::npos);
}
#endif

TEST_CASE("an actor with a larger stack gets it, and fibers return to the pool") {
  weft::runtime rt(small_runtime(1));
  weft::scoped_actor me(rt);
  weft::pid report = me.self();
  rt.spawn(
      [report](weft::context& self) {
        volatile char big[512 * 1024];  // would overflow the 128 KiB default
        big[0] = 1;
        big[sizeof big - 1] = 2;
        self.send(report, big[0] + big[sizeof big - 1]);
      },
      {.stack_size = 1024 * 1024});
  CHECK(me.receive<int>() == 3);
  CHECK(eventually([&] { return rt.live_actors() == 0; }));
}

TEST_CASE("an exception caught across a suspension keeps its state when the fiber moves threads") {
  weft::runtime rt(small_runtime(2));
  weft::scoped_actor me(rt);
  weft::pid report = me.self();
  for (int a = 0; a < 50; ++a) {
    rt.spawn([report](weft::context& self) {
      bool ok = true;
      for (int i = 0; i < 20; ++i) {
        try {
          throw std::runtime_error("inner " + std::to_string(i));
        } catch (const std::runtime_error& e) {
          self.yield();  // suspended inside a catch block; may resume elsewhere
          ok = ok && std::string(e.what()) == "inner " + std::to_string(i) && std::uncaught_exceptions() == 0;
        }
      }
      self.send(report, ok);
    });
  }
  for (int a = 0; a < 50; ++a) CHECK(me.receive<bool>());
}
