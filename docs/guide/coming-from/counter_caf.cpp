// CAF 0.18: no supervisors; an actor that monitors the counter and
// spawns it again after an abnormal exit plays one_for_one's part.
#include <caf/all.hpp>

CAF_BEGIN_TYPE_ID_BLOCK(counter, caf::first_custom_type_id)
  CAF_ADD_ATOM(counter, increment_atom)
  CAF_ADD_ATOM(counter, get_atom)
  CAF_ADD_ATOM(counter, child_atom)
CAF_END_TYPE_ID_BLOCK(counter)

using counter_actor = caf::typed_actor<caf::result<void>(increment_atom, int), caf::result<int>(get_atom)>;
struct counter_state { int n = 0; };
struct sup_state { caf::actor child; };

counter_actor::behavior_type counting(counter_actor::stateful_pointer<counter_state> self) {
  return {[self](increment_atom, int by) { self->state.n += by; }, [self](get_atom) { return self->state.n; }};
}

caf::behavior one_for_one(caf::stateful_actor<sup_state>* self) {
  auto start = [self] { self->state.child = caf::actor_cast<caf::actor>(self->spawn<caf::monitored>(counting)); };
  start();
  self->set_down_handler([start](caf::down_msg& m) { if (m.reason) start(); });
  return {[self](child_atom) { return self->state.child; }};
}

void caf_main(caf::actor_system& sys) {
  auto sup = sys.spawn(one_for_one);
  caf::scoped_actor self{sys};
  self->request(sup, std::chrono::seconds(5), child_atom_v).receive(
      [&](caf::actor child) {
        auto c = caf::actor_cast<counter_actor>(child);
        self->send(c, increment_atom_v, 2);
        self->request(c, std::chrono::seconds(5), get_atom_v).receive([](int n) { assert(n == 2); }, [](caf::error&) {});
      },
      [](caf::error&) {});
}

CAF_MAIN(caf::id_block::counter)
