// Boost.Beast over a weft socket (web_stream.hpp).

#include "web_stream.hpp"

namespace chat::beast_io {

error_code to_error_code(const weft::error& e) {
  if (e == net::errc::timeout) return asio::error::timed_out;
  if (e == net::errc::closed) return asio::error::eof;
  if (e == net::errc::reset) return asio::error::connection_reset;
  return asio::error::connection_aborted;
}

bool task_list::run() {
  bool ran = false;
  while (!tasks_.empty()) {
    // Off the list before it runs: what it queues goes behind it, and a
    // task may run the list's owner's code that waits (an ask).
    std::unique_ptr<task> next = std::move(tasks_.front());
    tasks_.pop_front();
    next->run();
    ran = true;
  }
  return ran;
}

void actor_stream::abort() {
  for (std::unique_ptr<pending>* slot : {&read_, &write_}) {
    if (!*slot) continue;
    std::unique_ptr<pending> op = std::move(*slot);
    op->ec = asio::error::operation_aborted;
    op->bytes = 0;
    op->complete(ex_);
  }
}

void beast_close_socket(actor_stream& s) {
  s.abort();
  s.socket().close();
}

void teardown(boost::beast::role_type, actor_stream& s, error_code& ec) {
  s.socket().shutdown_write();
  ec = {};
}

}  // namespace chat::beast_io
