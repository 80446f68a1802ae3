// One connection's protocol without a socket (shell/src/session.hpp), its
// framing and the token check: every bad line and every exception gets an
// answer and the next request is answered too; input handling is linear;
// a client that does not read stops being answered.

#include "session.hpp"
#include "framing.hpp"
#include "token.hpp"

#include <weft_test.hpp>

#include <doctest/doctest.h>

#include <new>
#include <stdexcept>
#include <string>
#include <vector>

using weft::shell::detail::compare_token;
using weft::shell::detail::dispatch_result;
using weft::shell::detail::endpoint_tally;
using weft::shell::detail::json;
using weft::shell::detail::line_buffer;
using weft::shell::detail::output_queue;
using weft::shell::detail::session;

namespace {

weft::shell::endpoint_options test_options() {
  weft::shell::endpoint_options o;
  o.announce = false;
  o.program = "session-test";
  o.tcp_token = "0123456789abcdef0123456789abcdef";
  return o;
}

// A session over the real commands of a small runtime, or over `dispatch`.
struct harness {
  explicit harness(weft::shell::endpoint_options o = test_options(), bool tcp = false,
                   weft::shell::detail::dispatcher dispatch = {})
      : options(std::move(o)),
        commands(rt, options, [this] { return tally.snapshot(); }),
        s(
            dispatch ? std::move(dispatch) : [this](const json& r) { return commands.dispatch(r); }, options, tally,
            tcp) {}

  // Feeds bytes, answers what it can (running slow jobs inline, as the
  // fuzz target does), and returns the response lines sent so far.
  std::vector<json> feed(const std::string& bytes) {
    s.received(bytes.data(), bytes.size());
    return answer();
  }
  std::vector<json> answer() {
    while (auto job = s.handle_requests()) {
      try {
        s.job_done(job->run());
      } catch (...) {
        s.job_failed(std::current_exception());
      }
    }
    return read_output();
  }
  std::vector<json> read_output() {
    std::vector<json> lines;
    iovec iov[64];
    while (!s.output().empty()) {
      const std::size_t n = s.output().gather(iov, std::size(iov));
      for (std::size_t i = 0; i < n; ++i)
        pending.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
      s.output().sent(s.output().unsent());
    }
    for (auto newline = pending.find('\n'); newline != std::string::npos; newline = pending.find('\n')) {
      lines.push_back(json::parse(pending.substr(0, newline)));
      pending.erase(0, newline + 1);
    }
    return lines;
  }

  weft::runtime rt{weft_test::small_runtime()};
  weft::shell::endpoint_options options;
  endpoint_tally tally;
  weft::shell::detail::command_table commands;
  session s;
  std::string pending;
};

std::string code_of(const json& response) {
  return response["ok"] == true ? std::string("ok") : response["error"]["code"].get<std::string>();
}

}  // namespace

TEST_CASE(
    "numbers no double can hold get bad_json, as the whole line or as a field, and the next request is answered") {
  harness h;
  const std::string huge(60000, '9');
  const std::vector<std::string> lines = {"1e400",
                                          "-1e400",
                                          huge,
                                          "{\"cmd\":\"hello\",\"id\":1e400}",
                                          "{\"cmd\":\"hello\",\"id\":" + huge + "}",
                                          "{\"cmd\":\"ps\",\"limit\":-1e400}"};
  for (const auto& line : lines) {
    CAPTURE(line.substr(0, 40));
    const auto answers = h.feed(line + "\n{\"cmd\":\"hello\",\"id\":2}\n");
    REQUIRE(answers.size() == 2);
    CHECK(code_of(answers[0]) == "bad_json");
    CHECK(answers[0]["error"]["message"].get<std::string>().find("out of range") != std::string::npos);
    CHECK(answers[1]["id"] == 2);
    CHECK(code_of(answers[1]) == "ok");
  }
  CHECK(h.tally.snapshot().internal_errors == 0);
  CHECK(h.tally.snapshot().bad_requests == lines.size());
}

