#pragma once
// weft-shell's own parts: turning what a person typed into a protocol
// request, and an answer into text for a person (or JSON for a script).
//
// Exit statuses (docs/guide/debug-shell.md):
//   0  the command succeeded
//   1  the program answered with an error
//   2  a usage error, or no connection (cannot connect, closed, timed out)
//   3  the answer was malformed: not JSON, a field missing or of the wrong
//      type or range, or longer than the answer cap

#include "answer.hpp"

#include <weft/shell/client.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace weft_shell {

using json = nlohmann::json;

namespace exit_status {
inline constexpr int ok = 0;
inline constexpr int error_answer = 1;
inline constexpr int usage_or_connection = 2;
inline constexpr int malformed_answer = 3;
}  // namespace exit_status

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// How deep `tree` prints unless --max-depth says otherwise: deep enough for
// any real supervision tree, shallow enough that the lines (3 columns more
// per level) stay readable.
inline constexpr std::uint64_t default_tree_max_depth = 100;

struct command_line {
  std::string cmd;  // as typed (a server command, or top/quit)
  json request;     // what is sent
  bool json_output = false;
  bool dot = false;                                                            // tree --dot
  std::uint64_t max_depth = default_tree_max_depth;                            // tree --max-depth
  std::size_t max_answer_bytes = weft::shell::client::default_max_line_bytes;  // --max-answer-bytes
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

// Writes the answer `line` to `command`: as is with --json, else as text
// for a person (colour: ANSI colours on a terminal), every text from the
// program escaped (escape.hpp). Returns exit_status::ok or error_answer;
// throws bad_answer if the answer is malformed, having written nothing.
int render(const command_line& command, const std::string& line, std::ostream& out, bool colour);

// `top`: refreshes every interval until a key is pressed (or iterations).
int run_top(weft::shell::client& client, const command_line& command, std::ostream& out, bool terminal);

// Sends one command and prints its answer. Throws bad_answer (malformed
// answer) and std::runtime_error (the connection failed; a
// weft::shell::line_too_long if the answer passed the cap).
int run_command(weft::shell::client& client, const command_line& command, std::ostream& out, bool colour);

// The interactive shell (libedit).
int interactive(const weft::shell::endpoint_address& address);

// -- shared by the renderers --

std::string paint(bool colour, const char* code, const std::string& text);
const char* status_colour(std::string_view status);
// "3/1024" (coloured at half and 80 % full), "3/inf".
std::string mailbox_text(std::uint64_t length, std::optional<std::uint64_t> capacity, bool colour);

struct tree_style {
  bool dot = false;
  bool colour = false;
  std::uint64_t max_depth = default_tree_max_depth;
};
// result.roots as an indented tree or a Graphviz digraph (tree.cpp).
void render_tree(const field& result, const tree_style& style, std::ostream& out);

}  // namespace weft_shell
