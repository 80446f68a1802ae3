// expect: protocol_message_without_handler<add, weft::protocol<int\(get\), void\(add\)> >
#include "common.hpp"
auto def = weft::stateful<counter>(0, [](int& n, get) { return n; });
