#!/bin/sh
# The test command (`npm test`): node's test runner over test/*.test.ts, on the runtime bin/shit uses.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
{ [ -x native/build/shit-run ] && [ -f dist/cli/main.js ]; } || sh scripts/build.sh
node=
[ -r build/node ] && read -r node < build/node
case $node in /*) ;; "") node=node_modules/node/bin/node ;; *) node=$root/$node ;; esac
if [ "$(id -u)" = 0 ]; then echo "test: running as root; CI runs the suite as an ordinary user (see .ci/run)" >&2; fi
exec "$node" --disable-warning=ExperimentalWarning --test --test-concurrency=2 --test-timeout=300000 "$@" test/*.test.ts
