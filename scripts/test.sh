#!/bin/sh
# The test command (`npm test`): the build if any source is newer than it, the type check of the
# tests (tsconfig.test.json), then node's test runner on the runtime bin/shit uses, over
# test/*.test.ts and test/unit/*.test.ts — or over the .ts files named in the arguments
# (`npm test -- test/unit/codec.test.ts`); other arguments go to node (`--test-name-pattern=rm`).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# dist/.built is stamped by scripts/build.sh when a build succeeds; it is made before the build,
# so a source saved during the build is newer than it and the next run builds again. A removed or
# renamed source changes its directory's mtime, which find sees too.
stale() {
  [ -x native/build/shit-run ] && [ -f dist/cli/main.js ] && [ -f dist/.built ] || return 0
  # built before esbuild was installed: no bundle (scripts/build.sh)
  [ -f dist/bundle/main.cjs ] || [ ! -x "${ESBUILD:-node_modules/.bin/esbuild}" ] || return 0
  [ -n "$(find src native tsconfig.json package.json -path native/build -prune -o -newer dist/.built -print | head -n 1)" ]
}
if stale; then sh scripts/build.sh; fi

node=
[ -r build/node ] && read -r node < build/node
case $node in /*) ;; "") node=node_modules/node/bin/node ;; *) node=$root/$node ;; esac
"$node" node_modules/typescript/bin/tsc -p tsconfig.test.json || { echo "test: type errors in the tests (tsc -p tsconfig.test.json)" >&2; exit 1; }

files=no
for a in "$@"; do case $a in *.ts) files=yes ;; esac; done
if [ "$files" = no ]; then
  for f in test/*.test.ts test/unit/*.test.ts; do [ -e "$f" ] && set -- "$@" "$f"; done
fi
if [ "$(id -u)" = 0 ]; then echo "test: running as root; CI runs the suite as an ordinary user (see .ci/run)" >&2; fi
exec "$node" --disable-warning=ExperimentalWarning --test --test-concurrency=2 --test-timeout=300000 "$@"
