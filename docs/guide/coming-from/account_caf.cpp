// CAF 0.18 has no event sourcing: the account writes each event to a file,
// syncs it before replying, and replays the file when it starts.
#include <caf/all.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>

CAF_BEGIN_TYPE_ID_BLOCK(bank, caf::first_custom_type_id)
  CAF_ADD_ATOM(bank, deposit_atom)
  CAF_ADD_ATOM(bank, withdraw_atom)
  CAF_ADD_ATOM(bank, balance_atom)
CAF_END_TYPE_ID_BLOCK(bank)

using account_actor = caf::typed_actor<caf::result<int64_t>(deposit_atom, int64_t),
                                       caf::result<int64_t>(withdraw_atom, int64_t), caf::result<int64_t>(balance_atom)>;
struct account_state {
  int fd = -1;
  int64_t balance = 0;
  caf::result<int64_t> persist(int64_t delta) {  // an event is the signed amount
    if (::write(fd, &delta, sizeof delta) != sizeof delta || ::fdatasync(fd) != 0)
      return caf::make_error(caf::sec::runtime_error, "write failed");
    return balance += delta;
  }
};

account_actor::behavior_type account(account_actor::stateful_pointer<account_state> self, const char* file) {
  self->state.fd = ::open(file, O_RDWR | O_CREAT | O_APPEND, 0644);
  for (int64_t delta; ::read(self->state.fd, &delta, sizeof delta) == sizeof delta;) self->state.balance += delta;
  return {
      [self](deposit_atom, int64_t a) { return self->state.persist(a); },
      [self](withdraw_atom, int64_t a) -> caf::result<int64_t> {
        if (a > self->state.balance) return caf::make_error(caf::sec::runtime_error, "insufficient funds");
        return self->state.persist(-a);
      },
      [self](balance_atom) { return self->state.balance; },
  };
}

void caf_main(caf::actor_system& sys) {
  auto acct = sys.spawn(account, "bank-account-journal");
  caf::scoped_actor self{sys};
  self->send(acct, deposit_atom_v, int64_t{100});
  self->request(acct, std::chrono::seconds(5), withdraw_atom_v, int64_t{500})
      .receive([](int64_t) { assert(false); }, [](caf::error&) {});
}

CAF_MAIN(caf::id_block::bank)
