/*
 * The TCP relay's fast path: a CONNECT or BIND session's two sockets, once
 * the session moves bulk data, are relayed here in C.
 *
 * Why: relaying in JavaScript costs a callback per chunk and, to give every
 * stream its turn, a stop and a restart of the reading socket (two
 * epoll_ctl calls per chunk). That held hasocks to about Dante's speed at 64
 * streams when the load generator itself shared the two cores. Here each
 * socket is polled level-triggered from Node's loop (poller.h): every wake-up
 * is one splice in and one splice out, so each stream gets one read per
 * loop turn (fairness) and the poll set changes only when a peer pushes
 * back.
 *
 * The data path:
 * - A read is a splice() from the socket into an empty pipe, and the pipe
 *   is spliced on to the other socket at once; an emptied pipe goes back to
 *   a pool every relay shares (the loop runs one callback at a time).
 * - What the receiving socket does not take stays in the pipe, which the
 *   direction keeps; reading from that side stops, and the receiving socket
 *   is polled for writability until the pipe is empty. So an idle or
 *   flowing session holds no pipe, and a slow peer holds at most one read's
 *   worth. (Bytes JavaScript had read before the move, and reads when no
 *   pipe can be had, go the same way through a buffer of the direction's
 *   own.)
 * - A FIN is passed on once everything before it is sent (half-close).
 *   When both directions have passed theirs, the relay keeps both sockets
 *   until each peer has acknowledged all it was sent, then closes them and
 *   reports CLOSED (see LINGER_MS).
 * - A reset or other socket error closes both at once.
 * - A socket that is closed before a FIN was passed on to it resets its
 *   peer (reset_on_close), whatever closed it: an error on the other side,
 *   a timeout, a drain, or the process killed.
 *
 * JavaScript hears of a FIN in either direction (for timeout.tcp_fin_wait)
 * and of the end, with the errno of an error. It reads the byte counts and
 * the idle time with tcpRelayStats, and may close the relay at any time.
 */
#define _GNU_SOURCE
#include "tcp_relay.h"
#include "tcp_conn.h"
#include "events.h"
#include "js_call.h"
#include "poller.h"
#include "slot_table.h"
#include "socket_address.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

/*
 * The largest read. Larger reads mean fewer wake-ups per gigabyte, but a
 * 1 MB read made one download stream under iperf3 bimodal (1.0-1.3 GB/s
 * in half the runs, 2.0-2.4 in the rest, Dante 1.4); with 256 KB it was
 * 2.15 GB/s in the median of 9 alternating runs against 1.27, and the
 * repo's bench stayed where it was (64 streams 2.2x / 1.9x of Dante).
 */
#define READ_SIZE (1 << 18)

/*
 * How long a relay whose FINs have both gone on waits for its peers to
 * acknowledge the rest. Passing a byte on only hands it to this node's
 * kernel: if the peer's acknowledgements stop (the VIP it was sent from
 * left the node, or the peer stopped reading), the bytes never arrive, and
 * a session reported CLOSED would be a cut one reported whole. So CLOSED
 * waits for the acknowledgements, and at this deadline carries the count
 * still unacknowledged. The kernel tells of no acknowledgement, so the
 * relays that wait are looked at every LINGER_CHECK_MS.
 */
#define LINGER_MS 2000
#define LINGER_CHECK_MS 10

enum { SIDE_CLIENT = 0, SIDE_TARGET = 1 };
/* A direction is named by the side it reads from: UP reads the client, DOWN reads the target. */
enum { UP = SIDE_CLIENT, DOWN = SIDE_TARGET };
/* close_relay without telling JavaScript; the events are in events.h. */
enum { NO_EVENT = -1 };

/* A pipe between splice() calls: the read end and the write end. */
typedef struct {
  int r, w;
} pipe_pair;

