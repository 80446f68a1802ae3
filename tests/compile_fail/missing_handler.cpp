// expect: protocol_message_without_handler<get, weft::protocol<int\(get\), void\(add\)> >
#include "common.hpp"
weft::behavior_of<counter> counting(weft::context&) {
  return {[](add) {}};
}
