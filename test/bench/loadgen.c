/*
 * loadgen: the load generator of `npm run bench`. It starts its own target
 * servers on loopback, drives them through a SOCKS5 proxy (or directly, for
 * the ceiling), checks every byte it receives, and prints one JSON line.
 *
 *   loadgen throughput PROXY|direct down|up STREAMS SECONDS
 *   loadgen sessions   PROXY|direct CLIENTS SECONDS ipv4|domain
 *   loadgen idle       PROXY COUNT            (prints "ready N", holds until stdin closes)
 *   loadgen udp        PROXY SECONDS WINDOW
 *   loadgen latency    PROXY ROUNDS COUNT     (sequential sessions, p50/p99 per round)
 *   loadgen slowloris  PROXY COUNT INTERVAL_MS LIMIT_S
 *                                            (prints "ready N", then how long the proxy let each live)
 *
 * PROXY is host:port. Threads with blocking sockets keep it simple; one
 * thread per stream and per client is plenty on loopback, and the direct
 * runs show the ceiling it reaches.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define BUF (128 * 1024)
#define MAX_STREAMS 1024

static const char *proxy_host;
static int proxy_port = 0; /* 0: direct */
static volatile int stop_flag = 0;

static void die(const char *what) {
  fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
  exit(2);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Every mode measures after a short warm-up, so connection set-up, TCP slow
 * start and a JIT-compiled proxy's first calls do not count: the figures
 * are of a proxy that has been running, as in production.
 */
static double warm_up_for(double seconds) { return seconds > 2 ? 0.5 : 0.2; }

/*
 * The session mode warms up longer. A freshly started JIT-compiled proxy
 * (hasocks on Node) runs its per-session code in V8's lower tiers for its
 * first ~15k sessions: measured in 1.5 s slices on one hasocks, 1500-2100
 * sessions/s, then 2000-2500, then 3000-3600 from the third slice on.
 * Dante's rate is flat from the first slice. 4 s (1 s with --quick) puts
 * the measurement in the steady state that a running proxy is in.
 */
static double session_warm_up_for(double seconds) { return seconds > 2 ? 4.0 : 1.0; }

static int read_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r <= 0) return -1;
    got += r;
  }
  return 0;
}

static int write_full(int fd, const void *buf, size_t n) {
  size_t put = 0;
  while (put < n) {
    ssize_t w = write(fd, (const char *)buf + put, n - put);
    if (w <= 0) return -1;
    put += w;
  }
  return 0;
}

/* A listening TCP socket on 127.0.0.1 with a kernel-chosen port. */
static int listen_any(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4096) < 0) die("listen");
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  *port = ntohs(a.sin_port);
  return fd;
}

static int tcp_connect(const char *host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, host, &a.sin_addr);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

/*
 * A SOCKS5 request for 127.0.0.1:port, by IPv4 address or by the name
 * "localhost" (domain ATYP). Returns its length; `out` needs 16 bytes.
 */
static int socks_request(unsigned char *out, int command, int port, int domain) {
  int n = 0;
  out[n++] = 5; out[n++] = command; out[n++] = 0;
  if (domain) {
    out[n++] = 3; out[n++] = 9; memcpy(out + n, "localhost", 9); n += 9;
  } else {
    out[n++] = 1; out[n++] = 127; out[n++] = 0; out[n++] = 0; out[n++] = 1;
  }
  out[n++] = port >> 8; out[n++] = port & 255;
  return n;
}

/*
 * A connection to the target at 127.0.0.1:port, through the proxy when there
 * is one: greeting (no auth), then CONNECT. The request waits for the method
 * reply, as curl does; microsocks, for one, drops a request that arrives with
 * the greeting. Returns -1 on any failure.
 */
static int open_session(int port) {
  if (!proxy_port) return tcp_connect("127.0.0.1", port);
  int fd = tcp_connect(proxy_host, proxy_port);
  if (fd < 0) return -1;
  static const unsigned char greeting[] = {5, 1, 0};
  unsigned char req[16];
  int n = socks_request(req, 1, port, 0);
  unsigned char method[2], rep[10] = {0};
  if (write_full(fd, greeting, sizeof greeting) < 0 || read_full(fd, method, 2) < 0 || method[1] != 0 ||
      write_full(fd, req, n) < 0 || read_full(fd, rep, 10) < 0 || rep[0] != 5 || rep[1] != 0 || rep[3] != 1) {
    close(fd);
    return -1;
  }
  return fd;
}

