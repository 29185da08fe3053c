/*
 * The UDP ASSOCIATE relay's fast path.
 *
 * Node hands every datagram to JavaScript on its own (a callback, a Buffer
 * and an address object each), which caps a relay at about 0.8x Dante's
 * datagram rate here. This relay owns the association's sockets instead,
 * reads and writes them in batches (recvmmsg/sendmmsg), and forwards a
 * datagram in C when its route is already decided:
 *
 * - The decisions stay in JavaScript (src/session/commands/udp-associate.ts). C keeps
 *   a small cache of them: "datagrams to 192.0.2.1:53 pass", "replies from
 *   192.0.2.1:53 are blocked". A datagram whose route is not in the cache,
 *   or that names a domain, goes to JavaScript ("the slow path"), which
 *   decides, sends it, and teaches the cache the answer.
 * - C filters datagrams by the client's address (and port, if the request
 *   named one) before anything else, and remembers where the client is, as
 *   the JavaScript relay does.
 * - Counters and the time of last activity are kept here, for both paths.
 *
 * The sockets are in the epoll set the TCP sockets share (poller.h), and
 * JavaScript names a relay by number (slot_table.h), as it does a TCP
 * relay. Everything runs on Node's event loop thread, so no locking.
 */
#define _GNU_SOURCE
#include "udp_relay.h"
#include "js_call.h"
#include "poller.h"
#include "slot_table.h"
#include "socket_address.h"
#include "socks_udp.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define BATCH 32              /* datagrams per recvmmsg/sendmmsg */
#define ROUNDS 4              /* batches per wake-up, so one busy association cannot starve the rest */
#define MAX_DATAGRAM 65536
#define ROUTE_SLOTS 256       /* direct-mapped; a collision only sends a datagram the slow way */
#define SOCKS_HEADER_MAX 22   /* RSV RSV FRAG ATYP, 16-byte address, port */

enum { SIDE_CLIENT = 0, SIDE_OUT4 = 1, SIDE_OUT6 = 2, SIDES = 3 };
enum { VERDICT_UNKNOWN = 0, VERDICT_PASS = 1, VERDICT_BLOCK = 2 };

/* One decided route: a remote address and port, and whether datagrams pass. */
typedef struct {
  uint8_t verdict;
  uint8_t family; /* 4 or 6 */
  uint16_t port;  /* network order */
  uint8_t addr[16];
} route;

typedef struct udp_relay {
  double id; /* what JavaScript calls it (slot_table.h) */
  napi_env env;
  napi_ref on_slow;
  napi_async_context async;
  watcher watchers[SIDES]; /* poller.h */
  int fds[SIDES];          /* -1: no such socket (yet) */
  int closed;
  /* The client: who may send, and where replies go once it has sent. */
  uint8_t allowed_family; /* 4 or 6 */
  uint8_t allowed_addr[16];
  uint16_t allowed_port; /* network order; 0: any */
  struct sockaddr_storage client;
  socklen_t client_length;
  route up[ROUTE_SLOTS];   /* to remote destinations */
  route down[ROUTE_SLOTS]; /* from remote senders */
  double stats[5];         /* datagrams up, bytes up, datagrams down, bytes down, last activity (ms since the epoch) */
} udp_relay;

/* Open relays by id (slot_table.h). */
static slot_table relays = SLOT_TABLE_INIT;

/* Receive and send areas shared by every relay: the loop runs one callback at a time. */
static uint8_t receive_data[BATCH][MAX_DATAGRAM];
static struct sockaddr_storage receive_from[BATCH];
static struct iovec receive_iov[BATCH];
static struct mmsghdr receive_msgs[BATCH];
static struct sockaddr_storage send_to[BATCH];
static struct iovec send_iov[BATCH][2];
static struct mmsghdr send_msgs[BATCH];
static uint8_t send_headers[BATCH][SOCKS_HEADER_MAX];

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static route *route_slot(route *table, int family, const uint8_t *addr, uint16_t port) {
  uint32_t h = 2166136261u; /* FNV-1a */
  int length = family == 4 ? 4 : 16;
  for (int i = 0; i < length; i++) h = (h ^ addr[i]) * 16777619u;
  h = (h ^ port) * 16777619u;
  return &table[h % ROUTE_SLOTS];
}

