#!/usr/bin/env bash
# Fuzz the C that parses client-controlled bytes, with libFuzzer under ASan
# and UBSan:
#   socks_udp_fuzz  the SOCKS UDP header of each client datagram (native/src/socks_udp.h, udp_relay.c)
#   address_fuzz    the IP literals tcpConnDial parses (native/src/socket_address.h)
#
#   native/fuzz/run.sh [seconds per harness (default 60)] [harness ...]
#
# Seeds are in native/fuzz/corpus/<harness> (committed, small); what
# libFuzzer learns goes to native/build/fuzz/corpus/<harness>, and a crash
# to native/build/fuzz/artifacts/, both under the ignored native/build/.
# Replay a crash with: native/build/fuzz/<harness> <artifact>
# What each harness checks, and figures: native/sanitize/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-60}
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(socks_udp_fuzz address_fuzz)

# shellcheck source=test/packages.sh
. test/packages.sh
# clang brings the compiler; libclang-rt-14-dev the libFuzzer and sanitizer runtimes (Debian 12 splits them out).
need_packages native/fuzz/run.sh clang libclang-rt-14-dev

out=native/build/fuzz
mkdir -p "$out/artifacts"
status=0
for h in "${harnesses[@]}"; do
  src=native/fuzz/$h.c
  [ -f "$src" ] || { echo "native/fuzz/run.sh: no harness $src" >&2; exit 2; }
  # -fno-sanitize-recover: undefined behaviour stops the run as a crash would, with the input saved.
  clang -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -Wall -Wextra -Werror -Inative/src -o "$out/$h" "$src"
  corpus=$out/corpus/$h
  mkdir -p "$corpus"
  options=(-max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$out/artifacts/$h-" -timeout=10)
  case $h in
    socks_udp_fuzz) options+=(-max_len=512) ;; # past 22 bytes only the payload's length changes
    address_fuzz) options+=(-max_len=80 -dict=native/fuzz/address.dict) ;; # both buffers cut strings at 64
  esac
  echo "native/fuzz/run.sh: $h for ${seconds} s"
  log=$out/$h.log
  # The first corpus directory is where new inputs go; the committed seeds are only read.
  if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$out/$h" "${options[@]}" "$corpus" "native/fuzz/corpus/$h" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    echo "native/fuzz/run.sh: $h: no crash, ${runs:-?} executions, ${cov:-cov: ?}, corpus $(find "$corpus" -type f | wc -l) inputs"
  else
    status=1
    echo "native/fuzz/run.sh: $h FAILED (log $log):" >&2
    grep -E 'ERROR|invariant failed|runtime error|SUMMARY|Test unit written|^    #[0-9]' "$log" | head -40 >&2
  fi
done
exit $status
