/*
 * Session sockets in C: the listeners' accepts, each client's socket while
 * it negotiates, and the outgoing dial of a CONNECT. TypeScript still
 * parses every byte and makes every decision (src/sockets/c-sessions.ts);
 * C only does the socket calls. Once the target has answered, both sockets
 * go to the TCP relay (tcp_relay.c) without passing through Node.
 *
 * Why: a Node socket costs about 100 microseconds of CPU to create, drive
 * and destroy (a handle, stream state, listeners, garbage). A CONNECT
 * session needs two of them, and at thousands of short sessions a second
 * that was most of hasocks's CPU per session: about twice Dante's. Here a
 * session's socket is a poll handle and a few integers.
 *
 * A socket here is a "conn": a listener, a client or a dial. JavaScript
 * names it by number (slot_table.h) and hears about every conn through one
 * callback, onEvent(event, id, ...); the events and their arguments are
 * listed in events.h.
 * A client may be handed to Node as a descriptor (tcpConnDetach) for what
 * only Node streams do: BIND, UDP ASSOCIATE, rules that log data.
 */
#define _GNU_SOURCE
#include "tcp_conn.h"
#include "events.h"
#include "js_call.h"
#include "poller.h"
#include "slot_table.h"
#include "socket_address.h"
#include "tcp_relay.h"

#include <errno.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

enum { KIND_LISTENER, KIND_CLIENT, KIND_DIAL };

/* The most a listener accepts per wake-up, so one busy listener cannot hold the loop. */
#define ACCEPTS_PER_WAKE 64
/* The largest read while negotiating: a handshake is a few hundred bytes at most. */
#define READ_SIZE 16384

typedef struct {
  double id;
  int kind;
  int fd;
  watcher w;   /* poller.h */
  uv_loop_t *loop;
  int reading;  /* JavaScript wants reads (a client) or accepts (a listener) */
  int ended;    /* a client's FIN arrived */
  int shut;     /* 1: shutdown(SHUT_WR) wanted once `out` is sent; 2: done */
  int wildcard; /* a listener on 0.0.0.0 or ::, whose clients' local address must be asked */
  int closed;
  /* Bytes written but not yet taken by the kernel. */
  uint8_t *out;
  size_t out_length, out_offset;
} conn;

static slot_table conns = SLOT_TABLE_INIT;
static uint8_t read_buffer[READ_SIZE];

static js_callback js;

/*
 * The highest descriptor a client may get. Descriptors are handed out
 * lowest first, so a client's number says how many are open; the ones
 * above this are kept for the agent's control and probe connections, so
 * that clients can never run the process out of them. INT_MAX: no limit.
 */
static int max_client_fd = INT_MAX;

int tcp_conn_descriptor_ceiling(void) {
  return max_client_fd;
}

static void on_ready(watcher *w, uint32_t events);

/* What becomes of a released conn's descriptor. */
enum { CLOSE_FD, TO_NODE, TO_RELAY };

/*
 * Forget `c`; its number is stale from now on. CLOSE_FD closes its socket;
 * TO_NODE takes it out of the poller's set and leaves it open; TO_RELAY
 * leaves it open and in the set for the relay, which took it already.
 */
static void release(conn *c, int fate) {
  if (c->closed) return;
  c->closed = 1;
  slot_give_back(&conns, c->id);
  /* A listener may be shared with the supervisor, so closing it would not take it out of the set. */
  watcher_stop(&c->w, fate == TO_NODE || c->kind == KIND_LISTENER);
  if (fate == CLOSE_FD) close(c->fd);
  c->fd = -1;
  free(c->out);
  c->out = NULL;
  poller_free_later(c); /* on_ready may still be returning through it */
}

static conn *new_conn(uv_loop_t *loop, int kind, int fd) {
  if (poller_open(loop) != 0) return NULL;
  conn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  if (slot_take(&conns, c, &c->id) != 0) {
    free(c);
    return NULL;
  }
  if (watcher_start(&c->w, fd, on_ready, c) != 0) {
    slot_give_back(&conns, c->id);
    free(c);
    return NULL;
  }
  c->kind = kind;
  c->fd = fd;
  c->loop = loop;
  return c;
}

