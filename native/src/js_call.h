/* Calling JavaScript from a libuv callback, and reading its arguments, for tcp_relay.c, tcp_conn.c and udp_relay.c. */
#ifndef HASOCKS_JS_CALL_H
#define HASOCKS_JS_CALL_H
#include <node_api.h>
#include <string.h>
#include <stdbool.h>
#include <stdint.h>

/* In a function that returns napi_value: an N-API call that fails throws, naming the call, and returns NULL. */
#define NAPI_CALL(env, call)                                  \
  do {                                                        \
    if ((call) != napi_ok) {                                  \
      napi_throw_error((env), NULL, "N-API call failed: " #call); \
      return NULL;                                            \
    }                                                         \
  } while (0)

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

/* One callback that every object of a kind reports to (every TCP relay, every conn), with its async context. */
typedef struct {
  napi_env env;
  napi_ref on_event;
  napi_async_context async;
} js_callback;

/* Make `function` the callback, replacing any earlier one; `name` names the async resource. False if N-API refused. */
static inline bool js_callback_set(js_callback *cb, napi_env env, napi_value function, const char *name) {
  napi_value resource, resource_name;
  if (cb->on_event) napi_delete_reference(env, cb->on_event);
  if (cb->async) napi_async_destroy(env, cb->async);
  cb->env = env;
  cb->on_event = NULL;
  cb->async = NULL;
  return napi_create_reference(env, function, 1, &cb->on_event) == napi_ok && napi_create_object(env, &resource) == napi_ok &&
         napi_create_string_latin1(env, name, NAPI_AUTO_LENGTH, &resource_name) == napi_ok &&
         napi_async_init(env, resource, resource_name, &cb->async) == napi_ok;
}

/* A Buffer's bytes, or none for null and undefined. -1 if `value` is neither. */
static inline int buffer_or_null(napi_env env, napi_value value, const uint8_t **data, size_t *length) {
  napi_valuetype kind;
  *data = NULL;
  *length = 0;
  if (napi_typeof(env, value, &kind) != napi_ok) return -1;
  if (kind == napi_null || kind == napi_undefined) return 0;
  return napi_get_buffer_info(env, value, (void **)data, length) == napi_ok ? 0 : -1;
}

/*
 * A JavaScript string copied whole into `out` (`size` bytes, its NUL
 * included): 0, or -1 if it is not a string, does not fit, or holds a NUL.
 * C must never read a shorter string than JavaScript checked: a cut
 * "...:127.100.100.1009" or "127.0.0.1\0.example.org" would parse as
 * something else.
 */
static inline int whole_string_argument(napi_env env, napi_value value, char *out, size_t size) {
  size_t length = 0;
  if (napi_get_value_string_latin1(env, value, NULL, 0, &length) != napi_ok || length >= size) return -1;
  if (napi_get_value_string_latin1(env, value, out, size, &length) != napi_ok) return -1;
  return strlen(out) == length ? 0 : -1;
}

#endif
