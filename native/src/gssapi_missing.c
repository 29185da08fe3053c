/*
 * hasocks_gssapi where MIT libgssapi_krb5's headers were not found at build
 * time (binding.gyp): the addon loads, says it is unavailable, and says
 * what to install, so a config with "gssapi" fails check-config with that
 * advice instead of the proxy failing to start.
 */
#include <node_api.h>

static napi_value init(napi_env env, napi_value exports) {
  napi_value available, why;
  napi_get_boolean(env, false, &available);
  napi_create_string_utf8(env,
                          "hasocks was built without GSS-API: install MIT Kerberos's development files (apt-get install libkrb5-dev), then run \"npm run build:native\"",
                          NAPI_AUTO_LENGTH, &why);
  napi_set_named_property(env, exports, "available", available);
  napi_set_named_property(env, exports, "why", why);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
