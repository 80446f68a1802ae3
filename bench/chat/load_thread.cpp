// One thread of weft-chat-loadgen (see load_thread.hpp, and loadgen.cpp's
// header for the protocol and the steps of a run).
#include "load_thread.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace chat_bench {

void load_thread::run(phase_barrier& sync, const step_plan& plan) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) setup_error_ = "epoll_create1: " + std::string(std::strerror(errno));
  if (setup_error_.empty()) set_up();
  sync.arrive_and_wait();  // everyone set up (or failed); the completion plans step 0
  while (!plan.stop) {
    step_ = step_result{};
    if (opt_.kind == scenario::idle) idle(plan);
    else load(plan);
    sync.arrive_and_wait();  // the completion merges the step and plans the next
  }
  tear_down();
}

void load_thread::set_up() {
  set_up_clients();
  for (const client& c : clients_) ++setup_states_[static_cast<std::size_t>(c.state)];
}

void load_thread::set_up_clients() {
  for (int id = index_; id < opt_.clients; id += opt_.threads) {
    if (shared_.rooms > 0 && !shared_.stalled[static_cast<std::size_t>(id)]) has_senders_ = true;
    client c;
    c.id = static_cast<std::uint32_t>(id);
    c.stalled = shared_.stalled[static_cast<std::size_t>(id)] != 0;
    if (shared_.rooms > 0) c.next_seq.assign(shared_.room_size[shared_.room_of[static_cast<std::size_t>(id)]], 0);
    clients_.push_back(std::move(c));
  }
  const nanos start = now_ns();
  const nanos give_up = start + seconds_to_ns(opt_.setup_timeout_s);
  const std::size_t window = static_cast<std::size_t>(std::max(1, opt_.connect_concurrency / opt_.threads));
  std::size_t next = 0;
  std::size_t busy = 0;  // clients between connecting and ready
  std::size_t ready = 0;
  event_batch events;
  while (ready < clients_.size()) {
    while (busy < window && next < clients_.size()) {
      if (!start_connect(clients_[next])) return;
      ++next;
      ++busy;
    }
    const nanos now = now_ns();
    if (now >= give_up) {
      setup_error_ = std::to_string(clients_.size() - ready) + " of " + std::to_string(clients_.size()) +
                     " clients of this thread not set up within " + std::to_string(static_cast<int>(opt_.setup_timeout_s)) + " s";
      return;
    }
    const int n = wait(events, std::min<nanos>(give_up - now, 100'000'000));
    for (int i = 0; i < n; ++i) {
      client& c = clients_[events[static_cast<std::size_t>(i)].data.u32];
      const std::uint32_t ev = events[static_cast<std::size_t>(i)].events;
      if (c.state == client_state::closed) continue;
      if (c.state == client_state::connecting) {
        int so_error = 0;
        socklen_t len = sizeof so_error;
        ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
        if (so_error != 0) {
          setup_error_ = "client " + std::to_string(c.id) + ": connect to port " + std::to_string(opt_.port) + ": " + std::strerror(so_error);
          return;
        }
        if (!(ev & EPOLLOUT)) continue;
        c.state = client_state::registering;
        const std::string id = std::to_string(c.id);
        queue(c, "NICK n" + id + "\r\nUSER u" + id + " 0 * :weft-chat-loadgen client " + id + "\r\n");
      }
      const client_state before = c.state;
      if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_lines(c, now_ns(), nullptr);
      if (c.state != client_state::closed && (ev & EPOLLOUT)) write_some(c);
      if (c.state == client_state::closed) {
        setup_error_ = "client " + std::to_string(c.id) + " was closed by the server while " + state_name(before) +
                       (c.last_error.empty() ? "" : ": " + c.last_error);
        return;
      }
      if (!c.last_error.empty() && c.state != client_state::ready) {
        setup_error_ = "client " + std::to_string(c.id) + " while " + state_name(c.state) + ": " + c.last_error;
        return;
      }
      if (before != client_state::ready && c.state == client_state::ready) {
        --busy;
        ++ready;
      }
    }
    flush_dirty();
  }
  // A stalled client stops reading now, for good (until tear_down).
  for (client& c : clients_) {
    if (c.stalled) update_events(c);
  }
  setup_time_ = now_ns() - start;
}

