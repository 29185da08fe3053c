#!/usr/bin/env bash
# The native addon under AddressSanitizer and UndefinedBehaviorSanitizer:
# builds a sanitized copy of the addon beside the normal one, then runs the
# integration tests that load it (and the protocol fuzzer, where the branch
# has one) with every proxy using that copy.
#
#   native/sanitize/run.sh                          the addon's tests (list below)
#   native/sanitize/run.sh test/relay.test.ts ...   only these
#
# Environment:
#   HASOCKS_SANITIZE_BUILD       where the sanitized build goes (default native/build/sanitize,
#                                under the ignored native/build/, apart from native/build/Release)
#   HASOCKS_SANITIZE_FUZZ_COUNT  requests for `npm run fuzz` when test/fuzz exists (default 100000; 0: skip)
#   HASOCKS_SANITIZE_SRC         the C sources to build (default native/src); a scratch copy with
#                                a planted bug shows that a report fails the run
#   HASOCKS_SANITIZE_KEEP=1      keep the sanitizer log directory even when it is empty
#
# Why clang and a patched copy of node, and figures: native/sanitize/README.md.
#
# How the runtime gets in: Node is not instrumented, and ASan's runtime must
# be the first library a process loads. Preloading it (LD_PRELOAD) into
# everything the tests start hangs curl at start-up, so instead a copy of
# node gets the runtime as its first needed library (patchelf), and jest
# runs on that copy. The tests start proxies with process.execPath, so every
# proxy, worker and in-process addon runs on it too, and nothing else does.
#
# Reports go to files (log_path), not only to stderr: a proxy's stderr is
# shown only when its test fails, and a report from a process whose test
# still passed must fail the run all the same.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)

default_tests=(
  test/socks5-connect.test.ts # SOCKS5 CONNECT with sessions in C (tcp_conn.c)
  test/relay.test.ts          # the TCP relay (tcp_relay.c), splice and read/send
  test/udp-bind.test.ts       # UDP ASSOCIATE through the C relay (udp_relay.c), and BIND
  test/freebind.test.ts       # the addon's calls in-process and in a proxy, in namespaces
  test/workers.test.ts        # SO_REUSEPORT listeners and the round-robin program (reuseport_rr.c)
  test/lifecycle.test.ts      # reloads and shutdowns with sessions held in C
  test/socks4-auth.test.ts    # SOCKS4/4a and username/password sessions in C
  test/rules.test.ts
  test/clients.test.ts        # curl, nc and the socks package as clients
  test/drill.test.ts          # a proxy killed and restarted under a probe, UDP included
  test/logging.test.ts
  test/vip.test.ts            # socksify (Dante's client) and BIND through a shared address
  test/gssapi.test.ts         # the GSS-API addon (gssapi.c): client tokens, wrap and unwrap, in the proxy and the client
)
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=("${default_tests[@]}")

# The packages test/run.sh installs, since the tests run nc, socksify and
# curl, and patchelf for the instrumented node below.
# clang, not gcc, builds the addon: clang's ASan runtime carries the UBSan
# handlers, so one runtime writes both kinds of report to log_path. With
# gcc, libubsan is a second runtime whose log_path is lost (its call to set
# the report path binds to libasan's copy), and its reports reach only stderr.
# shellcheck source=test/packages.sh
. test/packages.sh
need_packages native/sanitize/run.sh "${test_packages[@]}" patchelf

