#pragma once
// weft::exit_reason — why an actor stopped, as Erlang spells it.
//
//   normal    the actor finished; links do not propagate it
//   shutdown  an orderly stop requested by a supervisor or the runtime;
//             links propagate it (a non-trapping linked actor stops too)
//   kill      only as a signal: cannot be trapped; the victim's reason
//             becomes `killed`
//   killed    the reason of an actor that received `kill`
//   noproc    the target did not exist (link/monitor to a dead pid)
//   error     anything else: an exception escaped (its what() is the
//             text), or user code chose an error reason
//
// Copies are cheap: the text is shared.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace weft {

class exit_reason {
 public:
  enum class kind : std::uint8_t { normal, shutdown, kill, killed, noproc, error };

  exit_reason() = default;  // normal
  static exit_reason normal() { return exit_reason(kind::normal); }
  static exit_reason shutdown() { return exit_reason(kind::shutdown); }
  static exit_reason kill() { return exit_reason(kind::kill); }
  static exit_reason killed() { return exit_reason(kind::killed); }
  static exit_reason noproc() { return exit_reason(kind::noproc); }
  static exit_reason error(std::string text) {
    exit_reason r(kind::error);
    r.text_ = std::make_shared<const std::string>(std::move(text));
    return r;
  }

  kind code() const noexcept { return kind_; }
  bool is_normal() const noexcept { return kind_ == kind::normal; }
  // OTP's rule for transient children: normal and shutdown are clean stops.
  bool is_clean_stop() const noexcept { return kind_ == kind::normal || kind_ == kind::shutdown; }
  std::string_view text() const noexcept { return text_ ? std::string_view(*text_) : std::string_view(); }
  std::string to_string() const;

  friend bool operator==(const exit_reason& a, const exit_reason& b) noexcept {
    return a.kind_ == b.kind_ && a.text() == b.text();
  }

 private:
  explicit exit_reason(kind k) : kind_(k) {}
  kind kind_ = kind::normal;
  std::shared_ptr<const std::string> text_;
};

}  // namespace weft