bool load_thread::start_connect(client& c) {
  c.fd = ::socket(shared_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) {
    setup_error_ = "socket: " + std::string(std::strerror(errno)) + " (descriptor limit? ulimit -n)";
    return false;
  }
  const int one = 1;
  ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (c.stalled && opt_.stalled_rcvbuf > 0) {
    // Before connect, so that the server sees a small window and a small
    // segment size. The segment size matters more: over loopback (MSS
    // about 64 KiB) the server's kernel grows its send buffer for this
    // socket to 4 MiB (tcp_wmem's maximum) and would absorb the whole run's
    // output to the stalled client, so the server's own queue for it, what
    // this scenario is about, would never fill. With 536-byte segments it
    // stays in the tens of KiB.
    ::setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &opt_.stalled_rcvbuf, sizeof opt_.stalled_rcvbuf);
    const int small_segment = 536;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_MAXSEG, &small_segment, sizeof small_segment);
  }
  for (;;) {
    if (source_address_ > 1 && !bind_source(c)) return false;
    if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&shared_.addr), shared_.addr_len) == 0 || errno == EINPROGRESS) break;
    if (errno == EADDRNOTAVAIL && shared_.addr.ss_family == AF_INET && source_address_ < 254) {
      // Out of ephemeral ports towards this server from this source
      // address: move this thread to the next 127.0.0.x (a new socket,
      // since a failed connect leaves this one unusable for a retry).
      source_address_ = std::max<std::int64_t>(source_address_ + 1, shared_.next_source_address.fetch_add(1) + 1);
      ::close(c.fd);
      c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (c.fd < 0) {
        setup_error_ = "socket: " + std::string(std::strerror(errno));
        return false;
      }
      ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      continue;
    }
    setup_error_ = "client " + std::to_string(c.id) + ": connect to port " + std::to_string(opt_.port) + ": " + std::strerror(errno);
    return false;
  }
  c.state = client_state::connecting;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.u32 = static_cast<std::uint32_t>(&c - clients_.data());
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev) != 0) {
    setup_error_ = "epoll_ctl: " + std::string(std::strerror(errno));
    return false;
  }
  c.want_write = true;  // EPOLLOUT is armed until the connection is up and flushed
  return true;
}

