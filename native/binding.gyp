{
  "targets": [
    {
      "target_name": "hasocks_native",
      "sources": ["src/hasocks_native.c", "src/udp_relay.c", "src/tcp_relay.c", "src/tcp_conn.c", "src/poller.c", "src/reuseport_rr.c", "src/session_count.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror=implicit-function-declaration", "-O2"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
