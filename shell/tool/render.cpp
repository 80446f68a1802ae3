// Parsing commands and rendering answers for weft-shell (one-shot and
// interactive share all of it). An answer is checked as it is read
// (answer.hpp) and every text from it is escaped (escape.hpp); text is
// made in a buffer and written only once the whole answer has been read,
// so a malformed answer prints an error and nothing else.

#include "cli.hpp"
#include "escape.hpp"

#include <fmt/format.h>

#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <sstream>

namespace weft_shell {

namespace {

struct synopsis {
  const char* name;
  const char* text;
};

constexpr synopsis synopses[] = {
    {"tree", "tree [pid|name] [--depth N] [--max-depth N] [--dot]   the supervision/spawn tree"},
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

// An actor as ps and top show it, read and checked from an actor object.
struct actor_row {
  std::string pid, name, status, label;
  std::uint64_t mailbox_length;
  std::optional<std::uint64_t> mailbox_capacity;
  std::uint64_t processed;
  double rate;
  std::uint64_t memory;
  std::uint64_t restarts;
  std::optional<std::string> blocked;  // the pid it is blocked sending to
};

actor_row read_actor_row(const field& a) {
  const field mailbox = a.object("mailbox");
  return actor_row{a.text("pid"),
                   a.text("name"),
                   a.text("status"),
                   a.text("label"),
                   mailbox.count("length"),
                   mailbox.count_or_null("capacity"),
                   a.count("processed"),
                   a.rate("messages_per_second"),
                   a.object("memory").count("estimate_bytes"),
                   a.count("restarts"),
                   a.text_if_present("blocked_sending_to")};
}

std::vector<actor_row> read_actor_rows(const field& actors) {
  std::vector<actor_row> rows;
  const std::size_t n = actors.size();
  rows.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    rows.push_back(read_actor_row(actors.element(i)));
  return rows;
}

std::string capacity_text(std::optional<std::uint64_t> capacity) {
  return capacity ? std::to_string(*capacity) : "inf";
}

std::string bytes_text(std::uint64_t n) {
  if (n >= 1024 * 1024) return fmt::format("{:.1f}M", static_cast<double>(n) / (1024 * 1024));
  if (n >= 1024) return fmt::format("{}K", n / 1024);
  return std::to_string(n);
}

void render_ps(const std::vector<actor_row>& rows, std::ostream& out, bool colour) {
  out << fmt::format("{:<12} {:<16} {:<10} {:>11} {:>10} {:>9} {:>6} {:>4}  {}\n", "PID", "NAME", "STATUS", "MAILBOX",
                     "PROCESSED", "MSG/S", "MEM", "RST", "LABEL");
  for (const auto& a : rows) {
    out << fmt::format("{:<12} {:<16} {} {:>11} {:>10} {:>9.1f} {:>6} {:>4}  {}\n", printable(a.pid), printable(a.name),
                       paint(colour, status_colour(a.status), fmt::format("{:<10}", printable(a.status))),
                       std::to_string(a.mailbox_length) + "/" + capacity_text(a.mailbox_capacity), a.processed, a.rate,
                       bytes_text(a.memory), a.restarts,
                       a.blocked ? printable(a.label) + (a.label.empty() ? "" : " ") + "[blocked sending to " +
                                       printable(*a.blocked) + "]"
                                 : printable(a.label));
  }
}

std::string pid_list(const field& pids) {
  const std::size_t n = pids.size();
  if (n == 0) return "(none)";
  std::string text;
  for (std::size_t i = 0; i < n; ++i)
    text += (i == 0 ? "" : " ") + printable(pids.text_at(i));
  return text;
}

// "10:00:00.123Z" of an ISO 8601 time; anything else whole.
std::string time_of_day(const std::string& when) {
  if (when.size() > 11 && when[10] == 'T') return printable(std::string_view(when).substr(11));
  return printable(when);
}

// How deeply `value` nests, counted without recursion, up to `limit`
// (more is reported as limit + 1).
std::size_t nesting_depth(const json& value, std::size_t limit) {
  struct frame {
    const json* container;
    json::const_iterator next;
  };
  std::size_t deepest = 0;
  std::vector<frame> stack;
  if (value.is_structured()) stack.push_back({&value, value.cbegin()});
  while (!stack.empty()) {
    deepest = std::max(deepest, stack.size());
    if (deepest > limit) return limit + 1;
    frame& top = stack.back();
    if (top.next == top.container->cend()) {
      stack.pop_back();
      continue;
    }
    const json& child = *top.next++;
    if (child.is_structured()) stack.push_back({&child, child.cbegin()});
  }
  return deepest;
}

// The result of a command this program has no layout for, as indented
// JSON that shows only ASCII: \u escapes for every control character.
void render_unknown(const field& result, std::ostream& out) {
  constexpr std::size_t deepest_shown = 256;  // dump() recurses
  if (nesting_depth(result.value(), deepest_shown) > deepest_shown) {
    result.fail(
        fmt::format("nests more than {} levels deep, too deep to show as text; --json prints it", deepest_shown));
  }
  std::string text = result.value().dump(2, ' ', true);
  // ensure_ascii leaves DEL as is; it only occurs inside strings.
  std::string shown;
  for (const char ch : text) {
    if (ch == '\x7f') {
      shown += "\\u007f";
    } else {
      shown += ch;
    }
  }
  out << shown << "\n";
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

std::uint64_t parse_count(const std::string& cmd, const std::string& flag, const std::string& value,
                          std::uint64_t least) {
  const bool digits = !value.empty() && value.find_first_not_of("0123456789") == std::string::npos;
  if (digits) {
    try {
      const std::uint64_t n = std::stoull(value);
      if (n >= least) return n;
    } catch (const std::exception&) {
    }
  }
  throw usage_error(fmt::format("{}: {} needs a whole number of at least {}, not '{}'\nusage: {}", cmd, flag, least,
                                value, synopsis_of(cmd)));
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
  static const std::vector<std::string> valued = {"--depth",    "--sort",      "--limit",           "--count",
                                                  "--duration", "--interval",  "--iterations",      "--source",
                                                  "--timeout",  "--max-depth", "--max-answer-bytes"};
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
  if (flags.count("--max-answer-bytes")) {
    c.max_answer_bytes = parse_count(cmd, "--max-answer-bytes", flags["--max-answer-bytes"], 1);
  }
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
    if (flags.count("--max-depth")) c.max_depth = parse_count(cmd, "--max-depth", flags["--max-depth"], 0);
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

std::string paint(bool colour, const char* code, const std::string& text) {
  return colour ? std::string(code) + text + reset : text;
}

const char* status_colour(std::string_view status) {
  if (status == "running") return "\x1b[32m";    // green
  if (status == "runnable") return "\x1b[36m";   // cyan
  if (status == "receiving") return "\x1b[34m";  // blue
  if (status == "exiting") return "\x1b[33m";    // yellow
  if (status == "dead") return "\x1b[31m";       // red
  return "\x1b[0m";
}

std::string mailbox_text(std::uint64_t length, std::optional<std::uint64_t> capacity, bool colour) {
  std::string text = std::to_string(length) + "/" + capacity_text(capacity);
  if (!capacity || *capacity == 0) return text;
  const double fill = static_cast<double>(length) / static_cast<double>(*capacity);
  if (fill >= 0.8) return paint(colour, "\x1b[31m", text);
  if (fill >= 0.5) return paint(colour, "\x1b[33m", text);
  return text;
}

namespace {

// Fields are read into locals in the order they are printed, so that of
// several missing fields the error names the first (arguments of one call
// are evaluated in no set order).

void render_info(const field& r, std::ostream& out, bool colour) {
  const std::string pid = r.text("pid");
  const std::string name = r.text("name");
  const std::string label = r.text("label");
  const std::optional<std::string> parent = r.text_or_null("parent");
  const std::string status = r.text("status");
  const std::optional<std::string> blocked = r.text_if_present("blocked_sending_to");
  const std::string style = r.text("style");
  const bool trap_exit = r.flag("trap_exit");
  // Absent in answers from weft before typed protocols.
  const std::optional<std::string> protocol = r.text_if_present("protocol");
  const field m = r.object("mailbox");
  const std::uint64_t length = m.count("length");
  const std::optional<std::uint64_t> capacity = m.count_or_null("capacity");
  const std::string overflow = m.text("overflow");
  const std::uint64_t dropped = m.count("dropped");
  const std::uint64_t rejected = m.count("rejected");
  const std::uint64_t processed = r.count("processed");
  const double rate = r.rate("messages_per_second");
  const std::uint64_t restarts = r.count("restarts");
  const std::string spawned_at = r.text("spawned_at");
  const field memory = r.object("memory");
  const std::uint64_t stack_bytes = memory.count("stack_bytes");
  const std::string held = memory.flag("holds_fiber") ? fmt::format(" (holds a fiber now, {} bytes in use)",
                                                                    memory.count("stack_in_use_bytes"))
                                                      : std::string(" (no fiber held now)");
  const std::uint64_t high_water = memory.count("stack_high_water_bytes");
  const std::string links = pid_list(r.array("links"));
  const std::string monitored_by = pid_list(r.array("monitored_by"));
  const std::uint64_t monitors = r.count("monitors");
  out << fmt::format(
      "pid          {}\nname         {}\nlabel        {}\nparent       {}\nstatus       {}\n"
      "style        {}{}\nprotocol     {}\nmailbox      {} (overflow {}, dropped {}, rejected {})\n"
      "processed    {} ({:.1f} msg/s over its life)\nrestarts     {}\nspawned at   {}\n"
      "stack        {} bytes{}; high-water {} bytes\nlinks        {}\nmonitored by {}\nmonitors     {}\n",
      printable(pid), printable(name), printable(label), parent ? printable(*parent) : "(none)",
      paint(colour, status_colour(status), printable(status)) +
          (blocked ? " (blocked sending to " + printable(*blocked) + ")" : std::string()),
      printable(style), trap_exit ? ", traps exits" : "",
      protocol ? printable(*protocol) : "(untyped)", mailbox_text(length, capacity, colour), printable(overflow), dropped, rejected, processed, rate, restarts,
      printable(spawned_at), stack_bytes, held, high_water, links, monitored_by, monitors);
}

void render_trace(const field& r, std::ostream& out, bool colour) {
  const field events = r.array("events");
  const std::size_t n = events.size();
  for (std::size_t i = 0; i < n; ++i) {
    const field e = events.element(i);
    const std::string when = e.text("when");
    const std::string dir = e.text("dir");
    const auto from = e.text_or_null("from");
    const auto to = e.text_or_null("to");
    const std::string type = e.text("type");
    const std::uint64_t size = e.count("size");
    out << fmt::format("{} {:<3} {} -> {}  {}  {} B\n", time_of_day(when), printable(dir),
                       from ? printable(*from) : "(outside)", to ? printable(*to) : "?",
                       paint(colour, dir == "in" ? "\x1b[36m" : "\x1b[35m", printable(type)), size);
  }
  out << fmt::format("({} message(s){}; contents are not recorded, only types and sizes)\n", n,
                     r.flag("complete") ? "" : ", trace ended by its duration");
}

void render_stats(const field& r, std::ostream& out) {
  const std::uint64_t live = r.count("live_actors");
  const std::uint64_t spawned = r.count("spawned");
  const std::uint64_t timers = r.count("timers_pending");
  const std::uint64_t fibers = r.count("fibers_in_use");
  const std::uint64_t global_queue = r.count("global_queue_length");
  out << fmt::format(
      "actors       {} live, {} spawned\ntimers       {} pending\nfibers       {} in use\n"
      "global queue {}\n",
      live, spawned, timers, fibers, global_queue);
  const field workers = r.array("workers");
  for (std::size_t i = 0; i < workers.size(); ++i) {
    const field w = workers.element(i);
    const std::uint64_t run_queue = w.count("run_queue_length");
    const std::uint64_t activations = w.count("activations");
    const std::uint64_t steals = w.count("steals");
    const std::uint64_t switches = w.count("fiber_switches");
    const std::uint64_t parks = w.count("parks");
    const bool parked = w.flag("parked");
    out << fmt::format("worker {:<5} run queue {}, activations {}, steals {}, fiber switches {}, parks {}{}\n", i,
                       run_queue, activations, steals, switches, parks, parked ? " (parked)" : "");
  }
  out << "dead letters";
  for (const auto& [cause, n] : r.object("dead_letters").counts())
    out << " " << printable(cause) << "=" << n;
  out << "\nendpoint    ";
  for (const auto& [key, n] : r.object("endpoint").counts())
    out << " " << printable(key) << "=" << n;
  out << "\n";
}

void render_events(const field& r, std::ostream& out, bool colour) {
  const field events = r.array("events");
  for (std::size_t i = 0; i < events.size(); ++i) {
    const field e = events.element(i);
    const std::uint64_t seq = e.count("seq");
    const std::string when = e.text("when");
    const std::string source = e.text("source");
    const std::string kind = e.text("kind");
    const auto who = e.text_or_null("who");
    const std::string text = e.text("text");
    out << fmt::format("#{:<4} {} {}/{} {} {}\n", seq, time_of_day(when), printable(source),
                       paint(colour, "\x1b[1m", printable(kind)), who ? printable(*who) : "-", printable(text));
  }
  if (events.size() == 0) out << "(no events)\n";
}

// The result of an ok answer, as text.
void render_result(const command_line& command, const field& r, std::ostream& out, bool colour) {
  const std::string& cmd = command.request["cmd"].get_ref<const std::string&>();
  if (cmd == "ps") {
    const field actors = r.array("actors");
    render_ps(read_actor_rows(actors), out, colour);
    const std::uint64_t total = r.count("total");
    if (actors.size() < total) out << fmt::format("({} of {} actors)\n", actors.size(), total);
  } else if (cmd == "info") {
    render_info(r, out, colour);
  } else if (cmd == "state") {
    // An actor's own description may run over several lines.
    out << printable(r.text("state"), newlines::keep) << "\n";
  } else if (cmd == "links") {
    out << printable(r.text("pid")) << " links: " << pid_list(r.array("links")) << "\n";
  } else if (cmd == "monitors") {
    out << printable(r.text("pid")) << " monitored by: " << pid_list(r.array("monitored_by")) << "; monitors "
        << r.count("monitors") << " other actor(s)\n";
  } else if (cmd == "trace") {
    render_trace(r, out, colour);
  } else if (cmd == "stats") {
    render_stats(r, out);
  } else if (cmd == "events") {
    render_events(r, out, colour);
  } else if (cmd == "names") {
    const field names = r.array("names");
    for (std::size_t i = 0; i < names.size(); ++i) {
      const field n = names.element(i);
      const std::string name = n.text("name");
      out << fmt::format("{:<24} {}\n", printable(name), printable(n.text("pid")));
    }
  } else if (cmd == "help") {
    out << "commands:\n" << usage_text();
    out << (r.flag("mutations_allowed") ? "this endpoint allows kill, send and restart\n"
                                        : "this endpoint is read-only: kill, send and restart are refused\n");
    out << "add --json to any command for the raw protocol response\n";
  } else if (cmd == "hello") {
    const std::string program = r.text("program");
    const std::uint64_t os_pid = r.count("os_pid");
    const std::uint64_t protocol = r.count("protocol");
    const bool mutations = r.flag("mutations_allowed");
    out << fmt::format("{} (os pid {}), protocol {}, {}\n", printable(program), os_pid, protocol,
                       mutations ? "mutations allowed" : "read-only");
  } else if (cmd == "kill") {
    out << "sent exit(" << printable(r.text("reason")) << ") to " << printable(r.text("pid")) << "\n";
  } else if (cmd == "send") {
    out << "sent to " << printable(r.text("pid")) << "\n";
  } else if (cmd == "restart") {
    const std::string old_pid = r.text("old_pid");
    const auto new_pid = r.text_or_null("new_pid");
    out << "restarted " << printable(old_pid) << " -> "
        << (new_pid ? printable(*new_pid) : std::string("(its supervisor's choice)")) << " ("
        << printable(r.text("how")) << ")\n";
  } else {
    render_unknown(r, out);
  }
}

}  // namespace

int render(const command_line& command, const std::string& line, std::ostream& out, bool colour) {
  const answer a(line, command.cmd);
  if (command.json_output) {
    out << line << '\n';
    return a.ok() ? exit_status::ok : exit_status::error_answer;
  }
  if (a.ok() && command.request["cmd"] == "tree") {
    // The tree checks itself whole before it writes, and its text can be
    // far larger than its answer: it is written as made, not buffered.
    render_tree(a.result(), {.dot = command.dot, .colour = colour, .max_depth = command.max_depth}, out);
    return exit_status::ok;
  }
  std::ostringstream text;
  if (a.ok()) {
    render_result(command, a.result(), text, colour);
  } else {
    text << paint(colour, "\x1b[31m", "error") << ": " << printable(a.error().text("message")) << "\n";
  }
  out << text.view();
  return a.ok() ? exit_status::ok : exit_status::error_answer;
}

int run_command(weft::shell::client& client, const command_line& command, std::ostream& out, bool colour) {
  if (command.cmd == "top") return run_top(client, command, out, colour);
  client.set_max_line_bytes(command.max_answer_bytes);
  return render(command, client.call(command.request.dump()), out, colour);
}

int run_top(weft::shell::client& client, const command_line& command, std::ostream& out, bool terminal) {
  // Rates are measured between two samples (processed deltas), not over
  // each actor's lifetime as ps shows them.
  client.set_max_line_bytes(command.max_answer_bytes);
  termios saved{};
  const bool raw = terminal && ::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &saved) == 0;
  if (raw) {
    termios t = saved;
    t.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO | ISIG));  // Ctrl-C is a key: it stops top
    ::tcsetattr(STDIN_FILENO, TCSANOW, &t);
  }
  // The terminal is restored however top ends (a malformed answer, a lost
  // connection), not only when a key stops it.
  struct restore_terminal {
    bool raw;
    const termios& saved;
    ~restore_terminal() {
      if (raw) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    }
  } restore{raw, saved};
  const int iterations = command.iterations > 0 ? command.iterations : (raw ? 0 : 1);
  std::map<std::string, std::uint64_t> previous;
  auto previous_time = std::chrono::steady_clock::now();
  for (int n = 0; iterations == 0 || n < iterations; ++n) {
    json request = command.request;
    request.erase("limit");
    const std::string line = client.call(request.dump());
    const answer a(line, command.cmd);
    if (!a.ok()) return render(command, line, out, terminal);
    const auto now = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(now - previous_time).count();
    previous_time = now;
    std::vector<actor_row> rows = read_actor_rows(a.result().array("actors"));
    std::map<std::string, std::uint64_t> current;
    for (auto& row : rows) {
      current[row.pid] = row.processed;
      const auto it = previous.find(row.pid);
      // A count that went down (a hostile or confused endpoint) keeps the
      // lifetime rate rather than wrapping around.
      if (it != previous.end() && seconds > 0 && row.processed >= it->second) {
        row.rate = static_cast<double>(row.processed - it->second) / seconds;
      }
    }
    previous = std::move(current);
    const std::size_t total = rows.size();
    auto key = [&](const actor_row& row) -> double {
      if (command.sort == "mailbox") return static_cast<double>(row.mailbox_length);
      if (command.sort == "memory") return static_cast<double>(row.memory);
      if (command.sort == "processed") return static_cast<double>(row.processed);
      return row.rate;
    };
    std::stable_sort(rows.begin(), rows.end(), [&](const actor_row& x, const actor_row& y) { return key(x) > key(y); });
    const std::size_t limit = command.request.value("limit", std::size_t{20});
    if (rows.size() > limit) rows.resize(limit);
    std::ostringstream text;
    if (raw) text << "\x1b[H\x1b[2J";
    text << fmt::format("weft top: {} actors, sorted by {}, every {} ms{}\n", total, command.sort, command.interval_ms,
                        raw ? "; press any key to stop" : "");
    render_ps(rows, text, terminal);
    out << text.view();
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
  return exit_status::ok;
}

}  // namespace weft_shell
