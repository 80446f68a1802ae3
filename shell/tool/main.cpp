// weft-shell: the debug shell's command-line program.
//
//   weft-shell list                          endpoints of running programs
//   weft-shell attach [endpoint]             interactive shell (libedit)
//   weft-shell [endpoint] <command> [--json] one command, for scripts
//
// An endpoint is a Unix socket path or host:port (TCP; the token comes from
// WEFT_SHELL_TOKEN). Omitted, it is the only endpoint `list` finds. Exit
// statuses: cli.hpp.

#include "cli.hpp"
#include "escape.hpp"

#include <weft/shell/client.hpp>
#include <weft/shell/endpoint.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>

namespace {

void print_usage() {
  std::cerr << "usage:\n"
               "  weft-shell list\n"
               "  weft-shell attach [<socket>|<host:port>]\n"
               "  weft-shell [<socket>|<host:port>] <command> [args] [--json]\n"
               "commands:\n"
            << weft_shell::usage_text()
            << "any command also takes:\n"
               "  --json                  the answer exactly as the program sent it\n"
               "  --max-answer-bytes N    the longest answer read (default "
            << weft::shell::client::default_max_line_bytes
            << ")\n"
               "TCP endpoints need their token in WEFT_SHELL_TOKEN.\n"
               "exit status: 0 ok, 1 the program answered with an error, 2 usage or connection error,\n"
               "3 malformed answer (not JSON, a field missing or wrong, longer than the cap)\n";
}

// The only live endpoint, or an error listing the choice.
weft::shell::endpoint_address only_endpoint() {
  const auto found = weft::shell::discover();
  if (found.size() == 1) return weft::shell::parse_address(found[0].path);
  if (found.empty()) {
    throw weft_shell::usage_error("no weft endpoint found in " + weft::shell::default_socket_dir(false) +
                                  " (is the program running with its endpoint on? weft-demo --serve)");
  }
  std::string text = "several endpoints are running; name one:";
  for (const auto& e : found)
    text += "\n  " + weft_shell::printable(e.path);
  throw weft_shell::usage_error(text);
}

// A first word that is not an address is a command (perhaps misspelt:
// the endpoint answers an unknown one with a suggestion).
bool is_command(const std::string& word) {
  const auto& names = weft_shell::command_names();
  if (std::find(names.begin(), names.end(), word) != names.end()) return true;
  return word.find('/') == std::string::npos && word.find(':') == std::string::npos && !word.ends_with(".sock");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
      print_usage();
      return args.empty() ? 2 : 0;
    }
    if (args[0] == "list") {
      const auto found = weft::shell::discover();
      for (const auto& e : found)
        std::cout << weft_shell::printable(e.path) << "  " << weft_shell::printable(e.program) << " (os pid "
                  << e.os_pid << ")\n";
      if (found.empty()) std::cerr << "no weft endpoints in " << weft::shell::default_socket_dir(false) << "\n";
      return 0;
    }
    if (args[0] == "attach") {
      if (args.size() > 2) throw weft_shell::usage_error("attach takes one endpoint");
      return weft_shell::interactive(args.size() == 2 ? weft::shell::parse_address(args[1]) : only_endpoint());
    }
    weft::shell::endpoint_address address;
    if (is_command(args[0])) {
      address = only_endpoint();
    } else {
      address = weft::shell::parse_address(args[0]);
      args.erase(args.begin());
    }
    if (args.empty()) throw weft_shell::usage_error("no command given after the endpoint; try 'help'");
    weft_shell::command_line command = weft_shell::parse_command(args);
    if (command.cmd == "quit") return 0;
    weft::shell::client client(address);
    if (address.is_tcp()) {
      const char* token = std::getenv("WEFT_SHELL_TOKEN");
      command.request["token"] = token != nullptr ? token : "";
    }
    const bool colour = ::isatty(STDOUT_FILENO) != 0 && std::getenv("NO_COLOR") == nullptr;
    return weft_shell::run_command(client, command, std::cout, colour);
  } catch (const weft_shell::usage_error& e) {
    std::cerr << "weft-shell: " << e.what() << "\n";
    return weft_shell::exit_status::usage_or_connection;
  } catch (const weft_shell::bad_answer& e) {
    std::cerr << "weft-shell: " << e.what() << "\n";
    return weft_shell::exit_status::malformed_answer;
  } catch (const weft::shell::line_too_long& e) {
    std::cerr << e.what() << "; raise the cap with --max-answer-bytes N\n";
    return weft_shell::exit_status::malformed_answer;
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return weft_shell::exit_status::usage_or_connection;
  }
}
