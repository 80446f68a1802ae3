// Spawns one actor through the installed package and asks it a question.
#include <weft/runtime/weft.hpp>

#include <chrono>
#include <cstdio>

int main() {
  weft::runtime rt({.workers = 2});
  weft::pid doubler = rt.spawn([](weft::context&) -> weft::behavior { return {[](int x) { return 2 * x; }}; });
  weft::result<int> answer = rt.ask<int>(doubler, 21, std::chrono::seconds(5));
  if (!answer || *answer != 42) {
    std::fprintf(stderr, "weft-consumer: expected 42 from the installed weft\n");
    return 1;
  }
  std::printf("weft-consumer: installed weft works (21 doubled is %d)\n", *answer);
  return 0;
}
