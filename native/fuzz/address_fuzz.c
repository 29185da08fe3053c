/*
 * libFuzzer harness for parse_address() and address_text()
 * (native/src/socket_address.h), and for address_bytes() and
 * address_from_bytes() on what it parses. tcpConnDial (tcp_conn.c) and the
 * UDP relay's calls (udp_relay.c) parse addresses with it: JavaScript
 * passes an IP literal it took from the client's request or from DNS,
 * copied by napi_get_value_string_latin1 into a fixed buffer, cut to fit and
 * NUL-terminated. This harness feeds it any such buffer.
 *
 * Input: byte 0 picks the buffer (bit 0: tcp_conn.c's INET6_ADDRSTRLEN, or
 * hasocks_native.c's 64), bytes 1-2 the port, the rest is the string, which
 * may hold NULs and bytes above 0x7f, as a JavaScript string can.
 */
#include <stdio.h>
#include <stdlib.h>

#include "socket_address.h"

#define CHECK(cond)                                                                         \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      fprintf(stderr, "address_fuzz: invariant failed: %s (line %d)\n", #cond, __LINE__); \
      abort();                                                                              \
    }                                                                                       \
  } while (0)

/* napi_get_value_string_latin1 into char[size]: at most size - 1 characters, then a NUL. */
static void napi_copy(const uint8_t *text, size_t length, char *out, size_t size) {
  size_t n = length < size - 1 ? length : size - 1;
  memcpy(out, text, n);
  out[n] = '\0';
}

static int is_zero(const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != 0) return 0;
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t length) {
  if (length < 3) return 0;
  size_t size = (data[0] & 1) ? 64 : INET6_ADDRSTRLEN;
  int port = data[1] << 8 | data[2];
  /* An exactly-sized heap copy, so a read past the NUL is caught. */
  char *host = malloc(size);
  if (!host) return 0;
  napi_copy(data + 3, length - 3, host, size);
  char *exact = strdup(host);
  free(host);
  if (!exact) return 0;

  parsed_address out;
  memset(&out, 0xa5, sizeof out);
  int rc = parse_address(exact, port, &out);
  CHECK(rc == 0 || rc == -1);
  if (rc != 0) {
    /* Callers ignore it then, but nothing of a half parse may be left in it. */
    CHECK(is_zero(&out, sizeof out));
    free(exact);
    return 0;
  }

  /* A socket address connect() can take as it is. */
  CHECK(out.family == AF_INET || out.family == AF_INET6);
  CHECK(out.storage.ss_family == out.family);
  if (out.family == AF_INET) {
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)&out.storage;
    CHECK(out.length == sizeof *v4);
    CHECK(ntohs(v4->sin_port) == port);
    CHECK(is_zero(v4->sin_zero, sizeof v4->sin_zero));
    CHECK(strchr(exact, ':') == NULL);
  } else {
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&out.storage;
    CHECK(out.length == sizeof *v6);
    CHECK(ntohs(v6->sin6_port) == port);
    CHECK(v6->sin6_flowinfo == 0 && v6->sin6_scope_id == 0);
    CHECK(strchr(exact, ':') != NULL);
  }
  CHECK(is_zero((const uint8_t *)&out.storage + out.length, sizeof out.storage - out.length));

  /* address_text (what the addon reports back, e.g. a dial's local end) fits its buffer and parses back to the same address. */
  char text[INET6_ADDRSTRLEN + 8];
  memset(text, 'x', sizeof text);
  int text_port = -1;
  address_text(&out.storage, text, &text_port);
  CHECK(memchr(text, '\0', INET6_ADDRSTRLEN) != NULL);
  CHECK(text_port == port);
  parsed_address again;
  CHECK(parse_address(text, text_port, &again) == 0);
  CHECK(again.family == out.family && again.length == out.length);
  CHECK(memcmp(&again.storage, &out.storage, sizeof out.storage) == 0);

  /* address_bytes and address_from_bytes (udp_relay.c's way between socket addresses and SOCKS headers) give back the same address. */
  const uint8_t *bytes;
  uint16_t net_port;
  int version = address_bytes(&out.storage, &bytes, &net_port);
  CHECK(version == (out.family == AF_INET ? 4 : 6));
  CHECK(ntohs(net_port) == port);
  CHECK(bytes >= (const uint8_t *)&out.storage && bytes + (version == 4 ? 4 : 16) <= (const uint8_t *)&out.storage + out.length);
  parsed_address rebuilt;
  memset(&rebuilt, 0xa5, sizeof rebuilt);
  address_from_bytes(version, bytes, net_port, &rebuilt);
  CHECK(memcmp(&rebuilt, &out, sizeof out) == 0);
  free(exact);
  return 0;
}
