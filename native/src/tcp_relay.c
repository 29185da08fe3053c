/*
 * The TCP relay's fast path: a CONNECT or BIND session's two sockets, once
 * the SOCKS exchange is over, are relayed here in C.
 *
 * Why: relaying in JavaScript costs a callback per chunk and, to give every
 * stream its turn, a stop and a restart of the reading socket (two
 * epoll_ctl calls per chunk). That held hasocks to about Dante's speed at 64
 * streams when the load generator itself shared the two cores. Here each
 * socket is polled level-triggered on Node's loop (uv_poll): every wake-up
 * is one read and one send, so each stream gets one read per loop turn
 * (fairness) and the poll set changes only when a peer pushes back.
 *
 * The data path:
 * - A read goes into one buffer shared by every relay (the loop runs one
 *   callback at a time) and is sent on at once with a non-blocking send().
 * - What the kernel does not take is copied into a buffer of the direction's
 *   own, reading from that side stops, and the receiving socket is polled
 *   for writability until the copy is sent. So an idle or flowing session
 *   holds no buffer, and a slow peer holds at most one read's worth.
 * - A FIN is passed on once everything before it is sent (half-close), and
 *   when both directions have passed theirs the relay closes both sockets.
 * - A reset or other socket error closes both at once.
 *
 * JavaScript hears of a FIN in either direction (for timeout.tcp_fin_wait)
 * and of the end, with the errno of an error. It reads the byte counts and
 * the idle time with tcpRelayStats, and may close the relay at any time.
 */
#define _GNU_SOURCE
#include "tcp_relay.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

/* The largest read. Larger reads mean fewer wake-ups per gigabyte; this is what the kernel's loopback autotuning can fill. */
#define READ_SIZE (1 << 20)

enum { SIDE_CLIENT = 0, SIDE_TARGET = 1 };
/* A direction is named by the side it reads from: UP reads the client, DOWN reads the target. */
enum { UP = SIDE_CLIENT, DOWN = SIDE_TARGET };
enum { EVENT_END_UP = 0, EVENT_END_DOWN = 1, EVENT_CLOSED = 2, EVENT_CLIENT_ERROR = 3, EVENT_TARGET_ERROR = 4, NO_EVENT = -1 };

typedef struct {
  uint8_t *queued; /* bytes read but not yet taken by the other side's kernel; NULL when none */
  size_t queued_length;
  size_t queued_offset;
  int ended;  /* the reading side sent FIN */
  int passed; /* the FIN went on: shutdown(SHUT_WR) of the other side */
  double bytes;
} direction;

typedef struct tcp_relay {
  napi_env env;
  napi_ref on_event;
  napi_async_context async;
  uv_loop_t *loop;
  uv_poll_t polls[2];
  int fds[2];
  int watching[2]; /* the UV_READABLE | UV_WRITABLE each poll has now */
  direction directions[2];
  uint64_t last_activity; /* uv_now(): the loop's millisecond clock */
  int closed;
  int open_handles;
  int finalized;
} tcp_relay;

static uint8_t read_buffer[READ_SIZE];

/* Tell JavaScript: onEvent(event, errno). */
static void emit(tcp_relay *relay, int event, int error) {
  napi_env env = relay->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value callback, receiver, argv[2], result;
  if (napi_get_reference_value(env, relay->on_event, &callback) == napi_ok && callback != NULL && napi_get_global(env, &receiver) == napi_ok &&
      napi_create_int32(env, event, &argv[0]) == napi_ok && napi_create_int32(env, error, &argv[1]) == napi_ok) {
    napi_make_callback(env, relay->async, receiver, callback, 2, argv, &result);
  }
  /* A throw in the callback is an uncaught exception, as in any event handler. */
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value error_value;
    napi_get_and_clear_last_exception(env, &error_value);
    napi_fatal_exception(env, error_value);
  }
  napi_close_handle_scope(env, scope);
}

static void release(tcp_relay *relay) {
  if (relay->open_handles == 0 && relay->finalized) free(relay);
}

static void on_poll_closed(uv_handle_t *handle) {
  tcp_relay *relay = handle->data;
  relay->open_handles--;
  release(relay);
}

