#pragma once
// weft-shell's own parts: turning what a person typed into a protocol
// request, and a response into text for a person (or JSON for a script).

#include <weft/shell/client.hpp>

#include <nlohmann/json.hpp>

#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace weft_shell {

using json = nlohmann::json;

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct command_line {
  std::string cmd;  // as typed (a server command, or top/quit)
  json request;     // what is sent
  bool json_output = false;
  bool dot = false;  // tree --dot
  // top
  std::string sort = "rate";
  int interval_ms = 1000;
  int iterations = 0;  // 0: until a key is pressed
};

// The commands a person can type, for `help` and tab completion.
const std::vector<std::string>& command_names();
std::string usage_text();

// Splits a line into words; "double" or 'single' quotes keep spaces.
std::vector<std::string> split_words(std::string_view line);

// Throws usage_error with what was wrong and the command's synopsis.
command_line parse_command(const std::vector<std::string>& words);

// Writes the response for a person (colour: ANSI colours on a terminal).
// Returns the exit status: 0 if the response was ok, 1 if it was an error.
int render(const command_line& command, const json& response, std::ostream& out, bool colour);

// `top`: refreshes every interval until a key is pressed (or iterations).
int run_top(weft::shell::client& client, const command_line& command, std::ostream& out, bool terminal);

// Sends one command and prints its answer.
int run_command(weft::shell::client& client, const command_line& command, std::ostream& out, bool colour);

// The interactive shell (libedit).
int interactive(const weft::shell::endpoint_address& address);

}  // namespace weft_shell