static int route_verdict(route *table, int family, const uint8_t *addr, uint16_t port) {
  route *slot = route_slot(table, family, addr, port);
  if (slot->verdict == VERDICT_UNKNOWN || slot->family != family || slot->port != port || memcmp(slot->addr, addr, family == 4 ? 4 : 16) != 0)
    return VERDICT_UNKNOWN;
  return slot->verdict;
}

/* The SOCKS header a reply from this sender gets (RFC 1928 §7). */
static size_t socks_header(uint8_t *out, int family, const uint8_t *addr, uint16_t port) {
  size_t length = family == 4 ? 4 : 16;
  out[0] = out[1] = out[2] = 0;
  out[3] = family == 4 ? 1 : 4;
  memcpy(out + 4, addr, length);
  memcpy(out + 4 + length, &port, 2);
  return 6 + length;
}

/* sendmmsg the first `count` prepared messages; a failed one is dropped, as the network would. */
static void send_batch(int fd, int count) {
  int done = 0;
  while (done < count) {
    int n = sendmmsg(fd, send_msgs + done, (unsigned)(count - done), MSG_DONTWAIT);
    if (n > 0) done += n;
    else if (n < 0 && errno == EINTR) continue;
    else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    else done++;
  }
}

static void prepare_send(int index, const struct sockaddr_storage *to, socklen_t to_length, const void *header, size_t header_length,
                         const void *payload, size_t payload_length) {
  struct msghdr *msg = &send_msgs[index].msg_hdr;
  memset(msg, 0, sizeof *msg);
  memcpy(&send_to[index], to, to_length);
  msg->msg_name = &send_to[index];
  msg->msg_namelen = to_length;
  int parts = 0;
  if (header_length > 0) send_iov[index][parts++] = (struct iovec){(void *)header, header_length};
  send_iov[index][parts++] = (struct iovec){(void *)payload, payload_length};
  msg->msg_iov = send_iov[index];
  msg->msg_iovlen = (size_t)parts;
}

/* Hand one datagram to JavaScript: onSlow(fromClient, datagram, address, port). */
static void slow_path(udp_relay *relay, int from_client, const uint8_t *data, size_t length, const struct sockaddr_storage *from) {
  napi_env env = relay->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  char text[INET6_ADDRSTRLEN] = "";
  int port = 0;
  address_text(from, text, &port);
  napi_value argv[4];
  if (napi_get_boolean(env, from_client, &argv[0]) == napi_ok && napi_create_buffer_copy(env, length, data, NULL, &argv[1]) == napi_ok &&
      napi_create_string_latin1(env, text, NAPI_AUTO_LENGTH, &argv[2]) == napi_ok && napi_create_uint32(env, (uint32_t)port, &argv[3]) == napi_ok)
    call_js(env, relay->async, relay->on_slow, 4, argv);
  napi_close_handle_scope(env, scope);
}

static int receive_batch(int fd) {
  for (int i = 0; i < BATCH; i++) {
    receive_iov[i] = (struct iovec){receive_data[i], MAX_DATAGRAM};
    struct msghdr *msg = &receive_msgs[i].msg_hdr;
    memset(msg, 0, sizeof *msg);
    msg->msg_name = &receive_from[i];
    msg->msg_namelen = sizeof receive_from[i];
    msg->msg_iov = &receive_iov[i];
    msg->msg_iovlen = 1;
  }
  int n;
  do n = recvmmsg(fd, receive_msgs, BATCH, MSG_DONTWAIT, NULL);
  while (n < 0 && errno == EINTR);
  return n;
}

/* Messages prepared in send_msgs for one socket, not yet sent. */
typedef struct {
  int fd;
  int count;
} pending_sends;

