/*
 * hasocks_native: create sockets Node cannot, and hand them over as file
 * descriptors.
 *
 * - freebind: bind an address that is not (yet) on this host, so a warm
 *   standby holds its VIP sockets before Pacemaker moves the VIP here, and
 *   outgoing traffic can leave from an external VIP.
 *   Linux: IP_FREEBIND / IPV6_FREEBIND. FreeBSD: IP_BINDANY / IPV6_BINDANY.
 *   OpenBSD: SO_BINDANY. (The BSD branches compile but are not tested here.)
 * - reuseport: SO_REUSEPORT, one listener per worker process, and
 *   round-robin among them (reuseport_rr.c).
 * - dup() a socket, so the TCP relay can own a descriptor Node gives up.
 * - session sockets in C: accepts, the handshake's reads and writes and
 *   the CONNECT dial (tcp_conn.c), then the TCP relay (tcp_relay.c); and
 *   the UDP ASSOCIATE relay (udp_relay.c).
 *
 * Every function closes its socket on every error path and throws a
 * Node-style error: message "bind EADDRNOTAVAIL 10.0.0.1:1080", with code,
 * errno, syscall, address and port properties.
 *
 * Besides the functions, the module exports the numbers TypeScript must
 * agree on with C (events.h, session_count.h), so they are written once.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "events.h"
#include "js_call.h"
#include "reuseport_rr.h"
#include "session_count.h"
#include "socket_address.h"
#include "tcp_conn.h"
#include "tcp_relay.h"
#include "udp_relay.h"

#if defined(__linux__) && !defined(IPV6_FREEBIND)
#define IPV6_FREEBIND 78 /* linux/in6.h; older glibc headers lack it */
#endif

typedef struct {
  int freebind;
  int reuseport;
  int reuseaddr;
  int ipv6only;
  int backlog;
} socket_options;


static const char *errno_code(int err) {
  switch (err) {
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EADDRINUSE: return "EADDRINUSE";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EINVAL: return "EINVAL";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOBUFS: return "ENOBUFS";
    case ENOMEM: return "ENOMEM";
    case ENOSYS: return "ENOSYS";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    default: return "EUNKNOWN";
  }
}

/* Throw an Error shaped like Node's own system errors. */
static void throw_system_error(napi_env env, int err, const char *syscall, const char *address, int port) {
  char message[256];
  if (address[0] != '\0')
    snprintf(message, sizeof message, "%s %s %s:%d (%s)", syscall, errno_code(err), address, port, strerror(err));
  else
    snprintf(message, sizeof message, "%s %s (%s)", syscall, errno_code(err), strerror(err));
  napi_value msg, error, value;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg) != napi_ok) return;
  if (napi_create_error(env, NULL, msg, &error) != napi_ok) return;
  napi_create_string_utf8(env, errno_code(err), NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, error, "code", value);
  napi_create_int32(env, -err, &value);
  napi_set_named_property(env, error, "errno", value);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, error, "syscall", value);
  napi_create_string_utf8(env, address, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, error, "address", value);
  napi_create_int32(env, port, &value);
  napi_set_named_property(env, error, "port", value);
  napi_throw(env, error);
}

static int get_bool(napi_env env, napi_value object, const char *name, int fallback) {
  bool has = false, result = false;
  napi_value value;
  if (napi_has_named_property(env, object, name, &has) != napi_ok || !has) return fallback;
  if (napi_get_named_property(env, object, name, &value) != napi_ok) return fallback;
  if (napi_get_value_bool(env, value, &result) != napi_ok) return fallback;
  return result ? 1 : 0;
}

static int get_int(napi_env env, napi_value object, const char *name, int fallback) {
  bool has = false;
  int32_t result = fallback;
  napi_value value;
  if (napi_has_named_property(env, object, name, &has) != napi_ok || !has) return fallback;
  if (napi_get_named_property(env, object, name, &value) != napi_ok) return fallback;
  if (napi_get_value_int32(env, value, &result) != napi_ok) return fallback;
  return result;
}

