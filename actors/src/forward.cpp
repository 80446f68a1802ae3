// Handing messages on without copying them (detail/forward.hpp), on the
// runtime's take_current hook (runtime/internal/weft/runtime/internal.hpp).

#include <weft/actors/detail/forward.hpp>

#include <weft/runtime/detail/backend.hpp>
#include <weft/runtime/internal.hpp>

#include <string>
#include <utility>

namespace weft::actors::detail {

namespace {

namespace rt = weft::detail;

error undelivered(send_status s, const pid& to) {
  switch (s) {
    case send_status::dead:
      return error(ask_errc::no_actor, (to ? to.to_string() : std::string("an empty pid")) +
                                           " has exited: the forwarded request was not delivered");
    case send_status::stopping:
      return error(ask_errc::stopping, "the runtime is shutting down: the forwarded request was not delivered");
    default:
      return error(ask_errc::rejected, to.to_string() + "'s mailbox is full (" + std::string(to_string(s)) +
                                           "): the forwarded request was not delivered");
  }
}

}  // namespace

send_status forward_current(context& self, const pid& to) {
  rt::envelope* e = internal::take_current(self);
  if (e == nullptr) return send_status::dead;
  rt::cell* from = internal::context_access::cell(self);
  // A failed send deletes the envelope, and with it the asker's address:
  // keep a copy for requests only (plain messages pay nothing).
  pid asker;
  std::uint64_t request_id = 0;
  if (rt::request_pending(*e)) {
    asker = e->reply_to;
    request_id = e->request_id;
  }
  const send_status s =
      rt::send_envelope(rt::runtime_of(from), from, to, e, rt::send_mode::blocking, rt::no_timeout);
  if (s != send_status::ok && request_id != 0) {
    rt::send_reply(asker, request_id,
                   rt::make_envelope(rt::reply_error{undelivered(s, to)}, rt::envelope_kind::reply), from);
  }
  return s;
}

void refuse_current(context& self, const error& why) {
  rt::envelope* e = internal::take_current(self);
  if (e == nullptr) return;
  rt::cell* from = internal::context_access::cell(self);
  if (rt::request_pending(*e)) {
    pid asker = std::move(e->reply_to);
    rt::send_reply(asker, std::exchange(e->request_id, 0),
                   rt::make_envelope(rt::reply_error{why}, rt::envelope_kind::reply), from);
    delete e;
    return;
  }
  // A send to no actor is the runtime's way to count a dead letter.
  (void)rt::send_envelope(rt::runtime_of(from), from, pid(), e, rt::send_mode::try_once, rt::no_timeout);
}

std::size_t queued_messages(const pid& who) noexcept { return internal::mailbox_length(who); }

}  // namespace weft::actors::detail