/* ---- throughput: a byte pattern that every reader verifies ---- */

/*
 * Byte i of a stream is table[i % PERIOD]. The period is prime, so it never
 * lines up with chunk sizes, and wrong, repeated or skipped data shows. The
 * table is PERIOD + BUF long: the bytes from any offset on lie contiguous in
 * it, so sending is one write from the table and checking is one memcmp.
 * (A per-byte pattern function capped the direct ceiling at ~0.5 GB/s.)
 */
#define PERIOD 4093
static unsigned char table[PERIOD + BUF];

static void make_table(void) {
  uint32_t x = 2463534242u; /* xorshift32: bytes that look random */
  for (int k = 0; k < PERIOD; k++) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    table[k] = (unsigned char)x;
  }
  for (int k = PERIOD; k < PERIOD + BUF; k++) table[k] = table[k - PERIOD];
}

static inline const unsigned char *pattern_at(uint64_t offset) { return table + offset % PERIOD; }

struct stream {
  int fd;
  _Atomic uint64_t bytes;
  _Atomic int bad;
};

static struct stream receivers[MAX_STREAMS], senders[MAX_STREAMS];

/* Send the pattern until stopped or the peer goes. */
static void *sender(void *arg) {
  struct stream *s = arg;
  uint64_t offset = 0;
  while (!stop_flag) {
    ssize_t w = write(s->fd, pattern_at(offset), BUF);
    if (w <= 0) break;
    offset += w;
  }
  return NULL;
}

/* Read and verify until EOF; counts what arrived. */
static void *receiver(void *arg) {
  struct stream *s = arg;
  unsigned char *buf = malloc(BUF);
  uint64_t offset = 0;
  for (;;) {
    ssize_t r = read(s->fd, buf, BUF);
    if (r <= 0) break;
    if (memcmp(buf, pattern_at(offset), r) != 0) atomic_store(&s->bad, 1);
    offset += r;
    atomic_store(&s->bytes, offset);
  }
  free(buf);
  return NULL;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int run_throughput(const char *dir, int count, double seconds) {
  int port, lfd = listen_any(&port);
  int download = strcmp(dir, "down") == 0;
  pthread_t threads[2 * MAX_STREAMS];
  for (int i = 0; i < count; i++) {
    int client = open_session(port);
    if (client < 0) die("session");
    int server = accept(lfd, NULL, NULL);
    senders[i].fd = download ? server : client;
    receivers[i].fd = download ? client : server;
  }
  for (int i = 0; i < count; i++) {
    pthread_create(&threads[2 * i], NULL, receiver, &receivers[i]);
    pthread_create(&threads[2 * i + 1], NULL, sender, &senders[i]);
  }
  usleep((useconds_t)(warm_up_for(seconds) * 1e6));
  uint64_t start_bytes[MAX_STREAMS];
  for (int i = 0; i < count; i++) start_bytes[i] = atomic_load(&receivers[i].bytes);
  double t0 = now_s();
  usleep((useconds_t)(seconds * 1e6));
  double elapsed = now_s() - t0;
  double rates[MAX_STREAMS], total = 0;
  for (int i = 0; i < count; i++) {
    rates[i] = (atomic_load(&receivers[i].bytes) - start_bytes[i]) / elapsed;
    total += rates[i];
  }
  stop_flag = 1;
  int bad = 0;
  for (int i = 0; i < count; i++) {
    shutdown(senders[i].fd, SHUT_RDWR);
    shutdown(receivers[i].fd, SHUT_RDWR);
  }
  for (int i = 0; i < 2 * count; i++) pthread_join(threads[i], NULL);
  for (int i = 0; i < count; i++) bad |= atomic_load(&receivers[i].bad);
  qsort(rates, count, sizeof rates[0], cmp_double);
  printf("{\"bytesPerSecond\":%.0f,\"slowest\":%.0f,\"fastest\":%.0f,\"fairness\":%.4f,\"corrupt\":%s}\n", total, rates[0], rates[count - 1],
         rates[count - 1] > 0 ? rates[0] / rates[count - 1] : 0, bad ? "true" : "false");
  return bad ? 1 : 0;
}

/* ---- sessions: connect, handshake, CONNECT, 32-byte echo, close ---- */

static int echo_port;

/*
 * The echo target: one epoll thread, since sessions come and go by the
 * thousand. It echoes 32 bytes and then closes, so the TIME_WAIT states land
 * on the listening sides: when clients close first, their TIME_WAITs fill the
 * ephemeral port range within seconds and connect() crawls through it.
 */
static unsigned char echoed[1 << 16];

static void *echo_server(void *arg) {
  int lfd = *(int *)arg;
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  struct epoll_event events[256];
  char buf[32];
  for (;;) {
    int n = epoll_wait(ep, events, 256, -1);
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == lfd) {
        int c;
        while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          int one = 1;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          echoed[c] = 0;
          struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      ssize_t r = read(fd, buf, 32 - echoed[fd]);
      if (r < 0 && errno == EAGAIN) continue;
      if (r <= 0 || write(fd, buf, r) != r || (echoed[fd] += r) >= 32) close(fd);
    }
  }
  return NULL;
}

