// One connection's protocol (see session.hpp for the rules it keeps).
//
// Answering a line, step by step, and what each guard is for:
//   1. Nesting over max_request_depth is refused before parsing (bad_json):
//      nlohmann::json copies and prints values recursively.
//   2. Parsing: a syntax error and a number the parser cannot represent
//      (1e400, a 60,000-digit integer: out_of_range.406) are both bad_json.
//      Only a parse failure was caught before, so 1e400 killed the program.
//   3. TCP: until a request carries the token, any request is answered
//      `unauthorized` and the session closes.
//   4. Dispatch: a fast command is answered at once; a slow one is handed
//      to the owner and the session answers nothing more until it is back.
//   5. Anything thrown in 1-4 or while printing the response (bad_alloc
//      included) is answered `internal`; if not even that can be built, the
//      session stops answering and closes once its output is sent.

#include "session.hpp"

#include "token.hpp"

#include <cstdio>
#include <new>

namespace weft::shell::detail {

const char* what_of(std::exception_ptr error) noexcept {
  try {
    std::rethrow_exception(error);
  } catch (const std::bad_alloc&) {
    return "out of memory";
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

namespace {

// Whether brackets outside strings nest deeper than `limit`.
bool nested_deeper_than(std::string_view text, std::size_t limit) {
  std::size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char ch : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (ch == '\\') {
        escaped = true;
      } else if (ch == '"') {
        in_string = false;
      }
    } else if (ch == '"') {
      in_string = true;
    } else if (ch == '[' || ch == '{') {
      if (++depth > limit) return true;
    } else if ((ch == ']' || ch == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

std::string mebibytes(std::size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return text;
}

}  // namespace

endpoint_counters endpoint_tally::snapshot() const noexcept {
  auto get = [&](counter c) { return values_[c].load(std::memory_order_relaxed); };
  endpoint_counters k;
  k.accepted = get(accepted);
  k.refused_too_many = get(refused_too_many);
  k.requests = get(requests);
  k.bad_requests = get(bad_requests);
  k.dropped_slow = get(dropped_slow);
  k.dropped_idle = get(dropped_idle);
  k.disconnected = get(disconnected);
  k.internal_errors = get(internal_errors);
  k.responses_too_large = get(responses_too_large);
  k.output_pauses = get(output_pauses);
  k.active = active_.load(std::memory_order_relaxed);
  k.output_buffered = output_buffered_.load(std::memory_order_relaxed);
  return k;
}

session::session(dispatcher dispatch, const endpoint_options& options, endpoint_tally& tally, bool tcp)
    : dispatch_(std::move(dispatch)), options_(options), tally_(tally), tcp_(tcp) {}

void session::received(const char* data, std::size_t size) {
  input_.append(data, size);
}

void session::abort() noexcept {
  closing_ = true;
  aborted_ = true;
  output_.clear();
  input_.clear();
}

void session::close_with(std::string_view code, std::string message) noexcept {
  if (closing_) return;
  try {
    respond(error_response(nullptr, code, std::move(message)));
  } catch (...) {
    // The client is being closed anyway; the line was a courtesy.
  }
  closing_ = true;
  input_.clear();
}

bool session::ready_to_handle() const noexcept {
  return !busy_ && !closing_ && !paused() && input_.has_line();
}

bool session::wants_input() const noexcept {
  return !busy_ && !closing_ && !read_closed_ && !paused() && !input_.has_line() &&
         input_.unconsumed() <= options_.max_request_bytes;
}

bool session::waiting_for_request() const noexcept {
  // A complete request in the input is the endpoint's to answer, not the
  // client's to send: the clock stops.
  return !busy_ && !closing_ && !read_closed_ && !paused() && !input_.has_line() &&
         (completed_requests_ == 0 || input_.unconsumed() > 0);
}

bool session::finished() const noexcept {
  return !busy_ && output_.empty() && (closing_ || (read_closed_ && !ready_to_handle()));
}

std::optional<slow_job> session::handle_requests(std::size_t& budget) noexcept {
  try {
    while (!busy_ && !closing_ && budget > 0) {
      if (paused()) {
        if (!was_paused_) tally_.add(endpoint_tally::output_pauses);
        was_paused_ = true;
        return std::nullopt;
      }
      was_paused_ = false;
      const std::optional<std::string_view> next = input_.next_line();
      if (!next) {
        if (input_.unconsumed() > options_.max_request_bytes) {
          refuse(
              nullptr, "too_large",
              "request longer than " + std::to_string(options_.max_request_bytes) + " bytes; closing the connection");
          closing_ = true;
          input_.clear();
        }
        input_.compact();
        return std::nullopt;
      }
      std::string_view line = *next;
      if (line.size() > options_.max_request_bytes) {
        refuse(nullptr, "too_large",
               "request longer than " + std::to_string(options_.max_request_bytes) + " bytes; closing the connection");
        closing_ = true;
        input_.clear();
        return std::nullopt;
      }
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
      ++completed_requests_;
      --budget;
      if (auto job = handle_line(line)) return job;
    }
  } catch (...) {
    // Only the framing itself can get here (handle_line catches its own):
    // the request cannot be found, so it cannot be answered in order.
    answer_failure(nullptr, std::current_exception());
    closing_ = true;
  }
  return std::nullopt;
}

std::optional<slow_job> session::handle_line(std::string_view line) noexcept {
  json id;
  try {
    tally_.add(endpoint_tally::requests);
    if (nested_deeper_than(line, max_request_depth)) {
      refuse(nullptr, "bad_json",
             "JSON nested deeper than " + std::to_string(max_request_depth) +
                 " levels; a request is an object like {\"cmd\":\"help\"}");
      return std::nullopt;
    }
    json request;
    try {
      request = json::parse(line);
    } catch (const json::parse_error& e) {
      refuse(nullptr, "bad_json", std::string("malformed JSON: ") + e.what());
      return std::nullopt;
    } catch (const json::exception& e) {
      // out_of_range.406: valid JSON, but a number no double holds.
      refuse(nullptr, "bad_json",
             std::string("a number in the request is out of range (") + e.what() +
                 "); numbers must fit a 64-bit integer or a double");
      return std::nullopt;
    }
    if (request.is_object()) {
      if (auto it = request.find("id"); it != request.end()) id = *it;
    }
    if (tcp_ && !authenticated_ && !authenticate(request)) return std::nullopt;
    dispatch_result r = dispatch_(request);
    if (r.slow) {
      slow_job job{std::move(r.slow)};
      job_id_ = std::move(id);
      busy_ = true;
      return job;
    }
    if (!r.response.is_object() || !r.response.value("ok", false)) tally_.add(endpoint_tally::bad_requests);
    respond(r.response);
  } catch (...) {
    answer_failure(id, std::current_exception());
  }
  return std::nullopt;
}

bool session::authenticate(const json& request) {
  const json id = request.is_object() ? request.value("id", json()) : json();
  const auto token = request.is_object() ? request.find("token") : request.end();
  if (token == request.end()) {
    refuse(id, "unauthorized",
           "TCP clients must send the endpoint's token first: add \"token\" to the request (weft-shell reads "
           "WEFT_SHELL_TOKEN); closing the connection");
  } else if (!token->is_string()) {
    refuse(id, "unauthorized", "\"token\" must be a string; closing the connection");
  } else if (!token_matches(token->get_ref<const std::string&>(), options_.tcp_token)) {
    refuse(id, "unauthorized",
           "wrong token (the program prints where to find it; weft-shell reads WEFT_SHELL_TOKEN); closing the "
           "connection");
  } else {
    authenticated_ = true;
    return true;
  }
  closing_ = true;
  input_.clear();
  return false;
}

void session::job_done(json response) noexcept {
  busy_ = false;
  try {
    respond(response);
  } catch (...) {
    answer_failure(job_id_, std::current_exception());
  }
}

void session::job_failed(std::exception_ptr error) noexcept {
  busy_ = false;
  answer_failure(job_id_, error);
}

void session::job_refused(std::string_view code, std::string message) noexcept {
  busy_ = false;
  try {
    respond(error_response(job_id_, code, std::move(message)));
  } catch (...) {
    answer_failure(job_id_, std::current_exception());
  }
}

void session::respond(const json& response) {
  if (aborted_) return;
  std::string line = response.dump(-1, ' ', false, json::error_handler_t::replace);
  if (line.size() > options_.max_output_bytes) {
    tally_.add(endpoint_tally::responses_too_large);
    const json id = response.is_object() ? response.value("id", json()) : json();
    line = error_response(id, "response_too_large",
                          "the answer is " + mebibytes(line.size()) + ", over this endpoint's limit of " +
                              std::to_string(options_.max_output_bytes) +
                              " bytes for one response (max_output_bytes); ask for less: ps with a limit, tree "
                              "with a depth or a target, events with a limit")
               .dump(-1, ' ', false, json::error_handler_t::replace);
  }
  line += '\n';
  output_.push(std::move(line));
}

void session::refuse(const json& id, std::string_view code, std::string message) {
  tally_.add(endpoint_tally::bad_requests);
  respond(error_response(id, code, std::move(message)));
}

void session::answer_failure(const json& id, std::exception_ptr error) noexcept {
  tally_.add(endpoint_tally::internal_errors);
  try {
    respond(error_response(id, "internal",
                           "the endpoint failed while answering this request (" + std::string(what_of(error)) +
                               "); it goes on serving, and other requests are unaffected"));
  } catch (...) {
    // Not even an error line could be built (out of memory): the rest of
    // this client's requests cannot be answered in order, so the session
    // sends what it has and closes.
    closing_ = true;
  }
}

}  // namespace weft::shell::detail
