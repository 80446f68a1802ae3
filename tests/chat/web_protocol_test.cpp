// The web front's JSON protocol alone (samples/chat/src/web_protocol.hpp):
// parsing requests, building the server's objects. No server, no socket.

#include "web_protocol.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <variant>
#include <vector>

using namespace chat::web;
using json = nlohmann::json;

namespace {

template <class T>
T parsed(std::string_view frame) {
  const request r = parse(frame);
  INFO("frame: ", std::string(frame));
  if (const auto* refused = std::get_if<refusal>(&r)) INFO("refused: ", refused->text);
  REQUIRE(std::holds_alternative<T>(r));
  return std::get<T>(r);
}

refusal refused(std::string_view frame) {
  const request r = parse(frame);
  INFO("frame: ", std::string(frame));
  REQUIRE(std::holds_alternative<refusal>(r));
  return std::get<refusal>(r);
}

}  // namespace

TEST_CASE("each request type parses into its struct with the defaults of its optional fields") {
  CHECK(parsed<hello_request>(R"({"type":"hello","nick":"ada"})") == hello_request{"ada"});
  CHECK(parsed<join_request>(R"({"type":"join","room":"#weft"})") == join_request{"#weft"});
  CHECK(parsed<part_request>(R"({"type":"part","room":"#weft"})") == part_request{"#weft", ""});
  CHECK(parsed<part_request>(R"({"type":"part","room":"#weft","reason":"bye"})") == part_request{"#weft", "bye"});
  CHECK(parsed<say_request>(R"({"type":"say","room":"#weft","text":"hi"})") == say_request{"#weft", "hi", false});
  CHECK(parsed<say_request>(R"({"type":"say","to":"bob","text":"hi","notice":true})") ==
        say_request{"bob", "hi", true});
  CHECK(parsed<topic_request>(R"({"type":"topic","room":"#weft","text":""})") == topic_request{"#weft", ""});
  CHECK(parsed<away_request>(R"({"type":"away"})") == away_request{""});
  CHECK(parsed<away_request>(R"({"type":"away","text":"lunch"})") == away_request{"lunch"});
  CHECK(parsed<history_query>(R"({"type":"history","room":"#weft"})") == history_query{"#weft", "", default_history});
  CHECK(parsed<history_query>(R"({"type":"history","room":"#weft","before":"7-abc","limit":5})") ==
        history_query{"#weft", "7-abc", 5});
  CHECK(parsed<nick_request>(R"({"type":"nick","nick":"ada2"})") == nick_request{"ada2"});
}

TEST_CASE("unknown fields are ignored and null counts as absent") {
  CHECK(parsed<hello_request>(R"({"nick":"ada","type":"hello","colour":"red","v":[1,{}]})") == hello_request{"ada"});
  CHECK(parsed<part_request>(R"({"type":"part","room":"#r","reason":null})") == part_request{"#r", ""});
  CHECK(refused(R"({"type":"hello","nick":null})").code == error_code::missing_field);
}

TEST_CASE("a refusal names its code, says what is wrong and, when known, which request it was") {
  const refusal missing = refused(R"({"type":"join"})");
  CHECK(missing.code == error_code::missing_field);
  CHECK(missing.text == "join needs \"room\"");
  CHECK(missing.request == "join");

  const refusal bad = refused(R"({"type":"history","room":"#r","limit":2.5})");
  CHECK(bad.code == error_code::bad_field);
  CHECK(bad.text == "\"limit\" must be a whole number of at least 1");

  const refusal json_error = refused(R"({"type":"hello",)");
  CHECK(json_error.code == error_code::bad_json);
  CHECK(json_error.text.starts_with("not JSON: parse error at line 1, column 17"));
  CHECK(json_error.request.empty());

  CHECK(refused("\xff").code == error_code::bad_json);
  CHECK(refused("{\"type\":\"say\",\"room\":\"#r\",\"text\":\"\xc3\x28\"}").code == error_code::bad_json);
  CHECK(refused("[]").code == error_code::not_an_object);
  CHECK(refused("null").code == error_code::not_an_object);
  CHECK(refused(R"({"type":["hello"]})").code == error_code::unknown_type);
  CHECK(refused(R"({"type":"HELLO","nick":"a"})").code == error_code::unknown_type);
}

TEST_CASE("text is limited to max_text_bytes counted in bytes of UTF-8, not characters") {
  const std::string fits(max_text_bytes, 'x');
  CHECK(parsed<say_request>(R"({"type":"say","room":"#r","text":")" + fits + "\"}").text == fits);
  const std::string euros = [] {
    std::string s;
    for (std::size_t i = 0; i < max_text_bytes / 3 + 1; ++i) s += "\xe2\x82\xac";  // 3 bytes each
    return s;
  }();
  CHECK(refused(R"({"type":"away","text":")" + euros + "\"}").code == error_code::text_too_long);
  CHECK(refused(R"({"type":"part","room":"#r","reason":")" + fits + "y\"}").code == error_code::text_too_long);
  CHECK(refused(R"({"type":"topic","room":"#r","text":")" + fits + "y\"}").code == error_code::text_too_long);
}

TEST_CASE("encode gives each request a frame that parses back to it") {
  const std::vector<request> requests{
      hello_request{"ada"},
      join_request{"#weft"},
      part_request{"#weft", ""},
      part_request{"#weft", "gone \"fishing\"\n"},
      say_request{"#weft", "hi \\ there", false},
      say_request{"bob", "psst", true},
      topic_request{"&local", ""},
      away_request{"\xe2\x82\xac"},
      history_query{"#weft", "", default_history},
      history_query{"#weft", "3-0a0b0c0d", 1},
      nick_request{"ada_"},
  };
  for (const request& r : requests) {
    const std::string frame = encode(r);
    INFO("frame: ", frame);
    CHECK(parse(frame) == r);
  }
  CHECK(encode(refusal{}).empty());
}

TEST_CASE("events encode with the fields of their type, type first") {
  CHECK(encode_event({.type = event_type::message,
                      .room = "#weft",
                      .nick = "ada",
                      .text = "hi",
                      .time_ms = 1700000000123,
                      .msgid = "4-89f88484"}) ==
        R"({"type":"message","kind":"privmsg","room":"#weft","nick":"ada","text":"hi","time":1700000000123,"msgid":"4-89f88484"})");
  CHECK(encode_event({.type = event_type::message, .notice = true, .to = "bob", .nick = "ada", .text = "psst", .time_ms = 5}) ==
        R"({"type":"message","kind":"notice","to":"bob","nick":"ada","text":"psst","time":5})");
  CHECK(encode_event({.type = event_type::join, .room = "#weft", .nick = "ada", .time_ms = 1}) ==
        R"({"type":"join","room":"#weft","nick":"ada","time":1})");
  CHECK(encode_event({.type = event_type::part, .room = "#weft", .nick = "ada", .text = "bye", .time_ms = 1}) ==
        R"({"type":"part","room":"#weft","nick":"ada","reason":"bye","time":1})");
  CHECK(encode_event({.type = event_type::quit, .room = "#weft", .nick = "ada", .text = "gone", .time_ms = 1}) ==
        R"({"type":"quit","nick":"ada","reason":"gone","time":1})");
  CHECK(encode_event({.type = event_type::nick, .nick = "ada", .text = "ada2", .time_ms = 1}) ==
        R"({"type":"nick","nick":"ada","new":"ada2","time":1})");
  CHECK(encode_event({.type = event_type::away, .nick = "ada", .text = "", .time_ms = 1}) ==
        R"({"type":"away","nick":"ada","text":"","time":1})");
  CHECK(encode_event({.type = event_type::topic, .room = "#weft", .nick = "ada", .text = "t", .time_ms = 1, .msgid = "1-x"}) ==
        R"({"type":"topic","room":"#weft","nick":"ada","text":"t","time":1,"msgid":"1-x"})");
}

TEST_CASE("the server's objects are valid JSON even when a name is not UTF-8") {
  const json welcome = json::parse(encode_welcome("ada", "weft.chat"));
  CHECK(welcome["max_text"] == max_text_bytes);
  const json error = json::parse(encode_error(error_code::nick_in_use, "ada: in use", "hello"));
  CHECK(error == json{{"type", "error"}, {"code", "nick_in_use"}, {"text", "ada: in use"}, {"request", "hello"}});
  const json odd = json::parse(encode_event({.type = event_type::join, .room = "#r", .nick = "\xff\xfe"}));
  CHECK(odd["nick"] == "\xef\xbf\xbd\xef\xbf\xbd");

  const std::vector<std::string> names{"ada", "bob"};
  const std::vector<event_fields> history{{.type = event_type::message, .room = "#r", .nick = "ada", .text = "1"}};
  const json joined = json::parse(encode_joined({.room = "#r", .topic = "t", .names = &names, .history = &history}));
  CHECK(joined["names"] == json::array({"ada", "bob"}));
  CHECK(joined["history"][0]["text"] == "1");
  const json empty = json::parse(encode_joined({.room = "#r"}));
  CHECK(empty["names"].empty());
  CHECK(empty["history"].empty());
  CHECK(json::parse(encode_history("#r", {}))["messages"].empty());
}

TEST_CASE("every error code has its own name") {
  std::vector<std::string_view> names;
  for (int c = 1; c <= static_cast<int>(error_code::unavailable); ++c) {
    names.push_back(to_string(static_cast<error_code>(c)));
    CHECK(names.back() != "unknown");
  }
  std::sort(names.begin(), names.end());
  CHECK(std::adjacent_find(names.begin(), names.end()) == names.end());
}
