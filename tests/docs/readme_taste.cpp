#include <weft/runtime/weft.hpp>

struct add { int by; };
struct get {};
using counter = weft::protocol<void(add), int(get)>;  // what it takes, what each answers

int main() {
  weft::runtime rt;
  weft::ref<counter> c = rt.spawn(weft::stateful<counter>(
      0,                                       // the state, handed to each handler
      [](int& n, add a) { n += a.by; },
      [](int& n, get) { return n; }));
  weft::scoped_actor self(rt);                 // main's own actor identity
  self.send(c, add{2});
  self.send(c, add{40});
  weft::expected<int> n = self.ask(c, get{});  // int: from the protocol
  return n && *n == 42 ? 0 : 1;
}
