// expect: handler_reply_does_not_match_protocol<get, int, std::__cxx11::basic_string<char> >
#include "common.hpp"
weft::behavior_of<counter> counting(weft::context&) {
  return {[](add) {}, [](get) { return std::string("one"); }};
}