static void flush(pending_sends *pending) {
  if (pending->count > 0) send_batch(pending->fd, pending->count);
  pending->count = 0;
}

/* Queue a datagram for `fd`; a batch for another socket, or a full one, goes first. */
static void queue_send(pending_sends *pending, int fd, const struct sockaddr_storage *to, socklen_t to_length, const void *header, size_t header_length,
                       const void *payload, size_t payload_length) {
  if (pending->count > 0 && (pending->fd != fd || pending->count == BATCH)) flush(pending);
  pending->fd = fd;
  prepare_send(pending->count++, to, to_length, header, header_length, payload, payload_length);
}

/* Datagrams from the client: RSV RSV FRAG ATYP DST.ADDR DST.PORT DATA, out through the outgoing socket of DST's family. */
static void from_client(udp_relay *relay) {
  for (int round = 0; round < ROUNDS && !relay->closed; round++) {
    int n = receive_batch(relay->fds[SIDE_CLIENT]);
    if (n <= 0) return;
    pending_sends pending = {-1, 0};
    int accepted = 0;
    for (int i = 0; i < n && !relay->closed; i++) {
      const uint8_t *data = receive_data[i];
      size_t length = receive_msgs[i].msg_len;
      const uint8_t *addr;
      uint16_t port;
      int family = address_bytes(&receive_from[i], &addr, &port);
      if (family != relay->allowed_family || memcmp(addr, relay->allowed_addr, family == 4 ? 4 : 16) != 0) continue;
      if (relay->allowed_port != 0 && port != relay->allowed_port) continue;
      relay->client_length = receive_msgs[i].msg_hdr.msg_namelen;
      memcpy(&relay->client, &receive_from[i], relay->client_length);
      accepted = 1;
      socks_udp_destination to;
      int kind = socks_udp_parse(data, length, &to);
      if (kind == SOCKS_UDP_DROP) continue;
      int verdict = kind == SOCKS_UDP_ADDRESS ? route_verdict(relay->up, to.family, to.addr, to.port) : VERDICT_UNKNOWN;
      if (verdict == VERDICT_BLOCK) continue;
      int fd = kind == SOCKS_UDP_ADDRESS ? relay->fds[to.family == 4 ? SIDE_OUT4 : SIDE_OUT6] : -1;
      if (verdict == VERDICT_UNKNOWN || fd < 0) {
        flush(&pending); /* so datagrams leave in the order they came */
        slow_path(relay, 1, data, length, &receive_from[i]);
        continue;
      }
      parsed_address to_address;
      address_from_bytes(to.family, to.addr, to.port, &to_address);
      queue_send(&pending, fd, &to_address.storage, to_address.length, NULL, 0, data + to.offset, length - to.offset);
      relay->stats[0] += 1;
      relay->stats[1] += (double)(length - to.offset);
    }
    if (accepted) relay->stats[4] = now_ms(); /* once a batch: idle timeouts count in seconds */
    if (!relay->closed) flush(&pending);
    if (n < BATCH) return;
  }
}

/* Datagrams from remote senders, to the client with a SOCKS header naming the sender. */
static void from_remote(udp_relay *relay, int side) {
  for (int round = 0; round < ROUNDS && !relay->closed; round++) {
    int n = receive_batch(relay->fds[side]);
    if (n <= 0) return;
    if (relay->client_length == 0) continue; /* the client has not said where it listens yet */
    pending_sends pending = {-1, 0};
    for (int i = 0; i < n && !relay->closed; i++) {
      const uint8_t *addr;
      uint16_t port;
      int family = address_bytes(&receive_from[i], &addr, &port);
      if (family == 0) continue;
      int verdict = route_verdict(relay->down, family, addr, port);
      if (verdict == VERDICT_BLOCK) continue;
      if (verdict == VERDICT_UNKNOWN) {
        flush(&pending);
        slow_path(relay, 0, receive_data[i], receive_msgs[i].msg_len, &receive_from[i]);
        continue;
      }
      if (pending.count == BATCH) flush(&pending); /* before its header slot is reused */
      size_t header_length = socks_header(send_headers[pending.count], family, addr, port);
      queue_send(&pending, relay->fds[SIDE_CLIENT], &relay->client, relay->client_length, send_headers[pending.count], header_length, receive_data[i],
                 receive_msgs[i].msg_len);
      relay->stats[2] += 1;
      relay->stats[3] += (double)receive_msgs[i].msg_len;
    }
    if (pending.count > 0) relay->stats[4] = now_ms();
    if (!relay->closed) flush(&pending);
    if (n < BATCH) return;
  }
}