typedef struct {
  /* Bytes read but not yet taken by the other side's kernel: in a buffer of the direction's own, or in a pipe. At most one holds any. */
  uint8_t *queued; /* NULL when none */
  size_t queued_length;
  size_t queued_offset;
  pipe_pair pipe;
  size_t piped; /* bytes in `pipe`; the direction holds a pipe only while this is above 0 */
  int ended;  /* the reading side sent FIN */
  int passed; /* the FIN went on: shutdown(SHUT_WR) of the other side */
  double bytes;
} direction;

typedef struct tcp_relay {
  double id; /* what JavaScript calls it (slot_table.h) */
  uv_loop_t *loop;
  watcher watchers[2]; /* poller.h */
  int fds[2];
  direction directions[2];
  uint64_t last_activity; /* uv_now(): the loop's millisecond clock */
  uint64_t linger_until;  /* uv_now() deadline once both FINs have gone on; 0 before */
  int closed;
} tcp_relay;

static uint8_t read_buffer[READ_SIZE];

static int holding(const direction *d) { return d->queued != NULL || d->piped > 0; }

/*
 * Bytes move socket -> pipe -> socket with splice(), so the kernel hands
 * pages on instead of copying every byte into this process and out again
 * (a third less CPU per gigabyte here, and 64 streams 1.4-1.9 GB/s became
 * 2.3-3.0). An empty pipe goes back to a small pool shared by every relay;
 * only a direction whose receiver pushes back keeps one, holding what the
 * receiver has not taken yet. A pipe is sized for one read of READ_SIZE.
 * Where the kernel refuses that size (an unprivileged user past
 * fs.pipe-user-pages-soft), the pipe keeps its default and only costs more
 * wake-ups; where no pipe can be had at all, read() and send() take over.
 */
#define PIPE_SIZE READ_SIZE
#define IDLE_PIPES_MAX 16
static pipe_pair idle_pipes[IDLE_PIPES_MAX];
static int idle_pipe_count;
/* Off only when tcpRelayInit is asked to (the tests of the read() and send() way). */
static int use_pipes = 1;