out=${HASOCKS_SANITIZE_BUILD:-$repo/native/build/sanitize}
case $out in /*) ;; *) out=$repo/$out ;; esac
addon=$out/addon/build/Release/hasocks_native.node
gssapi_addon=$out/addon/build/Release/hasocks_gssapi.node
runtime=$(clang -print-file-name=libclang_rt.asan-x86_64.so)
# clang prints the bare name back when it has no such library.
if [ ! -e "$runtime" ]; then
  echo "native/sanitize/run.sh: clang has no ASan runtime; install libclang-rt-14-dev" >&2
  exit 1
fi

start=$(date +%s)
echo "native/sanitize/run.sh: build the proxy (dist/)"
npm run --silent build

# node-gyp builds in ./build of the directory it runs in, so the sanitized
# build runs on a copy of binding.gyp and the sources: the same source list
# and flags as the real build, with the environment's CFLAGS added after them.
echo "native/sanitize/run.sh: build the addon with clang -fsanitize=address,undefined into $out"
rm -rf "$out/addon"
mkdir -p "$out/addon/src"
cp native/binding.gyp "$out/addon/"
cp -r "${HASOCKS_SANITIZE_SRC:-native/src}/." "$out/addon/src/"
node_gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
nodedir=$(npm config get nodedir)
(
  cd "$out/addon"
  # -O1 after gyp's -O3: ASan's own advice for readable stacks at a fair speed.
  # -shared-libasan: the addon uses the runtime node loads, not a copy of its own.
  CC=clang CXX=clang++ \
    CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1" \
    LDFLAGS="-fsanitize=address,undefined -shared-libasan" \
    node "$node_gyp" rebuild --nodedir="$nodedir" --loglevel=warn >"$out/build.log" 2>&1 || {
    cat "$out/build.log" >&2
    exit 1
  }
)
# A build that silently dropped the flags would run the tests unchecked.
for built in "$addon" "$gssapi_addon"; do
  symbols=$(nm -D "$built")
  if ! grep -q __asan_report <<<"$symbols" || ! grep -q __ubsan_handle <<<"$symbols"; then
    echo "native/sanitize/run.sh: $built is not instrumented (CFLAGS did not reach the compiler)" >&2
    exit 1
  fi
done

# Also first in PATH, for anything started as plain `node` (npm run fuzz).
mkdir -p "$out/bin"
rm -f "$out/bin/node"
cp "$(readlink -f "$(command -v node)")" "$out/bin/node"
patchelf --add-needed "$runtime" "$out/bin/node"
first_needed=$(readelf -d "$out/bin/node" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | head -1)
if [ "$first_needed" != "$runtime" ]; then
  echo "native/sanitize/run.sh: patchelf did not put the ASan runtime first in $out/bin/node (first: $first_needed)" >&2
  exit 1
fi

logs=$(mktemp -d -t hasocks-sanitize.XXXXXX)
# Proxies that drop privileges (config "user") must still be able to write their report.
chmod 1777 "$logs"

export HASOCKS_NATIVE_ADDON=$addon
export HASOCKS_GSSAPI_ADDON=$gssapi_addon
export PATH="$out/bin:$PATH"
# detect_leaks=0: Node does not free everything at exit, by design.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:log_path=$logs/asan"
# UBSan's reports follow ASan's log_path: they come from the same runtime.
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

status=0
echo "native/sanitize/run.sh: jest with the sanitized addon: ${tests[*]}"
# --forceExit: a proxy stopped by a report can leave a test's sockets open, and the run must still end.
"$out/bin/node" --experimental-vm-modules --no-warnings=ExperimentalWarning node_modules/jest/bin/jest.js --forceExit "${tests[@]}" || status=$?

fuzz_count=${HASOCKS_SANITIZE_FUZZ_COUNT:-100000}
if [ $# -eq 0 ] && [ -d test/fuzz ] && [ "$fuzz_count" != 0 ]; then
  # ASan keeps freed memory in quarantine (256 MB by default) before reusing it, so resident memory
  # grows by design here: this run looks for memory errors; leaks are the plain fuzzer's to judge.
  echo "native/sanitize/run.sh: the protocol fuzzer against proxies with the sanitized addon (npm run fuzz -- --count $fuzz_count --rss-ratio 2)"
  npm run --silent fuzz -- --count "$fuzz_count" --rss-ratio 2 || status=$?
fi

reports=$(find "$logs" -type f | sort)
if [ -n "$reports" ]; then
  echo "native/sanitize/run.sh: sanitizer reports:" >&2
  for f in $reports; do
    echo "---- $f" >&2
    cat "$f" >&2
  done
  echo "native/sanitize/run.sh: FAILED: $(echo "$reports" | wc -l) sanitizer report(s); kept in $logs" >&2
  status=1
elif [ "${HASOCKS_SANITIZE_KEEP:-0}" = 1 ]; then
  echo "native/sanitize/run.sh: no sanitizer reports ($logs kept, empty)"
else
  rmdir "$logs"
  echo "native/sanitize/run.sh: no sanitizer reports"
fi
echo "native/sanitize/run.sh: $(($(date +%s) - start)) s, exit $status"
exit $status
