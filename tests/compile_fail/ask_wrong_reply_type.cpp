// expect: ask_with_wrong_reply_type<std::__cxx11::basic_string<char>, int, get>
#include "common.hpp"
void f(weft::context& self, const weft::ref<counter>& c) { (void)self.ask<std::string>(c, get{}); }
