// The endpoint over its protocol: answers, refusals, and every kind of bad
// input, after each of which the node still serves and its actors still
// run.

#include "shell_test.hpp"

#include <weft_test.hpp>

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

using namespace shell_test;
using namespace std::chrono_literals;

namespace {

struct ping {};

// A named echo actor: proves the actor system keeps running.
weft::pid spawn_pinger(weft::runtime& rt) {
  return rt.spawn([](weft::context&) -> weft::behavior { return {[](ping) { return 1; }}; }, {.name = "pinger"});
}

bool actors_still_run(weft::runtime& rt, const weft::pid& pinger) {
  weft::scoped_actor self(rt);
  auto r = self.ask<int>(pinger, ping{}, 2s);
  return r.has_value() && *r == 1;
}

// A raw connection for sending what no well-behaved client would.
int raw_connect(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

// Reads until EOF (the endpoint closed) or `limit` bytes.
std::string read_all(int fd, std::size_t limit = 1 << 20) {
  std::string out;
  char buf[4096];
  while (out.size() < limit) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// A raw connection with a thread writing `bytes` into it (blocking, as the
// endpoint may not read them all at once). Closing it unblocks the thread.
struct raw_writer {
  raw_writer(int fd_, std::string bytes_) : fd(fd_), bytes(std::move(bytes_)) {
    thread = std::thread([this] { ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL); });
  }
  ~raw_writer() {
    ::shutdown(fd, SHUT_RDWR);
    thread.join();
    ::close(fd);
  }
  int fd;
  std::string bytes;
  std::thread thread;
};

// Reads one line (without its newline), byte by byte so nothing after it
// is taken; empty at EOF.
std::string read_line(int fd) {
  std::string line;
  char ch;
  while (::recv(fd, &ch, 1, 0) == 1 && ch != '\n')
    line += ch;
  return line;
}

}  // namespace

TEST_CASE("the socket is created 0600 and removed when the endpoint stops") {
  temp_dir dir;
  weft::runtime rt(weft_test::small_runtime());
  {
    weft::shell::endpoint ep(rt, options_in(dir));
    struct stat st {};
    REQUIRE(::stat(ep.socket_path().c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 0777) == 0600);
  }
  CHECK_FALSE(std::filesystem::exists(dir.socket()));
}

TEST_CASE("the default socket lives in a 0700 per-user directory and is discoverable") {
  weft::runtime rt(weft_test::small_runtime());
  weft::shell::endpoint_options o;
  o.announce = false;
  o.program = "discovery-test";
  weft::shell::endpoint ep(rt, o);
  const std::string dir = weft::shell::default_socket_dir(false);
  CHECK(ep.socket_path() == dir + "/discovery-test-" + std::to_string(::getpid()) + ".sock");
  struct stat st {};
  REQUIRE(::stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  bool found = false;
  for (const auto& e : weft::shell::discover())
    found = found || (e.path == ep.socket_path() && e.os_pid == ::getpid());
  CHECK(found);
}

TEST_CASE("hello reports the protocol version and that the endpoint is read-only") {
  temp_dir dir;
  weft::runtime rt(weft_test::small_runtime());
  weft::shell::endpoint ep(rt, options_in(dir));
  const json r = call(ep.socket_path(), {{"v", 1}, {"id", 7}, {"cmd", "hello"}});
  CHECK(r["v"] == 1);
  CHECK(r["id"] == 7);
  CHECK(r["ok"] == true);
  CHECK(r["result"]["protocol"] == 1);
  CHECK(r["result"]["program"] == "shell-test");
  CHECK(r["result"]["os_pid"] == ::getpid());
  CHECK(r["result"]["mutations_allowed"] == false);
}

TEST_CASE("a mutation on a read-only endpoint is refused and the actor lives on") {
  temp_dir dir;
  weft::runtime rt(weft_test::small_runtime());
  weft::pid pinger = spawn_pinger(rt);
  weft::shell::endpoint ep(rt, options_in(dir));
  weft::shell::client c(weft::shell::parse_address(ep.socket_path()));
  for (const char* cmd : {"kill", "send", "restart"}) {
    const json r = call(c, {{"cmd", cmd}, {"target", "pinger"}, {"text", "hi"}});
    CHECK(r["ok"] == false);
    CHECK(r["error"]["code"] == "read_only");
  }
  CHECK(call(c, {{"cmd", "kill"}, {"target", "pinger"}})["error"]["message"] ==
        "'kill' changes the system and this endpoint is read-only; start the program with its endpoint's "
        "allow_mutations on (weft-demo: --allow-mutations)");
  CHECK(actors_still_run(rt, pinger));
}

TEST_CASE("an unknown name is answered with the closest registered name") {
  temp_dir dir;
  weft::runtime rt(weft_test::small_runtime());
  rt.spawn([](weft::context&) -> weft::behavior { return {[](int) {}}; }, {.name = "rooms"});
  weft::shell::endpoint ep(rt, options_in(dir));
  weft::shell::client c(weft::shell::parse_address(ep.socket_path()));
  const json r = call(c, {{"cmd", "info"}, {"target", "roomz"}});
  CHECK(r["error"]["code"] == "not_found");
  CHECK(r["error"]["message"] == "no actor named 'roomz' (did you mean 'rooms'?)");
  CHECK(call(c, {{"cmd", "info"}, {"target", "<0.999999.0>"}})["error"]["message"] ==
        "no live actor <0.999999.0> (it has exited, or never existed)");
  CHECK(call(c, {{"cmd", "info"}, {"target", "rooms"}})["result"]["name"] == "rooms");
}

TEST_CASE("info, links, monitors and state describe an actor") {
  temp_dir dir;
  weft::runtime rt(weft_test::small_runtime());
  weft::pid a = rt.spawn(
      [](weft::context& self) -> weft::behavior {
        self.set_describe([] { return std::string("three apples"); });
        return {[](int) {}};
      },
      {.name = "basket", .label = "fruit"});
  weft::scoped_actor watcher(rt);
  watcher.monitor(a);
  weft::shell::endpoint ep(rt, options_in(dir));
  weft::shell::client c(weft::shell::parse_address(ep.socket_path()));
  const json info = call(c, {{"cmd", "info"}, {"target", a.to_string()}})["result"];
  CHECK(info["pid"] == a.to_string());
  CHECK(info["label"] == "fruit");
  CHECK(info["style"] == "handler");
  CHECK(info["protocol"].is_null());  // untyped
  CHECK(info["mailbox"]["capacity"] == 1024);
  // The monitor is a signal the actor processes: it shows up soon, not at once.
  CHECK(weft_test::eventually([&] {
    return call(c, {{"cmd", "monitors"}, {"target", "basket"}})["result"]["monitored_by"] ==
           json::array({watcher.self().to_string()});
  }));
  CHECK(call(c, {{"cmd", "links"}, {"target", "basket"}})["result"]["links"] == json::array());
  CHECK(call(c, {{"cmd", "state"}, {"target", "basket"}})["result"]["state"] == "three apples");
}

TEST_CASE("trace reports message types and sizes, never contents") {
  temp_dir dir;
  weft::runtime rt(weft_test::small_runtime());
  weft::pid pinger = spawn_pinger(rt);
  weft::shell::endpoint ep(rt, options_in(dir));
  std::atomic<bool> stop{false};
  std::thread traffic([&] {
    weft::scoped_actor self(rt);
    while (!stop) {
      self.send(pinger, ping{});
      std::this_thread::sleep_for(1ms);
    }
  });
  const json r = call(ep.socket_path(), {{"cmd", "trace"}, {"target", "pinger"}, {"count", 3}, {"contents", true}});
  stop = true;
  traffic.join();
  REQUIRE(r["ok"] == true);
  CHECK(r["result"]["events"].size() == 3);
  CHECK(r["result"]["complete"] == true);
  CHECK(r["result"]["contents_available"] == false);
  CHECK(r["result"]["note"] ==
        "message contents are not available: the runtime records only each message's type and size");
  CHECK(r["result"]["events"][0]["dir"] == "in");
  CHECK(r["result"]["events"][0]["type"].get<std::string>().find("ping") != std::string::npos);
}

TEST_CASE("kill and send work on an endpoint opened with mutations allowed") {
  temp_dir dir;
  weft::runtime rt(weft_test::small_runtime());
  auto received = std::make_shared<std::atomic<int>>(0);
  weft::pid texter = rt.spawn(
      [received](weft::context&) -> weft::behavior {
        return {[received](const std::string& text) {
          if (text == "hello there") ++*received;
        }};
      },
      {.name = "texter"});
  weft::shell::endpoint ep(rt, options_in(dir, true));
  weft::shell::client c(weft::shell::parse_address(ep.socket_path()));
  CHECK(call(c, {{"cmd", "send"}, {"target", "texter"}, {"text", "hello there"}})["ok"] == true);
  CHECK(weft_test::eventually([&] { return received->load() == 1; }));
  const json killed = call(c, {{"cmd", "kill"}, {"target", "texter"}, {"reason", "operator said so"}});
  CHECK(killed["result"]["reason"] == weft::exit_reason::error("operator said so").to_string());
  // Gone from the live set, not just its name released: an exiting actor
  // gives up its name first and leaves the live set last (the exit protocol
  // in runtime/src/actor.cpp), and `send` by pid looks in the live set.
  CHECK(weft_test::eventually([&] {
    const auto live = rt.actors();
    return std::none_of(live.begin(), live.end(), [&](const weft::actor_info& a) { return a.self == texter; });
  }));
  CHECK(!rt.whereis("texter"));
  CHECK(call(c, {{"cmd", "send"}, {"target", texter.to_string()}, {"text", "x"}})["error"]["code"] == "not_found");
}

TEST_CASE("unknown commands, malformed JSON and wrong shapes each get a clear error on the same connection") {
  temp_dir dir;
  weft::runtime rt(weft_test::small_runtime());
  weft::pid pinger = spawn_pinger(rt);
  weft::shell::endpoint ep(rt, options_in(dir));
  weft::shell::client c(weft::shell::parse_address(ep.socket_path()));

  json r = call(c, {{"cmd", "treee"}});
  CHECK(r["error"]["code"] == "unknown_command");
  CHECK(r["error"]["message"] == "unknown command 'treee' (did you mean 'tree'?)");

  r = json::parse(c.call("{\"cmd\": \"ps\""));
  CHECK(r["error"]["code"] == "bad_json");
  CHECK(r["error"]["message"].get<std::string>().starts_with("malformed JSON: "));

  CHECK(json::parse(c.call("[1,2,3]"))["error"]["code"] == "bad_request");
  CHECK(json::parse(c.call("{\"id\":1}"))["error"]["code"] == "bad_request");
  CHECK(call(c, {{"v", 2}, {"cmd", "ps"}})["error"]["message"] == "this endpoint speaks protocol version 1, not 2");
  CHECK(call(c, {{"cmd", "ps"}, {"sort", "colour"}})["error"]["code"] == "bad_argument");
  CHECK(call(c, {{"cmd", "tree"}, {"depth", -1}})["error"]["message"] ==
        "tree: 'depth' must be a non-negative integer");
  CHECK(json::parse(c.call("\xff\xfe garbage"))["error"]["code"] == "bad_json");

  // Still the same connection, still answering, actors still running.
  CHECK(call(c, {{"cmd", "ps"}})["result"]["total"] == 1);
  CHECK(actors_still_run(rt, pinger));
  CHECK(ep.counters().bad_requests == 8);
}

TEST_CASE("an oversized request gets too_large and the connection is closed") {
  temp_dir dir;
  weft::runtime rt(weft_test::small_runtime());
  weft::pid pinger = spawn_pinger(rt);
  auto o = options_in(dir);
  o.max_request_bytes = 1024;
  weft::shell::endpoint ep(rt, o);
  const int fd = raw_connect(ep.socket_path());
  const std::string big = "{\"cmd\":\"ps\",\"pad\":\"" + std::string(4096, 'x') + "\"}\n";
  ::send(fd, big.data(), big.size(), MSG_NOSIGNAL);
  const std::string answer = read_all(fd);  // returns at EOF: the endpoint closed
  ::close(fd);
  const json r = json::parse(answer.substr(0, answer.find('\n')));
  CHECK(r["error"]["code"] == "too_large");
  CHECK(r["error"]["message"] == "request longer than 1024 bytes; closing the connection");
  CHECK(call(ep.socket_path(), {{"cmd", "hello"}})["ok"] == true);
  CHECK(actors_still_run(rt, pinger));
}

TEST_CASE("a client that disconnects in the middle of a long response does not hurt the endpoint") {
  temp_dir dir;
  weft::runtime rt(weft_test::small_runtime());
  weft::pid pinger = spawn_pinger(rt);
  std::vector<weft::pid> many;
  for (int i = 0; i < 2000; ++i)
    many.push_back(rt.spawn([](weft::context&) -> weft::behavior { return {[](int) {}}; }));
  weft::shell::endpoint ep(rt, options_in(dir));
  for (int round = 0; round < 5; ++round) {
    const int fd = raw_connect(ep.socket_path());
    const std::string req = "{\"cmd\":\"ps\"}\n{\"cmd\":\"ps\"}\n{\"cmd\":\"ps\"}\n";
    ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    char buf[100];
    CHECK(::recv(fd, buf, sizeof buf, MSG_WAITALL) == 100);
    ::close(fd);
  }
  CHECK(weft_test::eventually([&] { return ep.counters().active == 0; }));
  CHECK(call(ep.socket_path(), {{"cmd", "ps"}, {"limit", 1}})["result"]["total"] == 2001);
  CHECK(actors_still_run(rt, pinger));
}

TEST_CASE("a client that pipelines ps and never reads has few executed, then gets every answer in order") {
  temp_dir dir;
  weft::runtime rt(weft_test::small_runtime());
  weft::pid pinger = spawn_pinger(rt);
  for (int i = 0; i < 50; ++i)
    rt.spawn([](weft::context&) -> weft::behavior { return {[](int) {}}; });
  auto o = options_in(dir);
  o.output_high_water = 16 * 1024;
  weft::shell::endpoint ep(rt, o);
  const auto before = ep.counters().requests;
  // 1000 requests (~25 KB), each answered with ~25 KB: 25 MB if all were
  // executed. Sent from a thread, as the socket may stop taking them.
  constexpr int pipelined = 1000;
  std::string requests;
  for (int i = 0; i < pipelined; ++i)
    requests += "{\"cmd\":\"ps\",\"id\":" + std::to_string(i) + "}\n";
  raw_writer writer(raw_connect(ep.socket_path()), requests);
  const int fd = writer.fd;
  // The endpoint stops answering once 16 KB wait unsent, and that lasts as
  // long as the client does not read.
  REQUIRE(weft_test::eventually([&] { return ep.counters().output_pauses >= 1; }, std::chrono::seconds(60)));
  const auto paused = ep.counters();
  // What fits in the socket's buffers (~200 KB) plus one response over the
  // mark: a few of the 1000, nowhere near all.
  CHECK(paused.requests - before < 40);
  CHECK(paused.output_buffered < 16 * 1024 + 32 * 1024);
  CHECK(call(ep.socket_path(), {{"cmd", "hello"}})["ok"] == true);  // others are served meanwhile
  CHECK(actors_still_run(rt, pinger));
  // Now it reads: every answer arrives, in order, and nothing was dropped.
  std::string pending;
  int answered = 0;
  char buf[65536];
  while (answered < pipelined) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    REQUIRE(n > 0);
    pending.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (auto newline = pending.find('\n'); newline != std::string::npos; newline = pending.find('\n', start)) {
      const json r = json::parse(pending.substr(start, newline - start));
      INFO(r.dump());
      REQUIRE(r["id"] == answered);
      REQUIRE(r["ok"] == true);
      ++answered;
      start = newline + 1;
    }
    pending.erase(0, start);
  }
  CHECK(ep.counters().dropped_slow == 0);
}

TEST_CASE("a client that never reads is dropped after output_stall_timeout, and counted") {
  temp_dir dir;
  weft::runtime rt(weft_test::small_runtime());
  weft::pid pinger = spawn_pinger(rt);
  for (int i = 0; i < 200; ++i)
    rt.spawn([](weft::context&) -> weft::behavior { return {[](int) {}}; });
  auto o = options_in(dir);
  o.output_high_water = 64 * 1024;
  o.output_stall_timeout = std::chrono::milliseconds(200);
  weft::shell::endpoint ep(rt, o);
  const int fd = raw_connect(ep.socket_path());
  std::string requests;
  for (int i = 0; i < 50; ++i)
    requests += "{\"cmd\":\"ps\"}\n";
  ::send(fd, requests.data(), requests.size(), MSG_NOSIGNAL);
  CHECK(weft_test::eventually([&] { return ep.counters().dropped_slow == 1; }, std::chrono::seconds(60)));
  CHECK(weft_test::eventually([&] { return ep.counters().active == 0; }));
  ::close(fd);
  CHECK(call(ep.socket_path(), {{"cmd", "hello"}})["ok"] == true);
  CHECK(actors_still_run(rt, pinger));
}

TEST_CASE("a response over max_output_bytes is answered response_too_large and the connection goes on") {
  temp_dir dir;
  weft::runtime rt(weft_test::small_runtime());
  for (int i = 0; i < 200; ++i)
    rt.spawn([](weft::context&) -> weft::behavior { return {[](int) {}}; });
  auto o = options_in(dir);
  o.max_output_bytes = 16 * 1024;
  weft::shell::endpoint ep(rt, o);
  weft::shell::client c(weft::shell::parse_address(ep.socket_path()));
  const json r = call(c, {{"cmd", "ps"}, {"id", 9}});
  CHECK(r["id"] == 9);
  CHECK(r["error"]["code"] == "response_too_large");
  CHECK(call(c, {{"cmd", "ps"}, {"limit", 2}})["result"]["actors"].size() == 2);
  CHECK(ep.counters().responses_too_large == 1);
}

TEST_CASE("a request holding 1e400 gets a bad_json error and the endpoint keeps serving") {
  temp_dir dir;
  weft::runtime rt(weft_test::small_runtime());
  weft::pid pinger = spawn_pinger(rt);
  weft::shell::endpoint ep(rt, options_in(dir));
  weft::shell::client c(weft::shell::parse_address(ep.socket_path()));
  for (const std::string& line : {std::string("1e400"), std::string("-1e400"), std::string(60000, '7'),
                                  std::string("{\"cmd\":\"hello\",\"id\":1e400}"),
                                  std::string("{\"cmd\":\"trace\",\"target\":\"pinger\",\"count\":1e400}")}) {
    CAPTURE(line.substr(0, 40));
    const json r = json::parse(c.call(line));
    CHECK(r["error"]["code"] == "bad_json");
    CHECK(r["id"] == nullptr);
  }
  CHECK(call(c, {{"cmd", "hello"}})["ok"] == true);
  CHECK(actors_still_run(rt, pinger));
  CHECK(ep.counters().internal_errors == 0);
}

TEST_CASE("2 MiB of bare newlines are got through while another client's tree is answered") {
  temp_dir dir;
  weft::runtime rt(weft_test::small_runtime());
  spawn_pinger(rt);
  weft::shell::endpoint ep(rt, options_in(dir));
  raw_writer flood(raw_connect(ep.socket_path()),
                   std::string(2 << 20, '\n') + "{\"cmd\":\"hello\",\"id\":\"after\"}\n");
  weft::shell::client other(weft::shell::parse_address(ep.socket_path()));
  for (int i = 0; i < 20; ++i)
    CHECK(call(other, {{"cmd", "tree"}})["result"]["roots"].size() == 1);
  CHECK(json::parse(read_line(flood.fd))["id"] == "after");
  CHECK(ep.counters().requests == 21);  // the blank lines are not requests
}

TEST_CASE("connections that send nothing are closed after idle_timeout and free their slots") {
  temp_dir dir;
  weft::runtime rt(weft_test::small_runtime());
  auto o = options_in(dir);
  o.max_clients = 2;
  o.idle_timeout = std::chrono::milliseconds(300);
  weft::shell::endpoint ep(rt, o);
  weft::shell::client established(weft::shell::parse_address(ep.socket_path()));
  CHECK(call(established, {{"cmd", "hello"}})["ok"] == true);
  const int idle = raw_connect(ep.socket_path());
  // The slots are full: others are refused until the idle one is told why
  // and closed, and then one gets in.
  CHECK(weft_test::eventually([&] {
    const int fd = raw_connect(ep.socket_path());
    const std::string hello = "{\"cmd\":\"hello\"}\n";
    ::send(fd, hello.data(), hello.size(), MSG_NOSIGNAL);
    const bool served = json::parse(read_line(fd))["ok"] == true;
    ::close(fd);
    return served;
  }));
  const json r = json::parse(read_all(idle));
  ::close(idle);
  CHECK(r["error"]["code"] == "idle_timeout");
  CHECK(r["error"]["message"] ==
        "no complete request line within 300 ms (of connecting, or of the request's first byte); closing the "
        "connection");
  CHECK(ep.counters().dropped_idle == 1);
  // The established client has been idle longer than that too (it
  // completed a request before the idle one connected): it stays.
  CHECK(call(established, {{"cmd", "hello"}})["ok"] == true);
}

TEST_CASE("a request begun and never finished is closed after idle_timeout") {
  temp_dir dir;
  weft::runtime rt(weft_test::small_runtime());
  auto o = options_in(dir);
  o.idle_timeout = std::chrono::milliseconds(300);
  weft::shell::endpoint ep(rt, o);
  const int fd = raw_connect(ep.socket_path());
  const std::string first = "{\"cmd\":\"hello\"}\n{\"cmd\":";
  ::send(fd, first.data(), first.size(), MSG_NOSIGNAL);
  const std::string answer = read_all(fd);  // until the endpoint closes
  ::close(fd);
  const auto newline = answer.find('\n');
  REQUIRE(newline != std::string::npos);
  CHECK(json::parse(answer.substr(0, newline))["ok"] == true);
  CHECK(json::parse(answer.substr(newline + 1))["error"]["code"] == "idle_timeout");
  CHECK(ep.counters().dropped_idle == 1);
}

TEST_CASE("100 concurrent clients are all answered correctly") {
  temp_dir dir;
  weft::runtime rt(weft_test::small_runtime());
  weft::pid pinger = spawn_pinger(rt);
  weft::shell::endpoint ep(rt, options_in(dir));
  std::vector<std::thread> clients;
  std::atomic<int> correct{0};
  for (int i = 0; i < 100; ++i) {
    clients.emplace_back([&, i] {
      weft::shell::client c(weft::shell::parse_address(ep.socket_path()));
      for (int n = 0; n < 10; ++n) {
        const json r = call(c, {{"id", i * 100 + n}, {"cmd", n % 2 == 0 ? "info" : "stats"}, {"target", "pinger"}});
        if (r["id"] == i * 100 + n && r["ok"] == true) ++correct;
      }
    });
  }
  for (auto& t : clients)
    t.join();
  CHECK(correct == 1000);
  CHECK(ep.counters().accepted == 100);
  CHECK(actors_still_run(rt, pinger));
}

TEST_CASE("a client over max_clients is told so and closed") {
  temp_dir dir;
  weft::runtime rt(weft_test::small_runtime());
  auto o = options_in(dir);
  o.max_clients = 2;
  weft::shell::endpoint ep(rt, o);
  weft::shell::client first(weft::shell::parse_address(ep.socket_path()));
  weft::shell::client second(weft::shell::parse_address(ep.socket_path()));
  CHECK(call(first, {{"cmd", "hello"}})["ok"] == true);
  CHECK(call(second, {{"cmd", "hello"}})["ok"] == true);
  const int fd = raw_connect(ep.socket_path());
  const json r = json::parse(read_all(fd));
  ::close(fd);
  CHECK(r["error"]["code"] == "too_many_clients");
  CHECK(weft_test::eventually([&] { return ep.counters().refused_too_many == 1; }));
  CHECK(call(first, {{"cmd", "hello"}})["ok"] == true);
}

TEST_CASE("TCP listens on loopback only and requires the token") {
  weft::runtime rt(weft_test::small_runtime());
  weft::shell::endpoint_options o;
  o.unix_socket = false;
  o.tcp_port = weft::shell::tcp_any_port;
  o.announce = false;
  weft::shell::endpoint ep(rt, o);
  REQUIRE(ep.tcp_port() != 0);
  CHECK(ep.tcp_token().size() == 32);
  const auto address = weft::shell::parse_address("127.0.0.1:" + std::to_string(ep.tcp_port()));
  {
    weft::shell::client c(address);
    CHECK(call(c, {{"cmd", "ps"}})["error"]["code"] == "unauthorized");
    CHECK_THROWS(c.call("{\"cmd\":\"ps\"}"));  // closed after refusing
  }
  {
    weft::shell::client c(address);
    CHECK(call(c, {{"cmd", "ps"}, {"token", "not-the-token"}})["error"]["code"] == "unauthorized");
  }
  weft::shell::client c(address);
  CHECK(call(c, {{"cmd", "hello"}, {"token", ep.tcp_token()}})["ok"] == true);
  CHECK(call(c, {{"cmd", "hello"}})["ok"] == true);  // authenticated from then on
}

TEST_CASE("over TCP a missing, wrong, partial or non-string token is refused and the connection closed") {
  weft::runtime rt(weft_test::small_runtime());
  weft::shell::endpoint_options o;
  o.unix_socket = false;
  o.tcp_port = weft::shell::tcp_any_port;
  o.tcp_token = "s3cret-token-of-thirty-two-bytes";
  o.announce = false;
  weft::shell::endpoint ep(rt, o);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"cmd\":\"hello\"}", "TCP clients must send the endpoint's token first"},
      {"{\"cmd\":\"hello\",\"token\":\"s3cret-token-of-thirty-two-byteS\"}", "wrong token"},
      {"{\"cmd\":\"hello\",\"token\":\"s3cret-token\"}", "wrong token"},
      {"{\"cmd\":\"hello\",\"token\":\"s3cret-token-of-thirty-two-bytes!\"}", "wrong token"},
      {"{\"cmd\":\"hello\",\"token\":[\"s3cret-token-of-thirty-two-bytes\"]}", "\"token\" must be a string"},
  };
  for (const auto& [line, message] : cases) {
    CAPTURE(line);
    const int fd = tcp_connect(ep.tcp_port());
    const std::string request = line + "\n{\"cmd\":\"hello\",\"token\":\"s3cret-token-of-thirty-two-bytes\"}\n";
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    const std::string answer = read_all(fd);  // to EOF: closed after the refusal
    ::close(fd);
    REQUIRE(std::count(answer.begin(), answer.end(), '\n') == 1);  // the second request was never answered
    const json r = json::parse(answer);
    CHECK(r["error"]["code"] == "unauthorized");
    CHECK(r["error"]["message"].get<std::string>().starts_with(message));
  }
  CHECK(ep.counters().bad_requests == cases.size());
}