static int set_int_option(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof value);
}

/* Apply the options that must precede bind(). Returns 0, or -1 with errno and *what set. */
static int apply_options(int fd, int family, const socket_options *options, const char **what) {
  if (options->reuseaddr && set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1) != 0) {
    *what = "setsockopt(SO_REUSEADDR)";
    return -1;
  }
#ifdef SO_REUSEPORT
  if (options->reuseport && set_int_option(fd, SOL_SOCKET, SO_REUSEPORT, 1) != 0) {
    *what = "setsockopt(SO_REUSEPORT)";
    return -1;
  }
#else
  if (options->reuseport) {
    errno = ENOPROTOOPT;
    *what = "setsockopt(SO_REUSEPORT)";
    return -1;
  }
#endif
  if (family == AF_INET6 && set_int_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, options->ipv6only ? 1 : 0) != 0) {
    *what = "setsockopt(IPV6_V6ONLY)";
    return -1;
  }
  if (options->freebind) {
    int rc;
#if defined(__linux__)
    rc = family == AF_INET6 ? set_int_option(fd, IPPROTO_IPV6, IPV6_FREEBIND, 1) : set_int_option(fd, IPPROTO_IP, IP_FREEBIND, 1);
    *what = family == AF_INET6 ? "setsockopt(IPV6_FREEBIND)" : "setsockopt(IP_FREEBIND)";
#elif defined(__FreeBSD__)
    rc = family == AF_INET6 ? set_int_option(fd, IPPROTO_IPV6, IPV6_BINDANY, 1) : set_int_option(fd, IPPROTO_IP, IP_BINDANY, 1);
    *what = family == AF_INET6 ? "setsockopt(IPV6_BINDANY)" : "setsockopt(IP_BINDANY)";
#elif defined(__OpenBSD__)
    rc = set_int_option(fd, SOL_SOCKET, SO_BINDANY, 1);
    *what = "setsockopt(SO_BINDANY)";
#else
    errno = ENOPROTOOPT;
    rc = -1;
    *what = "freebind";
#endif
    if (rc != 0) return -1;
  }
  return 0;
}

static int open_socket(int family, int type) {
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
  return socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
#else
  int fd = socket(family, type, 0);
  if (fd >= 0) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  return fd;
#endif
}

/*
 * Shared body of the three exported functions: (host, port, options) ->
 * fd of a bound socket of `type`, listening when `listen_after` is set.
 */
static napi_value make_socket(napi_env env, napi_callback_info info, int type, int listen_after) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "expected (host, port, options)");
    return NULL;
  }
  char host[64];
  if (whole_string_argument(env, argv[0], host, sizeof host) != 0) {
    napi_throw_type_error(env, NULL, "host must be an IP address");
    return NULL;
  }
  int32_t port = 0;
  if (napi_get_value_int32(env, argv[1], &port) != napi_ok || port < 0 || port > 65535) {
    napi_throw_range_error(env, NULL, "port must be an integer from 0 to 65535");
    return NULL;
  }
  socket_options options = {0, 0, 0, 0, 511};
  napi_valuetype kind = napi_undefined;
  if (argc >= 3) napi_typeof(env, argv[2], &kind);
  if (kind == napi_object) {
    options.freebind = get_bool(env, argv[2], "freebind", 0);
    options.reuseport = get_bool(env, argv[2], "reuseport", 0);
    options.reuseaddr = get_bool(env, argv[2], "reuseaddr", listen_after);
    options.ipv6only = get_bool(env, argv[2], "ipv6only", 1);
    options.backlog = get_int(env, argv[2], "backlog", 511);
  }
  parsed_address address;
  if (parse_address(host, port, &address) != 0) {
    throw_system_error(env, EINVAL, "inet_pton", host, port);
    return NULL;
  }
  int fd = open_socket(address.family, type);
  if (fd < 0) {
    throw_system_error(env, errno, "socket", host, port);
    return NULL;
  }
  const char *what = "bind";
  if (apply_options(fd, address.family, &options, &what) != 0 ||
      (what = "bind", bind(fd, (struct sockaddr *)&address.storage, address.length) != 0) ||
      (listen_after && (what = "listen", listen(fd, options.backlog) != 0))) {
    int err = errno;
    close(fd);
    throw_system_error(env, err, what, host, port);
    return NULL;
  }
  napi_value result;
  if (napi_create_int32(env, fd, &result) != napi_ok) {
    close(fd);
    napi_throw_error(env, NULL, "cannot return the file descriptor");
    return NULL;
  }
  return result;
}

