/* The TCP relay's fast path (tcp_relay.c): the functions hasocks_native.c exports as tcpRelay*. */
#ifndef HASOCKS_TCP_RELAY_H
#define HASOCKS_TCP_RELAY_H
#include <node_api.h>

napi_value tcp_relay_init(napi_env env, napi_callback_info info);
napi_value tcp_relay_open(napi_env env, napi_callback_info info);
napi_value tcp_relay_stats(napi_env env, napi_callback_info info);
napi_value tcp_relay_close(napi_env env, napi_callback_info info);

#endif