TEST_CASE("over TCP a token sent one byte at a time authenticates, and then the connection is served") {
  weft::runtime rt(weft_test::small_runtime());
  weft::shell::endpoint_options o;
  o.unix_socket = false;
  o.tcp_port = weft::shell::tcp_any_port;
  o.announce = false;
  weft::shell::endpoint ep(rt, o);
  const int fd = tcp_connect(ep.tcp_port());
  const std::string request = "{\"cmd\":\"auth\",\"id\":1,\"token\":\"" + ep.tcp_token() + "\"}\n";
  for (char ch : request)  // TCP_NODELAY: one segment each
    REQUIRE(::send(fd, &ch, 1, MSG_NOSIGNAL) == 1);
  CHECK(json::parse(read_line(fd))["result"]["authenticated"] == true);
  const std::string hello = "{\"cmd\":\"hello\",\"id\":2}\n";
  ::send(fd, hello.data(), hello.size(), MSG_NOSIGNAL);
  const json r = json::parse(read_line(fd));
  ::close(fd);
  CHECK(r["id"] == 2);
  CHECK(r["ok"] == true);
}

TEST_CASE("over TCP a client that never sends its token is closed after idle_timeout") {
  weft::runtime rt(weft_test::small_runtime());
  weft::shell::endpoint_options o;
  o.unix_socket = false;
  o.tcp_port = weft::shell::tcp_any_port;
  o.announce = false;
  o.idle_timeout = std::chrono::milliseconds(200);
  weft::shell::endpoint ep(rt, o);
  const int fd = tcp_connect(ep.tcp_port());
  const std::string part = "{\"cmd\":\"hello\",\"token\":\"";
  ::send(fd, part.data(), part.size(), MSG_NOSIGNAL);
  const json r = json::parse(read_all(fd));
  ::close(fd);
  CHECK(r["error"]["code"] == "idle_timeout");
  CHECK(ep.counters().dropped_idle == 1);
}

TEST_CASE("the endpoint answers while every worker is stuck in a CPU loop") {
  temp_dir dir;
  weft::runtime rt(weft_test::small_runtime(2));
  std::atomic<bool> release{false};
  for (int i = 0; i < 2; ++i) {
    rt.spawn(
        [&release](weft::context& self) -> weft::behavior {
          self.set_describe([] { return std::string("busy"); });
          while (!release) {
          }
          return {[](int) {}};
        },
        {.name = "spinner" + std::to_string(i)});
  }
  weft::shell::endpoint ep(rt, options_in(dir));
  weft::shell::client c(weft::shell::parse_address(ep.socket_path()));
  CHECK(weft_test::eventually([&] {
    return call(c, {{"cmd", "ps"}, {"sort", "pid"}})["result"]["actors"].size() == 2;
  }));
  CHECK(call(c, {{"cmd", "info"}, {"target", "spinner0"}})["result"]["status"] == "running");
  const json state = call(c, {{"cmd", "state"}, {"target", "spinner1"}, {"timeout_ms", 100}});
  CHECK(state["error"]["code"] == "no_answer");
  release = true;
}