TEST_CASE("a request nested deeper than 64 levels is refused before parsing, and 64 levels are read") {
  harness h;
  const auto nested = [](std::size_t depth) {
    return "{\"cmd\":\"hello\",\"id\":" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}\n";
  };
  auto answers = h.feed(nested(65) + nested(64) + nested(30000));
  REQUIRE(answers.size() == 3);
  CHECK(answers[0]["error"]["message"] ==
        "JSON nested deeper than 64 levels; a request is an object like {\"cmd\":\"help\"}");
  CHECK(code_of(answers[1]) == "ok");
  CHECK(code_of(answers[2]) == "bad_json");
  // Brackets inside strings are text, not nesting.
  answers = h.feed("{\"cmd\":\"hello\",\"id\":\"" + std::string(200, '[') + "\"}\n");
  REQUIRE(answers.size() == 1);
  CHECK(code_of(answers[0]) == "ok");
}

TEST_CASE("an exception thrown while answering, of any type, is answered internal and the next request goes on") {
  int calls = 0;
  harness h(test_options(), false, [&](const json& request) -> dispatch_result {
    ++calls;
    const std::string what = request.value("throw", "");
    if (what == "bad_alloc") throw std::bad_alloc();
    if (what == "runtime_error") throw std::runtime_error("the disk is on fire");
    if (what == "int") throw 42;
    if (what == "type_error") return {json(request.at("missing")), {}};  // nlohmann throws out_of_range
    if (what == "slow bad_alloc") return {{}, []() -> json { throw std::bad_alloc(); }};
    if (what == "slow int") return {{}, []() -> json { throw 7; }};
    return {weft::shell::detail::ok_response(request.value("id", json()), "fine"), {}};
  });
  const auto answers = h.feed(
      "{\"id\":1,\"throw\":\"bad_alloc\"}\n{\"id\":2}\n{\"id\":3,\"throw\":\"runtime_error\"}\n"
      "{\"id\":4,\"throw\":\"int\"}\n{\"id\":5,\"throw\":\"type_error\"}\n{\"id\":6,\"throw\":\"slow bad_alloc\"}\n"
      "{\"id\":7,\"throw\":\"slow int\"}\n{\"id\":8}\n");
  REQUIRE(answers.size() == 8);
  for (int i = 0; i < 8; ++i)
    CHECK(answers[i]["id"] == i + 1);  // every request answered, in order, with its own id
  CHECK(answers[0]["error"]["message"] ==
        "the endpoint failed while answering this request (out of memory); it goes on serving, and other requests "
        "are unaffected");
  CHECK(code_of(answers[1]) == "ok");
  CHECK(answers[2]["error"]["message"].get<std::string>().find("the disk is on fire") != std::string::npos);
  CHECK(answers[3]["error"]["message"].get<std::string>().find("not a std::exception") != std::string::npos);
  CHECK(code_of(answers[4]) == "internal");
  CHECK(answers[5]["error"]["message"].get<std::string>().find("out of memory") != std::string::npos);
  CHECK(code_of(answers[6]) == "internal");
  CHECK(code_of(answers[7]) == "ok");
  CHECK(calls == 8);
  CHECK(h.tally.snapshot().internal_errors == 6);
  CHECK_FALSE(h.s.closing());
}

TEST_CASE(
    "2 MiB of bare newlines in 16 KiB reads are taken by moving an offset: the bytes moved stay below the input") {
  harness h;
  const std::string chunk(16 * 1024, '\n');
  std::size_t fed = 0;
  for (int i = 0; i < 128; ++i) {
    // Half a line at the end of each read, so compaction has something to keep.
    const std::string bytes = i % 2 == 0 ? chunk + "{\"cmd\":" : "\"hello\"}" + chunk;
    h.s.received(bytes.data(), bytes.size());
    fed += bytes.size();
    const auto answers = h.answer();
    CHECK(answers.size() == (i % 2 == 0 ? 0u : 1u));
  }
  // Erasing each line from the front would move ~Σ(remaining) ≈ 2^40 bytes
  // here; the offset design moves at most what it takes.
  CHECK(h.s.input().bytes_moved() <= fed);
  CHECK(h.tally.snapshot().requests == 64);
}

