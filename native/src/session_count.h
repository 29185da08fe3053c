/* The node-wide count of client sessions (session_count.c): the functions hasocks_native.c exports as sessionCount*. */
#ifndef HASOCKS_SESSION_COUNT_H
#define HASOCKS_SESSION_COUNT_H
#include <node_api.h>

/*
 * Counters in the shared area: the most workers a supervisor may have.
 * More workers than a node has cores would gain nothing; the config schema
 * stops below this, and a test holds it there (the addon exports this as
 * sessionCountSlots).
 */
#define SESSION_COUNT_SLOTS 256

napi_value session_count_create(napi_env env, napi_callback_info info);
napi_value session_count_attach(napi_env env, napi_callback_info info);
napi_value session_count_take(napi_env env, napi_callback_info info);
napi_value session_count_give(napi_env env, napi_callback_info info);
napi_value session_count_clear(napi_env env, napi_callback_info info);
napi_value session_count_total(napi_env env, napi_callback_info info);

#endif
