#!/usr/bin/env bash
# The whole test suite: `npm test`. Installs the Debian packages the tests
# need (when run as root), builds, lints, then runs jest and prints a closing
# "N passed, N failed" line.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=test/packages.sh
. test/packages.sh
need_packages test/run.sh "${test_packages[@]}"

echo "test/run.sh: build (the proxy, and the lab for test/lab.test.ts)"
npm run --silent build
npx tsc -p tsconfig.lab.json
# npm ci builds the addons before this script could install a compiler and
# libkrb5-dev: build them now if the main one is missing, or if the GSS-API
# one was built without libkrb5 (native/src/gssapi_missing.c).
if [ ! -f native/build/Release/hasocks_native.node ] || ! node -e 'process.exit(require("./native/build/Release/hasocks_gssapi.node").available ? 0 : 1)' 2>/dev/null; then
  npm run --silent build:native
fi
echo "test/run.sh: lint (eslint, tsc --noEmit on tests too)"
npx eslint .
npx tsc -p tsconfig.test.json --noEmit

echo "test/run.sh: jest"
# The failover, double-fault and fast-failover scenarios measure outages
# against targets, so they run after the rest, each file alone: beside
# another test file on 2 cores their figures came out 10-25% slower, and a
# planned switchover once missed its target for it. (The rest skips them by
# name: "failover" covers fast-failover too.)
alone=(test/failover.test.ts test/double-faults.test.ts test/fast-failover.test.ts)
reports=()
trap 'rm -f "${reports[@]}"' EXIT
jest() { node --experimental-vm-modules --no-warnings=ExperimentalWarning node_modules/jest/bin/jest.js "$@"; }
status=0
report=$(mktemp)
reports+=("$report")
if [ $# -eq 0 ]; then
  jest --json --outputFile="$report" --testPathIgnorePatterns failover double-faults || status=$?
  for file in "${alone[@]}"; do
    report=$(mktemp)
    reports+=("$report")
    jest --json --outputFile="$report" --runInBand "$file" || status=$?
  done
  echo "test/run.sh: libFuzzer on the C parsers of client bytes, 30 s each (native/fuzz/run.sh)"
  native/fuzz/run.sh 30 || status=$?
else
  jest --json --outputFile="$report" "$@" || status=$?
fi
node -e '
  const reports = process.argv.slice(1).map((f) => JSON.parse(require("fs").readFileSync(f, "utf8")));
  const sum = (k) => reports.reduce((total, r) => total + r[k], 0);
  console.log(`tests: ${sum("numPassedTests")} passed, ${sum("numFailedTests")} failed, ${sum("numPendingTests")} skipped`);
' "${reports[@]}" || true
exit $status
