#pragma once
// One client connection's side of the protocol, without the socket: bytes
// in, requests answered in order, bytes out. The endpoint's I/O thread
// owns one per connection and moves bytes between it and the socket; the
// fuzz target (shell/fuzz/) drives the same class with arbitrary bytes.
//
// The rules it keeps (docs/shell-protocol.md):
//   - every request line gets exactly one response line, in order; an
//     exception anywhere in answering one (bad JSON, a number out of
//     range, std::bad_alloc, a failed slow job) becomes an error response
//     and the next request is answered as usual;
//   - while its unsent output is at output_high_water it answers nothing
//     more (and wants no input), so a client that does not read costs at
//     most output_high_water + one response;
//   - a request longer than max_request_bytes, or a TCP request without the
//     token, is answered and then the session closes;
//   - a response longer than max_output_bytes is replaced by a
//     response_too_large error.
//
// Owner: one thread (the I/O thread, or the fuzz target). The tally may be
// read from any thread.

#include "commands.hpp"
#include "framing.hpp"

#include <weft/shell/endpoint.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace weft::shell::detail {

// The text of a caught exception (what(), or a fixed text for bad_alloc
// and for what is not a std::exception); allocates nothing. Any thread.
const char* what_of(std::exception_ptr error) noexcept;


// The endpoint's counters. Relaxed atomics: each is a statistic read on
// its own; no other data is published through them.
class endpoint_tally {
 public:
  enum counter : unsigned {
    accepted,
    refused_too_many,
    requests,
    bad_requests,
    dropped_slow,
    dropped_idle,
    disconnected,
    internal_errors,
    responses_too_large,
    output_pauses,
    count_
  };

  // -- any thread --
  void add(counter c, std::uint64_t n = 1) noexcept { values_[c].fetch_add(n, std::memory_order_relaxed); }
  void set_active(std::size_t n) noexcept { active_.store(n, std::memory_order_relaxed); }
  void set_output_buffered(std::size_t n) noexcept { output_buffered_.store(n, std::memory_order_relaxed); }
  endpoint_counters snapshot() const noexcept;

 private:
  std::array<std::atomic<std::uint64_t>, count_> values_{};
  std::atomic<std::size_t> active_{0};
  std::atomic<std::size_t> output_buffered_{0};
};

// A request that waits for an actor or a supervisor: run it off the I/O
// thread, then hand its result back with job_done (or job_failed).
struct slow_job {
  std::function<json()> run;
};

// Turns one parsed request into a response or a slow job (in the endpoint:
// command_table::dispatch; tests substitute one that throws).
using dispatcher = std::function<dispatch_result(const json& request)>;

// Nesting deeper than this is refused before parsing: requests need three
// levels, and nlohmann::json copies and prints values recursively, so an
// `id` nested 100,000 deep would overflow the I/O thread's stack.
inline constexpr std::size_t max_request_depth = 64;

class session {
 public:
  session(dispatcher dispatch, const endpoint_options& options, endpoint_tally& tally, bool tcp);

  // -- owner only --------------------------------------------------------------
  void received(const char* data, std::size_t size);
  void end_of_input() noexcept { read_closed_ = true; }
  // The connection broke: nothing more will be sent or answered.
  void abort() noexcept;
  // Answers one last error (idle_timeout) and closes.
  void close_with(std::string_view code, std::string message) noexcept;

  // Answers complete requests, in order, until one of: none is left; a
  // slow one must run (returned: the session is busy until job_done,
  // job_failed or job_refused); the unsent output reached the high-water
  // mark (paused: call again once some went out); `budget` (decremented
  // for each request taken) ran out, so one client cannot hold the I/O
  // thread; or the session is closing. Never throws.
  std::optional<slow_job> handle_requests(std::size_t& budget) noexcept;
  std::optional<slow_job> handle_requests() noexcept {
    std::size_t unlimited = ~std::size_t{0};
    return handle_requests(unlimited);
  }
  void job_done(json response) noexcept;
  void job_failed(std::exception_ptr error) noexcept;
  // The job was not run (too many in flight): answered with this error.
  void job_refused(std::string_view code, std::string message) noexcept;

  output_queue& output() noexcept { return output_; }
  const output_queue& output() const noexcept { return output_; }

  bool busy() const noexcept { return busy_; }
  bool closing() const noexcept { return closing_; }
  bool paused() const noexcept { return output_.unsent() >= options_.output_high_water; }
  // More requests may be waiting in the input already: call handle_requests.
  bool ready_to_handle() const noexcept;
  // Read more from the socket? Not while busy, paused or closing, and not
  // while a complete request is still unanswered: the input stays bounded.
  bool wants_input() const noexcept;
  // Waiting for the client to complete a request: its first one, or one it
  // has begun sending (the idle timeout runs only while this holds).
  bool waiting_for_request() const noexcept;
  // Nothing left to answer or send: the connection can be closed.
  bool finished() const noexcept;

  // -- for tests ------------------------------------------------------------------
  const line_buffer& input() const noexcept { return input_; }

 private:
  // Each catches every exception: a request gets a response, whatever happens.
  std::optional<slow_job> handle_line(std::string_view line) noexcept;
  void respond(const json& response);
  void answer_failure(const json& id, std::exception_ptr error) noexcept;
  void refuse(const json& id, std::string_view code, std::string message);
  bool authenticate(const json& request);

  dispatcher dispatch_;
  const endpoint_options& options_;
  endpoint_tally& tally_;
  const bool tcp_;
  bool authenticated_ = false;
  bool busy_ = false;
  bool closing_ = false;
  bool read_closed_ = false;
  bool aborted_ = false;  // nothing more is sent, not even a late job's answer
  bool was_paused_ = false;
  std::uint64_t completed_requests_ = 0;
  json job_id_;  // the id of the request the running job answers
  line_buffer input_;
  output_queue output_;
};

}  // namespace weft::shell::detail