bool load_thread::bind_source(client& c) {
  sockaddr_in src{};
  src.sin_family = AF_INET;
  src.sin_addr.s_addr = htonl((127u << 24) | static_cast<std::uint32_t>(source_address_));
  const int one = 1;
  ::setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  if (::bind(c.fd, reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0) {
    setup_error_ = "bind to 127.0.0." + std::to_string(source_address_) + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

void load_thread::idle(const step_plan& plan) {
  event_batch events;
  if (index_ == 0) step_.cpu_start = sample_cpu(opt_.server_pid);
  for (nanos now = now_ns(); now < plan.window_end; now = now_ns()) {
    const int n = wait(events, plan.window_end - now);
    handle(events, n, nullptr);
    flush_dirty();
  }
  if (index_ == 0) step_.cpu_end = sample_cpu(opt_.server_pid);
}

void load_thread::load(const step_plan& plan) {
  const std::size_t sender_count = shared_.senders.size();
  const double period = 1e9 / plan.rate;
  auto scheduled = [&](std::uint64_t k) { return plan.start + static_cast<nanos>(static_cast<double>(k) * period); };
  // The next message index whose sender belongs to this thread.
  auto own_from = [&](std::uint64_t k) {
    while (static_cast<int>(shared_.senders[(plan.first_turn + k) % sender_count] % static_cast<std::uint32_t>(opt_.threads)) != index_) ++k;
    return k;
  };
  std::uint64_t k = has_senders_ ? own_from(0) : 0;
  bool sending = has_senders_;
  if (!sending) shared_.threads_done_sending.fetch_add(1, std::memory_order_release);
  bool cpu_started = index_ != 0;
  bool cpu_ended = index_ != 0;
  event_batch events;
  for (;;) {
    nanos now = now_ns();
    if (!cpu_started && now >= plan.window_start) {
      cpu_started = true;
      step_.cpu_start = sample_cpu(opt_.server_pid);
    }
    if (!cpu_ended && now >= plan.window_end) {
      cpu_ended = true;
      step_.cpu_end = sample_cpu(opt_.server_pid);
    }
    if (sending) {
      for (nanos at = scheduled(k); at <= now && at < plan.window_end && !overloaded_; at = scheduled(k)) {
        const std::uint32_t sender = shared_.senders[(plan.first_turn + k) % sender_count];
        send_message(clients_[sender / static_cast<std::uint32_t>(opt_.threads)], at, now, plan);
        k = own_from(k + 1);
      }
      if (scheduled(k) >= plan.window_end || overloaded_) {
        sending = false;
        shared_.threads_done_sending.fetch_add(1, std::memory_order_release);  // pairs with drained()'s acquire
      }
      flush_dirty();
    }
    if (!sending && cpu_ended && drained()) break;
    if (now >= plan.drain_end) {
      step_.drained = drained();
      break;
    }
    nanos wake = plan.drain_end;
    if (sending) wake = std::min(wake, scheduled(k));
    if (!cpu_started) wake = std::min(wake, plan.window_start);
    if (!cpu_ended) wake = std::min(wake, plan.window_end);
    // While draining, look at the counters at least every 2 ms: another
    // thread's last messages change what this one still expects.
    if (!sending) wake = std::min(wake, now + 2'000'000);
    const int n = wait(events, wake - now);
    handle(events, n, &plan);
    flush_dirty();
  }
  step_.overloaded = overloaded_;
}

void load_thread::send_message(client& c, nanos at, nanos now, const step_plan& plan) {
  if (c.state != client_state::ready) return;  // closed by the server: its losses are counted at the end
  if (c.output.size() - c.output_off >= max_unsent_bytes) {
    overloaded_ = true;
    return;
  }
  const std::uint32_t room = shared_.room_of[c.id];
  const std::uint64_t seq = shared_.sent[c.id].load(std::memory_order_relaxed);
  const std::string_view channel = channel_name(room);
  char line[600];
  std::size_t len = 0;
  auto put = [&](std::string_view s) {
    std::memcpy(line + len, s.data(), s.size());
    len += s.size();
  };
  put("PRIVMSG ");
  put(channel);
  put(" :");
  make_payload(line + len, opt_.payload_bytes, at, c.id, seq);
  len += static_cast<std::size_t>(opt_.payload_bytes);
  put("\r\n");
  queue(c, std::string_view(line, len));
  // Release: a thread that sees the new count (after done_sending's
  // acquire) also expects the message; the message itself travels
  // through the server, not through memory.
  shared_.sent[c.id].store(seq + 1, std::memory_order_release);
  shared_.room_sent[room].fetch_add(1, std::memory_order_release);
  ++step_.sent;
  if (at >= plan.window_start && at < plan.window_end) {
    step_.send_lag.record(now - at);
    step_.expected_in_window += shared_.room_readers[room] - (c.stalled ? 0 : 1);
  }
}

bool load_thread::drained() const {
  if (shared_.threads_done_sending.load(std::memory_order_acquire) < opt_.threads * (steps_done_ + 1)) return false;
  for (const client& c : clients_) {
    if (c.stalled || c.state != client_state::ready) continue;
    // Stalled clients never send, so everything else sent to the room is for c.
    const std::uint32_t room = shared_.room_of[c.id];
    const std::uint64_t expected = shared_.room_sent[room].load(std::memory_order_acquire) -
                                   shared_.sent[c.id].load(std::memory_order_relaxed);
    if (c.received < expected) return false;
  }
  return true;
}

void load_thread::handle(event_batch& events, int n, const step_plan* plan) {
  const nanos now = now_ns();
  for (int i = 0; i < n; ++i) {
    client& c = clients_[events[static_cast<std::size_t>(i)].data.u32];
    const std::uint32_t ev = events[static_cast<std::size_t>(i)].events;
    if (c.state == client_state::closed) continue;
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_lines(c, now, plan);
    if (c.state != client_state::closed && (ev & EPOLLOUT)) write_some(c);
  }
}

void load_thread::read_lines(client& c, nanos now, const step_plan* plan) {
  char buf[65536];
  for (;;) {
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n == 0) return closed_by_server(c, "connection closed");
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      return closed_by_server(c, std::strerror(errno));
    }
    now = now_ns();
    std::string_view data(buf, static_cast<std::size_t>(n));
    while (!data.empty() && c.state != client_state::closed) {
      const std::size_t nl = data.find('\n');
      if (nl == std::string_view::npos) {
        c.input.append(data);
        if (c.input.size() > max_partial_line) {
          ++errors_.garbled;
          errors_.note("client " + std::to_string(c.id) + ": more than 64 KiB without a newline");
          c.input.clear();
        }
        break;
      }
      std::string_view line = data.substr(0, nl);
      data.remove_prefix(nl + 1);
      if (!c.input.empty()) {
        c.input.append(line);
        on_line(c, c.input, now, plan);
        c.input.clear();
      } else {
        on_line(c, line, now, plan);
      }
    }
    if (static_cast<std::size_t>(n) < sizeof buf) return;  // level-triggered: the rest is reported again
  }
}

void load_thread::on_line(client& c, std::string_view line, nanos now, const step_plan* plan) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const irc_line m = split_irc_line(line);
  if (m.command == "PRIVMSG") return delivery(c, m, line, now, plan);
  if (m.command == "PING") {
    queue(c, "PONG :" + std::string(m.trailing()) + "\r\n");
    return;
  }
  if (m.command == "001" && c.state == client_state::registering) {
    if (shared_.rooms == 0) {
      c.state = client_state::ready;
    } else {
      c.state = client_state::joining;
      queue(c, "JOIN " + std::string(channel_name(shared_.room_of[c.id])) + "\r\n");
    }
    return;
  }
  if (m.command == "366" && c.state == client_state::joining && m.param_count >= 2 &&
      equal_ignoring_case(m.params[1], channel_name(shared_.room_of[c.id]))) {
    c.state = client_state::ready;
    return;
  }
  if (m.command == "ERROR") {
    ++errors_.server_errors;
    c.last_error = "ERROR " + std::string(m.trailing());
    errors_.note("client " + std::to_string(c.id) + ": server said " + std::string(line.substr(0, 200)));
    return;
  }
  // Error numerics (400-599): every one is a failure of this tool's
  // expectations (nick taken, cannot join, cannot send, flooding...),
  // except 422, "MOTD file is missing", which ends a normal welcome.
  if (m.command == "422") return;
  if (m.command.size() == 3 && (m.command[0] == '4' || m.command[0] == '5') &&
      std::all_of(m.command.begin(), m.command.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    ++errors_.server_errors;
    c.last_error = std::string(line.substr(0, 200));
    errors_.note("client " + std::to_string(c.id) + " (" + state_name(c.state) + "): " + std::string(line.substr(0, 200)));
  }
}

void load_thread::delivery(client& c, const irc_line& m, std::string_view line, nanos now, const step_plan* plan) {
  payload_fields p;
  if (m.param_count < 2 || !parse_payload(m.trailing(), opt_.payload_bytes, p) ||
      p.sender >= static_cast<std::uint32_t>(opt_.clients) || shared_.rooms == 0) {
    ++errors_.garbled;
    errors_.note("client " + std::to_string(c.id) + ": unexpected or mangled PRIVMSG: " + std::string(line.substr(0, 160)));
    return;
  }
  if (shared_.room_of[p.sender] != shared_.room_of[c.id] || p.sender == c.id) {
    // Intact, but for someone else: another room's, or the sender's own
    // message (IRC does not echo a PRIVMSG to its sender).
    ++errors_.misdelivered;
    errors_.note("client " + std::to_string(c.id) + " (in " + std::string(channel_name(shared_.room_of[c.id])) +
                 ") was sent message #" + std::to_string(p.seq) + " of client " + std::to_string(p.sender) + ": " +
                 std::string(line.substr(0, 160)));
    return;
  }
  const std::uint32_t slot = shared_.slot_of[p.sender];
  std::uint64_t& next = c.next_seq[slot];
  if (p.seq == next) {
    ++next;
  } else if (p.seq > next) {
    c.gaps.push_back({slot, next, p.seq});
    next = p.seq + 1;
  } else if (!fill_gap(c, slot, p.seq)) {
    ++errors_.duplicates;
    errors_.note("client " + std::to_string(c.id) + ": message " + std::to_string(p.seq) + " of client " + std::to_string(p.sender) +
                 " delivered twice");
    return;
  }
  ++c.received;
  ++step_.delivered;
  if (plan != nullptr) {
    if (now >= plan->window_start && now < plan->window_end) ++step_.delivered_in_window;
    if (p.scheduled >= plan->window_start && p.scheduled < plan->window_end) step_.latency.record(now - p.scheduled);
  }
}

bool load_thread::fill_gap(client& c, std::uint32_t slot, std::uint64_t seq) {
  for (std::size_t i = 0; i < c.gaps.size(); ++i) {
    gap& g = c.gaps[i];
    if (g.sender_slot != slot || seq < g.from || seq >= g.to) continue;
    if (seq == g.from) {
      ++g.from;
    } else if (seq + 1 == g.to) {
      --g.to;
    } else {
      const gap tail{slot, seq + 1, g.to};
      g.to = seq;
      c.gaps.push_back(tail);
      return true;
    }
    if (g.from == g.to) {
      c.gaps[i] = c.gaps.back();
      c.gaps.pop_back();
    }
    return true;
  }
  return false;
}

void load_thread::closed_by_server(client& c, const std::string& why) {
  if (c.state == client_state::closed) return;
  c.dropped = true;
  if (c.stalled) {
    c.stalled_dropped = true;
  } else {
    ++errors_.closed_by_server;
    errors_.note("client " + std::to_string(c.id) + " (" + state_name(c.state) + "): " + why +
                 (c.last_error.empty() ? "" : " after: " + c.last_error));
  }
  c.state = client_state::closed;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
}

void load_thread::queue(client& c, std::string_view text) {
  if (c.output_off == c.output.size()) {
    c.output.clear();
    c.output_off = 0;
    if (!c.want_write) dirty_.push_back(static_cast<std::uint32_t>(&c - clients_.data()));
  }
  c.output.append(text);
}

void load_thread::flush_dirty() {
  for (std::uint32_t i : dirty_) {
    client& c = clients_[i];
    if (c.state != client_state::closed && c.state != client_state::connecting && !c.want_write) write_some(c);
  }
  dirty_.clear();
}

void load_thread::write_some(client& c) {
  while (c.output_off < c.output.size()) {
    const ssize_t n = ::send(c.fd, c.output.data() + c.output_off, c.output.size() - c.output_off, MSG_NOSIGNAL);
    if (n > 0) {
      c.output_off += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!c.want_write) {
        c.want_write = true;
        update_events(c);
      }
      return;
    }
    return closed_by_server(c, n < 0 ? std::strerror(errno) : "send returned 0");
  }
  c.output.clear();
  c.output_off = 0;
  if (c.want_write) {
    c.want_write = false;
    update_events(c);
  }
}

