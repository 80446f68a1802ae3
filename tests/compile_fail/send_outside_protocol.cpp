// expect: message_not_in_protocol<unrelated, weft::protocol<int\(get\), void\(add\)> >
#include "common.hpp"
void f(weft::context& self, const weft::ref<counter>& c) { self.send(c, unrelated{}); }