/*
 * One client of the session mode, as a state machine over a non-blocking
 * socket: all clients share one epoll loop, so the load generator spends a
 * few microseconds per session and the proxy gets the rest of the machine.
 * Each state names what the client waits for, and `want` how many bytes.
 */
enum client_state { CONNECTING, AWAIT_METHOD, AWAIT_REPLY, AWAIT_ECHO, AWAIT_EOF };

struct session_client {
  int fd;
  enum client_state state;
  unsigned char in[64];
  size_t got, want;
  double started;
};

static unsigned char session_request[32], session_request_len;
static const unsigned char echo_message[32] = "hasocks bench: 32 bytes of echo";

static double *latencies;
static size_t latency_count, latency_cap;
static uint64_t sessions_failed, sessions_stuck;
/* Sessions that start before this (the warm-up) are not counted. */
static double measure_from;

static void client_send(struct session_client *c, const void *data, size_t n, enum client_state next, size_t want) {
  if (write(c->fd, data, n) != (ssize_t)n) { c->state = CONNECTING; c->want = 0; return; } /* tiny writes on a fresh socket: all or fail */
  c->state = next;
  c->got = 0;
  c->want = want;
}

static void client_start(int ep, struct session_client *c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(proxy_port ? proxy_port : echo_port)};
  inet_pton(AF_INET, proxy_port ? proxy_host : "127.0.0.1", &a.sin_addr);
  c->started = now_s();
  c->state = CONNECTING;
  c->got = c->want = 0;
  if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) die("connect");
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void client_finish(int ep, struct session_client *c, int ok) {
  close(c->fd); /* also leaves the epoll set */
  if (c->started < measure_from) {
    /* warm-up: not counted */
  } else if (!ok) sessions_failed++;
  else {
    if (latency_count == latency_cap) {
      latency_cap = latency_cap ? latency_cap * 2 : 65536;
      latencies = realloc(latencies, latency_cap * sizeof(double));
    }
    latencies[latency_count++] = now_s() - c->started;
  }
  if (!stop_flag) client_start(ep, c);
  else c->fd = -1;
}

/* Advance one client on readiness; returns when it needs to wait again. */
static void client_step(int ep, struct session_client *c, uint32_t events) {
  if (c->state == CONNECTING) {
    if (!(events & EPOLLOUT)) return;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) return client_finish(ep, c, 0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    static const unsigned char greeting[] = {5, 1, 0};
    if (proxy_port) client_send(c, greeting, sizeof greeting, AWAIT_METHOD, 2);
    else client_send(c, echo_message, 32, AWAIT_ECHO, 32);
    if (c->state == CONNECTING) client_finish(ep, c, 0);
    return;
  }
  for (;;) {
    ssize_t r = read(c->fd, c->in + c->got, c->want - c->got + (c->state == AWAIT_EOF));
    if (r < 0 && errno == EAGAIN) return;
    if (r == 0 && c->state == AWAIT_EOF) return client_finish(ep, c, 1); /* the target closed, and the proxy passed it on */
    if (r <= 0) return client_finish(ep, c, 0);
    c->got += r;
    if (c->got < c->want) continue;
    switch (c->state) {
    case AWAIT_METHOD:
      if (c->in[1] != 0) return client_finish(ep, c, 0);
      client_send(c, session_request, session_request_len, AWAIT_REPLY, 10);
      break;
    case AWAIT_REPLY:
      if (c->in[1] != 0 || c->in[3] != 1) return client_finish(ep, c, 0);
      client_send(c, echo_message, 32, AWAIT_ECHO, 32);
      break;
    case AWAIT_ECHO:
      if (memcmp(c->in, echo_message, 32) != 0) return client_finish(ep, c, 0);
      c->state = AWAIT_EOF;
      c->got = c->want = 0;
      continue;
    case AWAIT_EOF: /* data after the echo */
      return client_finish(ep, c, 0);
    case CONNECTING:
      break;
    }
    if (c->state == CONNECTING) return client_finish(ep, c, 0);
  }
}

