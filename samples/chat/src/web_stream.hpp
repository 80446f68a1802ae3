#pragma once
// Boost.Beast over a weft socket: the adapters that let Beast's HTTP
// parser and WebSocket framing run inside one actor on a net::socket,
// which only its owning actor may touch and which blocks only that
// actor's fiber.
//
//   blocking_stream  SyncReadStream + SyncWriteStream: read_some waits
//                    (fiber-blocking) until a deadline. For the HTTP
//                    request, when the actor has nothing else to do.
//   actor_stream     AsyncStream for websocket::stream after the upgrade.
//                    Its operations never wait; they end when the actor's
//                    own messages say so:
//
//   Beast (inside the actor)          actor_stream                 the actor's mailbox
//   ------------------------          ------------                 -------------------
//   async_read_some(buffers, h) ----> read_some(0 s): bytes? post
//                                     h(bytes). None: keep h,
//                                     notify_readable ------------> net::readable
//                                     on_readable(): read, post h <----'
//   async_write_some(buffers, h) ---> write_some: some went? post
//                                     h(n). Kernel full: keep h,
//                                     notify_writable ------------> net::writable
//                                     on_writable(): write, post h <---'
//   every completion is posted to the actor's task_list (actor_executor);
//   the actor runs it (task_list::run) after each batch of messages.
//
// Why not an io_context per connection, poll()ed by the actor: Beast's
// websocket::stream makes a steady_timer on its executor's context, and
// asio's timer service opens an epoll, an eventfd and a timerfd per
// io_context (measured: 3 descriptors per connection before its socket),
// and io_context::poll() keeps a thread-local call stack that a fiber
// moving to another worker while a handler waits would leave dangling.
// The actor_executor queues completions in the actor itself instead; the
// only io_context is one per server (web_front), never run: the registry
// where Beast's (idle, never armed) timers live.
//
// Owner only: every member of every class here, from the actor that owns
// the socket. Nothing runs on another thread; nothing here locks.

#include <weft/runtime/net.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chat::beast_io {

namespace asio = boost::asio;
namespace net = weft::net;
using error_code = boost::system::error_code;

// A socket call's failure as Beast expects it (a clean close is eof).
error_code to_error_code(const weft::error& e);

// -- the actor's executor ------------------------------------------------------

// Completion handlers waiting for the actor to run them.
class task_list {
 public:
  template <class F>
  void push(F&& f) {
    tasks_.push_back(std::make_unique<task_of<std::decay_t<F>>>(std::forward<F>(f)));
  }
  // Runs what is queued, and what that queues, until nothing is. True if
  // anything ran. Not from inside a task (nor is clear()).
  bool run();
  bool empty() const noexcept { return tasks_.empty(); }
  // Drops what is queued without running it (the connection ends).
  void clear() noexcept {
    tasks_.clear();
    running_.clear();
  }

 private:
  struct task {
    virtual ~task() = default;
    virtual void run() = 0;
  };
  template <class F>
  struct task_of final : task {
    template <class G>
    explicit task_of(G&& g) : f(std::forward<G>(g)) {}
    void run() override { std::move(f)(); }
    F f;
  };
  // Vectors, not a deque: an idle connection's empty lists cost nothing.
  std::vector<std::unique_ptr<task>> tasks_;
  std::vector<std::unique_ptr<task>> running_;
};

// An Asio executor (the standard-executor model of Boost 1.74) whose
// execute() appends to the actor's task_list: never blocking, never
// inline, never on another thread. Its context (where Beast registers its
// timer service) is the server's shared, never-run io_context.
class actor_executor {
 public:
  actor_executor(task_list& tasks, asio::io_context& services) noexcept : tasks_(&tasks), services_(&services) {}

  template <class F>
  void execute(F&& f) const {
    tasks_->push(std::forward<F>(f));
  }
  asio::execution_context& query(asio::execution::context_t) const noexcept { return *services_; }
  constexpr asio::execution::blocking_t query(asio::execution::blocking_t) const noexcept {
    return asio::execution::blocking.never;
  }
  actor_executor require(asio::execution::blocking_t::never_t) const noexcept { return *this; }

  friend bool operator==(const actor_executor& a, const actor_executor& b) noexcept { return a.tasks_ == b.tasks_; }
  friend bool operator!=(const actor_executor& a, const actor_executor& b) noexcept { return a.tasks_ != b.tasks_; }