/* Watch for what `c` needs now: reads while resumed and before FIN (accepts, for a listener), writability while bytes wait. */
static void update_poll(conn *c) {
  if (c->kind == KIND_DIAL) return; /* watched once, by tcpConnDial */
  uint32_t wanted = (c->reading && !c->ended ? EPOLLIN : 0) | (c->out ? EPOLLOUT : 0);
  if (wanted != c->w.wanted) watcher_want(&c->w, wanted);
}

/* ---- telling JavaScript ---- */

static void emit(int argc, napi_value *argv) { call_js(js.env, js.async, js.on_event, (size_t)argc, argv); }

static napi_value number(double value) {
  napi_value result = NULL;
  napi_create_double(js.env, value, &result);
  return result;
}

static napi_value text_or_undefined(const char *text) {
  napi_value result = NULL;
  if (text) napi_create_string_latin1(js.env, text, NAPI_AUTO_LENGTH, &result);
  else napi_get_undefined(js.env, &result);
  return result;
}

/* onEvent(event, id, errno): ERROR; END and CLOSED with errno 0. */
static void emit_simple(int event, conn *c, int error) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(js.env, &scope) != napi_ok) return;
  napi_value argv[3] = {number(event), number(c->id), number(error)};
  emit(3, argv);
  napi_close_handle_scope(js.env, scope);
}

static void emit_accepted(conn *listener, conn *client, const struct sockaddr_storage *peer) {
  char remote[INET6_ADDRSTRLEN], local[INET6_ADDRSTRLEN];
  int remote_port = 0, local_port = 0;
  address_text(peer, remote, &remote_port);
  const char *local_text = listener->wildcard && local_end(client->fd, local, &local_port) == 0 ? local : NULL;
  napi_handle_scope scope;
  if (napi_open_handle_scope(js.env, &scope) != napi_ok) return;
  napi_value argv[7] = {number(TCP_CONN_ACCEPTED), number(listener->id), number(client->id), text_or_undefined(remote),
                        number(remote_port),    text_or_undefined(local_text), number(local_port)};
  emit(7, argv);
  napi_close_handle_scope(js.env, scope);
}

static void emit_data(conn *c, const uint8_t *data, size_t length) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(js.env, &scope) != napi_ok) return;
  napi_value argv[3] = {number(TCP_CONN_DATA), number(c->id), NULL};
  void *copy;
  if (napi_create_buffer_copy(js.env, length, data, &copy, &argv[2]) == napi_ok) emit(3, argv);
  napi_close_handle_scope(js.env, scope);
}

static void emit_connected(conn *c, int error) {
  char local[INET6_ADDRSTRLEN];
  int local_port = 0;
  const char *local_text = !error && local_end(c->fd, local, &local_port) == 0 ? local : NULL;
  napi_handle_scope scope;
  if (napi_open_handle_scope(js.env, &scope) != napi_ok) return;
  napi_value argv[5] = {number(TCP_CONN_CONNECTED), number(c->id), number(error), text_or_undefined(local_text), number(local_port)};
  emit(5, argv);
  napi_close_handle_scope(js.env, scope);
}

/* ---- the socket work ---- */

/* Send what waits in `out`; then the FIN, if wanted. 0, or an errno. */
static int flush(conn *c) {
  while (c->out && c->out_offset < c->out_length) {
    ssize_t sent = send(c->fd, c->out + c->out_offset, c->out_length - c->out_offset, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : errno;
    }
    c->out_offset += (size_t)sent;
  }
  free(c->out);
  c->out = NULL;
  if (c->shut == 1) {
    shutdown(c->fd, SHUT_WR);
    c->shut = 2;
  }
  return 0;
}

