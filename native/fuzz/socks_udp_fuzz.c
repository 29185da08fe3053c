/*
 * libFuzzer harness for socks_udp_parse() (native/src/socks_udp.h): the
 * parse of the SOCKS UDP header udp_relay.c runs on every datagram a client
 * sends. libFuzzer hands each input in a heap block of exactly its size, so
 * ASan turns any read past the datagram into a crash; the checks below hold
 * the result to RFC 1928 §7 as udp_relay.c relies on it.
 */
#include <stdio.h>
#include <stdlib.h>

#include "socks_udp.h"

#define CHECK(cond)                                                                           \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      fprintf(stderr, "socks_udp_fuzz: invariant failed: %s (line %d)\n", #cond, __LINE__); \
      abort();                                                                                \
    }                                                                                         \
  } while (0)

/* What the parse must say, written from the RFC rather than from the parse. */
static int expected_kind(const uint8_t *data, size_t length, size_t *want_offset) {
  *want_offset = 0;
  if (length < 4) return SOCKS_UDP_DROP;
  if (data[2] != 0x00) return SOCKS_UDP_DROP; /* FRAG: fragments are never reassembled */
  switch (data[3]) {
    case 0x01: *want_offset = 2 + 1 + 1 + 4 + 2; break;
    case 0x04: *want_offset = 2 + 1 + 1 + 16 + 2; break;
    default: return SOCKS_UDP_SLOW; /* 0x03 (a name) and unknown types are JavaScript's */
  }
  return length >= *want_offset ? SOCKS_UDP_ADDRESS : SOCKS_UDP_SLOW;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t length) {
  socks_udp_destination out, untouched;
  memset(&out, 0xa5, sizeof out);
  memcpy(&untouched, &out, sizeof out);

  int kind = socks_udp_parse(data, length, &out);
  size_t want_offset;
  int want = expected_kind(data, length, &want_offset);
  CHECK(kind == SOCKS_UDP_DROP || kind == SOCKS_UDP_SLOW || kind == SOCKS_UDP_ADDRESS);
  CHECK(kind == want);

  if (kind != SOCKS_UDP_ADDRESS) {
    /* udp_relay.c reads nothing of `out` then; the parse must not have half-filled it either. */
    CHECK(memcmp(&out, &untouched, sizeof out) == 0);
    return 0;
  }

  CHECK(length >= 4 && data[2] == 0);
  CHECK(data[3] == 0x01 || data[3] == 0x04);
  CHECK(out.family == (data[3] == 0x01 ? 4 : 6));
  CHECK(out.offset == (out.family == 4 ? 10u : 22u));
  CHECK(out.offset == want_offset);
  CHECK(out.offset <= length);
  CHECK(out.addr == data + 4);
  size_t address_length = out.family == 4 ? 4 : 16;
  CHECK(out.addr + address_length + 2 == data + out.offset);
  uint16_t host_port = (uint16_t)(data[out.offset - 2] << 8 | data[out.offset - 1]);
  const uint8_t *port_bytes = (const uint8_t *)&out.port;
  CHECK((uint16_t)(port_bytes[0] << 8 | port_bytes[1]) == host_port); /* network order, as in a sockaddr */

  /* What from_client() does next: hash and copy the address, send DATA. Touching
     every byte here lets ASan see a pointer that strays outside the datagram. */
  uint8_t copy[16];
  memcpy(copy, out.addr, address_length);
  volatile uint8_t sink = 0;
  for (size_t i = out.offset; i < length; i++) sink ^= data[i];
  (void)sink;
  return 0;
}
