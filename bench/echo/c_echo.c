/* c-echo-server: a line echo server in plain C over epoll, the floor that
 * weft-echo (samples/echo) is measured against.
 *
 *   c-echo-server [port [threads]]    (port 0 picks a free one; threads 1)
 *
 * Prints "c-echo: listening on port N" once it listens; SIGINT or SIGTERM
 * ends it. It behaves like weft-echo on the wire: a greeting line on
 * connect, then every complete line echoed; a line longer than 4096 bytes
 * (without its '\n') gets an error line and the connection is closed.
 * Unlike weft-echo it listens on 127.0.0.1 only.
 *
 * How it works:
 *   1. Each thread has its own epoll set (level-triggered) holding the
 *      listening socket (EPOLLEXCLUSIVE: one thread is woken per new
 *      connection) and the connections it accepted; nothing is shared
 *      between threads after start.
 *   2. A readable connection is read in 64 KiB chunks. The bytes up to the
 *      last '\n' of what has arrived are echoed with ONE send (several
 *      pipelined lines cost one syscall: what an epoll server written for
 *      speed does, and why this is the floor); the bytes after it wait in
 *      the connection's input buffer for the rest of their line.
 *   3. Back-pressure, as weft's write_all: output the kernel does not take
 *      goes into the connection's output buffer, and the connection stops
 *      reading (EPOLLIN off, EPOLLOUT on) until that buffer is drained. So
 *      memory per connection is bounded by one read chunk plus one line.
 *   4. Accepted sockets get TCP_NODELAY, as weft's do.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { max_line = 4096, chunk_bytes = 65536, max_threads = 64 };

static const char greeting[] = "c echo: type a line\n";
static const char too_long[] = "error: line longer than 4096 bytes; closing\n";

struct connection {
  int fd;
  char* in;          /* a partial line, at most max_line bytes */
  size_t in_len;
  char* out;         /* echo the kernel has not taken yet */
  size_t out_len, out_off, out_cap;
};

struct worker {
  int listen_fd;
  int epoll_fd;
};

static void die(const char* what) {
  fprintf(stderr, "c-echo: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void close_connection(struct worker* w, struct connection* c) {
  epoll_ctl(w->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c->in);
  free(c->out);
  free(c);
}

static void watch(struct worker* w, struct connection* c, int op, unsigned events) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  epoll_ctl(w->epoll_fd, op, c->fd, &ev);
}

/* Writes what it can of data; keeps the rest. Returns 0 if the peer is gone. */
static int send_or_keep(struct worker* w, struct connection* c, const char* data, size_t len) {
  size_t sent = 0;
  if (c->out_off == c->out_len) {  /* nothing queued before: try the kernel first */
    while (sent < len) {
      ssize_t n = send(c->fd, data + sent, len - sent, MSG_NOSIGNAL);
      if (n > 0) { sent += (size_t)n; continue; }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      return 0;
    }
    if (sent == len) return 1;
    c->out_len = c->out_off = 0;
    watch(w, c, EPOLL_CTL_MOD, EPOLLOUT);  /* step 3: stop reading until drained */
  }
  size_t rest = len - sent;
  if (c->out_len + rest > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + rest) cap *= 2;
    char* grown = realloc(c->out, cap);
    if (grown == NULL) return 0;
    c->out = grown;
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, data + sent, rest);
  c->out_len += rest;
  return 1;
}

static int drain_output(struct worker* w, struct connection* c) {
  while (c->out_off < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (n > 0) { c->out_off += (size_t)n; continue; }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 1;
    return 0;
  }
  c->out_len = c->out_off = 0;
  watch(w, c, EPOLL_CTL_MOD, EPOLLIN);
  return 1;
}

/* Checks that no line in data[0, len) is longer than max_line; returns the
 * length of the complete-lines prefix (up to and including the last '\n'),
 * or -1 for an over-long line. `carried` bytes of the first line came in an
 * earlier read. */
