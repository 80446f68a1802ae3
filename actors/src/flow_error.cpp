// Names of weft::actors::flow_errc (flow_error.hpp).

#include <weft/actors/flow_error.hpp>

namespace weft::actors {

std::string_view to_string(flow_errc e) noexcept {
  switch (e) {
    case flow_errc::rate_limited:
      return "rate_limited";
    case flow_errc::circuit_open:
      return "circuit_open";
    case flow_errc::deadline_exceeded:
      return "deadline_exceeded";
    case flow_errc::cancelled:
      return "cancelled";
    case flow_errc::retry_budget_exhausted:
      return "retry_budget_exhausted";
    case flow_errc::retries_exhausted:
      return "retries_exhausted";
    case flow_errc::invalid_request:
      return "invalid_request";
    case flow_errc::protocol_violation:
      return "protocol_violation";
  }
  return "unknown";
}

namespace detail {
std::string_view flow_errc_name(int code) noexcept { return to_string(static_cast<flow_errc>(code)); }
}  // namespace detail

}  // namespace weft::actors
