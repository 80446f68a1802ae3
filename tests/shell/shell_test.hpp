#pragma once
// Helpers for the debug shell's tests: a private socket directory, and
// requests as JSON values.

#include <weft/shell/client.hpp>
#include <weft/shell/endpoint.hpp>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace shell_test {

using json = nlohmann::json;

// A fresh directory under /tmp, removed at the end of the test.
class temp_dir {
 public:
  temp_dir() {
    char pattern[] = "/tmp/weft-shell-test-XXXXXX";
    path_ = ::mkdtemp(pattern);
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string socket() const { return path_ + "/test.sock"; }

 private:
  std::string path_;
};

inline weft::shell::endpoint_options options_in(const temp_dir& dir, bool allow_mutations = false) {
  weft::shell::endpoint_options o;
  o.socket_path = dir.socket();
  o.allow_mutations = allow_mutations;
  o.announce = false;
  o.program = "shell-test";
  return o;
}

inline json call(weft::shell::client& c, const json& request) {
  return json::parse(c.call(request.dump()));
}

inline json call(const std::string& socket, const json& request) {
  weft::shell::client c(weft::shell::parse_address(socket));
  return call(c, request);
}

}  // namespace shell_test