TEST_CASE(
    "lines are taken from one buffer by offset, and compaction happens only when it frees at least as much as it "
    "moves") {
  line_buffer in;
  std::string bytes;
  for (int i = 0; i < 1000; ++i)
    bytes += "line " + std::to_string(i) + "\n";
  bytes += "partial";
  in.append(bytes.data(), bytes.size());
  std::size_t offset = 0;
  for (int i = 0; i < 1000; ++i) {
    const auto line = in.next_line();
    REQUIRE(line);
    CHECK(*line == "line " + std::to_string(i));
    offset += line->size() + 1;
    CHECK(in.consumed_offset() == offset);  // no byte moved while lines are taken
  }
  CHECK_FALSE(in.next_line());
  CHECK(in.unconsumed() == 7);
  CHECK(in.bytes_moved() == 0);
  in.compact();
  CHECK(in.bytes_moved() == 7);
  CHECK(in.consumed_offset() == 0);
  in.append(" end\n", 5);
  CHECK(in.next_line() == std::string_view("partial end"));
}

TEST_CASE("the output queue sends responses in order across partial sends") {
  output_queue out;
  out.push("abc");
  out.push("");
  out.push("defg");
  out.push("h");
  CHECK(out.unsent() == 8);
  std::string sent;
  for (std::size_t step : {2, 3, 1, 2}) {
    iovec iov[2];
    const std::size_t n = out.gather(iov, 2);
    std::string visible;
    for (std::size_t i = 0; i < n; ++i)
      visible.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
    sent += visible.substr(0, step);
    out.sent(step);
  }
  CHECK(sent == "abcdefgh");
  CHECK(out.empty());
}

TEST_CASE("a session stops answering at output_high_water and answers the rest in order once its output is read") {
  auto o = test_options();
  o.output_high_water = 1000;
  int dispatched = 0;
  harness h(o, false, [&](const json& request) -> dispatch_result {
    ++dispatched;
    return {weft::shell::detail::ok_response(request["id"], std::string(300, 'x')), {}};
  });
  std::string requests;
  for (int i = 0; i < 100; ++i)
    requests += "{\"id\":" + std::to_string(i) + "}\n";
  h.s.received(requests.data(), requests.size());
  CHECK_FALSE(h.s.handle_requests());
  // Four responses of ~360 bytes reach 1000: then nothing more is answered
  // and nothing more is read until the client reads.
  CHECK(dispatched == 3);
  CHECK(h.s.paused());
  CHECK_FALSE(h.s.wants_input());
  CHECK_FALSE(h.s.handle_requests());
  CHECK(dispatched == 3);
  CHECK(h.tally.snapshot().output_pauses == 1);
  std::vector<json> answers;
  while (answers.size() < 100) {
    const auto more = h.read_output();
    answers.insert(answers.end(), more.begin(), more.end());
    CHECK_FALSE(h.s.handle_requests());
    CHECK(h.s.output().unsent() < 1000 + 400);
  }
  for (int i = 0; i < 100; ++i)
    CHECK(answers[i]["id"] == i);
  CHECK(dispatched == 100);
}

TEST_CASE("a response over max_output_bytes is replaced by response_too_large and the session goes on") {
  auto o = test_options();
  o.max_output_bytes = 4096;
  harness h(o, false, [&](const json& request) -> dispatch_result {
    return {weft::shell::detail::ok_response(request["id"], std::string(request.value("size", 0), 'x')), {}};
  });
  const auto answers = h.feed("{\"id\":1,\"size\":5000}\n{\"id\":2,\"size\":100}\n");
  REQUIRE(answers.size() == 2);
  CHECK(answers[0]["id"] == 1);
  CHECK(code_of(answers[0]) == "response_too_large");
  CHECK(answers[0]["error"]["message"].get<std::string>().starts_with(
      "the answer is 0.0 MiB, over this endpoint's limit of 4096 bytes for one response (max_output_bytes)"));
  CHECK(code_of(answers[1]) == "ok");
  CHECK(h.tally.snapshot().responses_too_large == 1);
}

