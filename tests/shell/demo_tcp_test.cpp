// The TCP endpoint from outside: weft-demo --tcp-port, reached over real
// TCP by raw sockets and by weft-shell, with the token from
// WEFT_SHELL_TOKEN or the random one the demo prints.

#include "shell_test.hpp"

#include <weft_test.hpp>

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

using namespace shell_test;
using namespace std::chrono_literals;

namespace {

// weft-demo --serve running in the background with its stdout on a pipe;
// SIGINT (its Ctrl-C) and a wait when the test ends.
class demo_process {
 public:
  demo_process(const std::vector<std::string>& args, const std::vector<std::string>& env) {
    int out[2];
    REQUIRE(::pipe(out) == 0);
    std::vector<std::string> argv_text{WEFT_DEMO_BINARY};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_text)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_text = env;
    std::vector<char*> envp;
    for (auto& e : env_text)
      envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::close(out[0]);
      ::close(out[1]);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(out[1]);
    out_ = out[0];
  }
  ~demo_process() {
    if (pid_ > 0) stop();
    ::close(out_);
  }

  // The first stdout line holding `text`, waiting up to a generous
  // deadline; empty if the demo exits or never prints it.
  std::string wait_for(std::string_view text) {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    for (;;) {
      for (auto newline = text_.find('\n'); newline != std::string::npos; newline = text_.find('\n')) {
        const std::string line = text_.substr(0, newline);
        text_.erase(0, newline + 1);
        if (line.find(text) != std::string::npos) return line;
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return {};
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(out_, buf, sizeof buf);
      if (n <= 0) return {};
      text_.append(buf, static_cast<std::size_t>(n));
    }
  }

  // Ctrl-C; the exit status.
  int stop() {
    ::kill(pid_, SIGINT);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string text_;
};

// This process's environment (sanitizer options included), with the
// socket directory and the token set for the demo.
std::vector<std::string> demo_env(const temp_dir& dir, const std::string& token) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    if (!entry.starts_with("XDG_RUNTIME_DIR=") && !entry.starts_with("WEFT_SHELL_TOKEN=")) env.emplace_back(entry);
  }
  env.push_back("XDG_RUNTIME_DIR=" + dir.path());
  if (!token.empty()) env.push_back("WEFT_SHELL_TOKEN=" + token);
  return env;
}

// What follows `label` in `line`, up to the first character not in `allowed`.
std::string field(const std::string& line, std::string_view label, std::string_view allowed) {
  const auto at = line.find(label);
  if (at == std::string::npos) return {};
  const auto start = at + label.size();
  const auto end = line.find_first_not_of(allowed, start);
  return line.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

constexpr std::string_view digits = "0123456789";

json tcp_call(std::uint16_t port, const std::string& line) {
  const int fd = tcp_connect(port);
  const std::string request = line + "\n";
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string answer;
  char ch;
  while (::recv(fd, &ch, 1, 0) == 1 && ch != '\n')
    answer += ch;
  ::close(fd);
  return json::parse(answer);
}

std::string run(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buf[4096];
  while (const std::size_t n = std::fread(buf, 1, sizeof buf, pipe))
    out.append(buf, n);
  ::pclose(pipe);
  return out;
}

}  // namespace

TEST_CASE("weft-demo --tcp-port 0 serves the shell on a free loopback port with the token from WEFT_SHELL_TOKEN") {
  temp_dir dir;
  const std::string token = "demo-test-token-7f3a";
  demo_process demo({"--serve", "--tcp-port", "0"}, demo_env(dir, token));
  const std::string port_text =
      field(demo.wait_for("debug shell over TCP at"), "debug shell over TCP at 127.0.0.1:", digits);
  REQUIRE_FALSE(port_text.empty());
  const auto port = static_cast<std::uint16_t>(std::stoi(port_text));
  CHECK(port != 0);
  CHECK(tcp_call(port, R"({"cmd":"hello"})")["error"]["code"] == "unauthorized");
  CHECK(tcp_call(port, R"({"cmd":"hello","token":"demo-test-token-7f3b"})")["error"]["code"] == "unauthorized");
  const json hello = tcp_call(port, R"({"cmd":"hello","token":"demo-test-token-7f3a"})");
  CHECK(hello["result"]["program"] == "weft-demo");
  // weft-shell, a built program, reaches it too, with the token from the
  // environment. The demo names its rooms only once its tour is over and
  // it starts serving (the TCP line comes first): wait for that.
  REQUIRE_FALSE(demo.wait_for("serving until Ctrl-C").empty());
  const std::string out =
      run("WEFT_SHELL_TOKEN=" + token + " " + WEFT_SHELL_BINARY + " 127.0.0.1:" + port_text + " names");
  CHECK(out.find("lobby") != std::string::npos);
  CHECK(demo.stop() == 0);
}

TEST_CASE("weft-demo --tcp-port prints a random token when WEFT_SHELL_TOKEN is unset, and that token works") {
  temp_dir dir;
  demo_process demo({"--serve", "--tcp-port", "0"}, demo_env(dir, ""));
  const std::string line = demo.wait_for("debug shell over TCP at");
  const std::string port_text = field(line, "debug shell over TCP at 127.0.0.1:", digits);
  const std::string token = field(line, "attach with: WEFT_SHELL_TOKEN=", "0123456789abcdef");
  REQUIRE_FALSE(port_text.empty());
  CHECK(token.size() == 32);
  const auto port = static_cast<std::uint16_t>(std::stoi(port_text));
  CHECK(tcp_call(port, R"({"cmd":"auth","token":")" + token + "\"}")["result"]["authenticated"] == true);
  CHECK(demo.stop() == 0);
}

TEST_CASE("weft-demo refuses a --tcp-port that is not a port number") {
  for (const std::string_view bad : {"http", "65536", "-1", "80x"}) {
    CAPTURE(bad);
    const std::string out =
        run(std::string(WEFT_DEMO_BINARY) + " --tcp-port " + std::string(bad) + " 2>&1; echo status=$?");
    CHECK(out.find("--tcp-port takes a port number from 0 (any free port) to 65535, not '" + std::string(bad) + "'") !=
          std::string::npos);
    CHECK(out.find("status=2") != std::string::npos);
  }
}
