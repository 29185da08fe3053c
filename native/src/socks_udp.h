/*
 * The SOCKS UDP request header a client puts before each datagram
 * (RFC 1928 §7): RSV RSV FRAG ATYP DST.ADDR DST.PORT DATA.
 *
 * Every byte of it is the client's, so the parse is a pure function of the
 * datagram alone: udp_relay.c calls it for each one, and native/fuzz/ runs
 * it under libFuzzer with the invariants below checked.
 */
#ifndef HASOCKS_SOCKS_UDP_H
#define HASOCKS_SOCKS_UDP_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* What C may do with a client's datagram. */
enum {
  SOCKS_UDP_DROP = 0,    /* shorter than RSV RSV FRAG ATYP, or a fragment: we do not reassemble */
  SOCKS_UDP_SLOW = 1,    /* JavaScript decides: a domain name, an unknown ATYP, or a header cut short */
  SOCKS_UDP_ADDRESS = 2, /* an IPv4 or IPv6 destination, whole: C may forward it if the route is cached */
};

/* The destination of a SOCKS_UDP_ADDRESS datagram. */
typedef struct {
  int family;          /* 4 or 6 */
  const uint8_t *addr; /* 4 or 16 bytes, inside the datagram (data + 4) */
  uint16_t port;       /* network order */
  size_t offset;       /* where DATA starts: 10 for IPv4, 22 for IPv6; never past the end */
} socks_udp_destination;

/* Which of the three a datagram is; *out is set only for SOCKS_UDP_ADDRESS. Reads nothing outside data[0..length). */
static inline int socks_udp_parse(const uint8_t *data, size_t length, socks_udp_destination *out) {
  if (length < 4 || data[2] != 0) return SOCKS_UDP_DROP;
  int family = data[3] == 1 ? 4 : data[3] == 4 ? 6 : 0;
  if (family == 0) return SOCKS_UDP_SLOW;
  size_t offset = family == 4 ? 10 : 22;
  if (length < offset) return SOCKS_UDP_SLOW;
  out->family = family;
  out->addr = data + 4;
  memcpy(&out->port, data + offset - 2, 2);
  out->offset = offset;
  return SOCKS_UDP_ADDRESS;
}

#endif
