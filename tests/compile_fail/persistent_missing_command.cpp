// expect: persistent_command_without_handler<add, account>
#include "common.hpp"
#include <weft/persistence/persistent_actor.hpp>
struct added {
  int by;
  WEFT_FIELDS(by)
};
struct account : weft::persistence::event_sourced<counter, int, added> {
  effect<int> on_command(const int& n, const get&) const { return reply(n); }
  void on_event(int& n, const added& e) const { n += e.by; }
};
auto def = weft::persistence::persistent<account>({.persistence_id = "a"});
