// weft::error's text, and the names of the runtime's own codes.

#include <weft/runtime/error.hpp>

#include <fmt/format.h>

namespace weft {

std::string_view to_string(error_category c) noexcept {
  switch (c) {
    case error_category::none:
      return "none";
    case error_category::ask:
      return "ask";
    case error_category::net:
      return "net";
    case error_category::storage:
      return "storage";
    case error_category::command:
      return "command";
    case error_category::supervisor:
      return "supervisor";
    case error_category::user:
      return "user";
    case error_category::actors:
      return "actors";
  }
  return "unknown";
}

std::string_view to_string(ask_errc e) noexcept {
  switch (e) {
    case ask_errc::timeout:
      return "timeout";
    case ask_errc::actor_down:
      return "actor_down";
    case ask_errc::rejected:
      return "rejected";
    case ask_errc::no_actor:
      return "no_actor";
    case ask_errc::broken_promise:
      return "broken_promise";
    case ask_errc::bad_reply_type:
      return "bad_reply_type";
    case ask_errc::stopping:
      return "stopping";
    case ask_errc::unhandled:
      return "unhandled";
    case ask_errc::wrong_protocol:
      return "wrong_protocol";
  }
  return "unknown";
}

namespace detail {
std::string_view ask_errc_name(int code) noexcept { return to_string(static_cast<ask_errc>(code)); }
}  // namespace detail

std::string error::to_string() const {
  if (domain_ == nullptr) return "no error";
  std::string out = fmt::format("{} {}", weft::to_string(category()), code_name());
  if (detail_) {
    out += ": ";
    out += *detail_;
  }
  return out;
}

}  // namespace weft
