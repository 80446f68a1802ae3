// Credit-based pull: the two pure policies and the error texts
// (credit.hpp).
//
// demand_policy keeps  outstanding + unprocessed + to_grant == window:
// every credit is either out at the producer (outstanding), spent on an
// item the consumer has not processed yet (unprocessed), or earned back by
// a processed item and not granted again yet (to_grant). A grant moves
// to_grant into outstanding, an arrival moves one from outstanding to
// unprocessed, processing moves one into to_grant. So the producer can
// never have more than `window` items sent and unprocessed.

#include <weft/actors/credit.hpp>

#include <fmt/format.h>

#include <limits>
#include <stdexcept>

namespace weft::actors {

void credit_window::grant(std::uint64_t n) noexcept {
  const std::uint64_t room = std::numeric_limits<std::uint64_t>::max() - granted_;
  granted_ += n < room ? n : room;
}

bool credit_window::try_take() noexcept {
  if (used_ == granted_) return false;
  ++used_;
  return true;
}

demand_policy::demand_policy(std::uint64_t window, std::uint64_t batch)
    : window_(window), batch_(batch == 0 ? (window + 1) / 2 : batch) {
  if (window == 0) throw std::invalid_argument("credit flow: the window must be at least 1 item");
  if (batch_ > window) {
    throw std::invalid_argument(fmt::format(
        "credit flow: the batch ({}) is larger than the window ({}): no grant would ever be made", batch_, window));
  }
  to_grant_ = window_;
}

std::uint64_t demand_policy::initial() noexcept {
  const std::uint64_t n = to_grant_;
  outstanding_ += n;
  to_grant_ = 0;
  return n;
}

bool demand_policy::on_received() noexcept {
  if (outstanding_ == 0) return false;
  --outstanding_;
  ++unprocessed_;
  return true;
}

std::uint64_t demand_policy::on_processed() noexcept {
  if (unprocessed_ == 0) return 0;
  --unprocessed_;
  ++to_grant_;
  if (to_grant_ < batch_) return 0;
  const std::uint64_t n = to_grant_;
  outstanding_ += n;
  to_grant_ = 0;
  return n;
}

namespace detail {

error subscribe_refused(const pid& self, std::string_view protocol_name, const error& why) {
  return error(ask_errc::wrong_protocol,
               fmt::format("credit_receiver::subscribe: {} cannot be a sink, it must speak {} ({})", self.to_string(),
                           protocol_name, why.to_string()));
}

error credit_overrun(std::uint64_t seq, std::uint64_t window) {
  return error(flow_errc::protocol_violation,
               fmt::format("credit flow: item {} arrived with no credit out (window {}): the producer overran it",
                           seq, window));
}

error out_of_sequence(std::uint64_t seq, std::uint64_t expected) {
  return error(flow_errc::protocol_violation,
               fmt::format("credit flow: item {} arrived where item {} was due: an item was lost, repeated or "
                           "reordered",
                           seq, expected));
}

}  // namespace detail

}  // namespace weft::actors
