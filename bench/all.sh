#!/usr/bin/env bash
# `npm run bench`: every bench that holds a target of issues 4, 5, 15 and 16, one after the other,
# then one summary table of every row (name, measured ratio or value, target, ok/MISSED, FAILED or
# "skipped: why"). Each script still prints its own report and runs alone as before; here each one
# also appends its rows to $SHIT_BENCH_ROWS (bench/benchrows.py) and bench/summary.py prints them.
# A script that exits non-zero, writes no row or hangs shows as FAILED and the others still run.
#
#   bash bench/all.sh                   default sizes: scale at 10k and 100k files (and a flat dir of
#                                       100k), history with 100k commands and 1M events
#   SHIT_BENCH_FULL=1 bash bench/all.sh the issue's full sizes as well: the 1M-file tree (~15 min,
#                                       ~5 GB of disk) and 10M events in the history (~5 min to build
#                                       the first time, a 3.4 GB index cached under /tmp after)
#   SHIT_BENCH_SMALL=1 bash bench/all.sh  a check that the chain works, not figures: one round of
#                                       each, small counts where a script has them (the rows name
#                                       their sizes)
#   SHIT_BENCH_ONLY="run cpython"       only these steps (names below)
#   SHIT_BENCH_LOCK=/tmp/bench.lock     hold this flock around each step only (a shared machine)
#   SHIT_BENCH_RUNS=N                   rounds for every script (each has its own default)
#   SHIT_BENCH_TIMEOUT=SECONDS          a step running longer is stopped, a FAILED row (3600;
#                                       7200 with SHIT_BENCH_FULL)
# ext4, btrfs and XFS images (bench/fs.sh) need root; as another user their rows say "skipped: not root".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
rows=$(mktemp "${TMPDIR:-/tmp}/shit-bench-rows.XXXXXX") || exit 1
trap 'rm -f "$rows"' EXIT
export SHIT_BENCH_ROWS=$rows
full=${SHIT_BENCH_FULL:-}
limit=${SHIT_BENCH_TIMEOUT:-3600}
[ -n "$full" ] && limit=${SHIT_BENCH_TIMEOUT:-7200}
only=" ${SHIT_BENCH_ONLY:-} "

# step NAME CMD...: runs CMD with SHIT_BENCH_STEP=NAME; a failure or no row becomes a FAILED row
step() {
  local name=$1 before rc
  shift
  if [ "$only" != "  " ] && [[ $only != *" $name "* ]]; then return; fi
  echo
  echo "===== bench $name: $* ====="
  before=$(wc -l <"$rows")
  # a step that hangs is stopped (TERM, then KILL 30 s later) and is a FAILED row like any other
  local run=(timeout --kill-after=30 "$limit" "$@")
  if [ -n "${SHIT_BENCH_LOCK:-}" ]; then
    SHIT_BENCH_STEP=$name flock "$SHIT_BENCH_LOCK" "${run[@]}"
  else
    SHIT_BENCH_STEP=$name "${run[@]}"
  fi
  rc=$?
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    printf '%s\t%s\t-\t-\tFAILED: stopped after %s s (SHIT_BENCH_TIMEOUT)\n' "$name" "$*" "$limit" >>"$rows"
  elif [ "$rc" != 0 ]; then
    printf '%s\t%s\t-\t-\tFAILED: exited %s (its output is above)\n' "$name" "$*" "$rc" >>"$rows"
  elif [ "$(wc -l <"$rows")" = "$before" ]; then
    printf '%s\t%s\t-\t-\tFAILED: wrote no row (its output is above)\n' "$name" "$*" >>"$rows"
  fi
}

scale=(--counts "10000,100000")
history=()
undo_n=10000
suites=()
if [ -n "$full" ]; then
  scale=(--counts "10000,100000,1000000")
  history=(--events 10000000)
fi
if [ -n "${SHIT_BENCH_SMALL:-}" ]; then
  export SHIT_BENCH_RUNS=1 SHIT_BENCH_WARMUP=0 SHIT_BENCH_TRUE_RUNS=20
  export SHIT_BENCH_SHELL_CMDS=40 SHIT_BENCH_SHELL_ROUNDS=1
  scale=(--counts "2000,5000" --flat 2000)
  history=(--commands 2000 --events 20000 --big 2000)
  undo_n=2000
  suites=(test_glob test_fileio)
fi
step run bash bench/run.sh
step undo env SHIT_BENCH_RUNS="${SHIT_BENCH_RUNS:-2}" bash bench/undo.sh "$undo_n"
step undo-shitd env SHIT_BENCH_RUNS="${SHIT_BENCH_RUNS:-2}" SHIT_BENCH_DAEMON=1 bash bench/undo.sh "$undo_n"
step history bash bench/history.sh "${history[@]}"
step scale python3 bench/scale.py "${scale[@]}"
step fs bash bench/fs.sh
step seccomp bash bench/seccomp.sh
step cpython python3 bench/cpython.py "${suites[@]}"
step shell-hook python3 bench/shell-hook.py
python3 bench/summary.py "$rows"