/* A side's socket has datagrams, or a pending error, which the next receive returns and clears (a level-triggered poll would report it again and again). */
static void on_ready(watcher *w, uint32_t events) {
  (void)events;
  udp_relay *relay = w->owner;
  if (relay->closed) return;
  int side = (int)(w - relay->watchers);
  if (side == SIDE_CLIENT) from_client(relay);
  else from_remote(relay, side);
}

/* Own `fd` as `side`'s socket and read it. 0, or -1 if the poller cannot have it (not a socket). */
static int watch(udp_relay *relay, int side, int fd) {
  watcher *w = &relay->watchers[side];
  if (watcher_start(w, fd, on_ready, relay) != 0) return -1;
  if (watcher_want(w, EPOLLIN) != 0) {
    watcher_stop(w, 1);
    return -1;
  }
  relay->fds[side] = fd;
  return 0;
}

/* Stop, close the sockets, and let go of JavaScript; the id is stale from now on. */
static void close_relay(udp_relay *relay) {
  relay->closed = 1;
  for (int side = 0; side < SIDES; side++) {
    if (relay->fds[side] < 0) continue;
    watcher_stop(&relay->watchers[side], 0); /* close() takes it out of the set */
    close(relay->fds[side]);
    relay->fds[side] = -1;
  }
  if (relay->on_slow) napi_delete_reference(relay->env, relay->on_slow);
  if (relay->async) napi_async_destroy(relay->env, relay->async);
  slot_give_back(&relays, relay->id);
  poller_free_later(relay); /* from_client may still be returning through it */
}

/* ---- the JavaScript interface (src/session/commands/udp-transport.ts) ---- */

/*
 * argv[0] as a relay's id: the relay in *relay, or NULL if the id names
 * none (any more), which the calls take as a closed relay. -1, with a
 * TypeError pending, if argv[0] is not a number.
 */
static int relay_argument(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, udp_relay **relay) {
  double id = -1;
  if (napi_get_cb_info(env, info, argc, argv, NULL, NULL) != napi_ok || *argc < 1 || napi_get_value_double(env, argv[0], &id) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a UDP relay id");
    return -1;
  }
  *relay = slot_find(&relays, id);
  return 0;
}

/* An IP address and a port from two arguments: its IP version (4 or 6), or 0 if either is not valid. */
static int endpoint_argument(napi_env env, napi_value address_value, napi_value port_value, parsed_address *out) {
  char address[INET6_ADDRSTRLEN + 1];
  int32_t port = -1;
  if (whole_string_argument(env, address_value, address, sizeof address) != 0 || napi_get_value_int32(env, port_value, &port) != napi_ok || port < 0 ||
      port > 65535 || parse_address(address, port, out) != 0)
    return 0;
  return out->family == AF_INET ? 4 : 6;
}

/* The calls (relay, x, address, port, ...): -1 if argv[0] is not an id (a TypeError pending); else the endpoint's IP version, 0 if absent or not an IP and port. */
static int relay_and_endpoint(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, udp_relay **relay, parsed_address *endpoint) {
  size_t wanted = *argc;
  if (relay_argument(env, info, argc, argv, relay) != 0) return -1;
  return *argc >= wanted ? endpoint_argument(env, argv[2], argv[3], endpoint) : 0;
}

static napi_value number(napi_env env, double value) {
  napi_value result;
  return napi_create_double(env, value, &result) == napi_ok ? result : NULL;
}

