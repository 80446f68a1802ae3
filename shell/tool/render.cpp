// Parsing commands and rendering answers for weft-shell (one-shot and
// interactive share all of it).

#include "cli.hpp"

#include <fmt/format.h>

#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>

namespace weft_shell {

namespace {

struct synopsis {
  const char* name;
  const char* text;
};

constexpr synopsis synopses[] = {
    {"tree", "tree [pid|name] [--depth N] [--dot]   the supervision/spawn tree"},
    {"ps", "ps [--sort pid|mailbox|rate|memory|processed] [--limit N]"},
    {"top", "top [--sort rate|mailbox|memory|processed] [--interval MS] [--iterations N]   (any key stops)"},
    {"info", "info <pid|name>"},
    {"state", "state <pid|name>   the actor's own description of its state"},
    {"links", "links <pid|name>"},
    {"monitors", "monitors <pid|name>"},
    {"trace", "trace <pid|name> [--count N] [--duration MS] [--contents]   message types and sizes"},
    {"kill", "kill <pid|name> [reason]   (kill, shutdown, normal, or any text: an error reason)"},
    {"restart", "restart <pid|name>   restart a supervised child"},
    {"send", "send <pid|name> <text>   send a std::string message"},
    {"stats", "stats"},
    {"events", "events [--limit N] [--source S]   newest last"},
    {"names", "names"},
    {"hello", "hello   protocol version, program, mutations allowed?"},
    {"help", "help"},
    {"quit", "quit   (interactive; also Ctrl-D)"},
};

std::string synopsis_of(const std::string& cmd) {
  for (const auto& s : synopses) {
    if (cmd == s.name) return s.text;
  }
  return {};
}

const char* reset = "\x1b[0m";

std::string paint(bool colour, const char* code, const std::string& text) {
  return colour ? std::string(code) + text + reset : text;
}

const char* status_colour(const std::string& status) {
  if (status == "running") return "\x1b[32m";    // green
  if (status == "runnable") return "\x1b[36m";   // cyan
  if (status == "receiving") return "\x1b[34m";  // blue
  if (status == "exiting") return "\x1b[33m";    // yellow
  if (status == "dead") return "\x1b[31m";       // red
  return "\x1b[0m";
}

std::string capacity_text(const json& capacity) {
  return capacity.is_null() ? "inf" : std::to_string(capacity.get<std::size_t>());
}

std::string mailbox_text(const json& mailbox, bool colour) {
  const auto length = mailbox["length"].get<std::size_t>();
  std::string text = std::to_string(length) + "/" + capacity_text(mailbox["capacity"]);
  if (mailbox["capacity"].is_null() || mailbox["capacity"].get<std::size_t>() == 0) return text;
  const double fill = static_cast<double>(length) / mailbox["capacity"].get<double>();
  if (fill >= 0.8) return paint(colour, "\x1b[31m", text);
  if (fill >= 0.5) return paint(colour, "\x1b[33m", text);
  return text;
}

std::string actor_title(const json& node) {
  std::string title = node["pid"].get<std::string>();
  if (!node["name"].get<std::string>().empty()) title += " " + node["name"].get<std::string>();
  if (!node["label"].get<std::string>().empty() && node["label"] != node["name"]) {
    title += " (" + node["label"].get<std::string>() + ")";
  }
  return title;
}

void render_tree_node(const json& node, const std::string& prefix, bool last, bool root, std::ostream& out,
                      bool colour) {
  const std::string branch = root ? "" : (last ? "└─ " : "├─ ");
  std::string line = prefix + branch + paint(colour, "\x1b[1m", actor_title(node)) + "  " +
                     paint(colour, status_colour(node["status"]), node["status"].get<std::string>()) + "  mailbox " +
                     mailbox_text(node["mailbox"], colour);
  if (node["restarts"].get<int>() > 0) {
    line += "  " + paint(colour, "\x1b[33m", "restarts " + std::to_string(node["restarts"].get<int>()));
  }
  if (node.contains("children_omitted"))
    line += fmt::format("  (+{} below --depth)", node["children_omitted"].get<int>());
  out << line << "\n";
  const std::string child_prefix = root ? prefix : prefix + (last ? "   " : "│  ");
  const auto& children = node["children"];
  for (std::size_t i = 0; i < children.size(); ++i) {
    render_tree_node(children[i], child_prefix, i + 1 == children.size(), false, out, colour);
  }
}

void render_dot_node(const json& node, std::ostream& out) {
  std::string label = actor_title(node) + "\\n" + node["status"].get<std::string>() + " mailbox " +
                      std::to_string(node["mailbox"]["length"].get<std::size_t>()) + "/" +
                      capacity_text(node["mailbox"]["capacity"]);
  if (node["restarts"].get<int>() > 0) label += "\\nrestarts " + std::to_string(node["restarts"].get<int>());
  std::string escaped;
  for (char ch : label) {
    if (ch == '"') escaped += '\\';
    escaped += ch;
  }
  const std::string colour = node["status"] == "dead" ? "red" : node["restarts"].get<int>() > 0 ? "orange" : "black";
  out << fmt::format("  \"{}\" [label=\"{}\", color={}];\n", node["pid"].get<std::string>(), escaped, colour);
  for (const auto& child : node["children"]) {
    render_dot_node(child, out);
    out << fmt::format("  \"{}\" -> \"{}\";\n", node["pid"].get<std::string>(), child["pid"].get<std::string>());
  }
}

std::string bytes_text(std::size_t n) {
  if (n >= 1024 * 1024) return fmt::format("{:.1f}M", static_cast<double>(n) / (1024 * 1024));
  if (n >= 1024) return fmt::format("{}K", n / 1024);
  return std::to_string(n);
}

void render_ps(const json& actors, std::ostream& out, bool colour, const std::map<std::string, double>* rates) {
  out << fmt::format("{:<12} {:<16} {:<10} {:>11} {:>10} {:>9} {:>6} {:>4}  {}\n", "PID", "NAME", "STATUS", "MAILBOX",
                     "PROCESSED", "MSG/S", "MEM", "RST", "LABEL");
  for (const auto& a : actors) {
    const std::string status = a["status"];
    const std::string mailbox =
        std::to_string(a["mailbox"]["length"].get<std::size_t>()) + "/" + capacity_text(a["mailbox"]["capacity"]);
    double rate = a["messages_per_second"].get<double>();
    if (rates != nullptr) {
      auto it = rates->find(a["pid"].get<std::string>());
      rate = it != rates->end() ? it->second : 0;
    }
    out << fmt::format(
        "{:<12} {:<16} {} {:>11} {:>10} {:>9.1f} {:>6} {:>4}  {}\n", a["pid"].get<std::string>(),
        a["name"].get<std::string>(), paint(colour, status_colour(status), fmt::format("{:<10}", status)), mailbox,
        a["processed"].get<std::uint64_t>(), rate, bytes_text(a["memory"]["estimate_bytes"].get<std::size_t>()),
        a["restarts"].get<int>(), a["label"].get<std::string>());
  }
}

std::string pid_list(const json& pids) {
  if (pids.empty()) return "(none)";
  std::string text;
  for (const auto& p : pids)
    text += (text.empty() ? "" : " ") + p.get<std::string>();
  return text;
}

int parse_int(const std::string& cmd, const std::string& flag, const std::string& value) {
  try {
    std::size_t used = 0;
    const int n = std::stoi(value, &used);
    if (used == value.size() && n >= 0) return n;
  } catch (const std::exception&) {
  }
  throw usage_error(
      fmt::format("{}: {} needs a non-negative number, not '{}'\nusage: {}", cmd, flag, value, synopsis_of(cmd)));
}

}  // namespace

const std::vector<std::string>& command_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& s : synopses)
      n.emplace_back(s.name);
    return n;
  }();
  return names;
}