static void accept_clients(conn *listener) {
  uv_loop_t *loop = listener->loop;
  for (int i = 0; i < ACCEPTS_PER_WAKE && !listener->closed && listener->reading; i++) {
    struct sockaddr_storage peer;
    socklen_t length = sizeof peer;
    int fd = accept4(listener->fd, (struct sockaddr *)&peer, &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      /* Out of descriptors or memory: JavaScript pauses the listener for a moment, as a level-triggered poll would spin. */
      if (errno != EAGAIN && errno != EWOULDBLOCK) emit_simple(TCP_CONN_ERROR, listener, errno);
      return;
    }
    if (fd > max_client_fd) {
      /* As good as out of descriptors: the reserve is not for clients. */
      close(fd);
      emit_simple(TCP_CONN_ERROR, listener, EMFILE);
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn *client = new_conn(loop, KIND_CLIENT, fd);
    if (!client) {
      close(fd);
      continue;
    }
    emit_accepted(listener, client, &peer);
  }
}

/* A client's read or write failed: stop reading, drop what waits, and tell JavaScript, which closes it. */
static void fail_client(conn *c, int error) {
  c->reading = 0;
  free(c->out);
  c->out = NULL;
  update_poll(c);
  emit_simple(TCP_CONN_ERROR, c, error);
}

static void read_client(conn *c) {
  ssize_t n;
  do n = read(c->fd, read_buffer, READ_SIZE);
  while (n < 0 && errno == EINTR);
  if (n > 0) {
    emit_data(c, read_buffer, (size_t)n);
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (n == 0) {
    c->ended = 1;
    update_poll(c);
    emit_simple(TCP_CONN_END, c, 0);
    return;
  }
  fail_client(c, errno);
}

static void on_ready(watcher *w, uint32_t events) {
  conn *c = w->owner;
  if (c->closed) return;
  if (c->kind == KIND_DIAL) {
    /* Writable, or an error: the dial is over either way. (It is watched for reads too, only so the relay finds it in the set as it wants it.) */
    if (!(events & (EPOLLOUT | EPOLLERR))) return;
    watcher_want(&c->w, 0);
    emit_connected(c, socket_error(c->fd));
    return;
  }
  if (c->kind == KIND_LISTENER) {
    accept_clients(c);
    return;
  }
  if (events & EPOLLERR) {
    int error = socket_error(c->fd);
    fail_client(c, error ? error : ECONNRESET);
    return;
  }
  if (events & EPOLLOUT) {
    int error = flush(c);
    if (error) {
      fail_client(c, error);
      return;
    }
  }
  if ((events & EPOLLIN) && c->reading && !c->ended) read_client(c);
  if (c->closed) return;
  if (c->ended && c->shut == 2) {
    /* Both FINs have gone and nothing waits: like a Node socket, it closes itself. */
    release(c, CLOSE_FD);
    emit_simple(TCP_CONN_CLOSED, c, 0);
    return;
  }
  update_poll(c);
}

/* ---- the JavaScript interface (src/sockets/c-sessions.ts) ---- */

/* The conn named by argv[0] (of `kind`, or any kind for -1); NULL with a TypeError thrown unless `quiet`. */
static conn *conn_argument(napi_env env, napi_value value, int kind, int quiet) {
  double id = -1;
  conn *c = napi_get_value_double(env, value, &id) == napi_ok ? slot_find(&conns, id) : NULL;
  if (c && (kind < 0 || c->kind == kind)) return c;
  if (!quiet) napi_throw_type_error(env, NULL, kind == KIND_DIAL ? "no such dial" : kind == KIND_CLIENT ? "no such client socket" : "no such socket");
  return NULL;
}

/* Up to `max` arguments; NULL (and a TypeError) if fewer than `min`. */
static int arguments(napi_env env, napi_callback_info info, napi_value *argv, size_t min, size_t max, const char *usage) {
  size_t argc = max;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < min) {
    napi_throw_type_error(env, NULL, usage);
    return -1;
  }
  for (size_t i = argc; i < max; i++) napi_get_undefined(env, &argv[i]);
  return 0;
}

static napi_value return_number(napi_env env, double value) {
  napi_value result = NULL;
  napi_create_double(env, value, &result);
  return result;
}

/* tcpConnInit(onEvent): the callback every conn of this process reports to. */
napi_value tcp_conn_init(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  napi_valuetype kind = napi_undefined;
  int64_t reserved = 0;
  if (arguments(env, info, argv, 2, 2, "expected (onEvent, reservedDescriptors)") != 0) return NULL;
  if (napi_typeof(env, argv[0], &kind) != napi_ok || kind != napi_function || napi_get_value_int64(env, argv[1], &reserved) != napi_ok || reserved < 0) {
    napi_throw_type_error(env, NULL, "expected (onEvent, reservedDescriptors)");
    return NULL;
  }
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < (rlim_t)INT_MAX)
    max_client_fd = (int)limit.rlim_cur - 1 - (int)reserved;
  if (!js_callback_set(&js, env, argv[0], "hasocks:tcp-conn")) napi_throw_error(env, NULL, "cannot set up the session sockets' callback");
  return NULL;
}