/* Stop, close both sockets, and let go of JavaScript, telling it `event` first unless that is NO_EVENT. The memory goes when libuv has closed the handles and the external is collected. */
static void close_relay(tcp_relay *relay, int event, int error) {
  if (relay->closed) return;
  relay->closed = 1;
  for (int side = 0; side < 2; side++) {
    uv_poll_stop(&relay->polls[side]);
    uv_close((uv_handle_t *)&relay->polls[side], on_poll_closed);
    close(relay->fds[side]);
    relay->fds[side] = -1;
    free(relay->directions[side].queued);
    relay->directions[side].queued = NULL;
  }
  if (event != NO_EVENT) emit(relay, event, error);
  napi_delete_reference(relay->env, relay->on_event);
  napi_async_destroy(relay->env, relay->async);
}

/* End the relay because of `error` on `side`, and say so. */
static void fail(tcp_relay *relay, int side, int error) { close_relay(relay, side == SIDE_CLIENT ? EVENT_CLIENT_ERROR : EVENT_TARGET_ERROR, error); }

/* Poll each socket for what its directions need now: reading while its outgoing direction can take more, writing while the other has bytes queued. */
static void update_polls(tcp_relay *relay);

static void pass_fin(tcp_relay *relay, int from) {
  direction *d = &relay->directions[from];
  if (!d->ended || d->passed || d->queued) return;
  d->passed = 1;
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

/* The queued bytes of direction `from`, sent as far as the kernel takes them. 0, or an errno. */
static int flush_queued(tcp_relay *relay, int from) {
  direction *d = &relay->directions[from];
  while (d->queued_offset < d->queued_length) {
    ssize_t sent = send(relay->fds[1 - from], d->queued + d->queued_offset, d->queued_length - d->queued_offset, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : errno;
    }
    d->queued_offset += (size_t)sent;
  }
  free(d->queued);
  d->queued = NULL;
  pass_fin(relay, from);
  return 0;
}

/* One read from `side` and its send. 0, or the errno and the side it happened on. */
static int read_once(tcp_relay *relay, int side, int *error_side) {
  direction *d = &relay->directions[side];
  ssize_t n;
  do n = read(relay->fds[side], read_buffer, READ_SIZE);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    *error_side = side;
    return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : errno;
  }
  relay->last_activity = uv_now(relay->loop);
  if (n == 0) {
    d->ended = 1;
    pass_fin(relay, side);
    emit(relay, side == UP ? EVENT_END_UP : EVENT_END_DOWN, 0);
    return 0;
  }
  d->bytes += (double)n;
  *error_side = 1 - side;
  return send_on(relay, side, read_buffer, (size_t)n);
}

static void on_ready(uv_poll_t *handle, int status, int events) {
  tcp_relay *relay = handle->data;
  if (relay->closed) return;
  int side = (int)(handle - relay->polls);
  if (status < 0) {
    /* libuv reports EPOLLERR as UV_EBADF and stops the poll; the socket's own error says what happened. */
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(relay->fds[side], SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error == 0) error = ECONNRESET;
    fail(relay, side, error);
    return;
  }
  if (events & UV_WRITABLE) {
    int error = flush_queued(relay, 1 - side);
    if (error) {
      fail(relay, side, error);
      return;
    }
    relay->last_activity = uv_now(relay->loop);
  }
  direction *d = &relay->directions[side];
  if ((events & UV_READABLE) && !d->ended && !d->queued) {
    int error_side = side;
    int error = read_once(relay, side, &error_side);
    if (relay->closed) return; /* JavaScript closed it on hearing of a FIN */
    if (error) {
      fail(relay, error_side, error);
      return;
    }
  }
  if (relay->directions[UP].passed && relay->directions[DOWN].passed) {
    close_relay(relay, EVENT_CLOSED, 0);
    return;
  }
  update_polls(relay);
}

static void update_polls(tcp_relay *relay) {
  for (int side = 0; side < 2; side++) {
    const direction *reading = &relay->directions[side];
    const direction *writing = &relay->directions[1 - side];
    int wanted = (!reading->ended && !reading->queued ? UV_READABLE : 0) | (writing->queued ? UV_WRITABLE : 0);
    if (wanted == relay->watching[side]) continue;
    relay->watching[side] = wanted;
    if (wanted) uv_poll_start(&relay->polls[side], wanted, on_ready);
    else uv_poll_stop(&relay->polls[side]);
  }
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  tcp_relay *relay = data;
  close_relay(relay, NO_EVENT, 0);
  relay->finalized = 1;
  release(relay);
}

/* ---- the JavaScript interface (src/relay/native-relay.ts) ---- */