static int run_sessions(int clients, double seconds, int domain) {
  int lfd = listen_any(&echo_port);
  fcntl(lfd, F_SETFL, O_NONBLOCK); /* the echo thread accepts until EAGAIN */
  pthread_t server;
  pthread_create(&server, NULL, echo_server, &lfd);

  int n = socks_request(session_request, 1, echo_port, domain);
  session_request_len = n;

  int ep = epoll_create1(0);
  struct session_client *all = calloc(clients, sizeof *all);
  double t0 = now_s();
  measure_from = t0 + session_warm_up_for(seconds);
  double end = measure_from + seconds;
  for (int i = 0; i < clients; i++) client_start(ep, &all[i]);
  struct epoll_event events[256];
  double next_sweep = t0 + 0.1;
  while (now_s() < end) {
    int k = epoll_wait(ep, events, 256, 10);
    for (int i = 0; i < k; i++) client_step(ep, events[i].data.ptr, events[i].events);
    if (now_s() < next_sweep) continue;
    /* A session that has waited a second for the proxy is stuck: count it and start over. */
    next_sweep = now_s() + 0.1;
    for (int i = 0; i < clients; i++)
      if (next_sweep - all[i].started > 1.0) {
        if (all[i].started >= measure_from) sessions_stuck++;
        client_finish(ep, &all[i], 0);
      }
  }
  double elapsed = now_s() - measure_from;
  stop_flag = 1;
  for (int i = 0; i < clients; i++) if (all[i].fd >= 0) close(all[i].fd);

  qsort(latencies, latency_count, sizeof(double), cmp_double);
  double p50 = latency_count ? latencies[latency_count / 2] : 0, p99 = latency_count ? latencies[(size_t)(latency_count * 0.99)] : 0;
  printf("{\"sessionsPerSecond\":%.0f,\"p50ms\":%.3f,\"p99ms\":%.3f,\"failed\":%lu,\"stuck\":%lu}\n", latency_count / elapsed, p50 * 1e3, p99 * 1e3,
         (unsigned long)sessions_failed, (unsigned long)sessions_stuck);
  return 0;
}

/* ---- latency: one session at a time, as a new client sees the proxy ---- */

/*
 * connect, greeting, CONNECT, one 32-byte echo: the time a client waits
 * before its first byte has made the round trip. Then the target closes
 * (so TIME_WAIT lands on the listening sides, as in the session mode) and
 * the client waits for the proxy to pass that on before the next session:
 * one session at a time measures what the proxy adds, not a queue.
 * Returns the latency in seconds, or -1 on any failure (including 2 s of silence).
 */
static double latency_session(const unsigned char *req, int req_len) {
  static const unsigned char greeting[] = {5, 1, 0};
  unsigned char method[2], rep[10], back[32], eof;
  double t0 = now_s();
  int fd = tcp_connect(proxy_host, proxy_port);
  if (fd < 0) return -1;
  struct timeval tv = {.tv_sec = 2};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int ok = write_full(fd, greeting, sizeof greeting) == 0 && read_full(fd, method, 2) == 0 && method[0] == 5 && method[1] == 0 &&
           write_full(fd, req, req_len) == 0 && read_full(fd, rep, 10) == 0 && rep[0] == 5 && rep[1] == 0 &&
           write_full(fd, echo_message, 32) == 0 && read_full(fd, back, 32) == 0 && memcmp(back, echo_message, 32) == 0;
  double took = now_s() - t0;
  if (ok) ok = read(fd, &eof, 1) == 0;
  close(fd);
  return ok ? took : -1;
}

