// The state machine's timers (state_machine.hpp): filed on the runtime's
// clock directly rather than through context::send_after, whose message
// holder is a shared_ptr allocated per timer. The message here is two
// words, made when the timer fires, so setting a timeout allocates nothing
// beyond the clock's own entry.

#include <weft/actors/state_machine.hpp>
#include <weft/runtime/internal.hpp>

#include <algorithm>

namespace weft::actors::detail {

timer_ref file_timeout(context& self, std::chrono::nanoseconds after, timeout_kind kind, std::uint64_t generation) {
  weft::detail::cell* cell = internal::context_access::cell(self);
  return timer_ref{weft::detail::start_timer(weft::detail::runtime_of(cell),
                                             std::max(after, std::chrono::nanoseconds::zero()),
                                             std::chrono::nanoseconds::zero(), self.self(), [kind, generation] {
                                               return weft::detail::make_envelope(timeout_fired{kind, generation});
                                             })};
}

}  // namespace weft::actors::detail
