#!/usr/bin/env bash
# symbols-check.sh — does native/build/libshit.so export every file-mutating libc symbol that a
# tool on this machine imports?
#
# The list is re-derived live (test/native/symbols-survey.sh --stdout runs nm -D over the tools,
# their shared libraries, git's helpers and the interpreters' extension modules present here);
# native/shim/symbols.tsv is not read. A symbol counts as exported when `nm -D --defined-only`
# shows it as a function (T, W or i) in the library.
#
# usage: test/native/symbols-check.sh            builds native/build/libshit.so first (make)
#        LIBSHIT=/path/lib.so test/native/symbols-check.sh   checks that file instead, no build
# Prints one line per missing symbol, then "N passed, M failed"; exits 1 when M > 0.
set -uo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

fail_early() { echo "symbols-check: $1" >&2; echo "0 passed, 1 failed"; exit 1; }

if [ -n "${LIBSHIT:-}" ]; then
  LIB=$LIBSHIT
else
  LIB=$ROOT/native/build/libshit.so
  make -s -C "$ROOT/native" build/libshit.so >&2 || fail_early "make -C native build/libshit.so failed"
fi
[ -f "$LIB" ] || fail_early "$LIB does not exist"
command -v nm >/dev/null || fail_early "nm not found (apt-get install binutils)"

required=$("$ROOT/test/native/symbols-survey.sh" --stdout 2>/dev/null | awk -F'\t' '!/^#/ && NF == 2 && $2 != "-"') ||
  fail_early "symbols-survey.sh failed"
[ -n "$required" ] || fail_early "the survey found no tool importing any mutating symbol (no tools installed?)"

exported=$(nm -D --defined-only "$LIB" 2>/dev/null | awk '$(NF-1) ~ /^[TWi]$/ {s = $NF; sub(/@.*/, "", s); print s}' | sort -u)
[ -n "$exported" ] || echo "symbols-check: $LIB exports no functions at all" >&2

pass=0 failed=0
while IFS=$'\t' read -r sym tools; do
  if grep -qxF -- "$sym" <<<"$exported"; then
    pass=$((pass + 1))
  else
    failed=$((failed + 1))
    [ ${#tools} -gt 120 ] && tools="${tools:0:117}..."
    printf 'MISSING %-34s imported by %s\n' "$sym" "$tools"
  fi
done <<<"$required"

echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]
