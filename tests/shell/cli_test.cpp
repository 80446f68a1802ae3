// weft-shell as a program: the one-shot form as a script uses it, and the
// interactive shell as a person uses it, typed into tmux (send-keys) and
// read back from the screen (capture-pane).

#include "shell_test.hpp"

#include <weft_test.hpp>

#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>

using namespace shell_test;
using namespace std::chrono_literals;

namespace {

struct run_result {
  int status;
  std::string out;
};

run_result run(const std::string& command) {
  run_result r{-1, {}};
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buf[4096];
  while (const std::size_t n = std::fread(buf, 1, sizeof buf, pipe))
    r.out.append(buf, n);
  const int status = ::pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string shell_cmd(const std::string& socket, const std::string& args) {
  return std::string(WEFT_SHELL_BINARY) + " " + socket + " " + args;
}

// A runtime with a small named population, served on a private socket.
struct fixture {
  temp_dir dir;
  weft::runtime rt{weft_test::small_runtime()};
  weft::pid rooms =
      rt.spawn([](weft::context&) -> weft::behavior { return {[](int) {}}; }, {.name = "rooms", .label = "chat rooms"});
  weft::pid lobby = rt.spawn(
      [](weft::context& self) -> weft::behavior {
        self.spawn([](weft::context&) -> weft::behavior { return {[](int) {}}; }, {.label = "lobby helper"});
        return {[](int) {}};
      },
      {.name = "lobby"});
  weft::shell::endpoint ep{rt, options_in(dir)};
};

// tmux on its own server socket, so the test touches no other session.
class tmux_session {
 public:
  explicit tmux_session(const std::string& command) : server_("weft-shell-test-" + std::to_string(::getpid())) {
    const auto r = run(tmux() + " -f /dev/null new-session -d -s shell -x 150 -y 50 '" + command + "'");
    REQUIRE(r.status == 0);
  }
  ~tmux_session() { run(tmux() + " kill-server"); }

  void keys(const std::string& keys) { REQUIRE(run(tmux() + " send-keys -t shell " + keys).status == 0); }
  std::string screen() { return run(tmux() + " capture-pane -p -t shell").out; }
  bool alive() { return run(tmux() + " has-session -t shell").status == 0; }
  // Waits until the screen shows `text`; the screen, for the failure message.
  bool shows(const std::string& text) {
    return weft_test::eventually([&] { return screen().find(text) != std::string::npos; }, 10s);
  }

 private:
  std::string tmux() const { return std::string(TMUX_BINARY) + " -L " + server_; }
  std::string server_;
};

}  // namespace

TEST_CASE("the one-shot form prints JSON for scripts and plain text when piped") {
  fixture f;
  const std::string sock = f.ep.socket_path();

  auto r = run(shell_cmd(sock, "info rooms --json"));
  CHECK(r.status == 0);
  const json info = json::parse(r.out);
  CHECK(info["result"]["pid"] == f.rooms.to_string());
  CHECK(info["result"]["label"] == "chat rooms");

  r = run(shell_cmd(sock, "tree lobby"));
  CHECK(r.status == 0);
  CHECK(r.out.find('\x1b') == std::string::npos);  // no colours into a pipe
  CHECK(r.out.find(f.lobby.to_string() + " lobby  ") == 0);
  CHECK(r.out.find("└─ ") != std::string::npos);
  CHECK(r.out.find("lobby helper") != std::string::npos);

  r = run(shell_cmd(sock, "tree lobby --dot"));
  CHECK(r.out.starts_with("digraph weft {\n"));
  CHECK(r.out.find("\"" + f.lobby.to_string() + "\" -> \"") != std::string::npos);

  r = run(shell_cmd(sock, "ps --sort mailbox"));
  CHECK(r.out.starts_with("PID "));

  r = run(shell_cmd(sock, "top --iterations 2 --interval 100"));
  CHECK(r.status == 0);
  CHECK(r.out.find("weft top: ") != std::string::npos);
}

TEST_CASE("the one-shot form reports errors a person can act on, with a failing exit status") {
  fixture f;
  const std::string sock = f.ep.socket_path();
  auto r = run(shell_cmd(sock, "info roomz"));
  CHECK(r.status == 1);
  CHECK(r.out == "error: no actor named 'roomz' (did you mean 'rooms'?)\n");
  r = run(shell_cmd(sock, "kill rooms"));
  CHECK(r.status == 1);
  CHECK(r.out.find("read-only") != std::string::npos);
  r = run(shell_cmd(sock, "treee"));
  CHECK(r.out == "error: unknown command 'treee' (did you mean 'tree'?)\n");
  r = run(shell_cmd(f.dir.path() + "/nothing.sock", "ps"));
  CHECK(r.status == 2);
  CHECK(r.out.find("cannot connect to " + f.dir.path() + "/nothing.sock") != std::string::npos);
  r = run(shell_cmd(sock, "trace"));
  CHECK(r.status == 2);
  CHECK(r.out.find("trace: which actor?") != std::string::npos);
}

TEST_CASE("every command's answer from a real endpoint is shown as text, none of them taken for malformed") {
  temp_dir dir;
  weft::runtime rt{weft_test::small_runtime()};
  const weft::pid rooms =
      rt.spawn([](weft::context&) -> weft::behavior { return {[](int) {}}; }, {.name = "rooms", .label = "chat rooms"});
  rt.spawn([](weft::context&) -> weft::behavior { return {[](int) {}}; }, {.name = "doomed"});
  weft::shell::endpoint ep{rt, options_in(dir, true)};
  const std::string sock = ep.socket_path();
  struct expected {
    std::string args;
    std::string shows;
  };
  const std::vector<expected> commands = {
      {"hello", "shell-test (os pid "},
      {"help", "this endpoint allows kill, send and restart"},
      {"stats", "dead letters"},
      {"events", ""},
      {"names", "rooms"},
      {"ps", "chat rooms"},
      {"tree", "rooms (chat rooms)"},
      {"tree --dot", "digraph weft {"},
      {"info rooms", "label        chat rooms"},
      {"state rooms", ""},
      {"links rooms", rooms.to_string() + " links: (none)"},
      {"monitors rooms", rooms.to_string() + " monitored by: (none); monitors 0 other actor(s)"},
      {"trace rooms --count 1 --duration 100", "trace ended by its duration"},
      {"send rooms hello", "sent to " + rooms.to_string()},
      {"kill doomed", "sent exit(kill) to "},
  };
  for (const auto& c : commands) {
    CAPTURE(c.args);
    const auto r = run(shell_cmd(sock, c.args));
    CHECK(r.status == 0);
    CHECK(r.out.find("malformed") == std::string::npos);
    CHECK(r.out.find(c.shows) != std::string::npos);
  }
}

TEST_CASE("a person attaches in a terminal, looks at the tree, completes a name with tab, asks info, and quits") {
  fixture f;
  const std::string history = f.dir.path() + "/history";
  tmux_session tmux("env NO_COLOR=1 WEFT_SHELL_HISTORY=" + history + " " + WEFT_SHELL_BINARY + " attach " +
                    f.ep.socket_path());
  REQUIRE_MESSAGE(tmux.shows("weft(shell-test "), tmux.screen());
  CHECK(tmux.screen().find("read-only") != std::string::npos);

  tmux.keys("tree Enter");
  CHECK_MESSAGE(tmux.shows(f.rooms.to_string() + " rooms (chat rooms)  waiting  mailbox 0/1024"), tmux.screen());

  tmux.keys("'info ro' Tab");
  CHECK_MESSAGE(tmux.shows("> info rooms"), tmux.screen());
  tmux.keys("Enter");
  CHECK_MESSAGE(tmux.shows("label        chat rooms"), tmux.screen());

  tmux.keys("'info roomz' Enter");
  CHECK_MESSAGE(tmux.shows("error: no actor named 'roomz' (did you mean 'rooms'?)"), tmux.screen());

  tmux.keys("'tr' Tab");
  CHECK_MESSAGE(tmux.shows("> tr"), tmux.screen());  // tree and trace: no unique completion
  tmux.keys("C-u 'quit' Enter");
  CHECK(weft_test::eventually([&] { return !tmux.alive(); }, 10s));

  std::ifstream saved(history);
  std::stringstream text;
  text << saved.rdbuf();
  CHECK(text.str().find("tree") != std::string::npos);
}

TEST_CASE("ps and info show whom an actor is blocked sending to, and events show the deadlock report") {
  temp_dir dir;
  weft::runtime rt{weft_test::small_runtime()};
  // Two actors that fill each other's mailboxes before reading: a deadlock.
  struct peer {
    weft::pid to;
  };
  auto ready = std::make_shared<std::atomic<int>>(0);
  auto burster = [ready](weft::context& self) {
    const weft::pid to = self.receive<peer>().to;
    ready->fetch_add(1);
    while (ready->load() < 2) self.sleep_for(1ms);
    for (int i = 0; i < 10; ++i)
      if (self.send(to, i) != weft::send_status::ok) return;
  };
  const weft::pid a = rt.spawn(burster, {.mailbox_capacity = 2, .name = "left"});
  const weft::pid b = rt.spawn(burster, {.mailbox_capacity = 2, .name = "right"});
  weft::scoped_actor me(rt);
  me.send(a, peer{b});
  me.send(b, peer{a});
  REQUIRE(weft_test::eventually([&] { return rt.events().counts()["runtime/send_deadlock"] == 1; }));
  weft::shell::endpoint ep{rt, options_in(dir)};
  const std::string sock = ep.socket_path();

  auto r = run(shell_cmd(sock, "ps"));
  CHECK(r.status == 0);
  CHECK_MESSAGE(r.out.find("[blocked sending to " + b.to_string() + "]") != std::string::npos, r.out);
  CHECK_MESSAGE(r.out.find("[blocked sending to " + a.to_string() + "]") != std::string::npos, r.out);
  r = run(shell_cmd(sock, "info left"));
  CHECK_MESSAGE(r.out.find("waiting (blocked sending to " + b.to_string() + ")") != std::string::npos, r.out);
  r = run(shell_cmd(sock, "info left --json"));
  CHECK(json::parse(r.out)["result"]["blocked_sending_to"] == b.to_string());
  r = run(shell_cmd(sock, "events"));
  CHECK_MESSAGE(r.out.find("deadlock: 2 actors each wait for room in the next one's mailbox") != std::string::npos, r.out);
  me.exit(a, weft::exit_reason::kill());
  me.exit(b, weft::exit_reason::kill());
}
