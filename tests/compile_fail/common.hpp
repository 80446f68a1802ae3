// The protocol the compile-fail programs misuse.
#pragma once
#include <weft/runtime/weft.hpp>

#include <string>

struct get {};
struct add {
  int by = 1;
};
struct unrelated {};
using counter = weft::protocol<int(get), void(add)>;
