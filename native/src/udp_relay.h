/* The UDP ASSOCIATE relay's fast path (udp_relay.c): the functions hasocks_native.c exports as udpRelay*. */
#ifndef HASOCKS_UDP_RELAY_H
#define HASOCKS_UDP_RELAY_H
#include <node_api.h>

napi_value udp_relay_open(napi_env env, napi_callback_info info);
napi_value udp_relay_outgoing(napi_env env, napi_callback_info info);
napi_value udp_relay_learn(napi_env env, napi_callback_info info);
napi_value udp_relay_send_out(napi_env env, napi_callback_info info);
napi_value udp_relay_send_to_client(napi_env env, napi_callback_info info);
napi_value udp_relay_stats(napi_env env, napi_callback_info info);
napi_value udp_relay_forget(napi_env env, napi_callback_info info);
napi_value udp_relay_close(napi_env env, napi_callback_info info);

#endif
