#!/usr/bin/env bash
# symbols-check.sh — does native/build/libshit.so export every file-mutating libc symbol that a
# tool on this machine imports and that must be interposed?
#
# The list is re-derived live (test/native/symbols-survey.sh --stdout runs nm -D over the tools,
# their shared libraries, git's helpers and the interpreters' extension modules present here),
# joined with the survey recorded in native/shim/symbols.tsv (written by symbols-survey.sh on a
# machine with more tools installed): a symbol that a recorded tool imports stays required on a
# machine without that tool (CI). A symbol counts as exported when `nm -D --defined-only`
# shows it as a function (T, W or i) in the library.
#
# Every surveyed symbol that some tool imports is one of:
#   - must be interposed (the default): the call itself creates, removes, renames, truncates,
#     opens for writing or changes metadata, and only a wrapper sees it. Missing -> failure;
#   - covered without a wrapper (the COVERED list below, each with its reason): what the call
#     changes was already captured when the descriptor it writes through was opened, or it
#     changes no name or pre-existing object at all. Reported, never a failure.
#
# usage: test/native/symbols-check.sh            builds native/build/libshit.so first (make)
#        LIBSHIT=/path/lib.so test/native/symbols-check.sh   checks that file instead, no build
# Prints one line per missing or covered symbol, then "N passed, M failed"; exits 1 when M > 0.
set -uo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# ---- covered without interposing: symbol -> why nothing is lost ----
# Writes through a descriptor: cap_open captured what the descriptor can change when it was
# opened for writing — a copy of an existing file's bytes (O_TRUNC, or a write-mode open without
# O_APPEND), its old size (O_APPEND: undo truncates back), or the creation (undo removes it).
FD_WRITE="writes through a descriptor already open for writing; that open was the capture point (pre-image copy, old size for O_APPEND, or the creation)"
declare -A COVERED=(
  [tmpfile]="creates an unnamed file (O_TMPFILE, or glibc's own create-and-unlink in P_tmpdir through internal calls): no name appears, nothing existing changes; nothing to capture"
  [tmpfile64]="alias of tmpfile: an unnamed file; nothing to capture"
  [copy_file_range]="$FD_WRITE; the kernel refuses an O_APPEND destination"
  [sendfile]="$FD_WRITE; writes at the descriptor's offset like write(2)"
  [sendfile64]="alias of sendfile: $FD_WRITE"
  # Known gap, accepted: fallocate's destructive modes (PUNCH_HOLE, ZERO_RANGE, COLLAPSE_RANGE,
  # INSERT_RANGE) on a descriptor opened O_APPEND without O_TRUNC change existing bytes, and an
  # O_APPEND open keeps no copy. The surveyed importers (cp, install, mv, rsync) punch holes only
  # in destination files they created or truncated.
  [fallocate]="$FD_WRITE; allocates, punches or zeroes ranges of that file only"
  [fallocate64]="alias of fallocate: $FD_WRITE"
  [posix_fallocate]="$FD_WRITE; only allocates (may extend the size, never changes existing bytes)"
  [posix_fallocate64]="alias of posix_fallocate: $FD_WRITE"
)

fail_early() { echo "symbols-check: $1" >&2; echo "0 passed, 1 failed"; exit 1; }

if [ -n "${LIBSHIT:-}" ]; then
  LIB=$LIBSHIT
else
  LIB=$ROOT/native/build/libshit.so
  make -s -C "$ROOT/native" build/libshit.so >&2 || fail_early "make -C native build/libshit.so failed"
fi
[ -f "$LIB" ] || fail_early "$LIB does not exist"
command -v nm >/dev/null || fail_early "nm not found (apt-get install binutils)"

live=$("$ROOT/test/native/symbols-survey.sh" --stdout 2>/dev/null | awk -F'\t' '!/^#/ && NF == 2 && $2 != "-"') ||
  fail_early "symbols-survey.sh failed"
TSV=$ROOT/native/shim/symbols.tsv
[ -f "$TSV" ] || fail_early "$TSV is missing (test/native/symbols-survey.sh writes it)"
# the recorded rows whose symbol no tool here imports
recorded=$(awk -F'\t' 'NR == FNR { live[$1] = 1; next } !/^#/ && NF == 2 && $2 != "-" && !($1 in live) { print $1 "\t" $2 " (recorded in symbols.tsv)" }' \
  <(printf '%s\n' "$live") "$TSV")
required=$(printf '%s\n%s\n' "$live" "$recorded" | awk 'NF')
[ -n "$required" ] || fail_early "the survey found no tool importing any mutating symbol (no tools installed?)"

exported=$(nm -D --defined-only "$LIB" 2>/dev/null | awk '$(NF-1) ~ /^[TWi]$/ {s = $NF; sub(/@.*/, "", s); print s}' | sort -u)
[ -n "$exported" ] || echo "symbols-check: $LIB exports no functions at all" >&2

pass=0 failed=0
while IFS=$'\t' read -r sym tools; do
  [ ${#tools} -gt 120 ] && tools="${tools:0:117}..."
  if [ -n "${COVERED[$sym]+x}" ]; then
    pass=$((pass + 1))
    if grep -qxF -- "$sym" <<<"$exported"; then
      printf 'NOTE    %-34s is interposed although listed as covered: update COVERED\n' "$sym"
    else
      printf 'covered %-34s %s (imported by %s)\n' "$sym" "${COVERED[$sym]}" "$tools"
    fi
  elif grep -qxF -- "$sym" <<<"$exported"; then
    pass=$((pass + 1))
  else
    failed=$((failed + 1))
    printf 'MISSING %-34s imported by %s\n' "$sym" "$tools"
  fi
done <<<"$required"

echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]
