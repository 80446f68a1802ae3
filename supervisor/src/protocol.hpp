#pragma once
// The messages between the client API (client.cpp) and a supervisor actor
// (supervisor_core.cpp). Private: users go through supervisor.hpp.

#include <weft/supervisor/supervisor.hpp>

#include <weft/runtime/protocol.hpp>

#include <any>
#include <cstdint>
#include <string>
#include <vector>

namespace weft::sup::detail {

// start()/start_link() ask this once; answered after init.
struct await_start {};
struct start_reply {
  bool ok = false;
  std::string error;
};

struct which_children_request {};
struct count_children_request {};
struct start_child_request {
  child_spec spec;
};
struct start_dynamic_request {
  std::any args;
};
struct terminate_child_request {
  std::string id;  // static strategies
  pid child;       // dynamic
};
struct restart_child_request {
  std::string id;
};
struct delete_child_request {
  std::string id;
};
struct stop_request {};

// What a supervisor answers: supervisor::from() checks a pid against it.
struct protocol : weft::protocol<start_reply(await_start), std::vector<child_info>(which_children_request),
                                 child_counts(count_children_request), pid(start_child_request),
                                 pid(start_dynamic_request), void(terminate_child_request),
                                 pid(restart_child_request), void(delete_child_request), void(stop_request)> {};

// To itself: a backoff delay has passed / a failed restart is retried.
struct restart_due {
  std::uint64_t batch = 0;
};
struct retry_restart {
  std::uint64_t batch = 0;
};

}  // namespace weft::sup::detail