/*
 * ROUNDS rounds of COUNT sessions after a warm-up of 500 (a JIT-compiled
 * proxy's first sessions run in V8's lower tiers). Per-round figures let
 * the caller take a median, so one burst of load from something else on
 * the machine moves one round, not the result.
 */
static int run_latency(int rounds, int count) {
  int lfd = listen_any(&echo_port);
  fcntl(lfd, F_SETFL, O_NONBLOCK); /* the echo thread accepts until EAGAIN */
  pthread_t server;
  pthread_create(&server, NULL, echo_server, &lfd);
  unsigned char req[16];
  int req_len = socks_request(req, 1, echo_port, 0);
  int failed = 0;
  for (int i = 0; i < 500; i++) failed += latency_session(req, req_len) < 0;
  double *lat = calloc(count, sizeof(double));
  printf("{\"warmUpFailed\":%d,\"rounds\":[", failed);
  failed = 0;
  for (int r = 0; r < rounds; r++) {
    int n = 0;
    for (int i = 0; i < count; i++) {
      double t = latency_session(req, req_len);
      if (t < 0) failed++;
      else lat[n++] = t;
    }
    qsort(lat, n, sizeof lat[0], cmp_double);
    printf("%s{\"n\":%d,\"p50ms\":%.3f,\"p99ms\":%.3f,\"maxms\":%.3f}", r ? "," : "", n, n ? lat[n / 2] * 1e3 : 0, n ? lat[(size_t)(n * 0.99)] * 1e3 : 0,
           n ? lat[n - 1] * 1e3 : 0);
  }
  printf("],\"failed\":%d}\n", failed);
  return 0;
}

/* ---- slowloris: clients that drip a valid-looking handshake and never finish it ---- */

/*
 * A SOCKS5 greeting and a CONNECT to "localhost" port 9: 19 bytes, so at one
 * byte per interval the handshake is never complete within any negotiate
 * timeout a test sets. Even clients drip from the greeting's first byte;
 * odd clients send the greeting whole and drip the request, so both phases
 * of the handshake are held open.
 */
static const unsigned char loris_handshake[] = {5, 1, 0, 5, 1, 0, 3, 9, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't', 0, 9};
#define LORIS_GREETING 3

struct loris {
  int fd;
  size_t sent;
  double opened, closed;
  int reset; /* closed by RST rather than FIN */
};

static void loris_closed(struct loris *l, int reset) {
  l->closed = now_s();
  l->reset = reset;
  close(l->fd);
  l->fd = -1;
}

/*
 * Open COUNT connections, print "ready N" once all are open and have sent
 * their first bytes, drip one more byte per client every INTERVAL_MS, and
 * note when the proxy closes each. After all are closed, or LIMIT_S, print
 * how long each lived (from the moment its connect returned).
 */
