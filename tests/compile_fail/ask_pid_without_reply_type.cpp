// expect: ask_of_untyped_pid_needs_reply_type<weft::pid>
#include "common.hpp"
void f(weft::context& self, const weft::pid& p) { (void)self.ask(p, get{}); }
