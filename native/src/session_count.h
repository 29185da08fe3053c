/* The node-wide count of client sessions (session_count.c): the functions hasocks_native.c exports as sessionCount*. */
#ifndef HASOCKS_SESSION_COUNT_H
#define HASOCKS_SESSION_COUNT_H
#include <node_api.h>

napi_value session_count_create(napi_env env, napi_callback_info info);
napi_value session_count_attach(napi_env env, napi_callback_info info);
napi_value session_count_take(napi_env env, napi_callback_info info);
napi_value session_count_give(napi_env env, napi_callback_info info);
napi_value session_count_clear(napi_env env, napi_callback_info info);
napi_value session_count_total(napi_env env, napi_callback_info info);

#endif