/* An empty pipe; -1 when none can be had (no descriptors left), and the caller reads and sends through read_buffer instead. */
static int take_pipe(pipe_pair *p) {
  if (idle_pipe_count > 0) {
    *p = idle_pipes[--idle_pipe_count];
    return 0;
  }
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return -1;
  /* The top descriptors are the agent's (tcp_conn.c): a pipe there would take one; read() and send() will do. */
  if (fds[1] > tcp_conn_descriptor_ceiling()) {
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  fcntl(fds[1], F_SETPIPE_SZ, PIPE_SIZE); /* a smaller pipe still works, with more wake-ups */
  p->r = fds[0];
  p->w = fds[1];
  return 0;
}

static void close_pipe(pipe_pair *p) {
  close(p->r);
  close(p->w);
}

/* An empty pipe back to the pool. */
static void give_back_pipe(pipe_pair *p) {
  if (idle_pipe_count < IDLE_PIPES_MAX) idle_pipes[idle_pipe_count++] = *p;
  else close_pipe(p);
}

/*
 * JavaScript's side: one callback and one async context for every relay of
 * the process (tcpRelayInit), and relays named by number. A relay holds no
 * JavaScript object, reference or finalizer of its own: at thousands of
 * sessions a second those cost more than the relay's whole set-up.
 */
static js_callback js;

/* Open relays by id (slot_table.h). */
static slot_table relays = SLOT_TABLE_INIT;

/* Tell JavaScript: onEvent(id, event, value) (events.h). */
static void emit(tcp_relay *relay, int event, int value) {
  napi_env env = js.env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value argv[3];
  if (napi_create_double(env, relay->id, &argv[0]) == napi_ok && napi_create_int32(env, event, &argv[1]) == napi_ok &&
      napi_create_int32(env, value, &argv[2]) == napi_ok)
    call_js(env, js.async, js.on_event, 3, argv);
  napi_close_handle_scope(env, scope);
}

/* Stop and close both sockets, telling JavaScript `event` (with `value`) unless that is NO_EVENT; then the relay and its id are gone. JavaScript reads its figures while it hears the event. */
static void close_relay(tcp_relay *relay, int event, int value) {
  if (relay->closed) return;
  relay->closed = 1;
  for (int side = 0; side < 2; side++) {
    watcher_stop(&relay->watchers[side], 0); /* close() takes it out of the set */
    close(relay->fds[side]);
    relay->fds[side] = -1;
    direction *d = &relay->directions[side];
    free(d->queued);
    d->queued = NULL;
    if (d->piped > 0) close_pipe(&d->pipe); /* with the bytes nobody will take */
    d->piped = 0;
  }
  if (event != NO_EVENT) emit(relay, event, value);
  slot_give_back(&relays, relay->id);
  poller_free_later(relay); /* on_ready may still be returning through it */
}

/* End the relay because of `error` on `side`, and say so. */
static void fail(tcp_relay *relay, int side, int error) { close_relay(relay, side == SIDE_CLIENT ? TCP_RELAY_CLIENT_ERROR : TCP_RELAY_TARGET_ERROR, error); }

/* Poll each socket for what its directions need now: reading while its outgoing direction can take more, writing while the other has bytes queued. */
static void update_polls(tcp_relay *relay);

/* Bytes sent on `fd` that its peer has not acknowledged, a FIN counting as one. */
static int unacknowledged(int fd) {
  int bytes = 0;
  return ioctl(fd, SIOCOUTQ, &bytes) == 0 ? bytes : 0;
}

/* The ids of the relays waiting for acknowledgements (ids, not pointers: JavaScript may close any of them while it hears an event). */
static double *lingering;
static size_t lingering_count, lingering_capacity;
static uv_timer_t linger_timer;
static int linger_timer_made;

/*
 * A relay whose FINs have both gone on: close it and report CLOSED, with
 * the bytes still unacknowledged, once there are none or at its deadline.
 * While some are, an error on either socket (a reset) ends it as an error;
 * once all are acknowledged, the session was whole whatever came after, so
 * most sessions end on two ioctls and no more. 1 if it closed.
 */
static int settle(tcp_relay *relay, uint64_t now) {
  int pending = unacknowledged(relay->fds[SIDE_CLIENT]) + unacknowledged(relay->fds[SIDE_TARGET]);
  for (int side = 0; side < 2 && pending > 0; side++) {
    int error = socket_error(relay->fds[side]);
    if (error) {
      fail(relay, side, error);
      return 1;
    }
  }
  if (pending > 0 && now < relay->linger_until) return 0;
  close_relay(relay, TCP_RELAY_CLOSED, pending);
  return 1;
}

static void check_lingering(uv_timer_t *timer) {
  uint64_t now = uv_now(timer->loop);
  size_t seen = lingering_count, kept = 0;
  for (size_t i = 0; i < seen; i++) {
    double id = lingering[i];
    tcp_relay *relay = slot_find(&relays, id);
    if (relay && !relay->closed && !settle(relay, now)) lingering[kept++] = id;
  }
  /* Relays that began to wait while JavaScript heard an event above come after the ones kept. */
  memmove(&lingering[kept], &lingering[seen], (lingering_count - seen) * sizeof *lingering);
  lingering_count = kept + (lingering_count - seen);
  if (lingering_count == 0) uv_timer_stop(timer);
}

/* Both FINs have gone on: close now if the peers have acknowledged everything, else wait for them (LINGER_MS). */
static void finish(tcp_relay *relay) {
  uint64_t now = uv_now(relay->loop);
  relay->linger_until = now + LINGER_MS;
  if (settle(relay, now)) return;
  if (lingering_count == lingering_capacity) {
    size_t capacity = lingering_capacity ? lingering_capacity * 2 : 64;
    double *grown = realloc(lingering, capacity * sizeof *grown);
    if (!grown) {
      relay->linger_until = now; /* no room to wait: close now, with what is unacknowledged */
      settle(relay, now);
      return;
    }
    lingering = grown;
    lingering_capacity = capacity;
  }
  update_polls(relay); /* nothing is wanted any more: the poll set lets both sockets go */
  if (!linger_timer_made) {
    uv_timer_init(relay->loop, &linger_timer);
    uv_unref((uv_handle_t *)&linger_timer); /* waiting relays do not keep the process up */
    linger_timer_made = 1;
  }
  lingering[lingering_count++] = relay->id;
  if (!uv_is_active((uv_handle_t *)&linger_timer)) uv_timer_start(&linger_timer, check_lingering, LINGER_CHECK_MS, LINGER_CHECK_MS);
}

static void pass_fin(tcp_relay *relay, int from) {
  direction *d = &relay->directions[from];
  if (!d->ended || d->passed || holding(d)) return;
  d->passed = 1;
  reset_on_close(relay->fds[1 - from], 0);
  shutdown(relay->fds[1 - from], SHUT_WR);
}

/* Send `length` bytes to the side `from` does not read; queue the rest. 0, or an errno. */
static int send_on(tcp_relay *relay, int from, const uint8_t *data, size_t length) {
  ssize_t sent;
  do sent = send(relay->fds[1 - from], data, length, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) return errno;
    sent = 0;
  }
  if ((size_t)sent == length) return 0;
  direction *d = &relay->directions[from];
  d->queued = malloc(length - (size_t)sent);
  if (!d->queued) return ENOMEM;
  memcpy(d->queued, data + sent, length - (size_t)sent);
  d->queued_length = length - (size_t)sent;
  d->queued_offset = 0;
  return 0;
}

