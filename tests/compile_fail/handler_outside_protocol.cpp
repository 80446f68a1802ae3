// expect: handler_for_message_outside_protocol<unrelated, weft::protocol<int\(get\), void\(add\)> >
#include "common.hpp"
weft::behavior_of<counter> counting(weft::context&) {
  return {[](add) {}, [](get) { return 1; }, [](unrelated) {}};
}