static ssize_t complete_lines(const char* data, size_t len, size_t carried) {
  size_t start = 0, done = 0, line_len = carried;
  for (;;) {
    const char* nl = memchr(data + start, '\n', len - start);
    if (nl == NULL) break;
    size_t at = (size_t)(nl - data);
    if (line_len + (at - start) > max_line) return -1;
    done = at + 1;
    start = done;
    line_len = 0;
  }
  if (line_len + (len - start) > max_line) return -1;
  return (ssize_t)done;
}

/* Step 2. Returns 0 when the connection is to be closed. */
static int on_readable(struct worker* w, struct connection* c) {
  char chunk[chunk_bytes];
  for (;;) {
    ssize_t n = recv(c->fd, chunk, sizeof chunk, 0);
    if (n == 0) return 0;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    size_t len = (size_t)n;
    ssize_t done = complete_lines(chunk, len, c->in_len);
    if (done < 0) {
      (void)send(c->fd, too_long, sizeof too_long - 1, MSG_NOSIGNAL);
      return 0;
    }
    if (done > 0) {
      if (c->in_len > 0) {  /* the first line began in an earlier read */
        if (!send_or_keep(w, c, c->in, c->in_len)) return 0;
        c->in_len = 0;
      }
      if (!send_or_keep(w, c, chunk, (size_t)done)) return 0;
    }
    memcpy(c->in + c->in_len, chunk + done, len - (size_t)done);
    c->in_len += len - (size_t)done;
    if (c->out_off < c->out_len) return 1;  /* step 3: output is stuck, read no more */
    if (len < sizeof chunk) return 1;        /* level-triggered: more is reported again */
  }
}

static void on_acceptable(struct worker* w) {
  for (;;) {
    int fd = accept4(w->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) usleep(100000);  /* out of descriptors: pause, do not spin */
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct connection* c = calloc(1, sizeof *c);
    if (c == NULL || (c->in = malloc(max_line)) == NULL) {
      free(c);
      close(fd);
      continue;
    }
    c->fd = fd;
    watch(w, c, EPOLL_CTL_ADD, EPOLLIN);
    if (!send_or_keep(w, c, greeting, sizeof greeting - 1)) close_connection(w, c);
  }
}

static void* run_worker(void* arg) {
  struct worker* w = arg;
  struct epoll_event events[256];
  for (;;) {
    int n = epoll_wait(w->epoll_fd, events, 256, -1);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int i = 0; i < n; ++i) {
      if (events[i].data.ptr == NULL) {
        on_acceptable(w);
        continue;
      }
      struct connection* c = events[i].data.ptr;
      int keep = 1;
      if (events[i].events & EPOLLOUT) keep = drain_output(w, c);
      else if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) keep = on_readable(w, c);
      if (!keep) close_connection(w, c);
    }
  }
  return NULL;
}

int main(int argc, char** argv) {
  int port = argc > 1 ? atoi(argv[1]) : 7777;
  int threads = argc > 2 ? atoi(argv[2]) : 1;
  if (port < 0 || port > 65535 || threads < 1 || threads > max_threads) {
    fprintf(stderr, "usage: c-echo-server [port [threads (1..%d)]]\n", max_threads);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  /* Threads inherit the blocked mask; main alone takes the stop signals. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);

  int listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd < 0) die("socket");
  int one = 1;
  setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listen_fd, (struct sockaddr*)&addr, sizeof addr) != 0) die("bind");
  if (listen(listen_fd, 1024) != 0) die("listen");
  socklen_t len = sizeof addr;
  getsockname(listen_fd, (struct sockaddr*)&addr, &len);
  printf("c-echo: listening on port %d\n", ntohs(addr.sin_port));
  fflush(stdout);

  static struct worker workers[max_threads];
  for (int t = 0; t < threads; ++t) {
    workers[t].listen_fd = listen_fd;
    workers[t].epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (workers[t].epoll_fd < 0) die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL};
    if (epoll_ctl(workers[t].epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev) != 0) die("epoll_ctl(listener)");
    pthread_t id;
    if (pthread_create(&id, NULL, run_worker, &workers[t]) != 0) die("pthread_create");
    pthread_detach(id);
  }
  int signal_number = 0;
  sigwait(&stop, &signal_number);
  return 0;
}
