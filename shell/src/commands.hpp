#pragma once
// The commands of docs/shell-protocol.md: one parsed request in, one JSON
// response out. Fast commands (snapshots) are answered on the endpoint's
// I/O thread; slow ones (state, trace, restart: they wait for an actor or a
// supervisor) come back as a job the endpoint runs on a helper thread.

#include <weft/shell/endpoint.hpp>

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <string_view>

namespace weft::shell::detail {

using json = nlohmann::json;

// {"v":1,"id":...,"ok":false,"error":{"code":...,"message":...}}
json error_response(const json& id, std::string_view code, std::string message);
json ok_response(const json& id, json result);

struct dispatch_result {
  json response;               // set unless `slow` is
  std::function<json()> slow;  // runs off the I/O thread, returns the response
};

class command_table {
 public:
  command_table(runtime& rt, const endpoint_options& options, std::function<endpoint_counters()> counters)
      : rt_(rt), options_(options), counters_(std::move(counters)) {}

  // `request` is an already parsed JSON value (any type: it is checked).
  dispatch_result dispatch(const json& request);

 private:
  runtime& rt_;
  const endpoint_options& options_;
  std::function<endpoint_counters()> counters_;
};

}  // namespace weft::shell::detail
