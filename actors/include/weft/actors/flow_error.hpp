#pragma once
// What weft's flow-control actors and helpers fail with: the rate limiter
// (rate_limiter.hpp), the circuit breaker (circuit_breaker.hpp), retries
// and deadlines (retry.hpp, deadline.hpp) and credit-based flow
// (credit.hpp). One code enum for all of them, so that a caller that
// stacks them (a retry around a breaker around a rate-limited ask) tests
// one vocabulary:
//
//   auto r = weft::actors::retry(self, policy, due, attempt);
//   if (!r && r.error() == weft::actors::flow_errc::circuit_open) ...
//
// They are errors of category `actors` (error.hpp): each is the reason a
// request got no ordinary answer. The detail text names the limiter,
// breaker or budget and what to do, e.g. "circuit breaker 'payments' is
// open after 5 consecutive failures; the next probe is allowed in 1600 ms".
//
// Pure names: any thread.

#include <weft/runtime/error.hpp>

#include <cstdint>
#include <string_view>

namespace weft::actors {

enum class flow_errc : std::uint8_t {
  rate_limited = 1,        // a rate limiter refused: no token (reject, drop of a request, wait too long)
  circuit_open,            // a circuit breaker refused the call: open, probe in flight, or forced open
  deadline_exceeded,       // the work's deadline passed: dropped unexecuted, or no time left to wait or retry
  cancelled,               // the request was cancelled (cancel_source::cancel) before the work ran
  retry_budget_exhausted,  // retry: the shared retry budget allows no retry now
  retries_exhausted,       // retry: every allowed attempt failed
  invalid_request,         // a request that can never succeed (more tokens than the burst, zero credit...)
  protocol_violation,      // credit flow: an item without credit, or out of sequence
};
std::string_view to_string(flow_errc e) noexcept;

namespace detail {
std::string_view flow_errc_name(int code) noexcept;
inline constexpr error_domain flow_domain{error_category::actors, &flow_errc_name};
}  // namespace detail

}  // namespace weft::actors

template <>
struct weft::error_code_traits<weft::actors::flow_errc> {
  static constexpr const error_domain* domain = &weft::actors::detail::flow_domain;
};