static napi_value tcp_listener(napi_env env, napi_callback_info info) { return make_socket(env, info, SOCK_STREAM, 1); }
static napi_value udp_socket(napi_env env, napi_callback_info info) { return make_socket(env, info, SOCK_DGRAM, 0); }
static napi_value tcp_socket(napi_env env, napi_callback_info info) { return make_socket(env, info, SOCK_STREAM, 0); }

/* The single fd argument of local_address() and close(); -1 (with a TypeError thrown) if absent. */
static int fd_argument(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "expected (fd)");
    return -1;
  }
  return fd;
}

/* The local address a socket is bound to, as "host|port" (for tests and logs). */
static napi_value local_address(napi_env env, napi_callback_info info) {
  int fd = fd_argument(env, info);
  if (fd < 0) return NULL;
  char text[INET6_ADDRSTRLEN + 8];
  int port = 0;
  if (local_end(fd, text, &port) != 0) {
    throw_system_error(env, errno, "getsockname", "", 0);
    return NULL;
  }
  size_t used = strlen(text);
  snprintf(text + used, sizeof text - used, "|%d", port);
  napi_value result;
  NAPI_CALL(env, napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &result));
  return result;
}

/* dup(fd), close-on-exec: a second descriptor for the same socket. */
static napi_value dup_fd(napi_env env, napi_callback_info info) {
  int fd = fd_argument(env, info);
  if (fd < 0) return NULL;
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) {
    throw_system_error(env, errno, "dup", "", 0);
    return NULL;
  }
  napi_value result;
  NAPI_CALL(env, napi_create_int32(env, copy, &result));
  return result;
}

/*
 * dieWithParent(): the kernel sends this process SIGKILL when the process
 * that forked it ends, however busy or blocked this one's event loop is; a
 * worker of a dead supervisor must not keep its listener in the
 * SO_REUSEPORT group. Returns the parent's pid as it is now: if the parent
 * was already gone before the call, it is no longer the supervisor, and
 * the caller exits itself. Throws ENOSYS where the kernel has no such call.
 */
static napi_value die_with_parent(napi_env env, napi_callback_info info) {
  (void)info;
#ifdef __linux__
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
    throw_system_error(env, errno, "prctl", "", 0);
    return NULL;
  }
  napi_value result;
  NAPI_CALL(env, napi_create_int32(env, (int32_t)getppid(), &result));
  return result;
#else
  throw_system_error(env, ENOSYS, "prctl", "", 0);
  return NULL;
#endif
}

/*
 * reuseportRoundRobin(fds): the listening sockets of one SO_REUSEPORT group,
 * in worker order; from now on the group hands new connections to them in
 * turn. Throws (code ENOSYS, EPERM, ...) where the kernel cannot.
 */
static napi_value reuseport_rr(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool is_array = false;
  uint32_t count = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_is_array(env, argv[0], &is_array) != napi_ok ||
      !is_array || napi_get_array_length(env, argv[0], &count) != napi_ok || count < 1 || count > 1024) {
    napi_throw_type_error(env, NULL, "expected (fds: number[])");
    return NULL;
  }
  int fds[1024];
  for (uint32_t i = 0; i < count; i++) {
    napi_value element;
    int32_t fd = -1;
    if (napi_get_element(env, argv[0], i, &element) != napi_ok || napi_get_value_int32(env, element, &fd) != napi_ok || fd < 0) {
      napi_throw_type_error(env, NULL, "expected (fds: number[])");
      return NULL;
    }
    fds[i] = fd;
  }
  const char *failed_call = "";
  if (reuseport_round_robin(fds, (int)count, &failed_call) != 0) throw_system_error(env, errno, failed_call, "", 0);
  return NULL;
}

