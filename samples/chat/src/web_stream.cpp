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
    // The queued tasks move off the list before they run: what they
    // queue goes behind them, in order.
    running_.swap(tasks_);
    for (std::unique_ptr<task>& next : running_) {
      next->run();
      ran = true;
    }
    running_.clear();
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
