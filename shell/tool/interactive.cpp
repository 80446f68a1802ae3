// The interactive shell: libedit's readline interface (line editing,
// history in ~/.weft_shell_history or $WEFT_SHELL_HISTORY, tab completion
// of commands, then of pids and registered names fetched from the
// endpoint as you press tab).

#include "cli.hpp"
#include "escape.hpp"

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

std::string ask(weft::shell::client& client, json request) {
  if (completion_token != nullptr && !completion_token->empty()) request["token"] = *completion_token;
  return client.call(request.dump());
}

// Only what a person could have typed is offered: a name with a control
// character or a backslash in it would reach the terminal raw through
// libedit's list of matches.
void add_candidate(std::string text) {
  if (!text.empty() && printable(text) == text) candidates.push_back(std::move(text));
}

void load_actor_candidates() {
  candidates.clear();
  if (completion_client == nullptr) return;
  try {
    const answer names(ask(*completion_client, {{"cmd", "names"}}), "names");
    if (names.ok()) {
      const field list = names.result().array("names");
      for (std::size_t i = 0; i < list.size(); ++i)
        add_candidate(list.element(i).text("name"));
    }
    const answer ps(ask(*completion_client, {{"cmd", "ps"}, {"limit", 2000}}), "ps");
    if (ps.ok()) {
      const field actors = ps.result().array("actors");
      for (std::size_t i = 0; i < actors.size(); ++i)
        add_candidate(actors.element(i).text("pid"));
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

  // A malformed hello is a bad_answer for main to report (exit status 3).
  const answer hello(ask(*client, {{"cmd", "hello"}}), "hello");
  if (!hello.ok()) {
    std::cout << "error: " << printable(hello.error().text("message")) << "\n";
    return exit_status::error_answer;
  }
  const field r = hello.result();
  const std::string program = printable(r.text("program"));
  const std::uint64_t os_pid = r.count("os_pid");
  const std::uint64_t protocol = r.count("protocol");
  const bool mutations = r.flag("mutations_allowed");
  std::cout << "attached to " << program << " (os pid " << os_pid << ") at " << address.to_string() << ", protocol "
            << protocol << ", " << (mutations ? "mutations allowed" : "read-only")
            << "\ntype 'help' for commands, tab to complete, 'quit' or Ctrl-D to leave\n";

  rl_readline_name = "weft-shell";
  static char word_breaks[] = " \t";
  rl_completer_word_break_characters = word_breaks;
  rl_attempted_completion_function = complete;
  using_history();
  const std::string history = history_path();
  if (!history.empty()) read_history(history.c_str());

  const bool colour = ::isatty(STDOUT_FILENO) != 0 && std::getenv("NO_COLOR") == nullptr;
  const std::string prompt = "weft(" + program + " " + std::to_string(os_pid) + ")> ";
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
    } catch (const bad_answer& e) {
      // The answer was a whole line: the connection is still in step.
      std::cout << "error: " << e.what() << "\n";
    } catch (const weft::shell::line_too_long& e) {
      std::cout << "error: " << e.what() << "; raise the cap with --max-answer-bytes N\n";
      client.reset();
      completion_client = nullptr;
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