 private:
  task_list* tasks_;
  asio::io_context* services_;
};

// -- before the upgrade: plain blocking reads --------------------------------------

// Reads and writes that wait (blocking this actor's fiber only) until one
// deadline, set for each request. An exit signal while it waits unwinds
// the actor as any socket wait does.
class blocking_stream {
 public:
  explicit blocking_stream(net::socket& sock) noexcept : sock_(sock) {}

  void expires_after(std::chrono::nanoseconds timeout) { deadline_ = std::chrono::steady_clock::now() + timeout; }

  template <class Buffers>
  std::size_t read_some(const Buffers& buffers, error_code& ec) {
    ec = {};
    const std::size_t want = asio::buffer_size(buffers);
    if (want == 0) return 0;
    auto bytes = sock_.read_some(want, left());
    if (!bytes) {
      ec = to_error_code(bytes.error());
      return 0;
    }
    return asio::buffer_copy(buffers, asio::buffer(*bytes));
  }
  template <class Buffers>
  std::size_t write_some(const Buffers& buffers, error_code& ec) {
    ec = {};
    std::size_t total = 0;
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it) {
      const asio::const_buffer b(*it);
      std::size_t written = 0;
      auto sent = sock_.write_all(std::string_view(static_cast<const char*>(b.data()), b.size()), left(), &written);
      total += written;
      if (!sent) {
        ec = to_error_code(sent.error());
        break;
      }
    }
    return total;
  }
  // The throwing forms Beast's concepts also ask for.
  template <class Buffers>
  std::size_t read_some(const Buffers& buffers) {
    error_code ec;
    const std::size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
  template <class Buffers>
  std::size_t write_some(const Buffers& buffers) {
    error_code ec;
    const std::size_t n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  std::chrono::nanoseconds left() const {
    const auto now = std::chrono::steady_clock::now();
    return now >= deadline_ ? std::chrono::nanoseconds(0) : std::chrono::nanoseconds(deadline_ - now);
  }

  net::socket& sock_;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::now();
};

// -- after the upgrade: operations completed by the actor's messages --------------

class actor_stream {
 public:
  using executor_type = asio::any_io_executor;

  // The tags of the net::readable / net::writable notices it asks for.
  static constexpr std::uint64_t readable_tag = 0x7765620001;
  static constexpr std::uint64_t writable_tag = 0x7765620002;

  // `read_ahead`: bytes that came after the HTTP request (a client that
  // did not wait for the 101), handed to the first reads.
  actor_stream(net::socket& sock, actor_executor ex, std::string read_ahead = {})
      : sock_(&sock), ex_(ex), read_ahead_(std::move(read_ahead)) {}
  actor_stream(actor_stream&&) = default;
  actor_stream& operator=(actor_stream&&) = default;

  executor_type get_executor() const noexcept { return ex_; }
  net::socket& socket() noexcept { return *sock_; }

  template <class Buffers, class Handler>
  auto async_read_some(const Buffers& buffers, Handler&& handler) {
    return asio::async_initiate<Handler, void(error_code, std::size_t)>(
        [this](auto&& h, const Buffers& b) {
          start(read_, std::make_unique<read_op<Buffers, std::decay_t<decltype(h)>>>(b, std::move(h)));
        },
        handler, buffers);
  }
  template <class Buffers, class Handler>
  auto async_write_some(const Buffers& buffers, Handler&& handler) {
    return asio::async_initiate<Handler, void(error_code, std::size_t)>(
        [this](auto&& h, const Buffers& b) {
          start(write_, std::make_unique<write_op<Buffers, std::decay_t<decltype(h)>>>(b, std::move(h)));
        },
        handler, buffers);
  }

  // -- the owning actor, on its notices ----------------------------------------------
  void on_readable() { attempt(read_); }
  void on_writable() { attempt(write_); }
  // Completes what waits with operation_aborted (the socket is closing).
  void abort();

 private:
  // A read or write that may have to wait for its notice.
  struct pending {
    virtual ~pending() = default;
    // Tries once: true when done (the result is kept for complete()).
    virtual bool attempt(actor_stream& s) = 0;
    // Posts the handler with the result; called once, after attempt() said done.
    virtual void complete(const executor_type& ex) = 0;
    error_code ec;
    std::size_t bytes = 0;
  };

  template <class Handler>
  struct with_handler : pending {
    explicit with_handler(Handler&& h) : handler(std::move(h)) {}
    void complete(const executor_type& ex) override {
      asio::post(ex, boost::beast::bind_front_handler(std::move(handler), ec, bytes));
    }
    Handler handler;
  };

  template <class Buffers, class Handler>
  struct read_op final : with_handler<Handler> {
    read_op(const Buffers& b, Handler&& h) : with_handler<Handler>(std::move(h)), buffers(b) {}
    bool attempt(actor_stream& s) override {
      const std::size_t want = asio::buffer_size(buffers);
      if (want == 0) return true;
      if (!s.read_ahead_.empty()) {
        this->bytes = asio::buffer_copy(buffers, asio::buffer(s.read_ahead_));
        s.read_ahead_.erase(0, this->bytes);
        if (s.read_ahead_.empty()) std::string().swap(s.read_ahead_);
        return true;
      }
      auto got = s.sock_->read_some(want, std::chrono::nanoseconds(0));
      if (got) {
        this->bytes = asio::buffer_copy(buffers, asio::buffer(*got));
        return true;
      }
      if (got.error() != net::errc::timeout) {
        this->ec = to_error_code(got.error());
        return true;
      }
      auto armed = s.sock_->notify_readable(readable_tag);
      if (!armed) this->ec = to_error_code(armed.error());
      return !armed;
    }
    Buffers buffers;
  };

  template <class Buffers, class Handler>
  struct write_op final : with_handler<Handler> {
    write_op(const Buffers& b, Handler&& h) : with_handler<Handler>(std::move(h)), buffers(b) {}
    bool attempt(actor_stream& s) override {
      const std::string_view data = s.gather(buffers);
      if (data.empty()) return true;
      auto sent = s.sock_->write_some(data);
      s.release_scratch();
      if (!sent) {
        this->ec = to_error_code(sent.error());
        return true;
      }
      if (*sent > 0) {
        this->bytes = *sent;
        return true;
      }
      auto armed = s.sock_->notify_writable(writable_tag);
      if (!armed) this->ec = to_error_code(armed.error());
      return !armed;
    }
    Buffers buffers;
  };

  // What one write_some may send: the buffers (a WebSocket frame is its
  // header and its payload) as one piece, up to gather_limit bytes, so a
  // frame goes in one send(): one packet, not two.
  static constexpr std::size_t gather_limit = 65536;
  template <class Buffers>
  std::string_view gather(const Buffers& buffers) {
    std::string_view only;
    std::size_t pieces = 0;
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it) {
      const asio::const_buffer b(*it);
      if (b.size() == 0) continue;
      if (++pieces == 1) only = {static_cast<const char*>(b.data()), b.size()};
    }
    if (pieces <= 1) return only;
    scratch_.clear();
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it) {
      const asio::const_buffer b(*it);
      const std::size_t take = std::min(b.size(), gather_limit - scratch_.size());
      scratch_.append(static_cast<const char*>(b.data()), take);
      if (scratch_.size() == gather_limit) break;
    }
    return scratch_;
  }
  // An idle connection keeps no big buffer.
  void release_scratch() {
    if (scratch_.capacity() > 4096) std::string().swap(scratch_);
  }

  void start(std::unique_ptr<pending>& slot, std::unique_ptr<pending> op) {
    slot = std::move(op);
    attempt(slot);
  }
  void attempt(std::unique_ptr<pending>& slot) {
    if (!slot || !slot->attempt(*this)) return;
    std::unique_ptr<pending> done = std::move(slot);
    done->complete(ex_);
  }

  net::socket* sock_;
  executor_type ex_;
  std::string read_ahead_;
  std::string scratch_;
  std::unique_ptr<pending> read_;
  std::unique_ptr<pending> write_;
};

// Beast closes the socket this way when one of its timeouts expires
// (web.cpp sets none: the actor keeps its own time). Pending operations
// end with operation_aborted.
void beast_close_socket(actor_stream& s);

// Beast's WebSocket close handshake ends by tearing the stream down (found
// by argument-dependent lookup): the server's side shuts its writes down;
// the connection actor closes the socket right after.
void teardown(boost::beast::role_type, actor_stream& s, error_code& ec);
template <class Handler>
void async_teardown(boost::beast::role_type, actor_stream& s, Handler&& handler) {
  s.socket().shutdown_write();
  asio::post(s.get_executor(), boost::beast::bind_front_handler(std::forward<Handler>(handler), error_code{}));
}

}  // namespace chat::beast_io
