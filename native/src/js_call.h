/* Calling JavaScript from a libuv callback, for the relays (tcp_relay.c, udp_relay.c). */
#ifndef HASOCKS_JS_CALL_H
#define HASOCKS_JS_CALL_H
#include <node_api.h>
#include <stdbool.h>

/*
 * Call the function `callback` refers to with argv, in `async`'s context,
 * inside the caller's handle scope. A throw in it is an uncaught exception,
 * as in any event handler.
 */
static inline void call_js(napi_env env, napi_async_context async, napi_ref callback, size_t argc, const napi_value *argv) {
  napi_value function, receiver, result;
  /* napi_make_callback wants an object to call on: the global one. */
  if (napi_get_reference_value(env, callback, &function) == napi_ok && function != NULL && napi_get_global(env, &receiver) == napi_ok)
    napi_make_callback(env, async, receiver, function, argc, argv, &result);
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
}

#endif