std::string usage_text() {
  std::string text;
  for (const auto& s : synopses)
    text += std::string("  ") + s.text + "\n";
  return text;
}

std::vector<std::string> split_words(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (char ch : line) {
    if (quote != 0) {
      if (ch == quote) {
        quote = 0;
      } else {
        word += ch;
      }
    } else if (ch == '"' || ch == '\'') {
      quote = ch;
      in_word = true;
    } else if (ch == ' ' || ch == '\t') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += ch;
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

command_line parse_command(const std::vector<std::string>& words_in) {
  if (words_in.empty()) throw usage_error("no command; try 'help'");
  command_line c;
  c.cmd = words_in[0];
  std::vector<std::string> positional;
  std::map<std::string, std::string> flags;
  static const std::vector<std::string> valued = {"--depth",    "--sort",       "--limit",  "--count",  "--duration",
                                                  "--interval", "--iterations", "--source", "--timeout"};
  for (std::size_t i = 1; i < words_in.size(); ++i) {
    const std::string& w = words_in[i];
    if (w == "--json") {
      c.json_output = true;
    } else if (w == "--dot") {
      c.dot = true;
    } else if (w == "--contents") {
      flags[w] = "1";
    } else if (std::find(valued.begin(), valued.end(), w) != valued.end()) {
      if (i + 1 >= words_in.size())
        throw usage_error(fmt::format("{}: {} needs a value\nusage: {}", c.cmd, w, synopsis_of(c.cmd)));
      flags[w] = words_in[++i];
    } else if (w.starts_with("--")) {
      throw usage_error(fmt::format("{}: unknown option {}\nusage: {}", c.cmd, w, synopsis_of(c.cmd)));
    } else {
      positional.push_back(w);
    }
  }
  json& r = c.request;
  const std::string& cmd = c.cmd;
  auto need_target = [&](std::size_t max_positional) {
    if (positional.empty()) throw usage_error(fmt::format("{}: which actor? usage: {}", cmd, synopsis_of(cmd)));
    if (positional.size() > max_positional) {
      throw usage_error(
          fmt::format("{}: unexpected '{}'; usage: {}", cmd, positional[max_positional], synopsis_of(cmd)));
    }
    r["target"] = positional[0];
  };
  if (cmd == "top") {
    r["cmd"] = "ps";
    if (flags.count("--sort")) c.sort = flags["--sort"];
    if (flags.count("--interval")) c.interval_ms = std::max(100, parse_int(cmd, "--interval", flags["--interval"]));
    if (flags.count("--iterations")) c.iterations = parse_int(cmd, "--iterations", flags["--iterations"]);
    if (flags.count("--limit")) r["limit"] = parse_int(cmd, "--limit", flags["--limit"]);
    return c;
  }
  r["cmd"] = cmd;
  if (cmd == "tree") {
    if (positional.size() > 1) throw usage_error("tree: at most one root; usage: " + synopsis_of(cmd));
    if (!positional.empty()) r["target"] = positional[0];
    if (flags.count("--depth")) r["depth"] = parse_int(cmd, "--depth", flags["--depth"]);
  } else if (cmd == "ps") {
    if (flags.count("--sort")) r["sort"] = flags["--sort"];
    if (flags.count("--limit")) r["limit"] = parse_int(cmd, "--limit", flags["--limit"]);
  } else if (cmd == "info" || cmd == "state" || cmd == "links" || cmd == "monitors" || cmd == "restart") {
    need_target(1);
    if (flags.count("--timeout")) r["timeout_ms"] = parse_int(cmd, "--timeout", flags["--timeout"]);
  } else if (cmd == "trace") {
    need_target(1);
    if (flags.count("--count")) r["count"] = parse_int(cmd, "--count", flags["--count"]);
    if (flags.count("--duration")) r["duration_ms"] = parse_int(cmd, "--duration", flags["--duration"]);
    if (flags.count("--contents")) r["contents"] = true;
  } else if (cmd == "kill") {
    need_target(2);
    if (positional.size() > 1) r["reason"] = positional[1];
  } else if (cmd == "send") {
    if (positional.size() < 2) throw usage_error("send: needs an actor and a text; usage: " + synopsis_of(cmd));
    r["target"] = positional[0];
    std::string text;
    for (std::size_t i = 1; i < positional.size(); ++i)
      text += (i > 1 ? " " : "") + positional[i];
    r["text"] = text;
  } else if (cmd == "events") {
    if (flags.count("--limit")) r["limit"] = parse_int(cmd, "--limit", flags["--limit"]);
    if (flags.count("--source")) r["source"] = flags["--source"];
  } else if (cmd == "stats" || cmd == "names" || cmd == "help" || cmd == "hello") {
    if (!positional.empty()) throw usage_error(fmt::format("{}: takes no arguments", cmd));
  }
  // Anything else goes to the endpoint as is: it answers with a suggestion.
  return c;
}

int render(const command_line& command, const json& response, std::ostream& out, bool colour) {
  if (command.json_output) {
    out << response.dump(2) << "\n";
    return response.value("ok", false) ? 0 : 1;
  }
  if (!response.value("ok", false)) {
    const json& e = response.contains("error") ? response["error"] : json::object();
    out << paint(colour, "\x1b[31m", "error") << ": " << e.value("message", std::string("(no message)")) << "\n";
    return 1;
  }
  const json& r = response["result"];
  const std::string& cmd = command.request["cmd"].get_ref<const std::string&>();
  if (cmd == "tree") {
    if (command.dot) {
      out << "digraph weft {\n  node [shape=box, fontname=monospace];\n";
      for (const auto& root : r["roots"])
        render_dot_node(root, out);
      out << "}\n";
    } else {
      for (const auto& root : r["roots"])
        render_tree_node(root, "", true, true, out, colour);
    }
  } else if (cmd == "ps") {
    render_ps(r["actors"], out, colour, nullptr);
    if (r["actors"].size() < r["total"].get<std::size_t>()) {
      out << fmt::format("({} of {} actors)\n", r["actors"].size(), r["total"].get<std::size_t>());
    }
  } else if (cmd == "info") {
    const json& m = r["mailbox"];
    out << fmt::format(
        "pid          {}\nname         {}\nlabel        {}\nparent       {}\nstatus       {}\n"
        "style        {}{}\nmailbox      {} (overflow {}, dropped {}, rejected {})\n"
        "processed    {} ({:.1f} msg/s over its life)\nrestarts     {}\nspawned at   {}\n"
        "stack        {} bytes{}; high-water {} bytes\nlinks        {}\nmonitored by {}\nmonitors     {}\n",
        r["pid"].get<std::string>(), r["name"].get<std::string>(), r["label"].get<std::string>(),
        r["parent"].is_null() ? "(none)" : r["parent"].get<std::string>(),
        paint(colour, status_colour(r["status"]), r["status"].get<std::string>()), r["style"].get<std::string>(),
        r["trap_exit"].get<bool>() ? ", traps exits" : "", mailbox_text(m, colour), m["overflow"].get<std::string>(),
        m["dropped"].get<std::uint64_t>(), m["rejected"].get<std::uint64_t>(), r["processed"].get<std::uint64_t>(),
        r["messages_per_second"].get<double>(), r["restarts"].get<int>(), r["spawned_at"].get<std::string>(),
        r["memory"]["stack_bytes"].get<std::size_t>(),
        r["memory"]["holds_fiber"].get<bool>()
            ? fmt::format(" (holds a fiber now, {} bytes in use)", r["memory"]["stack_in_use_bytes"].get<std::size_t>())
            : std::string(" (no fiber held now)"),
        r["memory"]["stack_high_water_bytes"].get<std::size_t>(), pid_list(r["links"]),
        pid_list(r["monitored_by"]), r["monitors"].get<std::size_t>());
  } else if (cmd == "state") {
    out << r["state"].get<std::string>() << "\n";
  } else if (cmd == "links") {
    out << r["pid"].get<std::string>() << " links: " << pid_list(r["links"]) << "\n";
  } else if (cmd == "monitors") {
    out << r["pid"].get<std::string>() << " monitored by: " << pid_list(r["monitored_by"]) << "; monitors "
        << r["monitors"].get<std::size_t>() << " other actor(s)\n";
  } else if (cmd == "trace") {
    for (const auto& e : r["events"]) {
      const bool in = e["dir"] == "in";
      out << fmt::format("{} {:<3} {} -> {}  {}  {} B\n", e["when"].get<std::string>().substr(11),
                         e["dir"].get<std::string>(), e["from"].is_null() ? "(outside)" : e["from"].get<std::string>(),
                         e["to"].is_null() ? "?" : e["to"].get<std::string>(),
                         paint(colour, in ? "\x1b[36m" : "\x1b[35m", e["type"].get<std::string>()),
                         e["size"].get<std::size_t>());
    }
    out << fmt::format("({} message(s){}; contents are not recorded, only types and sizes)\n", r["events"].size(),
                       r["complete"].get<bool>() ? "" : ", trace ended by its duration");
  } else if (cmd == "stats") {
    out << fmt::format(
        "actors       {} live, {} spawned\ntimers       {} pending\nfibers       {} in use\n"
        "global queue {}\n",
        r["live_actors"].get<std::size_t>(), r["spawned"].get<std::uint64_t>(), r["timers_pending"].get<std::size_t>(),
        r["fibers_in_use"].get<std::size_t>(), r["global_queue_length"].get<std::size_t>());
    int i = 0;
    for (const auto& w : r["workers"]) {
      out << fmt::format("worker {:<5} run queue {}, activations {}, steals {}, fiber switches {}, parks {}{}\n", i++,
                         w["run_queue_length"].get<std::size_t>(), w["activations"].get<std::uint64_t>(),
                         w["steals"].get<std::uint64_t>(), w["fiber_switches"].get<std::uint64_t>(),
                         w["parks"].get<std::uint64_t>(), w["parked"].get<bool>() ? " (parked)" : "");
    }
    out << "dead letters";
    for (const auto& [cause, n] : r["dead_letters"].items())
      out << " " << cause << "=" << n.get<std::uint64_t>();
    out << "\nendpoint    ";
    for (const auto& [key, n] : r["endpoint"].items())
      out << " " << key << "=" << n.get<std::uint64_t>();
    out << "\n";
  } else if (cmd == "events") {
    for (const auto& e : r["events"]) {
      out << fmt::format("#{:<4} {} {}/{} {} {}\n", e["seq"].get<std::uint64_t>(),
                         e["when"].get<std::string>().substr(11), e["source"].get<std::string>(),
                         paint(colour, "\x1b[1m", e["kind"].get<std::string>()),
                         e["who"].is_null() ? "-" : e["who"].get<std::string>(), e["text"].get<std::string>());
    }
    if (r["events"].empty()) out << "(no events)\n";
  } else if (cmd == "names") {
    for (const auto& n : r["names"])
      out << fmt::format("{:<24} {}\n", n["name"].get<std::string>(), n["pid"].get<std::string>());
  } else if (cmd == "help") {
    out << "commands:\n" << usage_text();
    out << (r["mutations_allowed"].get<bool>() ? "this endpoint allows kill, send and restart\n"
                                               : "this endpoint is read-only: kill, send and restart are refused\n");
    out << "add --json to any command for the raw protocol response\n";
  } else if (cmd == "hello") {
    out << fmt::format("{} (os pid {}), protocol {}, {}\n", r["program"].get<std::string>(), r["os_pid"].get<long>(),
                       r["protocol"].get<int>(),
                       r["mutations_allowed"].get<bool>() ? "mutations allowed" : "read-only");
  } else if (cmd == "kill") {
    out << "sent exit(" << r["reason"].get<std::string>() << ") to " << r["pid"].get<std::string>() << "\n";
  } else if (cmd == "send") {
    out << "sent to " << r["pid"].get<std::string>() << "\n";
  } else if (cmd == "restart") {
    out << "restarted " << r["old_pid"].get<std::string>() << " -> "
        << (r["new_pid"].is_null() ? std::string("(its supervisor's choice)") : r["new_pid"].get<std::string>()) << " ("
        << r["how"].get<std::string>() << ")\n";
  } else {
    out << r.dump(2) << "\n";
  }
  return 0;
}

int run_command(weft::shell::client& client, const command_line& command, std::ostream& out, bool colour) {
  if (command.cmd == "top") return run_top(client, command, out, colour);
  const json response = json::parse(client.call(command.request.dump()), nullptr, false);
  if (response.is_discarded()) {
    out << "error: the endpoint sent something that is not JSON\n";
    return 2;
  }
  return render(command, response, out, colour);
}

int run_top(weft::shell::client& client, const command_line& command, std::ostream& out, bool terminal) {
  // Rates are measured between two samples (processed deltas), not over
  // each actor's lifetime as ps shows them.
  termios saved{};
  const bool raw = terminal && ::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &saved) == 0;
  if (raw) {
    termios t = saved;
    t.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO | ISIG));  // Ctrl-C is a key: it stops top
    ::tcsetattr(STDIN_FILENO, TCSANOW, &t);
  }
  const int iterations = command.iterations > 0 ? command.iterations : (raw ? 0 : 1);
  std::map<std::string, std::uint64_t> previous;
  auto previous_time = std::chrono::steady_clock::now();
  int status = 0;
  for (int n = 0; iterations == 0 || n < iterations; ++n) {
    json request = command.request;
    request.erase("limit");
    const json response = json::parse(client.call(request.dump()), nullptr, false);
    if (response.is_discarded() || !response.value("ok", false)) {
      status = render(command, response, out, terminal);
      break;
    }
    const auto now = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(now - previous_time).count();
    previous_time = now;
    std::map<std::string, double> rates;
    std::map<std::string, std::uint64_t> current;
    json actors = response["result"]["actors"];
    for (const auto& a : actors) {
      const std::string p = a["pid"];
      const auto processed = a["processed"].get<std::uint64_t>();
      current[p] = processed;
      auto it = previous.find(p);
      rates[p] = (it != previous.end() && seconds > 0) ? static_cast<double>(processed - it->second) / seconds
                                                       : a["messages_per_second"].get<double>();
    }
    previous = std::move(current);
    std::vector<json> sorted(actors.begin(), actors.end());
    auto key = [&](const json& a) -> double {
      if (command.sort == "mailbox") return a["mailbox"]["length"].get<double>();
      if (command.sort == "memory") return a["memory"]["estimate_bytes"].get<double>();
      if (command.sort == "processed") return a["processed"].get<double>();
      return rates[a["pid"].get<std::string>()];
    };
    std::stable_sort(sorted.begin(), sorted.end(), [&](const json& a, const json& b) { return key(a) > key(b); });
    const std::size_t limit = command.request.value("limit", std::size_t{20});
    if (sorted.size() > limit) sorted.resize(limit);
    if (raw) out << "\x1b[H\x1b[2J";
    out << fmt::format("weft top: {} actors, sorted by {}, every {} ms{}\n", actors.size(), command.sort,
                       command.interval_ms, raw ? "; press any key to stop" : "");
    render_ps(json(sorted), out, terminal, &rates);
    out.flush();
    if (iterations != 0 && n + 1 >= iterations) break;
    pollfd p{STDIN_FILENO, POLLIN, 0};
    if (raw && ::poll(&p, 1, command.interval_ms) > 0) {
      char ch;
      [[maybe_unused]] auto r = ::read(STDIN_FILENO, &ch, 1);
      break;
    }
    if (!raw) ::usleep(static_cast<useconds_t>(command.interval_ms) * 1000);
  }
  if (raw) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
  return status;
}

}  // namespace weft_shell
