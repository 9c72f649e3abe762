#!/bin/sh
# The install step (npm's `prepare`): C build, TypeScript build, and the choice of Node runtime
# that bin/shit will use (a system Node >= 22.15 whose node:sqlite has FTS5, else the one the `node`
# npm package brought).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# the stamp scripts/test.sh compares sources with: made now, in place once everything is built
mkdir -p dist && : > dist/.building
# no bundle outlives a build that fails or cannot make one: bin/shit then runs dist/cli/main.js
rm -rf dist/bundle dist/bundle.new
make -s -C native
node_modules/.bin/tsc -p tsconfig.json
# The CLI and shitd each as one file (dist/bundle/main.cjs, shitd.js), which bin/shit runs when
# present: Node resolves, reads, compiles and links each ES module of a program one by one, ~60 of
# a short verb's ~100 ms for the CLI's ~100 modules. Bundled from tsc's output, so it is the code
# the tests import from dist/. Same depth under dist/ as dist/cli/main.js, so every
# import.meta.url-relative path (src/paths/native.ts, ./shitd.js) holds. zod and jsdiff stay out,
# loaded on first use through createRequire; commander is CommonJS, so the bundle gets a require.
# ESBUILD names another esbuild binary (default: the devDependency).
esbuild=${ESBUILD:-node_modules/.bin/esbuild}
# In the CLI's bundle the Node modules a short verb never uses (crypto, child_process, net, zlib,
# readline, v8) are loaded at their first use (scripts/lazy-builtins/): linking them at start was
# ~12 of `shit list`'s ~85 ms of CPU (v8's ES module facade loads worker_threads too). A name the
# sources import that a stand-in lacks fails here.
bundle() {
  "$esbuild" "$@" --bundle --platform=node --target=node22.15 --outdir=dist/bundle.new --log-level=warning
}
if [ -x "$esbuild" ]; then
  lazy=""
  for m in crypto child_process net zlib readline/promises v8; do
    lazy="$lazy --alias:node:$m=./scripts/lazy-builtins/$(echo "$m" | tr / -).mjs"
  done
  # The CLI as CommonJS (main.cjs): Node's ES module loader, and the ES facade it makes of each
  # builtin (node:fs's reads fs.ReadStream, which loads the streams), cost ~6 of `shit list`'s ~70 ms
  # of CPU. Strict as the ES modules it is made of; import.meta.url is the bundle's own URL, as it is
  # in an ES bundle.
  # shellcheck disable=SC2086 # one word an alias
  bundle main=dist/cli/main.js $lazy --format=cjs --out-extension:.js=.cjs --define:import.meta.url=shitUrl \
    --banner:js='"use strict"; const shitUrl = require("node:url").pathToFileURL(__filename).href;'
  # shitd stays an ES module (top-level await); commander is CommonJS, so it gets a require
  bundle shitd=dist/daemon/shitd.js --format=esm \
    --banner:js='import { createRequire as shitRequire } from "node:module"; const require = shitRequire(import.meta.url);'
  mv dist/bundle.new dist/bundle
else
  echo "build: no esbuild at $esbuild (npm install brings it): bin/shit runs dist/cli/main.js, ~50 ms slower to start" >&2
fi
mkdir -p build
# node:sqlite with FTS5's trigram tokenizer (the index's command_text, for list --grep): Node's
# own builds have FTS5 from 22.16 on Linux; some others (Windows, some Homebrew builds) not at all
sqlite_ok='const{DatabaseSync}=require("node:sqlite");new DatabaseSync(":memory:").exec("CREATE VIRTUAL TABLE t USING fts5(x, tokenize = \x27trigram\x27)")'
pick=""
if sys=$(PATH=$(printf %s "$PATH" | tr ':' '\n' | grep -v "$root/node_modules" | paste -sd: -) command -v node 2>/dev/null); then
  if "$sys" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=15)?0:1)' 2>/dev/null &&
    "$sys" -e "$sqlite_ok" 2>/dev/null; then pick=$sys; fi
fi
[ -n "$pick" ] || pick="$root/node_modules/node/bin/node"
"$pick" -e "$sqlite_ok" || { echo "build: $pick lacks node:sqlite with FTS5's trigram tokenizer" >&2; exit 1; }
# a runtime inside the checkout is written relative to it, so a copied checkout keeps working
case $pick in "$root"/*) printf '%s\n' "${pick#"$root"/}" > build/node ;; *) printf '%s\n' "$pick" > build/node ;; esac
# made by the CLI from its own definitions: the completion scripts the `shit init` hooks load,
# and the man page package.json "man" installs (written whole, then moved into place)
mkdir -p dist/completion man/man1
for sh in bash zsh fish; do
  case $sh in bash) f=shit.bash ;; zsh) f=_shit ;; fish) f=shit.fish ;; esac
  "$pick" --disable-warning=ExperimentalWarning dist/cli/main.js completion "$sh" > "dist/completion/$f.new"
  mv "dist/completion/$f.new" "dist/completion/$f"
done
"$pick" --disable-warning=ExperimentalWarning dist/cli/main.js __man > man/man1/shit.1.new
mv man/man1/shit.1.new man/man1/shit.1
echo "build: native parts, dist/, runtime $("$pick" --version) at $pick"
mv dist/.building dist/.built
