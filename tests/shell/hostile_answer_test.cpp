// weft-shell against an endpoint it must not trust: the real binary, run
// as a script runs it (and, at the end, as a person types into it in
// tmux), talking to a fake endpoint on a test-owned Unix socket that
// answers with whatever each test scripts: fields missing or of the wrong
// type, hostile numbers, a 20,000-level tree, ESC sequences in every
// text, a line that never ends.

#include "shell_test.hpp"

#include <weft_test.hpp>

#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <sstream>
#include <thread>
#include <vector>

extern char** environ;

using namespace shell_test;
using namespace std::chrono_literals;

namespace {

// What the fake endpoint sends for one request.
struct reply {
  std::string bytes{};   // sent as is: add the newline yourself
  bool endless = false;  // instead: 'x' without end, until the client goes
};

reply line(const json& answer) {
  return {answer.dump() + "\n"};
}

reply line(const std::string& text) {
  return {text + "\n"};
}

// A Unix socket endpoint that answers each request line with what the
// test's responder returns. One connection at a time, in its own thread.
class fake_endpoint {
 public:
  using responder = std::function<reply(const json& request)>;

  explicit fake_endpoint(responder respond) : respond_(std::move(respond)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = dir_.socket();
    REQUIRE(path.size() < sizeof addr.sun_path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener_ >= 0);
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener_, 8) == 0);
    REQUIRE(::pipe2(stop_, O_CLOEXEC) == 0);
    thread_ = std::thread([this] { serve(); });
  }

  ~fake_endpoint() {
    [[maybe_unused]] auto n = ::write(stop_[1], "x", 1);
    thread_.join();
    ::close(listener_);
    ::close(stop_[0]);
    ::close(stop_[1]);
  }

  std::string socket_path() const { return dir_.socket(); }
  // Bytes of endless replies the socket accepted, and connections done.
  std::uint64_t endless_bytes_sent() const { return endless_sent_.load(); }
  int connections_finished() const { return finished_.load(); }

 private:
  // Waits until `fd` is ready for `events`; false if the test is ending.
  bool wait_for(int fd, short events) {
    pollfd p[2] = {{fd, events, 0}, {stop_[0], POLLIN, 0}};
    for (;;) {
      if (::poll(p, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      if (p[1].revents != 0) return false;
      if (p[0].revents != 0) return true;
    }
  }

  void serve() {
    while (wait_for(listener_, POLLIN)) {
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      serve_connection(fd);
      ::close(fd);
      ++finished_;
    }
  }

  // False once the client has gone (or the test is ending).
  bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
      if (!wait_for(fd, POLLOUT)) return false;
      const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return false;
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  void serve_connection(int fd) {
    std::string in;
    char buf[4096];
    for (;;) {
      std::size_t newline;
      while ((newline = in.find('\n')) != std::string::npos) {
        const json request = json::parse(in.substr(0, newline), nullptr, false);
        in.erase(0, newline + 1);
        const reply r = respond_(request);
        if (!r.endless) {
          if (!send_all(fd, r.bytes)) return;
          continue;
        }
        const std::string chunk(64 * 1024, 'x');
        for (;;) {
          if (!wait_for(fd, POLLOUT)) return;
          const ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
          if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
          if (n <= 0) return;
          endless_sent_ += static_cast<std::uint64_t>(n);
        }
      }
      if (!wait_for(fd, POLLIN)) return;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      in.append(buf, static_cast<std::size_t>(n));
    }
  }

  temp_dir dir_;
  responder respond_;
  int listener_ = -1;
  int stop_[2] = {-1, -1};
  std::atomic<std::uint64_t> endless_sent_{0};
  std::atomic<int> finished_{0};
  std::thread thread_;
};

struct run_result {
  int status = -1;  // the exit status, or -1 if a signal ended it
  int signal = 0;
  std::string out, err;
};

// Runs weft-shell with `args`, stdin empty, stdout and stderr apart.
run_result run_shell(const std::vector<std::string>& args) {
  int out_pipe[2], err_pipe[2];
  REQUIRE(::pipe2(out_pipe, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(err_pipe, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  ::posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  std::vector<std::string> argv_text{WEFT_SHELL_BINARY};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_text)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t child = -1;
  const int spawned = ::posix_spawn(&child, WEFT_SHELL_BINARY, &actions, nullptr, argv.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  run_result r;
  if (spawned == 0) {
    pollfd p[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    std::string* sinks[2] = {&r.out, &r.err};
    int open = 2;
    char buf[65536];
    while (open > 0) {
      if (::poll(p, 2, -1) < 0) continue;
      for (int i = 0; i < 2; ++i) {
        if (p[i].fd < 0 || p[i].revents == 0) continue;
        const ssize_t n = ::read(p[i].fd, buf, sizeof buf);
        if (n > 0) {
          sinks[i]->append(buf, static_cast<std::size_t>(n));
        } else {
          p[i].fd = -1;
          --open;
        }
      }
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    if (WIFEXITED(status)) r.status = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  }
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  REQUIRE(spawned == 0);
  return r;
}

run_result run_shell(const fake_endpoint& ep, std::vector<std::string> args) {
  args.insert(args.begin(), ep.socket_path());
  return run_shell(args);
}

// The same reply to every request.
fake_endpoint::responder always(reply r) {
  return [r](const json&) { return r; };
}

json ok(json result) {
  return {{"v", 1}, {"id", nullptr}, {"ok", true}, {"result", std::move(result)}};
}

json tree_node(int n, json children = json::array()) {
  return {{"pid", "<0." + std::to_string(n) + ".0>"},
          {"name", "n" + std::to_string(n)},
          {"label", ""},
          {"status", "waiting"},
          {"mailbox", {{"length", 0}, {"capacity", 1024}}},
          {"restarts", 0},
          {"children", std::move(children)}};
}

// A chain: node 0 at the root, node levels-1 at the bottom, written out
// as text (a json value that deep would be copied recursively by the
// test itself). `bottom_children` replaces the bottom node's children.
std::string chain_node_head(int n) {
  return R"({"pid":"<0.)" + std::to_string(n) + R"(.0>","name":"n)" + std::to_string(n) +
         R"(","label":"","status":"waiting","mailbox":{"length":0,"capacity":1024},"restarts":0,"children":)";
}

std::string chain_answer(int levels, const std::string& bottom_children = "[]") {
  std::string text = R"({"v":1,"id":null,"ok":true,"result":{"roots":[)";
  for (int i = 0; i < levels; ++i)
    text += chain_node_head(i) + (i + 1 < levels ? "[" : "");
  text += bottom_children;
  for (int i = 0; i < levels; ++i)
    text += i + 1 < levels ? "}]" : "}";
  return text + "]}}";
}

// An actor object as ps shows it.
json ps_actor() {
  return {{"pid", "<0.1.0>"},
          {"name", ""},
          {"label", ""},
          {"status", "waiting"},
          {"mailbox", {{"length", 0}, {"capacity", 1024}}},
          {"processed", 0},
          {"messages_per_second", 0.0},
          {"memory", {{"estimate_bytes", 0}}},
          {"restarts", 0}};
}

std::size_t count_lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// No byte a terminal would act on: C0 controls but newline, DEL, and the
// UTF-8 encodings of the C1 controls (U+0080..U+009F: C2 80..C2 9F).
bool terminal_safe(const std::string& text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto ch = static_cast<unsigned char>(text[i]);
    if ((ch < 0x20 && ch != '\n') || ch == 0x7f) return false;
    if (ch == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) <= 0x9f) return false;
  }
  return true;
}

// ESC sequences (clear screen, retitle the window, bell), a C1 CSI and a
// DEL: what an actor's name or state must not do to the operator.
const std::string hostile =
    "\x1b[2J\x1b]0;owned\x07\xc2\x9b"
    "31m\x7f";
const std::string hostile_shown = "\\x1b[2J\\x1b]0;owned\\x07\\u009b31m\\x7f";

}  // namespace

TEST_CASE("an answer without the fields a command needs gets an error naming the field, exit 3, nothing on stdout") {
  struct scripted {
    std::vector<std::string> args;
    std::string answer;
    std::string message;
  };
  const std::vector<scripted> cases = {
      {{"tree"}, R"({"ok":true,"result":{}})", "malformed answer to 'tree': result.roots is missing"},
      {{"ps"}, R"({"ok":true,"result":{}})", "malformed answer to 'ps': result.actors is missing"},
      {{"ps"}, R"({"ok":true,"result":{"actors":[]}})", "malformed answer to 'ps': result.total is missing"},
      {{"info", "x"},
       R"({"ok":true,"result":{"pid":"<0.1.0>"}})",
       "malformed answer to 'info': result.name is missing"},
      {{"state", "x"},
       R"({"ok":true,"result":{"pid":"<0.1.0>"}})",
       "malformed answer to 'state': result.state is missing"},
      {{"events"},
       R"({"ok":true,"result":{"events":[{"seq":1}]}})",
       "malformed answer to 'events': result.events[0].when is missing"},
      {{"hello"},
       R"({"ok":true,"result":{"program":"p","os_pid":1,"protocol":1}})",
       "malformed answer to 'hello': result.mutations_allowed is missing"},
      {{"kill", "x"},
       R"({"ok":true,"result":{"pid":"<0.1.0>"}})",
       "malformed answer to 'kill': result.reason is missing"},
      {{"tree"}, R"({"result":{}})", "malformed answer to 'tree': ok is missing"},
      {{"tree"}, R"({"ok":true})", "malformed answer to 'tree': ok is true but result is missing"},
      {{"tree"}, R"({"ok":false})", "malformed answer to 'tree': ok is false but error is missing"},
      {{"tree"}, R"({"ok":false,"error":{"code":"x"}})", "malformed answer to 'tree': error.message is missing"},
      {{"tree", "--json"}, R"({"ok":true})", "malformed answer to 'tree': ok is true but result is missing"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.answer);
    fake_endpoint ep(always(line(c.answer)));
    const run_result r = run_shell(ep, c.args);
    CHECK(r.status == 3);
    CHECK(r.out == "");
    CHECK(r.err == "weft-shell: " + c.message + "\n");
  }
}

TEST_CASE("wrong types and hostile values are refused with the field's path and what was found there") {
  // A ps answer whose second actor has `value` at `key` (a JSON pointer).
  auto ps_with = [](const std::string& key, json value) {
    json actor = ps_actor();
    actor[json::json_pointer(key)] = std::move(value);
    return ok({{"actors", json::array({ps_actor(), actor})}, {"total", 2}}).dump();
  };
  struct scripted {
    std::vector<std::string> args;
    std::string answer;
    std::string message;
  };
  const std::vector<scripted> cases = {
      {{"ps"}, ps_with("/restarts", -1), "result.actors[1].restarts is -1, expected an integer >= 0"},
      {{"ps"},
       ps_with("/mailbox/length", "7"),
       "result.actors[1].mailbox.length is a string (\"7\"), expected an integer >= 0"},
      {{"ps"}, ps_with("/processed", 1e300), "result.actors[1].processed is 1e+300, expected an integer >= 0"},
      {{"ps"}, ps_with("/processed", 2.5), "result.actors[1].processed is 2.5, expected an integer >= 0"},
      {{"ps"},
       ps_with("/messages_per_second", -0.5),
       "result.actors[1].messages_per_second is -0.5, expected a number >= 0"},
      {{"ps"},
       ps_with("/mailbox/capacity", json::array({1, 2})),
       "result.actors[1].mailbox.capacity is an array of 2, expected an integer >= 0 or null"},
      {{"ps"}, ps_with("/memory", nullptr), "result.actors[1].memory is null, expected an object"},
      {{"ps"},
       ps_with("/restarts", hostile),
       "result.actors[1].restarts is a string (\"" + hostile_shown + "\"), expected an integer >= 0"},
      {{"ps"},
       ps_with("/processed", std::string(100, 'x')),
       "result.actors[1].processed is a string (\"" + std::string(40, 'x') +
           "\"..., 100 bytes), expected an integer >= 0"},
      {{"ps"},
       R"({"ok":true,"result":{"actors":[],"total":18446744073709551616}})",
       "result.total is 1.8446744073709552e+19, expected an integer >= 0"},
      {{"ps"}, R"({"ok":true,"result":{"actors":[7],"total":1}})", "result.actors[0] is 7, expected an object"},
      {{"tree"}, R"({"ok":true,"result":{"roots":[{"pid":5}]}})", "result.roots[0].pid is 5, expected a string"},
      {{"tree"}, R"({"ok":"yes","result":{}})", "ok is a string (\"yes\"), expected true or false"},
      {{"tree"}, R"({"ok":true,"result":[]})", "result is an array of 0, expected an object"},
      {{"tree"}, R"([1,2])", "the answer is an array of 2, expected an object"},
      {{"tree"}, R"({"ok":true,"result":{"roots":1e400}})", "it holds a number too large to represent"},
      {{"tree"}, "not json", "it is not JSON (syntax error at byte 2 of 8)"},
      {{"tree"}, "", "it is not JSON (syntax error at byte 1 of 0)"},
      {{"stats"},
       ok({{"live_actors", 1},
           {"spawned", 1},
           {"timers_pending", 0},
           {"fibers_in_use", 0},
           {"global_queue_length", 0},
           {"workers", json::array()},
           {"dead_letters", {{hostile, "many"}}},
           {"endpoint", json::object()}})
           .dump(),
       "result.dead_letters." + hostile_shown + " is a string (\"many\"), expected an integer >= 0"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.answer);
    fake_endpoint ep(always(line(c.answer)));
    const run_result r = run_shell(ep, c.args);
    CHECK(r.status == 3);
    CHECK(r.out == "");
    CHECK(r.err == "weft-shell: malformed answer to '" + c.args[0] + "': " + c.message + "\n");
  }
}

TEST_CASE("a 20,000-level tree prints 100 levels below its root and says how much is cut") {
  fake_endpoint ep(always(line(chain_answer(20000))));
  run_result r = run_shell(ep, {"tree"});
  REQUIRE(r.status == 0);
  CHECK(r.err == "");
  CHECK(count_lines(r.out) == 102);  // the root, 100 levels, the marker
  CHECK(
      r.out.starts_with("<0.0.0> n0  waiting  mailbox 0/1024\n└─ <0.1.0> n1  waiting  mailbox 0/1024\n"
                        "   └─ <0.2.0> n2  waiting  mailbox 0/1024\n"));
  CHECK(r.out.ends_with(std::string(99 * 3, ' ') + "└─ <0.100.0> n100  waiting  mailbox 0/1024\n" +
                        std::string(100 * 3, ' ') +
                        "└─ … 19,899 more levels below, 19,899 actors (--max-depth 100)\n"));

  r = run_shell(ep, {"tree", "--dot"});
  REQUIRE(r.status == 0);
  CHECK(
      r.out.starts_with("digraph weft {\n  node [shape=box, fontname=monospace];\n"
                        "  \"<0.0.0>\" [label=\"<0.0.0> n0\\nwaiting mailbox 0/1024\", color=black];\n"
                        "  \"<0.1.0>\" [label=\"<0.1.0> n1\\nwaiting mailbox 0/1024\", color=black];\n"
                        "  \"<0.0.0>\" -> \"<0.1.0>\";\n"));
  CHECK(
      r.out.ends_with("  \"<0.99.0>\" -> \"<0.100.0>\";\n"
                      "  \"more below <0.100.0>\" [label=\"… 19,899 more levels below, 19,899 actors "
                      "(--max-depth 100)\", shape=plaintext];\n"
                      "  \"<0.100.0>\" -> \"more below <0.100.0>\" [style=dashed];\n}\n"));
  CHECK(count_lines(r.out) == 2 + 101 + 100 + 2 + 1);
}

TEST_CASE("a 20,000-level tree asked for whole is drawn whole, without recursion") {
  fake_endpoint ep(always(line(chain_answer(20000))));
  const run_result r = run_shell(ep, {"tree", "--dot", "--max-depth", "20000"});
  REQUIRE(r.signal == 0);
  REQUIRE(r.status == 0);
  CHECK(count_lines(r.out) == 2 + 20000 + 19999 + 1);
  CHECK(r.out.find("more below") == std::string::npos);
  CHECK(r.out.ends_with("  \"<0.19998.0>\" -> \"<0.19999.0>\";\n}\n"));
}

TEST_CASE("a cut in the middle of a tree keeps the branches beside it and marks only what is below") {
  // a ─┬─ b ── c ── d ── e
  //    └─ f
  const json answer = ok(
      {{"roots", json::array({tree_node(
                     1, json::array({tree_node(2, json::array({tree_node(
                                                      3, json::array({tree_node(4, json::array({tree_node(5)}))}))})),
                                     tree_node(6)}))})}});
  fake_endpoint ep(always(line(answer)));
  run_result r = run_shell(ep, {"tree", "--max-depth", "1"});
  CHECK(r.status == 0);
  CHECK(r.out ==
        "<0.1.0> n1  waiting  mailbox 0/1024\n"
        "├─ <0.2.0> n2  waiting  mailbox 0/1024\n"
        "│  └─ … 3 more levels below, 3 actors (--max-depth 1)\n"
        "└─ <0.6.0> n6  waiting  mailbox 0/1024\n");
  r = run_shell(ep, {"tree", "--max-depth", "0"});
  CHECK(r.out ==
        "<0.1.0> n1  waiting  mailbox 0/1024\n"
        "└─ … 4 more levels below, 5 actors (--max-depth 0)\n");
  r = run_shell(ep, {"tree", "--max-depth", "3"});
  CHECK(r.out ==
        "<0.1.0> n1  waiting  mailbox 0/1024\n"
        "├─ <0.2.0> n2  waiting  mailbox 0/1024\n"
        "│  └─ <0.3.0> n3  waiting  mailbox 0/1024\n"
        "│     └─ <0.4.0> n4  waiting  mailbox 0/1024\n"
        "│        └─ … 1 more level below, 1 actor (--max-depth 3)\n"
        "└─ <0.6.0> n6  waiting  mailbox 0/1024\n");
  r = run_shell(ep, {"tree", "--max-depth", "-1"});
  CHECK(r.status == 2);
  CHECK(r.err.find("tree: --max-depth needs a whole number of at least 0, not '-1'") != std::string::npos);
}

TEST_CASE("a malformed node anywhere in a deep tree prints the error and no part of the tree") {
  // Printed part: the bottom node (depth 19,999) has no status.
  std::string answer = chain_answer(20000);
  const std::string status = R"("status":"waiting",)";
  const std::size_t bottom = answer.find(chain_node_head(19999));
  REQUIRE(bottom != std::string::npos);
  answer.erase(answer.find(status, bottom), status.size());
  fake_endpoint ep(always(line(answer)));
  run_result r = run_shell(ep, {"tree", "--max-depth", "20000"});
  CHECK(r.status == 3);
  CHECK(r.out == "");
  CHECK(r.err ==
        "weft-shell: malformed answer to 'tree': result.roots[0].children[0].children[0]...(19,991 more)..."
        "children[0].children[0].children[0].children[0].children[0].children[0].status is missing\n");

  // Below the cut, only children are read: a missing status there is
  // fine, children of the wrong type are not.
  r = run_shell(ep, {"tree"});
  CHECK(r.status == 0);
  fake_endpoint bad_below(always(line(chain_answer(20000, R"("none")"))));
  r = run_shell(bad_below, {"tree"});
  CHECK(r.status == 3);
  CHECK(r.out == "");
  CHECK(
      r.err.ends_with(".children[0] has, 19,899 level(s) below it, a node whose children are a string "
                      "(\"none\"), expected an array\n"));
}

TEST_CASE("an answer nested a million levels deep is read and shown without recursion") {
  const std::string deep = std::string(1000000, '[') + std::string(1000000, ']');
  const std::string answer = R"({"ok":true,"result":{"roots":[],"junk":)" + deep + "}}";
  fake_endpoint ep(always(line(answer)));
  run_result r = run_shell(ep, {"tree"});
  CHECK(r.signal == 0);
  CHECK(r.status == 0);
  CHECK(r.out == "");
  r = run_shell(ep, {"tree", "--json"});
  CHECK(r.status == 0);
  CHECK(r.out == answer + "\n");
  // A command weft-shell has no layout for shows its result as JSON, up
  // to a depth it can print without recursing too deep.
  r = run_shell(ep, {"auth"});
  CHECK(r.status == 3);
  CHECK(r.err ==
        "weft-shell: malformed answer to 'auth': result nests more than 256 levels deep, too deep to show as "
        "text; --json prints it\n");
}

TEST_CASE("escape sequences in every text from the program are shown escaped, never sent to the terminal") {
  const json actor = {
      {"pid", "<0.1.0>" + hostile},
      {"name", hostile},
      {"label", hostile},
      {"parent", hostile},
      {"status", "waiting" + hostile},
      {"style", hostile},
      {"trap_exit", false},
      {"mailbox", {{"length", 0}, {"capacity", 1024}, {"overflow", hostile}, {"dropped", 0}, {"rejected", 0}}},
      {"processed", 0},
      {"messages_per_second", 0.0},
      {"restarts", 0},
      {"spawned_at", hostile},
      {"memory",
       {{"stack_bytes", 0},
        {"holds_fiber", false},
        {"stack_in_use_bytes", 0},
        {"stack_high_water_bytes", 0},
        {"estimate_bytes", 0}}},
      {"links", json::array({hostile})},
      {"monitored_by", json::array({hostile})},
      {"monitors", 0},
      {"children", json::array()}};
  const json event = {{"seq", 1},       {"when", hostile}, {"source", hostile}, {"kind", hostile},
                      {"who", hostile}, {"text", hostile}, {"dir", "in"},       {"from", hostile},
                      {"to", hostile},  {"type", hostile}, {"size", 1}};
  fake_endpoint ep([&](const json& request) -> reply {
    const std::string cmd = request.value("cmd", "");
    if (cmd == "tree") return line(ok({{"roots", json::array({actor})}}));
    if (cmd == "ps") return line(ok({{"actors", json::array({actor})}, {"total", 1}}));
    if (cmd == "info") return line(ok(actor));
    if (cmd == "state") return line(ok({{"pid", hostile}, {"state", "two\nlines " + hostile}}));
    if (cmd == "links") return line(ok(actor));
    if (cmd == "monitors") return line(ok(actor));
    if (cmd == "kill") return line(ok({{"pid", hostile}, {"reason", hostile}}));
    if (cmd == "restart") return line(ok({{"old_pid", hostile}, {"new_pid", hostile}, {"how", hostile}}));
    if (cmd == "events" || cmd == "trace") return line(ok({{"events", json::array({event})}, {"complete", true}}));
    if (cmd == "names") return line(ok({{"names", json::array({{{"name", hostile}, {"pid", hostile}}})}}));
    if (cmd == "hello")
      return line(ok({{"program", hostile}, {"os_pid", 1}, {"protocol", 1}, {"mutations_allowed", false}}));
    return line(json{{"ok", false}, {"error", {{"code", "x"}, {"message", "no " + hostile}}}});
  });
  const std::vector<std::vector<std::string>> commands = {
      {"tree"},       {"tree", "--dot"}, {"ps"},        {"info", "x"},    {"state", "x"},
      {"links", "x"}, {"monitors", "x"}, {"kill", "x"}, {"restart", "x"}, {"events"},
      {"trace", "x"}, {"names"},         {"hello"},     {"stats"},        {"top", "--iterations", "1"}};
  for (const auto& args : commands) {
    CAPTURE(args[0]);
    const run_result r = run_shell(ep, args);
    CHECK(r.status == (args[0] == "stats" ? 1 : 0));
    CHECK(terminal_safe(r.out));
    CHECK(r.out.find(args[1 % args.size()] == "--dot" ? "\\\\x1b[2J\\\\x1b]0;owned" : hostile_shown) !=
          std::string::npos);
  }
  const run_result state = run_shell(ep, {"state", "x"});
  CHECK(state.out == "two\nlines " + hostile_shown + "\n");  // free text keeps its lines
  const run_result error = run_shell(ep, {"stats"});
  CHECK(error.out == "error: no " + hostile_shown + "\n");
}

TEST_CASE("--json prints the answer line byte for byte, escapes and odd spacing included") {
  const std::string answer = "{ \"ok\" : true,\"result\":{\"roots\":[],\"name\":\"\\u001b[2J\xc2\x9b\"} }";
  fake_endpoint ep(always(line(answer)));
  run_result r = run_shell(ep, {"tree", "--json"});
  CHECK(r.status == 0);
  CHECK(r.out == answer + "\n");
  const std::string error = R"({"ok":false,"error":{"code":"not_found","message":"none"}})";
  fake_endpoint refusing(always(line(error)));
  r = run_shell(refusing, {"info", "x", "--json"});
  CHECK(r.status == 1);
  CHECK(r.out == error + "\n");
}

TEST_CASE("an answer line that never ends is cut at the cap: exit 3, a clear error, and no more is read") {
  fake_endpoint ep(always(reply{.endless = true}));
  constexpr std::uint64_t cap = 1 << 20;
  run_result r = run_shell(ep, {"ps", "--max-answer-bytes", std::to_string(cap)});
  CHECK(r.status == 3);
  CHECK(r.out == "");
  CHECK(r.err ==
        "weft-shell: the endpoint's answer is longer than 1048576 bytes, the client's cap; stopped reading it; "
        "raise the cap with --max-answer-bytes N\n");
  REQUIRE(weft_test::eventually([&] { return ep.connections_finished() == 1; }, 30s));
  // What the endpoint got rid of: the cap, plus what the two socket
  // buffers held when weft-shell shut the connection. Without a cap it
  // would have gone on for the whole 10 s timeout.
  CHECK(ep.endless_bytes_sent() >= cap);
  CHECK(ep.endless_bytes_sent() < cap + (8u << 20));

  // The default cap, 64 MiB.
  const std::uint64_t before = ep.endless_bytes_sent();
  r = run_shell(ep, {"ps"});
  CHECK(r.status == 3);
  CHECK(r.err.starts_with("weft-shell: the endpoint's answer is longer than 67108864 bytes, the client's cap"));
  REQUIRE(weft_test::eventually([&] { return ep.connections_finished() == 2; }, 30s));
  CHECK(ep.endless_bytes_sent() - before < (64u << 20) + (8u << 20));
}

TEST_CASE("an answer exactly as long as the cap is read, one byte longer is refused, and any cap is taken") {
  std::string answer = R"({"ok":true,"result":{"roots":[]}})";
  answer.resize(1000, ' ');  // JSON allows trailing spaces
  fake_endpoint ep(always(line(answer)));
  run_result r = run_shell(ep, {"tree", "--json", "--max-answer-bytes", "1000"});
  CHECK(r.status == 0);
  CHECK(r.out == answer + "\n");
  r = run_shell(ep, {"tree", "--json", "--max-answer-bytes", "999"});
  CHECK(r.status == 3);
  CHECK(r.out == "");
  CHECK(r.err.starts_with("weft-shell: the endpoint's answer is longer than 999 bytes"));
  // A cap of any size is taken as given: an answer of megabytes is read under it.
  fake_endpoint big(always(line(chain_answer(20000))));
  for (const char* huge : {"4611686018427387904", "18446744073709551615"}) {
    r = run_shell(big, {"tree", "--max-answer-bytes", huge});
    CHECK(r.status == 0);
    CHECK(count_lines(r.out) == 102);
  }
  r = run_shell(ep, {"tree", "--max-answer-bytes", "0"});
  CHECK(r.status == 2);
  CHECK(r.err.starts_with("weft-shell: tree: --max-answer-bytes needs a whole number of at least 1, not '0'"));
}

namespace {

// tmux on its own server socket, so the test touches no other session.
class tmux_session {
 public:
  explicit tmux_session(const std::string& command) : server_("weft-hostile-test-" + std::to_string(::getpid())) {
    REQUIRE(tmux({"-f", "/dev/null", "new-session", "-d", "-s", "shell", "-x", "200", "-y", "50", command}).status ==
            0);
  }
  ~tmux_session() { tmux({"kill-server"}); }

  void keys(const std::vector<std::string>& keys) {
    std::vector<std::string> args{"send-keys", "-t", "shell"};
    args.insert(args.end(), keys.begin(), keys.end());
    REQUIRE(tmux(args).status == 0);
  }
  std::string screen() { return tmux({"capture-pane", "-p", "-t", "shell"}).out; }
  bool alive() { return tmux({"has-session", "-t", "shell"}).status == 0; }
  bool shows(const std::string& text) {
    return weft_test::eventually([&] { return screen().find(text) != std::string::npos; }, 20s);
  }

 private:
  run_result tmux(std::vector<std::string> args) {
    args.insert(args.begin(), {"-L", server_});
    return run_program(TMUX_BINARY, args);
  }
  static run_result run_program(const std::string& program, const std::vector<std::string>& args) {
    std::string command = program;
    for (const auto& a : args) {
      std::string quoted = "'";
      for (char ch : a)
        quoted += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
      command += " " + quoted + "'";
    }
    run_result r;
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    REQUIRE(pipe != nullptr);
    char buf[4096];
    while (const std::size_t n = std::fread(buf, 1, sizeof buf, pipe))
      r.out.append(buf, n);
    const int status = ::pclose(pipe);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
  }
  std::string server_;
};

}  // namespace

TEST_CASE("in the interactive shell a hostile name shows escaped, and a malformed or endless answer leaves it usable") {
  std::atomic<bool> endless_once{true};
  fake_endpoint ep([&](const json& request) -> reply {
    const std::string cmd = request.value("cmd", "");
    if (cmd == "hello")
      return line(ok({{"program", "fake\x1b[2J"}, {"os_pid", 7}, {"protocol", 1}, {"mutations_allowed", false}}));
    if (cmd == "tree") {
      json node = tree_node(1);
      node["name"] = "evil\x1b[2J\x1b[1;1Hgone";
      return line(ok({{"roots", json::array({node})}}));
    }
    if (cmd == "ps") return line(ok(json::object()));
    if (cmd == "events" && endless_once.exchange(false)) return reply{.endless = true};
    return line(ok({{"names", json::array({{{"name", "lobby"}, {"pid", "<0.3.0>"}}})}}));
  });
  temp_dir home;
  tmux_session tmux("env NO_COLOR=1 WEFT_SHELL_HISTORY=" + home.path() + "/history " + WEFT_SHELL_BINARY + " attach " +
                    ep.socket_path());
  REQUIRE_MESSAGE(tmux.shows("weft(fake\\x1b[2J 7)>"), tmux.screen());
  CHECK(tmux.screen().find("attached to fake\\x1b[2J (os pid 7)") != std::string::npos);

  tmux.keys({"tree", "Enter"});
  CHECK_MESSAGE(tmux.shows("<0.1.0> evil\\x1b[2J\\x1b[1;1Hgone  waiting  mailbox 0/1024"), tmux.screen());

  tmux.keys({"ps", "Enter"});
  CHECK_MESSAGE(tmux.shows("error: malformed answer to 'ps': result.actors is missing"), tmux.screen());

  tmux.keys({"events --max-answer-bytes 100000", "Enter"});
  CHECK_MESSAGE(tmux.shows("error: weft-shell: the endpoint's answer is longer than 100000 bytes, the client's cap; "
                           "stopped reading it; raise the cap with --max-answer-bytes N"),
                tmux.screen());

  // The same connection after a malformed answer, a new one after the
  // endless line: either way the next command works.
  tmux.keys({"names", "Enter"});
  CHECK_MESSAGE(tmux.shows("lobby                    <0.3.0>"), tmux.screen());
  tmux.keys({"quit", "Enter"});
  CHECK(weft_test::eventually([&] { return !tmux.alive(); }, 20s));
}
