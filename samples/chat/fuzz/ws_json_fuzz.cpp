// libFuzzer target for the web front's JSON protocol (scripts/fuzz-chat.sh):
// the text of a WebSocket frame, as a browser (or anyone) may send it,
// through exactly what the server runs on it (src/web_protocol.hpp).
//
//   input --> parse --> a request --> encode --> parse again: the same request
//                  \--> a refusal --> encode_error --> JSON with its code
//   input, cut in pieces --> event_fields --> encode_event / encode_joined
//                            / encode_history --> JSON that parses
//
// What must hold, whatever the bytes (each violation aborts):
//   - parse never throws, and gives a request or a refusal with a known
//     code and a text that is valid UTF-8;
//   - a request's encode() is a frame that parses back to the same request;
//   - a request's texts fit max_text_bytes and a history limit is >= 1;
//   - every object the server builds is JSON that nlohmann reads back, its
//     "type" first; given valid UTF-8 fields, they come back unchanged.

#include "irc/protocol.hpp"
#include "web_protocol.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace {

using namespace chat::web;
using json = nlohmann::json;

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "ws_json_fuzz: %s\n", what);
    std::abort();
  }
}

json read_back(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  require(!j.is_discarded(), "the server built something that is not JSON");
  require(j.is_object() && j.contains("type") && j["type"].is_string(), "a server object without its type");
  require(text.starts_with("{\"type\":"), "\"type\" is not the first key");
  return j;
}

void check_request(const request& r) {
  if (const auto* refused = std::get_if<refusal>(&r)) {
    require(to_string(refused->code) != "unknown", "a refusal with an unnamed code");
    require(!refused->text.empty() && chat::irc::valid_utf8(refused->text), "a refusal text empty or not UTF-8");
    const json error = read_back(encode_error(refused->code, refused->text, refused->request));
    require(error["code"] == to_string(refused->code), "encode_error lost the code");
    require(error["text"] == refused->text, "encode_error changed the text");
    return;
  }
  std::visit(
      [](const auto& q) {
        using T = std::decay_t<decltype(q)>;
        if constexpr (std::is_same_v<T, say_request> || std::is_same_v<T, topic_request> ||
                      std::is_same_v<T, away_request>) {
          require(q.text.size() <= max_text_bytes, "a text over max_text_bytes was accepted");
        }
        if constexpr (std::is_same_v<T, say_request>) require(!q.text.empty(), "an empty say was accepted");
        if constexpr (std::is_same_v<T, part_request>) {
          require(q.reason.size() <= max_text_bytes, "a reason over max_text_bytes was accepted");
        }
        if constexpr (std::is_same_v<T, history_query>) require(q.limit >= 1, "a history limit of 0");
      },
      r);
  const std::string frame = encode(r);
  require(!frame.empty(), "a request encoded to nothing");
  require(parse(frame) == r, "a request did not survive encode and parse");
}

// The input's pieces between NUL bytes, as the fields of events.
std::vector<std::string_view> pieces(std::string_view input) {
  std::vector<std::string_view> out;
  while (out.size() < 8) {
    const auto nul = input.find('\0');
    out.push_back(input.substr(0, nul));
    if (nul == std::string_view::npos) break;
    input.remove_prefix(nul + 1);
  }
  while (out.size() < 8) out.emplace_back();
  return out;
}

void check_events(std::string_view input) {
  const auto p = pieces(input);
  const auto type = static_cast<event_type>(p[0].empty() ? 0 : static_cast<unsigned char>(p[0][0]) % 7);
  const event_fields e{.type = type,
                       .notice = !p[0].empty() && (p[0][0] & 0x80) != 0,
                       .room = p[1],
                       .to = p[2],
                       .nick = p[3],
                       .text = p[4],
                       .time_ms = static_cast<std::int64_t>(input.size()) * 1000003,
                       .msgid = p[5]};
  const json event = read_back(encode_event(e));
  require(event["type"] == to_string(type), "an event lost its type");
  require(event["time"] == e.time_ms, "an event lost its time");
  const bool utf8 = chat::irc::valid_utf8(e.nick) && chat::irc::valid_utf8(e.text) && chat::irc::valid_utf8(e.room) &&
                    chat::irc::valid_utf8(e.to) && chat::irc::valid_utf8(e.msgid);
  if (utf8) {
    require(event["nick"] == std::string(e.nick), "an event changed its nick");
    if (type == event_type::message && !e.room.empty()) require(event["room"] == std::string(e.room), "room changed");
  }

  const std::vector<std::string> names{std::string(p[6]), std::string(p[7])};
  const std::vector<event_fields> history{e, e};
  const json joined = read_back(encode_joined(
      {.room = p[1], .topic = p[4], .topic_by = p[3], .topic_time_ms = e.time_ms, .names = &names, .history = &history}));
  require(joined["names"].size() == 2 && joined["history"].size() == 2, "joined lost names or history");
  const json older = read_back(encode_history(p[1], history));
  require(older["messages"].size() == 2, "history lost messages");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check_request(parse(input));
  check_events(input);
  return 0;
}
