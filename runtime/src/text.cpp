// How weft's values read: pids, exit reasons, statuses, policies.
#include "cell.hpp"
#include "runtime_impl.hpp"

#include <weft/runtime/runtime.hpp>

#include <fmt/format.h>

namespace weft {


std::string pid::to_string() const { return cell_ == nullptr ? "<none>" : fmt::format("<0.{}.0>", cell_->id); }

std::string exit_reason::to_string() const {
  switch (kind_) {
    case kind::normal:
      return "normal";
    case kind::shutdown:
      return "shutdown";
    case kind::kill:
      return "kill";
    case kind::killed:
      return "killed";
    case kind::noproc:
      return "noproc";
    case kind::error:
      return fmt::format("error: {}", text());
  }
  return "unknown";
}

std::string_view to_string(send_status s) {
  switch (s) {
    case send_status::ok:
      return "ok";
    case send_status::dropped:
      return "dropped";
    case send_status::rejected:
      return "rejected";
    case send_status::dead:
      return "dead";
    case send_status::timeout:
      return "timeout";
    case send_status::stopping:
      return "stopping";
    case send_status::deadlock:
      return "deadlock";
  }
  return "unknown";
}

std::string_view to_string(dead_letter_cause c) {
  switch (c) {
    case dead_letter_cause::dead_actor:
      return "dead_actor";
    case dead_letter_cause::exited_unread:
      return "exited_unread";
    case dead_letter_cause::dropped_newest:
      return "dropped_newest";
    case dead_letter_cause::dropped_oldest:
      return "dropped_oldest";
    case dead_letter_cause::rejected:
      return "rejected";
    case dead_letter_cause::late_reply:
      return "late_reply";
    case dead_letter_cause::unhandled:
      return "unhandled";
    case dead_letter_cause::count_:
      break;
  }
  return "unknown";
}

std::string_view to_string(overflow_policy p) {
  switch (p) {
    case overflow_policy::block:
      return "block";
    case overflow_policy::drop_newest:
      return "drop_newest";
    case overflow_policy::drop_oldest:
      return "drop_oldest";
    case overflow_policy::reject:
      return "reject";
  }
  return "unknown";
}

}  // namespace weft