/* udpRelayOpen(clientFd, clientAddress, clientPort, onSlow): own clientFd and start reading it; returns the relay's id. */
napi_value udp_relay_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t fd = -1, port = 0;
  char address[INET6_ADDRSTRLEN + 1];
  napi_valuetype kind = napi_undefined;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      whole_string_argument(env, argv[1], address, sizeof address) != 0 || napi_get_value_int32(env, argv[2], &port) != napi_ok ||
      napi_typeof(env, argv[3], &kind) != napi_ok || kind != napi_function || fd < 0 || port < 0 || port > 65535) {
    napi_throw_type_error(env, NULL, "expected (clientFd, clientAddress, clientPort, onSlow)");
    return NULL;
  }
  parsed_address client;
  const uint8_t *client_addr;
  uint16_t client_port;
  int version = parse_address(address, port, &client) == 0 ? address_bytes(&client.storage, &client_addr, &client_port) : 0;
  if (version == 0) {
    napi_throw_type_error(env, NULL, "clientAddress is not an IP address");
    return NULL;
  }
  uv_loop_t *loop;
  udp_relay *relay = calloc(1, sizeof *relay);
  if (!relay || slot_take(&relays, relay, &relay->id) != 0) {
    free(relay);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  relay->env = env;
  for (int side = 0; side < SIDES; side++) relay->fds[side] = -1;
  relay->allowed_family = (uint8_t)version;
  memcpy(relay->allowed_addr, client_addr, version == 4 ? 4 : 16);
  relay->allowed_port = client_port;
  relay->stats[4] = now_ms();
  napi_value name, resource;
  if (napi_create_reference(env, argv[3], 1, &relay->on_slow) != napi_ok || napi_create_object(env, &resource) != napi_ok ||
      napi_create_string_latin1(env, "hasocks:udp-relay", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, resource, name, &relay->async) != napi_ok || napi_get_uv_event_loop(env, &loop) != napi_ok) {
    close_relay(relay);
    napi_throw_error(env, NULL, "cannot set up the UDP relay");
    return NULL;
  }
  if (poller_open(loop) != 0 || watch(relay, SIDE_CLIENT, fd) != 0) {
    close(fd);
    close_relay(relay);
    napi_throw_error(env, NULL, "cannot poll the UDP relay's socket");
    return NULL;
  }
  return number(env, relay->id);
}

/* udpRelayOutgoing(relay, fd): own fd, the outgoing socket for its address family, and read replies from it. */
napi_value udp_relay_outgoing(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  udp_relay *relay;
  int32_t fd = -1;
  if (relay_argument(env, info, &argc, argv, &relay) != 0) return NULL;
  struct sockaddr_storage local;
  socklen_t length = sizeof local;
  if (argc < 2 || napi_get_value_int32(env, argv[1], &fd) != napi_ok || fd < 0 || getsockname(fd, (struct sockaddr *)&local, &length) != 0) {
    napi_throw_type_error(env, NULL, "expected (relay, fd of a bound UDP socket)");
    return NULL;
  }
  int side = local.ss_family == AF_INET ? SIDE_OUT4 : SIDE_OUT6;
  if (!relay || relay->fds[side] >= 0 || watch(relay, side, fd) != 0) close(fd);
  return NULL;
}

/* udpRelayLearn(relay, toClient, address, port, pass): cache a decision about a destination (up) or a sender (down). */
napi_value udp_relay_learn(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  udp_relay *relay;
  parsed_address endpoint;
  int family = relay_and_endpoint(env, info, &argc, argv, &relay, &endpoint);
  if (family < 0) return NULL;
  bool to_client = false, pass = false;
  if (family == 0 || napi_get_value_bool(env, argv[1], &to_client) != napi_ok || napi_get_value_bool(env, argv[4], &pass) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected (relay, toClient, IP address, port, pass)");
    return NULL;
  }
  if (!relay) return NULL;
  const uint8_t *addr;
  uint16_t net_port;
  address_bytes(&endpoint.storage, &addr, &net_port);
  route *slot = route_slot(to_client ? relay->down : relay->up, family, addr, net_port);
  slot->verdict = pass ? VERDICT_PASS : VERDICT_BLOCK;
  slot->family = (uint8_t)family;
  slot->port = net_port;
  memcpy(slot->addr, addr, family == 4 ? 4 : 16);
  return NULL;
}