void load_thread::update_events(client& c) {
  const bool reads = !c.stalled || c.state != client_state::ready || tearing_down_;
  epoll_event ev{};
  ev.events = (reads ? EPOLLIN : 0u) | (c.want_write ? EPOLLOUT : 0u);
  ev.data.u32 = static_cast<std::uint32_t>(&c - clients_.data());
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
}

int load_thread::wait(event_batch& events, nanos timeout) {
  if (timeout < 0) timeout = 0;
  const timespec ts{static_cast<time_t>(timeout / 1'000'000'000), static_cast<long>(timeout % 1'000'000'000)};
  int n = ::epoll_pwait2(epoll_fd_, events.data(), static_cast<int>(events.size()), &ts, nullptr);
  if (n < 0 && errno == ENOSYS) {  // kernels before 5.11: millisecond timeouts, rounded up
    n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), static_cast<int>((timeout + 999'999) / 1'000'000));
  }
  return std::max(n, 0);
}

std::string_view load_thread::channel_name(std::uint32_t room) {
  if (channel_names_.empty()) {
    channel_names_.reserve(static_cast<std::size_t>(shared_.rooms));
    for (int r = 0; r < shared_.rooms; ++r) channel_names_.push_back("#r" + std::to_string(r));
  }
  return channel_names_[room];
}

void load_thread::tear_down() {
  event_batch events;
  // First the stalled clients: read what the server queued for them. An
  // end of stream (or an ERROR) before this loadgen's QUIT means the
  // server had dropped them.
  tearing_down_ = true;
  const nanos read_until = now_ns() + 2'000'000'000;
  bool any_stalled = false;
  for (client& c : clients_) {
    if (c.stalled && c.state == client_state::ready && c.fd >= 0) {
      any_stalled = true;
      update_events(c);
    }
  }
  if (any_stalled) {
    nanos quiet_since = now_ns();
    for (nanos now = quiet_since; now < read_until && now - quiet_since < 200'000'000; now = now_ns()) {
      const int n = wait(events, 50'000'000);
      if (n > 0) quiet_since = now_ns();
      for (int i = 0; i < n; ++i) {
        client& c = clients_[events[static_cast<std::size_t>(i)].data.u32];
        if (c.state == client_state::closed) continue;
        if (c.stalled) drain_stalled(c);
        else if (events[static_cast<std::size_t>(i)].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_lines(c, now_ns(), nullptr);
      }
    }
  }
  // QUIT everywhere, and wait up to 2 s for the server to close.
  std::size_t open = 0;
  for (client& c : clients_) {
    if (c.fd < 0 || c.state == client_state::closed) continue;
    queue(c, "QUIT :weft-chat-loadgen done\r\n");
    ++open;
  }
  flush_dirty();
  const nanos give_up = now_ns() + 2'000'000'000;
  while (open > 0 && now_ns() < give_up) {
    const int n = wait(events, 50'000'000);
    for (int i = 0; i < n; ++i) {
      client& c = clients_[events[static_cast<std::size_t>(i)].data.u32];
      if (c.state == client_state::closed) continue;
      char buf[65536];
      ssize_t got;
      while ((got = ::recv(c.fd, buf, sizeof buf, 0)) > 0) {
      }
      if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        c.state = client_state::closed;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
        --open;
      } else if (events[static_cast<std::size_t>(i)].events & EPOLLOUT) {
        write_some(c);
      }
    }
  }
  for (client& c : clients_) {
    if (c.fd < 0) continue;
    const linger reset{1, 0};
    ::setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::close(c.fd);
    c.fd = -1;
  }
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  epoll_fd_ = -1;
}

void load_thread::drain_stalled(client& c) {
  char buf[65536];
  for (;;) {
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n > 0) {
      if (std::string_view(buf, static_cast<std::size_t>(n)).find("ERROR ") != std::string_view::npos) c.stalled_dropped = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    c.stalled_dropped = true;  // end of stream or reset, before our QUIT
    c.state = client_state::closed;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
    return;
  }
}

}  // namespace chat_bench
