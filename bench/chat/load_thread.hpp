// One thread of weft-chat-loadgen and the state the threads share.
//
//   shared_state   who is in which room, who sends, how much each has sent
//   step_plan      one step of load, decided between steps
//   step_result    what one thread saw in one step
//   load_thread    a share of the clients (ids t, t + T, ...), on one epoll
//
// Threads meet at a barrier between phases (set-up, each step, the end);
// its completion (run_control in loadgen.cpp) reads their results and
// writes the next plan while every thread waits. Within a phase, a thread
// touches only its own clients and the shared atomic counters.
#pragma once

#include "irc_text.hpp"
#include "measure.hpp"
#include "options.hpp"

#include <sys/epoll.h>

#include <array>
#include <atomic>
#include <barrier>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace chat_bench {

struct run_control;

// The barrier's completion: run_control's operator() (which must not throw).
struct phase_completion {
  run_control* control;
  void operator()() noexcept;
};
using phase_barrier = std::barrier<phase_completion>;

// -- the plan shared by all threads ------------------------------------------------

// Who is in which room and sends what; fixed before the threads start,
// except the atomic send counters.
struct shared_state {
  const options* opt = nullptr;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  int rooms = 0;
  std::vector<std::uint32_t> room_of;        // per client; unused if rooms == 0
  std::vector<std::uint32_t> slot_of;        // per client: its position in its room
  std::vector<std::uint32_t> room_size;      // members per room
  std::vector<std::uint32_t> room_readers;   // members per room that read (not stalled)
  std::vector<std::uint8_t> stalled;         // per client
  std::vector<std::uint32_t> senders;        // clients that send, in the order they take turns
  std::unique_ptr<std::atomic<std::uint64_t>[]> sent;       // per client: PRIVMSGs queued so far
  std::unique_ptr<std::atomic<std::uint64_t>[]> room_sent;  // per room: the sum of its members' sent
  std::atomic<int> threads_done_sending{0};
  std::atomic<std::int64_t> next_source_address{1};  // 127.0.0.N for the next rotation
};

// One step of load, decided between steps (by the barrier's completion,
// while every thread waits) and read by all threads after it.
struct step_plan {
  bool stop = false;
  int index = 0;
  double rate = 0;            // messages/s
  nanos start = 0;            // the first message's scheduled time
  nanos window_start = 0;
  nanos window_end = 0;       // no message is scheduled at or after it
  nanos drain_end = 0;
  std::uint64_t first_turn = 0;  // senders[(first_turn + k) % senders.size()] sends message k
};

// What one thread saw in one step.
struct step_result {
  histogram latency;   // deliveries of messages scheduled in the window
  histogram send_lag;  // how late this loadgen queued messages scheduled in the window
  std::uint64_t sent = 0;
  std::uint64_t expected_in_window = 0;   // deliveries the window's messages should make
  std::uint64_t delivered_in_window = 0;  // deliveries received while the window was open
  std::uint64_t delivered = 0;
  bool drained = true;
  bool overloaded = false;
  cpu_sample cpu_start;  // thread 0 only
  cpu_sample cpu_end;

  void merge(const step_result& o) {
    latency.merge(o.latency);
    send_lag.merge(o.send_lag);
    sent += o.sent;
    expected_in_window += o.expected_in_window;
    delivered_in_window += o.delivered_in_window;
    delivered += o.delivered;
    drained = drained && o.drained;
    overloaded = overloaded || o.overloaded;
  }
};

// Errors of one thread's clients: counts, and the first few texts for stderr.
struct error_log {
  std::uint64_t closed_by_server = 0;
  std::uint64_t server_errors = 0;  // 4xx/5xx numerics and ERROR lines
  std::uint64_t garbled = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t misdelivered = 0;  // intact, but to its sender or another room's member
  std::vector<std::string> first;

  void note(std::string text) {
    if (first.size() < 8) first.push_back(std::move(text));
  }
};

// -- one client ---------------------------------------------------------------------

enum class client_state : std::uint8_t { waiting, connecting, registering, joining, ready, closed };

// A gap in what a receiver got from one sender: seqs [from, to) had not
// arrived when a later one did. Filled (split, shrunk) if they come late.
struct gap {
  std::uint32_t sender_slot;
  std::uint64_t from;
  std::uint64_t to;
};

