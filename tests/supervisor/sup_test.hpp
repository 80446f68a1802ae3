#pragma once
// Helpers for the supervisor tests: a worker that answers, crashes and
// stops on request, and ways to look at a supervisor from a test thread.

#include <weft/runtime/runtime.hpp>
#include <weft/supervisor/supervisor.hpp>
#include <weft_test.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace sup_test {

using namespace std::chrono_literals;
namespace sup = weft::sup;

struct ping {};
struct crash {};
struct quit {};  // exit normally

// A handler-style worker: ping -> its own pid id; crash -> throws; quit -> exits normally.
inline weft::behavior worker_body(weft::context& self) {
  return {
      [&self](ping) { return self.self().id(); },
      [](crash) { throw std::runtime_error("crash requested by the test"); },
      [&self](quit) { self.exit(weft::exit_reason::normal()); },
  };
}

inline sup::child_spec worker(std::string id, sup::child_options o = {}) {
  return sup::worker(std::move(id), worker_body, std::move(o));
}

inline std::vector<sup::child_info> children(weft::runtime& rt, const weft::pid& s) {
  auto r = sup::which_children(rt, s, 10s);
  REQUIRE(r.has_value());
  return *r;
}

inline weft::pid child_pid(weft::runtime& rt, const weft::pid& s, const std::string& id) {
  for (auto& c : children(rt, s)) {
    if (c.id == id) return c.who;
  }
  return {};
}

inline std::vector<std::string> ids(const std::vector<sup::child_info>& cs) {
  std::vector<std::string> out;
  for (auto& c : cs)
    out.push_back(c.id);
  return out;
}

// Waits until child `id` of `s` runs under another pid than `old`.
inline weft::pid await_replaced(weft::runtime& rt, const weft::pid& s, const std::string& id, const weft::pid& old) {
  weft::pid now;
  REQUIRE(weft_test::eventually([&] {
    now = child_pid(rt, s, id);
    return now && now != old;
  }));
  return now;
}

// Supervisor events of one kind recorded after `after`, oldest first.
inline std::vector<weft::runtime_event> events_of(weft::runtime& rt, std::string_view kind, std::uint64_t after = 0) {
  std::vector<weft::runtime_event> out;
  for (auto& e : rt.events().since(after)) {
    if (e.source == sup::event_source && e.kind == kind) out.push_back(e);
  }
  return out;
}

inline bool answers(weft::runtime& rt, const weft::pid& p) {
  auto r = rt.ask<std::uint64_t>(p, ping{}, 5s);
  return r && *r == p.id();
}

// Monitors an actor from a test thread: `reason()` after it died.
class watcher {
 public:
  watcher(weft::runtime& rt, const weft::pid& target) : self_(rt) { ref_ = self_->monitor(target); }
  std::optional<weft::exit_reason> wait(std::chrono::nanoseconds timeout = 20s) {
    auto d = self_->receive_if<weft::down_msg>([&](const weft::down_msg& m) { return m.ref == ref_; }, timeout);
    if (!d) return std::nullopt;
    return d->reason;
  }

 private:
  weft::scoped_actor self_;
  weft::monitor_ref ref_;
};

}  // namespace sup_test