/* Splice up to `length` bytes from a pipe to `fd`: bytes moved (0 if `fd` is full), or -errno. */
static ssize_t splice_out(int pipe_r, int fd, size_t length) {
  ssize_t moved;
  do moved = splice(pipe_r, NULL, fd, NULL, length, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  while (moved < 0 && errno == EINTR);
  if (moved >= 0) return moved;
  return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
}

/* What direction `from` holds, sent as far as the kernel takes it. 0, or an errno. */
static int flush_queued(tcp_relay *relay, int from) {
  direction *d = &relay->directions[from];
  int to = relay->fds[1 - from];
  while (d->queued && d->queued_offset < d->queued_length) {
    ssize_t sent = send(to, d->queued + d->queued_offset, d->queued_length - d->queued_offset, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : errno;
    }
    d->queued_offset += (size_t)sent;
  }
  free(d->queued);
  d->queued = NULL;
  while (d->piped > 0) {
    ssize_t moved = splice_out(d->pipe.r, to, d->piped);
    if (moved < 0) return (int)-moved;
    if (moved == 0) return 0;
    d->piped -= (size_t)moved;
    if (d->piped == 0) give_back_pipe(&d->pipe);
  }
  pass_fin(relay, from);
  return 0;
}

/* After a read of `n` bytes from `side` (0: its FIN): count them, or pass the FIN on when all before it has gone and tell JavaScript. */
static void took_in(tcp_relay *relay, int side, ssize_t n) {
  direction *d = &relay->directions[side];
  relay->last_activity = uv_now(relay->loop);
  if (n > 0) {
    d->bytes += (double)n;
    return;
  }
  d->ended = 1;
  pass_fin(relay, side);
  emit(relay, side == UP ? TCP_RELAY_END_UP : TCP_RELAY_END_DOWN, 0);
}

/* One read from `side` into read_buffer and its send: the way when no pipe can be had. */
static int read_and_send(tcp_relay *relay, int side, int *error_side) {
  ssize_t n;
  do n = read(relay->fds[side], read_buffer, READ_SIZE);
  while (n < 0 && errno == EINTR);
  *error_side = side;
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : errno;
  took_in(relay, side, n);
  if (n == 0) return 0;
  *error_side = 1 - side;
  return send_on(relay, side, read_buffer, (size_t)n);
}

/* One splice from `side` into a pipe and on to the other side; what the other side does not take stays in the pipe. 0, or the errno and the side it happened on. */
static int read_once(tcp_relay *relay, int side, int *error_side) {
  pipe_pair p;
  if (!use_pipes || take_pipe(&p) != 0) return read_and_send(relay, side, error_side);
  ssize_t n;
  do n = splice(relay->fds[side], NULL, p.w, NULL, READ_SIZE, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  while (n < 0 && errno == EINTR);
  *error_side = side;
  if (n < 0) {
    give_back_pipe(&p); /* still empty */
    return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : errno;
  }
  took_in(relay, side, n);
  if (n == 0) {
    give_back_pipe(&p);
    return 0;
  }
  ssize_t moved = splice_out(p.r, relay->fds[1 - side], (size_t)n);
  if (moved < 0) {
    close_pipe(&p);
    *error_side = 1 - side;
    return (int)-moved;
  }
  if (moved == n) {
    give_back_pipe(&p);
    return 0;
  }
  direction *d = &relay->directions[side];
  d->pipe = p;
  d->piped = (size_t)(n - moved);
  return 0;
}

static void on_ready(watcher *w, uint32_t events) {
  tcp_relay *relay = w->owner;
  if (relay->closed) return;
  int side = (int)(w - relay->watchers);
  if (events & EPOLLERR) {
    /* The socket's own error says what happened. */
    int error = socket_error(relay->fds[side]);
    fail(relay, side, error ? error : ECONNRESET);
    return;
  }
  if (events & EPOLLOUT) {
    int error = flush_queued(relay, 1 - side);
    if (error) {
      fail(relay, side, error);
      return;
    }
    relay->last_activity = uv_now(relay->loop);
  }
  direction *d = &relay->directions[side];
  if ((events & EPOLLIN) && !d->ended && !holding(d)) {
    int error_side = side;
    int error = read_once(relay, side, &error_side);
    if (relay->closed) return; /* JavaScript closed it on hearing of a FIN */
    if (error) {
      fail(relay, error_side, error);
      return;
    }
  }
  if (relay->directions[UP].passed && relay->directions[DOWN].passed) {
    finish(relay);
    return;
  }
  update_polls(relay);
}

static void update_polls(tcp_relay *relay) {
  for (int side = 0; side < 2; side++) {
    const direction *reading = &relay->directions[side];
    const direction *writing = &relay->directions[1 - side];
    uint32_t wanted = (!reading->ended && !holding(reading) ? EPOLLIN : 0) | (holding(writing) ? EPOLLOUT : 0);
    if (wanted != relay->watchers[side].wanted) watcher_want(&relay->watchers[side], wanted);
  }
}

/* ---- the JavaScript interface (src/relay/native-relay.ts) ---- */

/* argv[0] is a relay's id; NULL (with a JavaScript TypeError pending) if it names no relay, or `quiet` and no error. */
static tcp_relay *relay_argument(napi_env env, napi_callback_info info, napi_value *argv, int quiet) {
  size_t argc = 1;
  double id = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_double(env, argv[0], &id) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a TCP relay id");
    return NULL;
  }
  tcp_relay *relay = slot_find(&relays, id);
  if (!relay && !quiet) napi_throw_type_error(env, NULL, "no such TCP relay");
  return relay;
}

/* The start of a direction's queue: bytes read from its side before the relay took over. 0, or ENOMEM. */
static int queue_initial(direction *d, const uint8_t *data, size_t length) {
  if (length == 0) return 0;
  d->queued = malloc(length);
  if (!d->queued) return ENOMEM;
  memcpy(d->queued, data, length);
  d->queued_length = length;
  d->bytes += (double)length;
  return 0;
}

int tcp_relay_start(napi_env env, const int fds[2], const uint8_t *up, size_t up_length, const uint8_t *down, size_t down_length, double *id) {
  if (!js.on_event) return EINVAL;
  tcp_relay *relay = calloc(1, sizeof *relay);
  if (!relay) return ENOMEM;
  int error = queue_initial(&relay->directions[UP], up, up_length);
  if (!error) error = queue_initial(&relay->directions[DOWN], down, down_length);
  if (!error && napi_get_uv_event_loop(env, &relay->loop) != napi_ok) error = EINVAL;
  if (!error) error = poller_open(relay->loop);
  for (int side = 0; side < 2 && !error; side++) {
    error = watcher_start(&relay->watchers[side], fds[side], on_ready, relay);
    relay->fds[side] = fds[side];
  }
  if (!error && slot_take(&relays, relay, &relay->id) != 0) error = ENOMEM;
  if (error) {
    /* Nothing is watched, so the sockets are still the caller's. */
    watcher_stop(&relay->watchers[UP], 0);
    watcher_stop(&relay->watchers[DOWN], 0);
    free(relay->directions[UP].queued);
    free(relay->directions[DOWN].queued);
    free(relay);
    return error;
  }
  for (int side = 0; side < 2; side++) reset_on_close(fds[side], 1);
  relay->last_activity = uv_now(relay->loop);
  update_polls(relay);
  *id = relay->id;
  return 0;
}

/*
 * tcpRelayInit(onEvent, splice = true): the callback every relay of this
 * process reports to, as onEvent(id, event, value) (events.h); splice false makes
 * every relay read() and send() instead of splicing.
 */
napi_value tcp_relay_init(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_valuetype kind = napi_undefined;
  bool splice_wanted = true;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_typeof(env, argv[0], &kind) != napi_ok || kind != napi_function ||
      (argc >= 2 && napi_get_value_bool(env, argv[1], &splice_wanted) != napi_ok)) {
    napi_throw_type_error(env, NULL, "expected (onEvent, splice?)");
    return NULL;
  }
  use_pipes = splice_wanted;
  if (!js_callback_set(&js, env, argv[0], "hasocks:tcp-relay")) napi_throw_error(env, NULL, "cannot set up the TCP relay's callback");
  return NULL;
}

