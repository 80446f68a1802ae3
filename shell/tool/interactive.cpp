// The interactive shell: libedit's readline interface (line editing,
// history in ~/.weft_shell_history or $WEFT_SHELL_HISTORY, tab completion
// of commands, then of pids and registered names fetched from the
// endpoint as you press tab).

#include "cli.hpp"

#include <editline/readline.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>

namespace weft_shell {

namespace {

weft::shell::client* completion_client = nullptr;
std::string* completion_token = nullptr;
std::vector<std::string> candidates;

json ask(weft::shell::client& client, json request) {
  if (completion_token != nullptr && !completion_token->empty()) request["token"] = *completion_token;
  return json::parse(client.call(request.dump()), nullptr, false);
}

void load_actor_candidates() {
  candidates.clear();
  if (completion_client == nullptr) return;
  try {
    const json names = ask(*completion_client, {{"cmd", "names"}});
    if (names.value("ok", false)) {
      for (const auto& n : names["result"]["names"])
        candidates.push_back(n["name"]);
    }
    const json ps = ask(*completion_client, {{"cmd", "ps"}, {"limit", 2000}});
    if (ps.value("ok", false)) {
      for (const auto& a : ps["result"]["actors"])
        candidates.push_back(a["pid"]);
    }
  } catch (const std::exception&) {
    // No completion is better than an error in the middle of a line.
  }
}

char* generate(const char* text, int state) {
  static std::size_t index;
  if (state == 0) index = 0;
  const std::size_t length = std::strlen(text);
  while (index < candidates.size()) {
    const std::string& c = candidates[index++];
    if (c.compare(0, length, text) == 0) return ::strdup(c.c_str());
  }
  return nullptr;
}

char** complete(const char* text, int start, int /*end*/) {
  rl_attempted_completion_over = 1;  // never fall back to file names
  if (start == 0 ||
      std::string(rl_line_buffer, static_cast<std::size_t>(start)).find_first_not_of(" ") == std::string::npos) {
    candidates = command_names();
  } else {
    load_actor_candidates();
  }
  return rl_completion_matches(text, generate);
}

std::string history_path() {
  if (const char* p = std::getenv("WEFT_SHELL_HISTORY")) return p;
  if (const char* home = std::getenv("HOME")) return std::string(home) + "/.weft_shell_history";
  return {};
}

}  // namespace

int interactive(const weft::shell::endpoint_address& address) {
  std::string token;
  if (address.is_tcp()) {
    if (const char* t = std::getenv("WEFT_SHELL_TOKEN")) token = t;
  }
  auto client = std::make_unique<weft::shell::client>(address);
  completion_client = client.get();
  completion_token = &token;

  const json hello = ask(*client, {{"cmd", "hello"}});
  std::string program = "weft";
  if (hello.value("ok", false)) {
    const json& r = hello["result"];
    program = r["program"].get<std::string>() + " " + std::to_string(r["os_pid"].get<long>());
    std::cout << "attached to " << r["program"].get<std::string>() << " (os pid " << r["os_pid"].get<long>() << ") at "
              << address.to_string() << ", protocol " << r["protocol"].get<int>() << ", "
              << (r["mutations_allowed"].get<bool>() ? "mutations allowed" : "read-only")
              << "\ntype 'help' for commands, tab to complete, 'quit' or Ctrl-D to leave\n";
  } else {
    std::cout << "error: " << hello.dump() << "\n";
    return 1;
  }

  rl_readline_name = "weft-shell";
  static char word_breaks[] = " \t";
  rl_completer_word_break_characters = word_breaks;
  rl_attempted_completion_function = complete;
  using_history();
  const std::string history = history_path();
  if (!history.empty()) read_history(history.c_str());

  const bool colour = ::isatty(STDOUT_FILENO) != 0 && std::getenv("NO_COLOR") == nullptr;
  const std::string prompt = "weft(" + program + ")> ";
  for (;;) {
    std::unique_ptr<char, decltype(&std::free)> line(readline(prompt.c_str()), &std::free);
    if (!line) {
      std::cout << "\n";
      break;
    }
    const std::vector<std::string> words = split_words(line.get());
    if (words.empty()) continue;
    add_history(line.get());
    if (words[0] == "quit" || words[0] == "exit") break;
    try {
      command_line command = parse_command(words);
      if (!token.empty()) command.request["token"] = token;
      if (!client) {
        client = std::make_unique<weft::shell::client>(address);
        completion_client = client.get();
      }
      run_command(*client, command, std::cout, colour);
    } catch (const usage_error& e) {
      std::cout << e.what() << "\n";
    } catch (const std::exception& e) {
      // The program went away or closed us: say so, reconnect next time.
      std::cout << "error: " << e.what() << "\n";
      client.reset();
      completion_client = nullptr;
    }
    std::cout.flush();
  }
  if (!history.empty()) {
    write_history(history.c_str());
    history_truncate_file(history.c_str(), 1000);
  }
  completion_client = nullptr;
  return 0;
}

}  // namespace weft_shell
