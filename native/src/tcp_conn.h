/* Session sockets in C (tcp_conn.c): the functions hasocks_native.c exports as tcpConn*. */
#ifndef HASOCKS_TCP_CONN_H
#define HASOCKS_TCP_CONN_H
#include <node_api.h>

napi_value tcp_conn_init(napi_env env, napi_callback_info info);
napi_value tcp_conn_listen(napi_env env, napi_callback_info info);
napi_value tcp_conn_dial(napi_env env, napi_callback_info info);
napi_value tcp_conn_resume(napi_env env, napi_callback_info info);
napi_value tcp_conn_pause(napi_env env, napi_callback_info info);
napi_value tcp_conn_write(napi_env env, napi_callback_info info);
napi_value tcp_conn_end(napi_env env, napi_callback_info info);
napi_value tcp_conn_close(napi_env env, napi_callback_info info);
napi_value tcp_conn_detach(napi_env env, napi_callback_info info);
napi_value tcp_conn_relay(napi_env env, napi_callback_info info);

/* The highest descriptor a client, or anything made for one, may have (the rest are the agent's); INT_MAX: no limit. */
int tcp_conn_descriptor_ceiling(void);

#endif
