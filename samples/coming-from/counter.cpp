// A counter under a one_for_one supervisor, asked for its value.
#include <weft/runtime/weft.hpp>
#include <weft/supervisor/supervisor.hpp>

struct increment { int by = 1; };
struct get {};
using counter = weft::protocol<void(increment), int(get)>;

int main() {
  weft::runtime rt;
  auto counting = weft::stateful<counter>(0, [](int& n, increment i) { n += i.by; }, [](int& n, get) { return n; });
  auto tree = weft::sup::start(rt, {.strategy = weft::sup::restart_strategy::one_for_one,
                                    .children = {weft::sup::worker("counter", counting, {.name = "counter"})}});
  weft::scoped_actor self(rt);
  auto c = weft::ref_cast<counter>(rt.whereis("counter"));
  self.send(*c, increment{2});
  return tree && self.ask(*c, get{}) == 2 ? 0 : 1;
}