static int run_slowloris(int count, int interval_ms, double limit_s) {
  struct loris *all = calloc(count, sizeof *all);
  int ep = epoll_create1(0);
  for (int i = 0; i < count; i++) {
    struct loris *l = &all[i];
    l->fd = tcp_connect(proxy_host, proxy_port);
    if (l->fd < 0) die("slowloris connect");
    l->opened = now_s();
    l->sent = i % 2 ? LORIS_GREETING : 1;
    if (write_full(l->fd, loris_handshake, l->sent) < 0) die("slowloris first bytes");
    fcntl(l->fd, F_SETFL, O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = l};
    epoll_ctl(ep, EPOLL_CTL_ADD, l->fd, &ev);
  }
  printf("ready %d\n", count);
  fflush(stdout);
  int open = count;
  double interval = interval_ms / 1e3, end = now_s() + limit_s;
  struct epoll_event events[256];
  unsigned char sink[256];
  while (open > 0 && now_s() < end) {
    int k = epoll_wait(ep, events, 256, 10);
    for (int i = 0; i < k; i++) {
      struct loris *l = events[i].data.ptr;
      if (l->fd < 0) continue;
      for (;;) { /* the method reply (05 00) is read and ignored; what matters is the close */
        ssize_t r = read(l->fd, sink, sizeof sink);
        if (r > 0) continue;
        if (r < 0 && errno == EAGAIN) break;
        loris_closed(l, r < 0);
        open--;
        break;
      }
    }
    double now = now_s();
    for (int i = 0; i < count; i++) {
      struct loris *l = &all[i];
      if (l->fd < 0 || l->sent >= sizeof loris_handshake) continue;
      size_t first = i % 2 ? LORIS_GREETING : 1; /* bytes sent on connect */
      if (now - l->opened < (l->sent - first + 1) * interval) continue;
      if (write(l->fd, loris_handshake + l->sent, 1) == 1) l->sent++;
      else if (errno != EAGAIN) {
        loris_closed(l, 1);
        open--;
      }
    }
  }
  double *lived = calloc(count, sizeof(double));
  int closed = 0, resets = 0;
  size_t most_sent = 0;
  for (int i = 0; i < count; i++) {
    if (all[i].sent > most_sent) most_sent = all[i].sent;
    if (all[i].fd >= 0) continue;
    lived[closed++] = all[i].closed - all[i].opened;
    resets += all[i].reset;
  }
  qsort(lived, closed, sizeof lived[0], cmp_double);
  printf("{\"count\":%d,\"closed\":%d,\"resets\":%d,\"mostBytesSent\":%zu,\"minMs\":%.1f,\"p50Ms\":%.1f,\"maxMs\":%.1f}\n", count, closed, resets, most_sent,
         closed ? lived[0] * 1e3 : 0, closed ? lived[closed / 2] * 1e3 : 0, closed ? lived[closed - 1] * 1e3 : 0);
  return 0;
}

/* ---- idle: hold COUNT open sessions so the bench can weigh the proxy ---- */

static void *idle_acceptor(void *arg) {
  int lfd = *(int *)arg;
  while (!stop_flag) {
    int c = accept(lfd, NULL, NULL);
    if (c < 0 && errno != EINTR) break;
  }
  return NULL;
}

static int run_idle(int count) {
  int port, lfd = listen_any(&port);
  pthread_t acceptor;
  pthread_create(&acceptor, NULL, idle_acceptor, &lfd);
  int opened = 0;
  for (int i = 0; i < count; i++) {
    int fd = open_session(port);
    if (fd < 0) break;
    opened++;
  }
  printf("ready %d\n", opened);
  fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0) {
  }
  return opened == count ? 0 : 1;
}

/* ---- udp: datagrams through one association, a window of them in flight ---- */