/* Own a new descriptor as a conn of `kind`; its number, or NULL with an error thrown (the descriptor is still the caller's). */
static conn *adopt(napi_env env, int kind, int fd) {
  uv_loop_t *loop;
  if (!js.on_event) {
    napi_throw_error(env, NULL, "tcpConnInit has not been called");
    return NULL;
  }
  conn *c = napi_get_uv_event_loop(env, &loop) == napi_ok ? new_conn(loop, kind, fd) : NULL;
  if (!c) napi_throw_error(env, NULL, "cannot poll the socket");
  return c;
}

/* tcpConnListen(fd, wildcard): own a listening socket and accept from it; returns its number. */
napi_value tcp_conn_listen(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd = -1;
  bool wildcard = false;
  if (arguments(env, info, argv, 2, 2, "expected (fd, wildcard)") != 0) return NULL;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 || napi_get_value_bool(env, argv[1], &wildcard) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected (fd, wildcard)");
    return NULL;
  }
  conn *c = adopt(env, KIND_LISTENER, fd);
  if (!c) return NULL;
  c->wildcard = wildcard;
  c->reading = 1;
  update_poll(c);
  return return_number(env, c->id);
}

/* tcpConnDial(fd, address, port): connect `fd` (-1: a new socket of the address's family) to an IP; returns the dial's number, or -errno if connect() failed at once. */
napi_value tcp_conn_dial(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd = -1, port = -1;
  char host[INET6_ADDRSTRLEN];
  if (arguments(env, info, argv, 3, 3, "expected (fd, address, port)") != 0) return NULL;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || whole_string_argument(env, argv[1], host, sizeof host) != 0 ||
      napi_get_value_int32(env, argv[2], &port) != napi_ok || port < 1 || port > 65535) {
    napi_throw_type_error(env, NULL, "expected (fd, address, port)");
    return NULL;
  }
  parsed_address target;
  if (parse_address(host, port, &target) != 0) {
    napi_throw_type_error(env, NULL, "address must be an IP address");
    return NULL;
  }
  int own_fd = fd < 0;
  if (own_fd) {
    fd = socket(target.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return return_number(env, -errno);
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int rc;
  do rc = connect(fd, (struct sockaddr *)&target.storage, target.length);
  while (rc != 0 && errno == EINTR);
  if (rc != 0 && errno != EINPROGRESS) {
    int error = errno;
    if (own_fd) close(fd);
    return return_number(env, -error);
  }
  conn *c = adopt(env, KIND_DIAL, fd);
  if (!c) {
    if (own_fd) close(fd);
    return NULL;
  }
  /* Connected or refused, the socket becomes writable (refused also sets EPOLLERR). */
  watcher_want(&c->w, EPOLLIN | EPOLLOUT);
  return return_number(env, c->id);
}

/* tcpConnResume(id) / tcpConnPause(id): a client's reads, or a listener's accepts. */
static napi_value set_reading(napi_env env, napi_callback_info info, int reading) {
  napi_value argv[1];
  if (arguments(env, info, argv, 1, 1, "expected (id)") != 0) return NULL;
  conn *c = conn_argument(env, argv[0], -1, 0);
  if (!c) return NULL;
  if (c->kind == KIND_DIAL) {
    napi_throw_type_error(env, NULL, "a dial has nothing to read before tcpConnRelay");
    return NULL;
  }
  c->reading = reading;
  update_poll(c);
  return NULL;
}
napi_value tcp_conn_resume(napi_env env, napi_callback_info info) { return set_reading(env, info, 1); }
napi_value tcp_conn_pause(napi_env env, napi_callback_info info) { return set_reading(env, info, 0); }

/* tcpConnWrite(id, bytes): send to a client, queueing what the kernel does not take; 0, or the errno of a failed send. */
napi_value tcp_conn_write(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  void *data;
  size_t length;
  if (arguments(env, info, argv, 2, 2, "expected (id, bytes)") != 0) return NULL;
  conn *c = conn_argument(env, argv[0], KIND_CLIENT, 0);
  if (!c) return NULL;
  if (napi_get_buffer_info(env, argv[1], &data, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected (id, bytes)");
    return NULL;
  }
  if (c->shut || length == 0) return return_number(env, 0);
  size_t queued = c->out ? c->out_length - c->out_offset : 0;
  uint8_t *out = malloc(queued + length);
  if (!out) return return_number(env, ENOMEM);
  if (queued) memcpy(out, c->out + c->out_offset, queued);
  memcpy(out + queued, data, length);
  free(c->out);
  c->out = out;
  c->out_length = queued + length;
  c->out_offset = 0;
  int error = flush(c);
  update_poll(c);
  return return_number(env, error);
}

/*
 * tcpConnEnd(id): send FIN to a client once everything written has gone.
 * Returns true if that closed the socket (the client had sent its FIN and
 * nothing was waiting); otherwise a CLOSED event follows when both are done.
 */
napi_value tcp_conn_end(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  if (arguments(env, info, argv, 1, 1, "expected (id)") != 0) return NULL;
  conn *c = conn_argument(env, argv[0], KIND_CLIENT, 0);
  if (!c) return NULL;
  if (!c->shut) {
    c->shut = 1;
    if (!c->out) flush(c);
  }
  int closed = c->ended && c->shut == 2;
  if (closed) release(c, CLOSE_FD);
  napi_get_boolean(env, closed, &result);
  return result;
}

/* tcpConnClose(id): close any conn now, without an event. A conn already gone is left alone. */
napi_value tcp_conn_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (arguments(env, info, argv, 1, 1, "expected (id)") != 0) return NULL;
  conn *c = conn_argument(env, argv[0], -1, 1);
  if (c) release(c, CLOSE_FD);
  return NULL;
}

/* tcpConnDetach(id): give a client's descriptor to JavaScript; returns [fd, bytes written but not sent yet, or null]. */
napi_value tcp_conn_detach(napi_env env, napi_callback_info info) {
  napi_value argv[1], result, value;
  if (arguments(env, info, argv, 1, 1, "expected (id)") != 0) return NULL;
  conn *c = conn_argument(env, argv[0], KIND_CLIENT, 0);
  if (!c || napi_create_array_with_length(env, 2, &result) != napi_ok) return NULL;
  napi_create_int32(env, c->fd, &value);
  napi_set_element(env, result, 0, value);
  void *copy;
  if (c->out) napi_create_buffer_copy(env, c->out_length - c->out_offset, c->out + c->out_offset, &copy, &value);
  else napi_get_null(env, &value);
  napi_set_element(env, result, 1, value);
  release(c, TO_NODE);
  return result;
}

/*
 * tcpConnRelay(clientId, dialId, clientBytes): hand a client and its
 * connected dial to the TCP relay; returns the relay's id (tcpRelay*).
 * clientBytes (Buffer or null), read from the client after its request,
 * go to the target first; what the client has not taken of its reply yet
 * goes to it first.
 */
napi_value tcp_conn_relay(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (arguments(env, info, argv, 2, 3, "expected (clientId, dialId, clientBytes)") != 0) return NULL;
  conn *client = conn_argument(env, argv[0], KIND_CLIENT, 0);
  if (!client) return NULL;
  if (client->shut) {
    napi_throw_error(env, NULL, "the client socket was ended");
    return NULL;
  }
  conn *dial = conn_argument(env, argv[1], KIND_DIAL, 0);
  if (!dial) return NULL;
  const uint8_t *early;
  size_t early_length;
  if (buffer_or_null(env, argv[2], &early, &early_length) != 0) {
    napi_throw_type_error(env, NULL, "clientBytes must be a Buffer or null");
    return NULL;
  }
  /* Both sockets go to the relay as they are in the poller's set, with the reply still owed to the client. */
  const int fds[2] = {client->fd, dial->fd};
  const uint8_t *owed = client->out ? client->out + client->out_offset : NULL;
  size_t owed_length = client->out ? client->out_length - client->out_offset : 0;
  double id;
  int error = tcp_relay_start(env, fds, early, early_length, owed, owed_length, &id);
  release(client, error ? CLOSE_FD : TO_RELAY);
  release(dial, error ? CLOSE_FD : TO_RELAY);
  if (error) {
    napi_throw_error(env, NULL, "cannot start the TCP relay");
    return NULL;
  }
  return return_number(env, id);
}