TEST_CASE("a TCP session answers unauthorized and closes for a missing, wrong or non-string token") {
  for (const std::string_view line : {"{\"cmd\":\"hello\",\"id\":1}", "{\"cmd\":\"hello\",\"id\":1,\"token\":\"nope\"}",
                                      "{\"cmd\":\"hello\",\"id\":1,\"token\":17}", "[1]", "\"token\""}) {
    CAPTURE(line);
    harness h(test_options(), true);
    const auto answers =
        h.feed(std::string(line) + "\n{\"cmd\":\"hello\",\"token\":\"0123456789abcdef0123456789abcdef\"}\n");
    REQUIRE(answers.size() == 1);  // the second request is never read
    CHECK(code_of(answers[0]) == "unauthorized");
    CHECK(h.s.closing());
    CHECK(h.s.finished());
  }
  harness h(test_options(), true);
  auto answers = h.feed("{\"cmd\":\"auth\",\"token\":\"0123456789abcdef0123456789abcdef\"}\n{\"cmd\":\"hello\"}\n");
  REQUIRE(answers.size() == 2);
  CHECK(code_of(answers[0]) == "ok");
  CHECK(code_of(answers[1]) == "ok");  // authenticated from then on
}

TEST_CASE("the token comparison looks at every byte of the expected token wherever the first difference is") {
  const std::string expected = "0123456789abcdef0123456789abcdef";
  CHECK(compare_token(expected, expected).equal);
  CHECK(compare_token(expected, expected).bytes_compared == expected.size());
  for (std::size_t at = 0; at < expected.size(); ++at) {
    std::string presented = expected;
    presented[at] ^= 0x01;
    CAPTURE(at);
    const auto r = compare_token(presented, expected);
    CHECK_FALSE(r.equal);
    CHECK(r.bytes_compared == expected.size());
  }
  // Lengths that differ are compared the same way, not refused early; a
  // prefix of the token is not the token, nor is the token with more after it.
  for (const std::string& presented : {std::string(), expected.substr(0, 31), expected.substr(0, 1), expected + "0",
                                       expected + std::string(100, 'x'), std::string(1, '\0')}) {
    CAPTURE(presented.size());
    const auto r = compare_token(presented, expected);
    CHECK_FALSE(r.equal);
    CHECK(r.bytes_compared == expected.size());
  }
  CHECK_FALSE(compare_token("", "").equal);  // an empty token admits nobody
}

TEST_CASE("the idle clock runs until a first request completes, and again only while a later one is begun") {
  harness h;
  CHECK(h.s.waiting_for_request());
  h.feed("{\"cmd\":");
  CHECK(h.s.waiting_for_request());
  h.feed("\"hello\"}\n");
  CHECK_FALSE(h.s.waiting_for_request());
  h.feed("\n\n");  // blank lines are not a request begun
  CHECK_FALSE(h.s.waiting_for_request());
  h.feed("{\"cm");
  CHECK(h.s.waiting_for_request());
  harness blank;
  blank.feed("\n\n\n");  // nor do they complete a first one
  CHECK(blank.s.waiting_for_request());
}

TEST_CASE("the idle clock stops while complete requests wait to be answered") {
  auto o = test_options();
  o.output_high_water = 100;
  harness h(o);
  const std::string requests = "{\"cmd\":\"hello\"}\n{\"cmd\":\"hello\"}\n{\"cmd\":\"hello\"}\n";
  h.s.received(requests.data(), requests.size());
  CHECK_FALSE(h.s.waiting_for_request());  // the client has done its part
  std::size_t budget = 1;
  CHECK_FALSE(h.s.handle_requests(budget));
  CHECK(budget == 0);
  CHECK(h.s.paused());
  CHECK_FALSE(h.s.waiting_for_request());
  h.read_output();  // unpaused, two requests still to answer
  CHECK_FALSE(h.s.paused());
  CHECK_FALSE(h.s.waiting_for_request());
}
