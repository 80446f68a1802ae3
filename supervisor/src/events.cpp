#include <weft/supervisor/supervisor.hpp>

#include <fmt/format.h>

namespace weft::sup {

std::string summary(const event_log& log) {
  std::string out = "supervisor events:";
  const std::string prefix = std::string(event_source) + "/";
  bool any = false;
  for (const auto& [key, count] : log.counts()) {
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    fmt::format_to(std::back_inserter(out), " {}={}", key.substr(prefix.size()), count);
    any = true;
  }
  if (!any) out += " none";
  return out;
}

}  // namespace weft::sup
