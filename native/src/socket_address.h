/* Socket addresses and socket state, for hasocks_native.c, tcp_conn.c, tcp_relay.c and udp_relay.c. */
#ifndef HASOCKS_SOCKET_ADDRESS_H
#define HASOCKS_SOCKET_ADDRESS_H
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

typedef struct {
  struct sockaddr_storage storage;
  socklen_t length;
  int family;
} parsed_address;

/* An IPv4 or IPv6 literal and a port as a socket address. 0, or -1 if `host` is neither. */
static inline int parse_address(const char *host, int port, parsed_address *out) {
  memset(out, 0, sizeof *out);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&out->storage;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->storage;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    out->length = sizeof *v4;
    out->family = AF_INET;
    return 0;
  }
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    out->length = sizeof *v6;
    out->family = AF_INET6;
    return 0;
  }
  return -1;
}

/*
 * The IP version of an IPv4 or IPv6 socket address (4 or 6; 0 for another
 * family), with its address bytes (4 or 16, pointing into `storage`) and
 * its port in network order: the form a SOCKS UDP header carries them in.
 */
static inline int address_bytes(const struct sockaddr_storage *storage, const uint8_t **addr, uint16_t *net_port) {
  if (storage->ss_family == AF_INET) {
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)storage;
    *addr = (const uint8_t *)&v4->sin_addr;
    *net_port = v4->sin_port;
    return 4;
  }
  if (storage->ss_family == AF_INET6) {
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)storage;
    *addr = (const uint8_t *)&v6->sin6_addr;
    *net_port = v6->sin6_port;
    return 6;
  }
  *addr = NULL;
  *net_port = 0;
  return 0;
}

/* address_bytes the other way: the socket address of IP version 4 or 6, its address bytes and a port in network order. */
static inline void address_from_bytes(int version, const uint8_t *addr, uint16_t net_port, parsed_address *out) {
  memset(out, 0, sizeof *out);
  if (version == 4) {
    struct sockaddr_in *v4 = (struct sockaddr_in *)&out->storage;
    v4->sin_family = AF_INET;
    memcpy(&v4->sin_addr, addr, 4);
    v4->sin_port = net_port;
    out->length = sizeof *v4;
    out->family = AF_INET;
    return;
  }
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->storage;
  v6->sin6_family = AF_INET6;
  memcpy(&v6->sin6_addr, addr, 16);
  v6->sin6_port = net_port;
  out->length = sizeof *v6;
  out->family = AF_INET6;
}

/* "a.b.c.d" or an IPv6 text (text holds INET6_ADDRSTRLEN), and the port, of a socket address. */
static inline void address_text(const struct sockaddr_storage *storage, char *text, int *port) {
  if (storage->ss_family == AF_INET6) {
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)storage;
    inet_ntop(AF_INET6, &v6->sin6_addr, text, INET6_ADDRSTRLEN);
    *port = ntohs(v6->sin6_port);
  } else {
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)storage;
    inet_ntop(AF_INET, &v4->sin_addr, text, INET6_ADDRSTRLEN);
    *port = ntohs(v4->sin_port);
  }
}

/* The address and port a socket is bound to (text holds INET6_ADDRSTRLEN). 0, or -1 with errno. */
static inline int local_end(int fd, char *text, int *port) {
  struct sockaddr_storage own;
  socklen_t length = sizeof own;
  if (getsockname(fd, (struct sockaddr *)&own, &length) != 0) return -1;
  address_text(&own, text, port);
  return 0;
}

/*
 * Whether closing `fd` resets its peer (SO_LINGER with a zero timeout) or
 * ends its stream with a FIN. A relay's sockets reset until their
 * direction's FIN has been passed on (tcp_relay.c, and
 * src/relay/stream-relay.ts through socketResetOnClose): a session cut
 * before that (an error on the other side, a timeout, a drain, the process
 * killed, when the kernel closes for it) must not tell the peer its stream
 * ended, since a client that reads to EOF, framing nothing of its own,
 * would take the part it got for the whole. Once the FIN goes on, the
 * socket closes normally, its last bytes and FIN still delivered.
 */
static inline void reset_on_close(int fd, int reset) {
  struct linger linger = {.l_onoff = reset, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, sizeof linger);
}

/* A socket's pending error (SO_ERROR): 0 when none. */
static inline int socket_error(int fd) {
  int error = 0;
  socklen_t length = sizeof error;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
  return error;
}

#endif
