/* The TCP relay's fast path (tcp_relay.c): the functions hasocks_native.c exports as tcpRelay*. */
#ifndef HASOCKS_TCP_RELAY_H
#define HASOCKS_TCP_RELAY_H
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

napi_value tcp_relay_init(napi_env env, napi_callback_info info);
napi_value tcp_relay_open(napi_env env, napi_callback_info info);
napi_value tcp_relay_stats(napi_env env, napi_callback_info info);
napi_value tcp_relay_close(napi_env env, napi_callback_info info);

/*
 * The same as tcpRelayOpen, from C (tcp_conn.c hands over a session's two
 * sockets): own the client's and the target's descriptors and relay
 * between them, taking over their watchers in the poller's set if they
 * have any (poller.h). `up` and `down` are bytes that go to the target and
 * to the client first. 0 with the relay's id in *id, or an errno (the
 * descriptors are still the caller's).
 */
int tcp_relay_start(napi_env env, const int fds[2], const uint8_t *up, size_t up_length, const uint8_t *down, size_t down_length, double *id);

#endif