static tcp_relay *relay_argument(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  void *data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, NULL, NULL) != napi_ok || *argc < 1 || napi_get_value_external(env, argv[0], &data) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a TCP relay");
    return NULL;
  }
  return data;
}

/* Bytes JavaScript had already read from one side: the start of that direction's queue. 0, or an errno. */
static int queue_initial(napi_env env, napi_value value, direction *d) {
  napi_valuetype kind;
  void *data;
  size_t length;
  if (napi_typeof(env, value, &kind) != napi_ok) return EINVAL;
  if (kind == napi_null || kind == napi_undefined) return 0;
  if (napi_get_buffer_info(env, value, &data, &length) != napi_ok) return EINVAL;
  if (length == 0) return 0;
  d->queued = malloc(length);
  if (!d->queued) return ENOMEM;
  memcpy(d->queued, data, length);
  d->queued_length = length;
  d->bytes += (double)length;
  return 0;
}

/*
 * tcpRelayOpen(clientFd, targetFd, clientBytes, targetBytes, onEvent): own both
 * descriptors and relay between them. clientBytes and targetBytes (Buffer or
 * null) were already read from each side and go to the other first.
 */
napi_value tcp_relay_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  int32_t fds[2] = {-1, -1};
  napi_valuetype kind = napi_undefined;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 || napi_get_value_int32(env, argv[0], &fds[0]) != napi_ok ||
      napi_get_value_int32(env, argv[1], &fds[1]) != napi_ok || napi_typeof(env, argv[4], &kind) != napi_ok || kind != napi_function || fds[0] < 0 ||
      fds[1] < 0) {
    napi_throw_type_error(env, NULL, "expected (clientFd, targetFd, clientBytes, targetBytes, onEvent)");
    return NULL;
  }
  tcp_relay *relay = calloc(1, sizeof *relay);
  if (!relay) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  relay->env = env;
  napi_value name, resource, external;
  if (queue_initial(env, argv[2], &relay->directions[UP]) != 0 || queue_initial(env, argv[3], &relay->directions[DOWN]) != 0 ||
      napi_get_uv_event_loop(env, &relay->loop) != napi_ok) {
    free(relay->directions[UP].queued);
    free(relay->directions[DOWN].queued);
    free(relay);
    napi_throw_type_error(env, NULL, "clientBytes and targetBytes must be Buffers or null");
    return NULL;
  }
  if (napi_create_reference(env, argv[4], 1, &relay->on_event) != napi_ok || napi_create_object(env, &resource) != napi_ok ||
      napi_create_string_latin1(env, "hasocks:tcp-relay", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, resource, name, &relay->async) != napi_ok || napi_create_external(env, relay, finalize, NULL, &external) != napi_ok) {
    /* Nothing is polled yet, so the sockets are still the caller's; the external (the last step) does not exist. */
    if (relay->on_event) napi_delete_reference(env, relay->on_event);
    if (relay->async) napi_async_destroy(env, relay->async);
    free(relay->directions[UP].queued);
    free(relay->directions[DOWN].queued);
    free(relay);
    napi_throw_error(env, NULL, "cannot set up the TCP relay");
    return NULL;
  }
  for (int side = 0; side < 2; side++) {
    uv_poll_init_socket(relay->loop, &relay->polls[side], fds[side]);
    relay->polls[side].data = relay;
    relay->fds[side] = fds[side];
    relay->open_handles++;
  }
  relay->last_activity = uv_now(relay->loop);
  update_polls(relay);
  return external;
}

/* tcpRelayStats(relay): [bytes up, bytes down, milliseconds since a byte or FIN last moved]. */
napi_value tcp_relay_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result, value;
  tcp_relay *relay = relay_argument(env, info, &argc, argv);
  if (!relay || napi_create_array_with_length(env, 3, &result) != napi_ok) return NULL;
  double figures[3] = {relay->directions[UP].bytes, relay->directions[DOWN].bytes, (double)(uv_now(relay->loop) - relay->last_activity)};
  for (uint32_t i = 0; i < 3; i++)
    if (napi_create_double(env, figures[i], &value) == napi_ok) napi_set_element(env, result, i, value);
  return result;
}

/* tcpRelayClose(relay): close both sockets now, without an event. */
napi_value tcp_relay_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  tcp_relay *relay = relay_argument(env, info, &argc, argv);
  if (relay) close_relay(relay, NO_EVENT, 0);
  return NULL;
}