struct client {
  int fd = -1;
  std::uint32_t id = 0;
  client_state state = client_state::waiting;
  bool stalled = false;
  bool want_write = false;
  bool stalled_dropped = false;
  bool dropped = false;  // closed by the server before teardown (teardown closes every client)
  std::string input;   // after the last '\n'
  std::string output;  // not yet taken by the kernel
  std::size_t output_off = 0;
  std::uint64_t received = 0;          // deliveries, all steps
  std::vector<std::uint64_t> next_seq;  // per room slot: the next seq expected from that member
  std::vector<gap> gaps;
  std::string last_error;  // the server's ERROR or error numeric, if any
};

constexpr const char* state_name(client_state s) {
  switch (s) {
    case client_state::waiting: return "not started";
    case client_state::connecting: return "connecting";
    case client_state::registering: return "registering (no 001 yet)";
    case client_state::joining: return "joining (no 366 yet)";
    case client_state::ready: return "ready";
    case client_state::closed: return "closed";
  }
  return "?";
}

// -- one thread's clients --------------------------------------------------------

class load_thread {
 public:
  load_thread(shared_state& shared, int index) : shared_(shared), opt_(*shared.opt), index_(index) {}
  load_thread(const load_thread&) = delete;
  load_thread& operator=(const load_thread&) = delete;

  // Steps 1-4 of the header; `sync` is the barrier between phases, `plan`
  // what the completion of each barrier decided.
  void run(phase_barrier& sync, const step_plan& plan);

  // -- for main, after the threads have ended --
  const std::string& setup_error() const { return setup_error_; }
  const step_result& step() const { return step_; }
  const error_log& errors() const { return errors_; }
  const std::vector<client>& clients() const { return clients_; }
  nanos setup_time() const { return setup_time_; }
  // Clients per state when set-up ended (teardown closes them all later).
  const std::array<std::size_t, 6>& setup_states() const { return setup_states_; }
  bool overloaded() const { return overloaded_; }

  // -- the barrier's completion only (every thread waits meanwhile) --
  // How many steps have ended before the one about to run.
  void set_steps_done(int n) { steps_done_ = n; }

 private:
  // Events taken from epoll at once. Between two looks at the send schedule
  // a thread reads at most this many sockets (up to 64 KiB each), so its own
  // send lag stays near a millisecond while it reads a million deliveries a
  // second; with 512, it reached 5-20 ms, which counts in every latency.
  using event_batch = std::array<epoll_event, 16>;

  // -- step 1: set-up (connect, register, join; --connect-concurrency at a time) --
  void set_up();
  void set_up_clients();
  bool start_connect(client& c);
  bool bind_source(client& c);  // the current 127.0.0.x, once ports ran out

  // -- step 2: load --
  void idle(const step_plan& plan);
  void load(const step_plan& plan);
  void send_message(client& c, nanos at, nanos now, const step_plan& plan);
  // Every delivery this thread's reading clients should get has arrived
  // (for what has been sent so far by threads that stopped sending).
  bool drained() const;

  // -- reading: lines, deliveries and their checks (step 3) --
  void handle(event_batch& events, int n, const step_plan* plan);
  void read_lines(client& c, nanos now, const step_plan* plan);
  void on_line(client& c, std::string_view line, nanos now, const step_plan* plan);
  void delivery(client& c, const irc_line& m, std::string_view line, nanos now, const step_plan* plan);
  // A late message that fills (part of) a gap; false if it fills none (a duplicate).
  static bool fill_gap(client& c, std::uint32_t slot, std::uint64_t seq);
  void closed_by_server(client& c, const std::string& why);

  // -- writing --
  void queue(client& c, std::string_view text);
  void flush_dirty();  // writes what was queued since the last flush
  void write_some(client& c);
  // Readable always, except a stalled client between set-up and teardown;
  // writable while output waits.
  void update_events(client& c);
  int wait(event_batch& events, nanos timeout);
  // "#r<room>", built once per room.
  std::string_view channel_name(std::uint32_t room);

  // -- step 4: teardown --
  void tear_down();
  void drain_stalled(client& c);  // reads what a stalled client was sent; notes a drop

  shared_state& shared_;
  const options& opt_;
  const int index_;
  int epoll_fd_ = -1;
  std::int64_t source_address_ = 1;  // 127.0.0.1: no explicit bind
  std::vector<client> clients_;
  std::vector<std::uint32_t> dirty_;
  std::vector<std::string> channel_names_;
  std::string setup_error_;
  step_result step_;
  error_log errors_;
  nanos setup_time_ = 0;
  std::array<std::size_t, 6> setup_states_{};
  bool overloaded_ = false;
  bool has_senders_ = false;  // some of this thread's clients send
  bool tearing_down_ = false;
  int steps_done_ = 0;
};

}  // namespace chat_bench
