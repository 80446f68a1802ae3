// Spawns one typed actor through the installed runtime and asks it.
#include <weft/runtime/weft.hpp>

#include <cstdio>

struct twice {
  int x;
};
using doubler = weft::protocol<int(twice)>;

int main() {
  weft::runtime rt({.workers = 2});
  auto d = rt.spawn(weft::stateful<doubler>(0, [](int&, twice t) { return 2 * t.x; }));
  weft::scoped_actor self(rt);
  weft::expected<int> answer = self.ask(d, twice{21});
  if (answer != 42) {
    std::fprintf(stderr, "weft-consumer-runtime: expected 42 from the installed runtime\n");
    return 1;
  }
  std::printf("weft-consumer-runtime: the installed runtime works (21 doubled is %d)\n", *answer);
  return 0;
}
