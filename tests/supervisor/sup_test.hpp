#pragma once
// Helpers for the supervisor tests: a worker that answers, crashes and
// stops on request, and ways to look at a supervisor from a test thread.
// Every helper that talks to actors takes the caller's context: the
// test's one scoped_actor, or an actor's own context.

#include <weft/runtime/runtime.hpp>
#include <weft/supervisor/supervisor.hpp>
#include <weft_test.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

// A failed check shows the error an operation returned, not "{?}".
template <>
struct doctest::StringMaker<weft::error> {
  static doctest::String convert(const weft::error& e) { return e.to_string().c_str(); }
};
template <class T>
struct doctest::StringMaker<weft::expected<T>> {
  static doctest::String convert(const weft::expected<T>& r) {
    if (!r) return ("error: " + r.error().to_string()).c_str();
    if constexpr (std::is_same_v<T, weft::pid> || std::is_same_v<T, weft::sup::supervisor>) {
      return ("value: " + weft::pid(*r).to_string()).c_str();
    } else {
      return "a value";
    }
  }
};

namespace sup_test {

using namespace std::chrono_literals;
namespace sup = weft::sup;

struct ping {};
struct crash {};
struct quit {};

// What the tests' workers take: ping answers the worker's own pid number
// (so a test can tell incarnations apart), crash throws, quit exits
// normally.
using test_worker = weft::protocol<std::uint64_t(ping), void(crash), void(quit)>;

inline weft::behavior_of<test_worker> worker_body(weft::context& self) {
  return {
      [&self](ping) { return self.self().id(); },
      [](crash) { throw std::runtime_error("crash requested by the test"); },
      [&self](quit) { self.exit(); },
  };
}

inline sup::child_spec worker(std::string id, sup::child_options o = {}) {
  return sup::worker(std::move(id), worker_body, std::move(o));
}

// The error `r` failed with; the test stops here if it succeeded instead.
template <class T>
weft::error error_of(const weft::expected<T>& r) {
  REQUIRE_FALSE(r);
  return r.error();
}

inline std::vector<sup::child_info> children(weft::context& self, const sup::supervisor& s) {
  auto r = s.which_children(self, 10s);
  REQUIRE(r);
  return *r;
}

inline weft::pid child_pid(weft::context& self, const sup::supervisor& s, const std::string& id) {
  for (auto& c : children(self, s)) {
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
inline weft::pid await_replaced(weft::context& self, const sup::supervisor& s, const std::string& id,
                                const weft::pid& old) {
  weft::pid now;
  REQUIRE(weft_test::eventually([&] {
    now = child_pid(self, s, id);
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

// Whether `p` is a live test worker: it speaks test_worker and answers a
// ping with its own number.
inline bool answers(weft::context& self, const weft::pid& p) {
  auto w = weft::ref_cast<test_worker>(p);
  if (!w) return false;
  auto r = self.ask(*w, ping{}, 5s);
  return r && *r == p.id();
}

// Monitors an actor through `self` (the test's scoped_actor): `wait()`
// gives the reason it died with.
class watcher {
 public:
  watcher(weft::context& self, const weft::pid& target) : self_(self), ref_(self.monitor(target)) {}
  std::optional<weft::exit_reason> wait(std::chrono::nanoseconds timeout = 20s) {
    auto d = self_.receive_if<weft::down_msg>([&](const weft::down_msg& m) { return m.ref == ref_; }, timeout);
    if (!d) return std::nullopt;
    return d->reason;
  }

 private:
  weft::context& self_;
  weft::monitor_ref ref_;
};

}  // namespace sup_test