/* socketResetOnClose(fd, reset): whether closing fd resets its peer (socket_address.h, reset_on_close). */
static napi_value reset_on_close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd = -1;
  bool reset = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 ||
      napi_get_value_bool(env, argv[1], &reset) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected (fd, reset)");
    return NULL;
  }
  reset_on_close(fd, reset);
  return NULL;
}

/* socketError(fd): the socket's pending error (SO_ERROR), taken: an errno, or 0. */
static napi_value socket_error_fd(napi_env env, napi_callback_info info) {
  int fd = fd_argument(env, info);
  if (fd < 0) return NULL;
  napi_value result;
  NAPI_CALL(env, napi_create_int32(env, socket_error(fd), &result));
  return result;
}

static napi_value close_fd(napi_env env, napi_callback_info info) {
  int fd = fd_argument(env, info);
  if (fd < 0) return NULL;
  close(fd);
  return NULL;
}

/*
 * Each password check (scrypt, N=16384 r=8) takes a 16 MiB block on one of
 * libuv's threads. glibc raises its mmap threshold to the size of the
 * largest mmapped block freed, so from the second check on such blocks
 * come from the thread's own arena, and stay there: with 16 threads that
 * came to hundreds of MB kept for good. A fixed threshold keeps every block
 * this large mmapped, and returned when freed.
 */
#define MMAP_THRESHOLD (256 * 1024)

typedef struct {
  const char *name;
  int code;
} named_code;

#define NAMED_TCP_CONN_EVENT(name) {#name, TCP_CONN_##name},
#define NAMED_TCP_RELAY_EVENT(name) {#name, TCP_RELAY_##name},
static const named_code tcp_conn_events[] = {TCP_CONN_EVENTS(NAMED_TCP_CONN_EVENT)};
static const named_code tcp_relay_events[] = {TCP_RELAY_EVENTS(NAMED_TCP_RELAY_EVENT)};

/* A frozen object of name -> code, for src/native/addon.ts; NULL if N-API refused. */
static napi_value codes_object(napi_env env, const named_code *codes, size_t count) {
  napi_value object, value;
  if (napi_create_object(env, &object) != napi_ok) return NULL;
  for (size_t i = 0; i < count; i++)
    if (napi_create_int32(env, codes[i].code, &value) != napi_ok || napi_set_named_property(env, object, codes[i].name, value) != napi_ok) return NULL;
  return napi_object_freeze(env, object) == napi_ok ? object : NULL;
}

