// The commands of the shell protocol (docs/shell-protocol.md). Each one
// reads runtime snapshots, never waits on an actor on the I/O thread, and
// turns every failure into an error a person can act on.

#include "commands.hpp"

#include "resolve.hpp"

#include <weft/runtime/internal.hpp>
#include <weft/runtime/messages.hpp>

#if defined(WEFT_SHELL_HAS_SUPERVISOR)
#include <weft/supervisor/supervisor.hpp>
#endif

#include <unistd.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <map>
#include <set>

namespace weft::shell::detail {

namespace {

struct command_spec {
  std::string_view name;
  std::string_view synopsis;
  bool mutates;
};

constexpr std::array<command_spec, 16> commands{{
    {"hello", "protocol version, program, whether mutations are allowed", false},
    {"help", "the commands and what they do", false},
    {"tree", "tree [target] [depth]: the spawn/supervision tree", false},
    {"ps", "ps [sort: pid|mailbox|rate|memory|processed] [limit]: every actor", false},
    {"info", "info <target>: everything the runtime knows about one actor", false},
    {"state", "state <target>: the actor's own description of its state (asked inside it)", false},
    {"links", "links <target>: its links", false},
    {"monitors", "monitors <target>: who monitors it and how many it monitors", false},
    {"trace", "trace <target> [count] [duration_ms]: message types and sizes in and out", false},
    {"stats", "stats: scheduler, timers, fibers, dead letters, endpoint counters", false},
    {"events", "events [after] [limit] [source]: runtime events (supervisor reports), oldest first", false},
    {"names", "names: registered names and their pids", false},
    {"kill", "kill <target> [reason]: send an exit signal (default reason kill)", true},
    {"send", "send <target> <text>: send a std::string message", true},
    {"restart", "restart <target>: restart a supervised child through its supervisor", true},
    {"auth", "auth (TCP): present the token; any request may carry it instead", false},
}};

const command_spec* find_command(std::string_view name) {
  for (const auto& c : commands) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::string iso_time(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

json pid_json(const pid& p) {
  return p ? json(p.to_string()) : json(nullptr);
}

json pids_json(std::vector<pid> ps) {
  std::sort(ps.begin(), ps.end());
  json out = json::array();
  for (const pid& p : ps)
    out.push_back(p.to_string());
  return out;
}

json capacity_json(std::size_t capacity) {
  return capacity == unbounded ? json(nullptr) : json(capacity);
}

// Memory an actor holds besides its state, which the runtime cannot see:
// the stack pages it holds while suspended (blocked or Erlang style), that
// is the bytes in use rounded up to whole 4 KiB pages, not the size of the
// stack mapping (most of which is never touched).
std::size_t memory_estimate(const actor_info& a) {
  constexpr std::size_t page = 4096;
  return a.holds_fiber ? (a.stack_in_use + page - 1) / page * page : 0;
}

json actor_json(const actor_info& a) {
  return json{
      {"pid", a.self.to_string()},
      {"name", a.name},
      {"label", a.label},
      {"parent", pid_json(a.parent)},
      {"status", std::string(to_string(a.status))},
      {"blocked_sending_to", pid_json(a.blocked_sending_to)},
      {"style", a.handler_style ? "handler" : "erlang"},
      {"protocol", a.protocol.empty() ? json(nullptr) : json(a.protocol)},
      {"trap_exit", a.trap_exit},
      {"mailbox",
       {{"length", a.mailbox_length},
        {"capacity", capacity_json(a.mailbox_capacity)},
        {"overflow", std::string(to_string(a.overflow))},
        {"dropped", a.dropped},
        {"rejected", a.rejected}}},
      {"processed", a.processed},
      {"messages_per_second", a.messages_per_second},
      {"restarts", a.restarts},
      {"spawned_at", iso_time(a.spawned_at)},
      {"memory",
       {{"stack_bytes", a.stack_size},
        {"holds_fiber", a.holds_fiber},
        {"stack_in_use_bytes", a.stack_in_use},
        {"stack_high_water_bytes", a.stack_high_water},
        {"estimate_bytes", memory_estimate(a)}}},
      {"links", pids_json(a.links)},
      {"monitored_by", pids_json(a.monitored_by)},
      {"monitors", a.monitors},
  };
}

struct bad_argument {
  std::string message;
};
struct command_error {
  std::string code;
  std::string message;
};

// Optional typed fields of a request, with the error a person reads when
// one has the wrong type.
std::string string_arg(const json& request, const char* key, std::string fallback = {}) {
  auto it = request.find(key);
  if (it == request.end() || it->is_null()) return fallback;
  if (!it->is_string()) throw bad_argument{std::string("'") + key + "' must be a string"};
  return it->get<std::string>();
}

std::uint64_t number_arg(const json& request, const char* key, std::uint64_t fallback, std::uint64_t max) {
  auto it = request.find(key);
  if (it == request.end() || it->is_null()) return fallback;
  if (!it->is_number_unsigned()) throw bad_argument{std::string("'") + key + "' must be a non-negative integer"};
  const auto value = it->get<std::uint64_t>();
  if (value > max) throw bad_argument{std::string("'") + key + "' is at most " + std::to_string(max)};
  return value;
}

bool bool_arg(const json& request, const char* key) {
  auto it = request.find(key);
  if (it == request.end() || it->is_null()) return false;
  if (!it->is_boolean()) throw bad_argument{std::string("'") + key + "' must be true or false"};
  return it->get<bool>();
}

// Nodes of the tree: each actor under its parent (the spawner; a
// supervisor for supervised children), children in pid order.
json tree_node(const actor_info& a, const std::multimap<std::uint64_t, const actor_info*>& children,
               std::uint64_t depth, std::uint64_t max_depth) {
  json node{
      {"pid", a.self.to_string()},
      {"name", a.name},
      {"label", a.label},
      {"status", std::string(to_string(a.status))},
      {"mailbox", {{"length", a.mailbox_length}, {"capacity", capacity_json(a.mailbox_capacity)}}},
      {"restarts", a.restarts},
      {"children", json::array()},
  };
  auto [first, last] = children.equal_range(a.self.id());
  if (depth >= max_depth) {
    const auto hidden = static_cast<std::size_t>(std::distance(first, last));
    if (hidden > 0) node["children_omitted"] = hidden;
    return node;
  }
  for (auto it = first; it != last; ++it)
    node["children"].push_back(tree_node(*it->second, children, depth + 1, max_depth));
  return node;
}

}  // namespace

json error_response(const json& id, std::string_view code, std::string message) {
  return json{{"v", protocol_version},
              {"id", id},
              {"ok", false},
              {"error", {{"code", std::string(code)}, {"message", std::move(message)}}}};
}

json ok_response(const json& id, json result) {
  return json{{"v", protocol_version}, {"id", id}, {"ok", true}, {"result", std::move(result)}};
}

dispatch_result command_table::dispatch(const json& request) {
  if (!request.is_object()) {
    return {error_response(nullptr, "bad_request", "a request is a JSON object like {\"cmd\":\"help\"}"), {}};
  }
  const json id = request.contains("id") ? request["id"] : json(nullptr);
  if (auto v = request.find("v"); v != request.end() && *v != protocol_version) {
    return {error_response(
                id, "unsupported_version",
                "this endpoint speaks protocol version " + std::to_string(protocol_version) + ", not " + v->dump()),
            {}};
  }
  auto cmd_field = request.find("cmd");
  if (cmd_field == request.end() || !cmd_field->is_string()) {
    return {error_response(id, "bad_request", "missing \"cmd\" (a string); try {\"cmd\":\"help\"}"), {}};
  }
  const std::string cmd = cmd_field->get<std::string>();
  const command_spec* spec = find_command(cmd);
  if (spec == nullptr) {
    std::vector<std::string> names;
    for (const auto& c : commands)
      names.emplace_back(c.name);
    std::string message = "unknown command '" + cmd + "'";
    const std::string suggestion = closest(cmd, names);
    message += suggestion.empty() ? "; try 'help'" : " (did you mean '" + suggestion + "'?)";
    return {error_response(id, "unknown_command", std::move(message)), {}};
  }
  if (spec->mutates && !options_.allow_mutations) {
    return {error_response(id, "read_only",
                           "'" + cmd +
                               "' changes the system and this endpoint is read-only; start the program with its "
                               "endpoint's allow_mutations on (weft-demo: --allow-mutations)"),
            {}};
  }

  try {
    auto target = [&]() -> pid {
      const std::string text = string_arg(request, "target");
      resolved r = resolve(rt_, text);
      if (!r.who) throw command_error{"not_found", r.error};
      return r.who;
    };
    auto info_of = [&](const pid& who) -> actor_info {
      auto info = rt_.info(who);
      if (!info || info->status == actor_status::dead) {
        throw command_error{"not_found", "actor " + who.to_string() + " has exited"};
      }
      return *info;
    };

    if (cmd == "hello") {
      json names = json::array();
      for (const auto& c : commands)
        names.push_back(c.name);
      return {ok_response(id, {{"protocol", protocol_version},
                               {"program", options_.program},
                               {"os_pid", static_cast<long>(::getpid())},
                               {"mutations_allowed", options_.allow_mutations},
                               {"commands", names},
                               {"limits",
                                {{"max_request_bytes", options_.max_request_bytes},
                                 {"max_output_bytes", options_.max_output_bytes},
                                 {"output_high_water", options_.output_high_water},
                                 {"output_stall_timeout_ms", options_.output_stall_timeout.count()},
                                 {"idle_timeout_ms", options_.idle_timeout.count()},
                                 {"max_clients", options_.max_clients}}}}),
              {}};
    }
    if (cmd == "help" || cmd == "auth") {
      if (cmd == "auth") return {ok_response(id, {{"authenticated", true}}), {}};
      json list = json::array();
      for (const auto& c : commands) {
        list.push_back({{"name", c.name}, {"synopsis", c.synopsis}, {"mutates", c.mutates}});
      }
      return {ok_response(id, {{"commands", list}, {"mutations_allowed", options_.allow_mutations}}), {}};
    }
    if (cmd == "tree") {
      const std::uint64_t max_depth = number_arg(request, "depth", 1000, 1000);
      std::vector<actor_info> all = rt_.actors();
      std::sort(all.begin(), all.end(), [](const actor_info& a, const actor_info& b) { return a.self < b.self; });
      std::set<std::uint64_t> live;
      for (const auto& a : all)
        live.insert(a.self.id());
      std::multimap<std::uint64_t, const actor_info*> children;
      for (const auto& a : all) {
        if (a.parent && live.count(a.parent.id()) != 0) children.emplace(a.parent.id(), &a);
      }
      json roots = json::array();
      if (request.contains("target") && !request["target"].is_null()) {
        const pid root = target();
        auto it = std::find_if(all.begin(), all.end(), [&](const actor_info& a) { return a.self == root; });
        if (it == all.end()) it = all.insert(all.end(), info_of(root));  // spawned since the snapshot
        roots.push_back(tree_node(*it, children, 0, max_depth));
      } else {
        for (const auto& a : all) {
          if (!a.parent || live.count(a.parent.id()) == 0) roots.push_back(tree_node(a, children, 0, max_depth));
        }
      }
      return {ok_response(id, {{"roots", roots}}), {}};
    }
    if (cmd == "ps") {
      const std::string sort = string_arg(request, "sort", "pid");
      const std::uint64_t limit = number_arg(request, "limit", ~std::uint64_t{0}, ~std::uint64_t{0});
      std::vector<actor_info> all = rt_.actors();
      auto by = [&](auto key) {
        std::stable_sort(all.begin(), all.end(),
                         [&](const actor_info& a, const actor_info& b) { return key(a) > key(b); });
      };
      std::sort(all.begin(), all.end(), [](const actor_info& a, const actor_info& b) { return a.self < b.self; });
      if (sort == "mailbox") {
        by([](const actor_info& a) { return a.mailbox_length; });
      } else if (sort == "rate") {
        by([](const actor_info& a) { return a.messages_per_second; });
      } else if (sort == "memory") {
        by([](const actor_info& a) { return memory_estimate(a); });
      } else if (sort == "processed") {
        by([](const actor_info& a) { return a.processed; });
      } else if (sort != "pid") {
        throw bad_argument{"'sort' is one of pid, mailbox, rate, memory, processed (not '" + sort + "')"};
      }
      json list = json::array();
      for (std::size_t i = 0; i < all.size() && i < limit; ++i)
        list.push_back(actor_json(all[i]));
      return {ok_response(id, {{"actors", list}, {"total", all.size()}}), {}};
    }
    if (cmd == "info") return {ok_response(id, actor_json(info_of(target()))), {}};
    if (cmd == "links") {
      const actor_info a = info_of(target());
      return {ok_response(id, {{"pid", a.self.to_string()}, {"links", pids_json(a.links)}}), {}};
    }
    if (cmd == "monitors") {
      const actor_info a = info_of(target());
      return {
          ok_response(
              id, {{"pid", a.self.to_string()}, {"monitored_by", pids_json(a.monitored_by)}, {"monitors", a.monitors}}),
          {}};
    }
    if (cmd == "names") {
      std::vector<std::string> names = rt_.registered_names();
      std::sort(names.begin(), names.end());
      json list = json::array();
      for (const auto& n : names) {
        if (pid who = rt_.whereis(n)) list.push_back({{"name", n}, {"pid", who.to_string()}});
      }
      return {ok_response(id, {{"names", list}}), {}};
    }
    if (cmd == "stats") {
      const runtime_stats s = rt_.stats();
      json workers = json::array();
      for (const auto& w : s.workers) {
        workers.push_back({{"run_queue_length", w.run_queue_length},
                           {"activations", w.activations},
                           {"steals", w.steals},
                           {"fiber_switches", w.fiber_switches},
                           {"parks", w.parks},
                           {"parked", w.parked}});
      }
      json dead = json::object();
      for (std::size_t i = 0; i < s.dead_letters.by_cause.size(); ++i) {
        dead[std::string(to_string(static_cast<dead_letter_cause>(i)))] = s.dead_letters.by_cause[i];
      }
      dead["total"] = s.dead_letters.total();
      const endpoint_counters c = counters_();
      return {ok_response(id, {{"live_actors", s.live_actors},
                               {"spawned", s.spawned},
                               {"timers_pending", s.timers_pending},
                               {"global_queue_length", s.global_queue_length},
                               {"fibers_in_use", s.fibers_in_use},
                               {"workers", workers},
                               {"dead_letters", dead},
                               {"endpoint",
                                {{"accepted", c.accepted},
                                 {"active", c.active},
                                 {"requests", c.requests},
                                 {"bad_requests", c.bad_requests},
                                 {"refused_too_many", c.refused_too_many},
                                 {"dropped_slow", c.dropped_slow},
                                 {"dropped_idle", c.dropped_idle},
                                 {"internal_errors", c.internal_errors},
                                 {"responses_too_large", c.responses_too_large},
                                 {"output_pauses", c.output_pauses},
                                 {"output_buffered_bytes", c.output_buffered}}}}),
              {}};
    }
    if (cmd == "events") {
      const std::uint64_t after = number_arg(request, "after", 0, ~std::uint64_t{0});
      const std::uint64_t limit = number_arg(request, "limit", 50, 100000);
      const std::string source = string_arg(request, "source");
      event_log& log = rt_.events();
      std::vector<runtime_event> events = request.contains("after") ? log.since(after) : log.latest(~std::size_t{0});
      if (!source.empty()) {
        std::erase_if(events, [&](const runtime_event& e) { return e.source != source; });
      }
      // Newest last: keep the last `limit` (or, after a seq, the first).
      if (events.size() > limit) {
        if (request.contains("after")) {
          events.resize(limit);
        } else {
          events.erase(events.begin(), events.end() - static_cast<std::ptrdiff_t>(limit));
        }
      }
      json list = json::array();
      for (const auto& e : events) {
        list.push_back({{"seq", e.seq},
                        {"when", iso_time(e.when)},
                        {"source", e.source},
                        {"kind", e.kind},
                        {"who", pid_json(e.who)},
                        {"text", e.text}});
      }
      json counts = json::object();
      for (const auto& [key, n] : log.counts())
        counts[key] = n;
      return {ok_response(id, {{"events", list}, {"counts", counts}, {"last_seq", log.last_seq()}}), {}};
    }
    if (cmd == "state") {
      const pid who = target();
      const auto timeout = std::chrono::milliseconds(
          number_arg(request, "timeout_ms", static_cast<std::uint64_t>(options_.call_timeout.count()), 60000));
      runtime& rt = rt_;
      return {{}, [&rt, who, timeout, id]() -> json {
                auto text = rt.describe(who, timeout);
                if (!text) {
                  return error_response(id, "no_answer",
                                        "actor " + who.to_string() + " did not describe its state within " +
                                            std::to_string(timeout.count()) +
                                            " ms: it has exited, or it is stuck (a CPU loop or a blocking call "
                                            "on a worker); 'info' still works");
                }
                return ok_response(id, {{"pid", who.to_string()}, {"state", *text}});
              }};
    }
    if (cmd == "trace") {
      const pid who = target();
      const std::uint64_t count = number_arg(request, "count", 20, 10000);
      const std::uint64_t duration =
          number_arg(request, "duration_ms", 5000, static_cast<std::uint64_t>(options_.max_trace_duration.count()));
      const bool contents = bool_arg(request, "contents");
      runtime& rt = rt_;
      return {{}, [&rt, who, count, duration, contents, id]() -> json {
                const auto events = rt.trace(who, count, std::chrono::milliseconds(duration));
                json list = json::array();
                for (const auto& e : events) {
                  list.push_back({{"dir", e.dir == trace_event::direction::in ? "in" : "out"},
                                  {"when", iso_time(e.when)},
                                  {"from", pid_json(e.from)},
                                  {"to", pid_json(e.to)},
                                  {"type", e.type_name},
                                  {"size", e.size}});
                }
                json result{{"pid", who.to_string()},
                            {"events", list},
                            {"complete", list.size() >= count},
                            {"contents_available", false}};
                if (contents) {
                  result["note"] =
                      "message contents are not available: the runtime records only each message's type and size";
                }
                return ok_response(id, result);
              }};
    }
    if (cmd == "kill") {
      const pid who = target();
      const std::string reason_text = string_arg(request, "reason", "kill");
      exit_reason reason = reason_text == "kill"       ? exit_reason::kill()
                           : reason_text == "shutdown" ? exit_reason::shutdown()
                           : reason_text == "normal"   ? exit_reason::normal()
                                                       : exit_reason::error(reason_text);
      internal::send_exit_signal(who, reason);
      return {ok_response(id, {{"pid", who.to_string()}, {"reason", reason.to_string()}}), {}};
    }
    if (cmd == "send") {
      const pid who = target();
      if (!request.contains("text")) throw bad_argument{"'send' needs \"text\": the std::string message to send"};
      const std::string text = string_arg(request, "text");
      const send_status status = internal::try_send_anonymous(rt_, who, text);
      if (status != send_status::ok) {
        return {error_response(id, "send_failed",
                               "sending to " + who.to_string() + " failed: " + std::string(to_string(status))),
                {}};
      }
      return {ok_response(id, {{"pid", who.to_string()}, {"status", "ok"}}), {}};
    }
    if (cmd == "restart") {
      const pid who = target();
      const actor_info child = info_of(who);
      runtime& rt = rt_;
      const auto timeout = options_.call_timeout;
#if defined(WEFT_SHELL_HAS_SUPERVISOR)
      return {{}, [&rt, child, timeout, id]() -> json {
                if (!child.parent) {
                  return error_response(id, "not_supervised",
                                        child.self.to_string() + " has no parent, so no supervisor");
                }
                // Checked: only a supervisor's pid becomes a supervisor handle.
                auto parent = sup::supervisor::from(child.parent);
                scoped_actor caller(rt);
                auto children = parent ? parent->which_children(caller, timeout)
                                       : expected<std::vector<sup::child_info>>(parent.error());
                if (!children) {
                  return error_response(id, "not_supervised",
                                        child.self.to_string() + " is not a supervised child: its parent " +
                                            child.parent.to_string() + " did not answer as a supervisor (" +
                                            children.error().to_string() + "); use 'kill' instead");
                }
                auto it = std::find_if(children->begin(), children->end(),
                                       [&](const sup::child_info& c) { return c.who == child.self; });
                if (it == children->end()) {
                  return error_response(
                      id, "not_supervised",
                      "supervisor " + child.parent.to_string() + " has no running child " + child.self.to_string());
                }
                if (auto r = parent->terminate_child(caller, it->id, timeout); !r) {
                  return error_response(id, "failed", "terminate_child '" + it->id + "': " + r.error().to_string());
                }
                auto r = parent->restart_child(caller, it->id, timeout);
                if (!r) return error_response(id, "failed", "restart_child '" + it->id + "': " + r.error().to_string());
                return ok_response(id, {{"supervisor", child.parent.to_string()},
                                        {"child_id", it->id},
                                        {"old_pid", child.self.to_string()},
                                        {"new_pid", pid_json(*r)},
                                        {"how", "terminate_child + restart_child"}});
              }};
#else
      (void)timeout;
      internal::send_exit_signal(child.self, exit_reason::kill());
      return {ok_response(id, {{"old_pid", child.self.to_string()},
                               {"new_pid", nullptr},
                               {"how", "killed: its supervisor restarts it (built without weft::supervisor)"}}),
              {}};
#endif
    }
  } catch (const bad_argument& e) {
    return {error_response(id, "bad_argument", cmd + ": " + e.message), {}};
  } catch (const command_error& e) {
    return {error_response(id, e.code, e.message), {}};
  }
  return {error_response(id, "internal", "command '" + cmd + "' is listed but not implemented"), {}};
}

}  // namespace weft::shell::detail
