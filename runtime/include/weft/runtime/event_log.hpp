#pragma once
// weft::event_log — a bounded, in-memory log of notable runtime events
// (supervisor reports: child started, exited, restarted, backoff,
// intensity exceeded; later, other modules' reports).
//
// It replaces OTP's SASL reports printed to the console: nothing is
// printed by default. Tools read it (the debug shell's `events`), a hook
// can forward each event to a logger, and per-kind counters give a
// summary that stays small in a restart storm.
//
// Thread safety: every member is callable from any thread. record() takes
// a mutex for a few pointer moves; the hook runs outside it, on the
// recording thread, so it must be quick and must not record() itself.

#include <weft/runtime/pid.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace weft {

struct runtime_event {
  std::uint64_t seq = 0;  // 1, 2, 3, ... in recording order
  std::chrono::system_clock::time_point when{};
  std::string source{};  // the module: "supervisor", ...
  std::string kind{};    // e.g. "child_restarted"
  pid who{};             // the actor the event is about (may be empty)
  std::string text{};    // one human-readable line
};

class event_log {
 public:
  explicit event_log(std::size_t capacity = 4096) : capacity_(capacity == 0 ? 1 : capacity) {}

  void record(std::string source, std::string kind, pid who, std::string text);

  // Up to `max` events with seq > after, oldest first.
  std::vector<runtime_event> since(std::uint64_t after, std::size_t max = ~std::size_t{0}) const;
  // The newest `n` events, oldest first.
  std::vector<runtime_event> latest(std::size_t n) const;
  // How many events of each "source/kind" were ever recorded (not only
  // those still in the ring).
  std::map<std::string, std::uint64_t> counts() const;
  std::uint64_t last_seq() const;

  // Called for every event as it is recorded (empty function: none).
  void set_hook(std::function<void(const runtime_event&)> hook);

  // Forgets the events held and the hook (and the pids they hold); counts()
  // and last_seq() stay. The runtime calls it when it is destroyed.
  void clear();

 private:
  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::deque<runtime_event> ring_;
  std::map<std::string, std::uint64_t> counts_;
  std::uint64_t seq_ = 0;
  std::shared_ptr<const std::function<void(const runtime_event&)>> hook_;
};

}  // namespace weft