static napi_value init(napi_env env, napi_value exports) {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
#endif
  napi_value tcp_conn_codes = codes_object(env, tcp_conn_events, sizeof tcp_conn_events / sizeof tcp_conn_events[0]);
  napi_value tcp_relay_codes = codes_object(env, tcp_relay_events, sizeof tcp_relay_events / sizeof tcp_relay_events[0]);
  napi_value session_count_slots;
  if (!tcp_conn_codes || !tcp_relay_codes || napi_create_int32(env, SESSION_COUNT_SLOTS, &session_count_slots) != napi_ok) return NULL;
  napi_property_descriptor properties[] = {
      {"tcpListener", NULL, tcp_listener, NULL, NULL, NULL, napi_default, NULL},
      {"udpSocket", NULL, udp_socket, NULL, NULL, NULL, napi_default, NULL},
      {"tcpSocket", NULL, tcp_socket, NULL, NULL, NULL, napi_default, NULL},
      {"localAddress", NULL, local_address, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, close_fd, NULL, NULL, NULL, napi_default, NULL},
      {"dup", NULL, dup_fd, NULL, NULL, NULL, napi_default, NULL},
      {"socketResetOnClose", NULL, reset_on_close_fd, NULL, NULL, NULL, napi_default, NULL},
      {"socketError", NULL, socket_error_fd, NULL, NULL, NULL, napi_default, NULL},
      {"reuseportRoundRobin", NULL, reuseport_rr, NULL, NULL, NULL, napi_default, NULL},
      {"dieWithParent", NULL, die_with_parent, NULL, NULL, NULL, napi_default, NULL},
      {"udpRelayOpen", NULL, udp_relay_open, NULL, NULL, NULL, napi_default, NULL},
      {"udpRelayOutgoing", NULL, udp_relay_outgoing, NULL, NULL, NULL, napi_default, NULL},
      {"udpRelayLearn", NULL, udp_relay_learn, NULL, NULL, NULL, napi_default, NULL},
      {"udpRelaySendOut", NULL, udp_relay_send_out, NULL, NULL, NULL, napi_default, NULL},
      {"udpRelaySendToClient", NULL, udp_relay_send_to_client, NULL, NULL, NULL, napi_default, NULL},
      {"udpRelayStats", NULL, udp_relay_stats, NULL, NULL, NULL, napi_default, NULL},
      {"udpRelayForget", NULL, udp_relay_forget, NULL, NULL, NULL, napi_default, NULL},
      {"udpRelayClose", NULL, udp_relay_close, NULL, NULL, NULL, napi_default, NULL},
      {"tcpRelayInit", NULL, tcp_relay_init, NULL, NULL, NULL, napi_default, NULL},
      {"tcpRelayOpen", NULL, tcp_relay_open, NULL, NULL, NULL, napi_default, NULL},
      {"tcpRelayStats", NULL, tcp_relay_stats, NULL, NULL, NULL, napi_default, NULL},
      {"tcpRelayClose", NULL, tcp_relay_close, NULL, NULL, NULL, napi_default, NULL},
      {"tcpConnInit", NULL, tcp_conn_init, NULL, NULL, NULL, napi_default, NULL},
      {"tcpConnListen", NULL, tcp_conn_listen, NULL, NULL, NULL, napi_default, NULL},
      {"tcpConnDial", NULL, tcp_conn_dial, NULL, NULL, NULL, napi_default, NULL},
      {"tcpConnResume", NULL, tcp_conn_resume, NULL, NULL, NULL, napi_default, NULL},
      {"tcpConnPause", NULL, tcp_conn_pause, NULL, NULL, NULL, napi_default, NULL},
      {"tcpConnWrite", NULL, tcp_conn_write, NULL, NULL, NULL, napi_default, NULL},
      {"tcpConnEnd", NULL, tcp_conn_end, NULL, NULL, NULL, napi_default, NULL},
      {"tcpConnClose", NULL, tcp_conn_close, NULL, NULL, NULL, napi_default, NULL},
      {"tcpConnDetach", NULL, tcp_conn_detach, NULL, NULL, NULL, napi_default, NULL},
      {"tcpConnRelay", NULL, tcp_conn_relay, NULL, NULL, NULL, napi_default, NULL},
      {"sessionCountCreate", NULL, session_count_create, NULL, NULL, NULL, napi_default, NULL},
      {"sessionCountAttach", NULL, session_count_attach, NULL, NULL, NULL, napi_default, NULL},
      {"sessionCountTake", NULL, session_count_take, NULL, NULL, NULL, napi_default, NULL},
      {"sessionCountGive", NULL, session_count_give, NULL, NULL, NULL, napi_default, NULL},
      {"sessionCountClear", NULL, session_count_clear, NULL, NULL, NULL, napi_default, NULL},
      {"sessionCountTotal", NULL, session_count_total, NULL, NULL, NULL, napi_default, NULL},
      {"tcpConnEvents", NULL, NULL, NULL, NULL, tcp_conn_codes, napi_enumerable, NULL},
      {"tcpRelayEvents", NULL, NULL, NULL, NULL, tcp_relay_codes, napi_enumerable, NULL},
      {"sessionCountSlots", NULL, NULL, NULL, NULL, session_count_slots, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