/* udpRelaySendOut(relay, payload, address, port): bytes sent, or -errno (ENOTCONN: no outgoing socket of that family yet). */
napi_value udp_relay_send_out(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  udp_relay *relay;
  parsed_address to;
  int family = relay_and_endpoint(env, info, &argc, argv, &relay, &to);
  if (family < 0) return NULL;
  void *data;
  size_t length;
  if (family == 0 || napi_get_buffer_info(env, argv[1], &data, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected (relay, payload, IP address, port)");
    return NULL;
  }
  int fd = relay ? relay->fds[family == 4 ? SIDE_OUT4 : SIDE_OUT6] : -1;
  if (fd < 0) return number(env, -ENOTCONN);
  ssize_t sent = sendto(fd, data, length, MSG_DONTWAIT, (struct sockaddr *)&to.storage, to.length);
  if (sent < 0) return number(env, -errno);
  relay->stats[0] += 1;
  relay->stats[1] += (double)length;
  return number(env, (double)sent);
}

/* udpRelaySendToClient(relay, header, payload): bytes sent, or -errno (ENOTCONN: the client has not sent yet). */
napi_value udp_relay_send_to_client(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  udp_relay *relay;
  if (relay_argument(env, info, &argc, argv, &relay) != 0) return NULL;
  void *header, *payload;
  size_t header_length, payload_length;
  if (argc < 3 || napi_get_buffer_info(env, argv[1], &header, &header_length) != napi_ok ||
      napi_get_buffer_info(env, argv[2], &payload, &payload_length) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected (relay, header, payload)");
    return NULL;
  }
  if (!relay || relay->client_length == 0) return number(env, -ENOTCONN);
  struct iovec parts[2] = {{header, header_length}, {payload, payload_length}};
  struct msghdr msg = {.msg_name = &relay->client, .msg_namelen = relay->client_length, .msg_iov = parts, .msg_iovlen = 2};
  ssize_t sent = sendmsg(relay->fds[SIDE_CLIENT], &msg, MSG_DONTWAIT);
  if (sent < 0) return number(env, -errno);
  relay->stats[2] += 1;
  relay->stats[3] += (double)payload_length;
  relay->stats[4] = now_ms();
  return number(env, (double)sent);
}

/* udpRelayStats(relay): [datagrams up, bytes up, datagrams down, bytes down, last activity in ms since the epoch]; read before udpRelayClose. */
napi_value udp_relay_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  udp_relay *relay;
  if (relay_argument(env, info, &argc, argv, &relay) != 0) return NULL;
  if (!relay) {
    napi_throw_type_error(env, NULL, "no such UDP relay");
    return NULL;
  }
  if (napi_create_array_with_length(env, 5, &result) != napi_ok) return NULL;
  for (uint32_t i = 0; i < 5; i++) napi_set_element(env, result, i, number(env, relay->stats[i]));
  return result;
}

/* udpRelayForget(relay): every decided route is undecided again (the rules changed); their next datagrams go to JavaScript. */
napi_value udp_relay_forget(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  udp_relay *relay;
  if (relay_argument(env, info, &argc, argv, &relay) != 0 || !relay) return NULL;
  memset(relay->up, 0, sizeof relay->up);
  memset(relay->down, 0, sizeof relay->down);
  return NULL;
}

/* udpRelayClose(relay): close every socket the relay owns; its id is stale from now on. A relay already closed is left alone. */
napi_value udp_relay_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  udp_relay *relay;
  if (relay_argument(env, info, &argc, argv, &relay) == 0 && relay) close_relay(relay);
  return NULL;
}
