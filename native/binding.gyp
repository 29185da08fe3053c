{
  "variables": {
    "with_gssapi%": "<!(sh -c 'krb5-config --libs gssapi >/dev/null 2>&1 && echo 1 || echo 0')"
  },
  "targets": [
    {
      "target_name": "hasocks_native",
      "sources": ["src/hasocks_native.c", "src/udp_relay.c", "src/tcp_relay.c", "src/tcp_conn.c", "src/poller.c", "src/reuseport_rr.c", "src/session_count.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror=implicit-function-declaration", "-O2"],
      "defines": ["NAPI_VERSION=8"]
    },
    {
      "target_name": "hasocks_gssapi",
      "cflags": ["-Wall", "-Wextra", "-Werror=implicit-function-declaration", "-O2"],
      "defines": ["NAPI_VERSION=8"],
      "conditions": [
        ["with_gssapi==1", {
          "sources": ["src/gssapi.c"],
          "cflags": ["<!@(krb5-config --cflags gssapi)"],
          "libraries": ["<!@(krb5-config --libs gssapi)"]
        }, {
          "sources": ["src/gssapi_missing.c"]
        }]
      ]
    }
  ]
}
