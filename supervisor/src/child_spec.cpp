#include <weft/supervisor/child_spec.hpp>

#include <fmt/format.h>

namespace weft::sup {

std::string_view to_string(restart_type t) {
  switch (t) {
    case restart_type::permanent:
      return "permanent";
    case restart_type::transient:
      return "transient";
    case restart_type::temporary:
      return "temporary";
  }
  return "unknown";
}

std::string_view to_string(child_type t) {
  return t == child_type::worker ? "worker" : "supervisor";
}

bool should_restart(restart_type type, const exit_reason& reason) noexcept {
  switch (type) {
    case restart_type::permanent:
      return true;
    case restart_type::transient:
      return !reason.is_clean_stop();
    case restart_type::temporary:
      return false;
  }
  return false;
}

std::string shutdown_spec::to_string() const {
  switch (mode_) {
    case mode::brutal_kill:
      return "brutal_kill";
    case mode::infinity:
      return "infinity";
    case mode::timeout:
      return fmt::format("{} ms", std::chrono::duration_cast<std::chrono::milliseconds>(timeout_).count());
  }
  return "unknown";
}

}  // namespace weft::sup