/*
 * tcpRelayOpen(clientFd, targetFd, clientBytes, targetBytes): own both
 * descriptors and relay between them; returns the relay's id. clientBytes
 * and targetBytes (Buffer or null) were already read from each side and go
 * to the other first.
 */
napi_value tcp_relay_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], result;
  int32_t fds[2] = {-1, -1};
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 || napi_get_value_int32(env, argv[0], &fds[0]) != napi_ok ||
      napi_get_value_int32(env, argv[1], &fds[1]) != napi_ok || fds[0] < 0 || fds[1] < 0) {
    napi_throw_type_error(env, NULL, "expected (clientFd, targetFd, clientBytes, targetBytes)");
    return NULL;
  }
  if (!js.on_event) {
    napi_throw_error(env, NULL, "tcpRelayInit has not been called");
    return NULL;
  }
  const uint8_t *up, *down;
  size_t up_length, down_length;
  if (buffer_or_null(env, argv[2], &up, &up_length) != 0 || buffer_or_null(env, argv[3], &down, &down_length) != 0) {
    napi_throw_type_error(env, NULL, "clientBytes and targetBytes must be Buffers or null");
    return NULL;
  }
  double id;
  const int owned[2] = {fds[0], fds[1]};
  if (tcp_relay_start(env, owned, up, up_length, down, down_length, &id) != 0) {
    napi_throw_error(env, NULL, "cannot set up the TCP relay");
    return NULL;
  }
  if (napi_create_double(env, id, &result) != napi_ok) return NULL;
  return result;
}

/* tcpRelayStats(id): [bytes up, bytes down, milliseconds since a byte or FIN last moved]. */
napi_value tcp_relay_stats(napi_env env, napi_callback_info info) {
  napi_value argv[1], result, value;
  tcp_relay *relay = relay_argument(env, info, argv, 0);
  if (!relay || napi_create_array_with_length(env, 3, &result) != napi_ok) return NULL;
  double figures[3] = {relay->directions[UP].bytes, relay->directions[DOWN].bytes, (double)(uv_now(relay->loop) - relay->last_activity)};
  for (uint32_t i = 0; i < 3; i++)
    if (napi_create_double(env, figures[i], &value) == napi_ok) napi_set_element(env, result, i, value);
  return result;
}

/* tcpRelayClose(id): close both sockets now, without an event. A relay already closed, or gone, is left alone. */
napi_value tcp_relay_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tcp_relay *relay = relay_argument(env, info, argv, 1);
  if (relay) close_relay(relay, NO_EVENT, 0);
  return NULL;
}