static int run_udp(double seconds, int window) {
  int target = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in ta = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(target, (struct sockaddr *)&ta, sizeof ta) < 0) die("udp bind");
  socklen_t len = sizeof ta;
  getsockname(target, (struct sockaddr *)&ta, &len);
  int tport = ntohs(ta.sin_port);
  int big = 4 << 20;
  setsockopt(target, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);

  /* The association: a control connection, and the relay address it names. */
  int ctl = tcp_connect(proxy_host, proxy_port);
  unsigned char greeting[] = {5, 1, 0}, req[16];
  int req_len = socks_request(req, 3, 0, 0); /* UDP ASSOCIATE, from 127.0.0.1, any port */
  unsigned char method[2], rep[10];
  if (ctl < 0 || write_full(ctl, greeting, sizeof greeting) < 0 || read_full(ctl, method, 2) < 0 || write_full(ctl, req, req_len) < 0 ||
      read_full(ctl, rep, 10) < 0 || rep[1] != 0 || rep[3] != 1)
    die("udp associate");
  struct sockaddr_in relay = {.sin_family = AF_INET};
  memcpy(&relay.sin_addr, rep + 4, 4);
  memcpy(&relay.sin_port, rep + 8, 2);
  if (relay.sin_addr.s_addr == 0) relay.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  int client = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in ca = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  bind(client, (struct sockaddr *)&ca, sizeof ca);
  setsockopt(client, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  connect(client, (struct sockaddr *)&relay, sizeof relay);

  /* 64-byte payloads after the 10-byte SOCKS header; the target echoes what it gets. */
  unsigned char dgram[10 + 64], in[2048];
  dgram[0] = dgram[1] = dgram[2] = 0; dgram[3] = 1;
  dgram[4] = 127; dgram[5] = 0; dgram[6] = 0; dgram[7] = 1;
  dgram[8] = tport >> 8; dgram[9] = tport & 255;
  uint64_t sent = 0, received = 0, lost = 0, corrupt = 0, seq = 0;
  double t0 = now_s(), measure_start = t0 + warm_up_for(seconds), end = measure_start + seconds, last_progress = t0;
  uint64_t received_before = 0; /* at the end of the warm-up; loss and corruption count throughout */
  int measuring = 0;
  struct pollfd fds[2] = {{.fd = client, .events = POLLIN}, {.fd = target, .events = POLLIN}};
  while (now_s() < end) {
    if (!measuring && now_s() >= measure_start) {
      measuring = 1;
      received_before = received;
    }
    while (sent - received - lost < (uint64_t)window) {
      uint64_t s64 = seq++;
      memcpy(dgram + 10, &s64, 8);
      memset(dgram + 18, (int)(s64 & 255), 56);
      if (send(client, dgram, sizeof dgram, 0) < 0) break;
      sent++;
    }
    int n = poll(fds, 2, 50);
    if (n == 0 && now_s() - last_progress > 0.2) {
      /* The window stalled: count what is out as lost and carry on. */
      lost = sent - received;
      last_progress = now_s();
      continue;
    }
    if (fds[1].revents & POLLIN) {
      struct sockaddr_in from;
      socklen_t fl = sizeof from;
      ssize_t r;
      while ((r = recvfrom(target, in, sizeof in, MSG_DONTWAIT, (struct sockaddr *)&from, &fl)) > 0) sendto(target, in, r, 0, (struct sockaddr *)&from, fl);
    }
    if (fds[0].revents & POLLIN) {
      ssize_t r;
      while ((r = recv(client, in, sizeof in, MSG_DONTWAIT)) > 0) {
        if (r != (ssize_t)sizeof dgram || in[3] != 1) { corrupt++; continue; }
        uint64_t s64;
        memcpy(&s64, in + 10, 8);
        if (in[18] != (unsigned char)(s64 & 255)) corrupt++;
        received++;
        last_progress = now_s();
      }
    }
  }
  double elapsed = now_s() - measure_start;
  printf("{\"datagramsPerSecond\":%.0f,\"sent\":%lu,\"lost\":%lu,\"corrupt\":%lu}\n", (double)(received - received_before) / elapsed, (unsigned long)sent, (unsigned long)lost, (unsigned long)corrupt);
  close(ctl);
  return 0;
}

static void set_proxy(const char *arg) {
  if (strcmp(arg, "direct") == 0) return;
  static char host[64];
  const char *colon = strrchr(arg, ':');
  if (!colon || colon - arg >= (long)sizeof host) { fprintf(stderr, "loadgen: bad proxy %s\n", arg); exit(2); }
  memcpy(host, arg, colon - arg);
  host[colon - arg] = 0;
  proxy_host = host;
  proxy_port = atoi(colon + 1);
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc < 3) {
    fprintf(stderr, "usage: loadgen throughput|sessions|idle|udp|latency|slowloris PROXY|direct ...\n");
    return 2;
  }
  set_proxy(argv[2]);
  make_table();
  if (strcmp(argv[1], "throughput") == 0 && argc == 6) return run_throughput(argv[3], atoi(argv[4]), atof(argv[5]));
  if (strcmp(argv[1], "sessions") == 0 && argc == 6) return run_sessions(atoi(argv[3]), atof(argv[4]), strcmp(argv[5], "domain") == 0);
  if (strcmp(argv[1], "idle") == 0 && argc == 4) return run_idle(atoi(argv[3]));
  if (strcmp(argv[1], "udp") == 0 && argc == 5) return run_udp(atof(argv[3]), atoi(argv[4]));
  if (strcmp(argv[1], "latency") == 0 && argc == 5 && proxy_port) return run_latency(atoi(argv[3]), atoi(argv[4]));
  if (strcmp(argv[1], "slowloris") == 0 && argc == 6 && proxy_port) return run_slowloris(atoi(argv[3]), atoi(argv[4]), atof(argv[5]));
  fprintf(stderr, "loadgen: bad arguments\n");
  return 2;
}
