#!/usr/bin/env bash
# Focused bench of `shit undo` of an `rm -rf` of N small files (default 10000, in N/100 dirs),
# measured side by side with the plain `rm -rf` of the same tree in the same run. The machine may
# be shared, so it reports CPU time (user+sys, children included) beside wall time, and ratios.
#   bash bench/undo.sh [N]      SHIT_BENCH_RUNS (3): rounds; SHIT_BENCH_PROF=DIR: node --cpu-prof into DIR
#   SHIT_BENCH_DAEMON=1: with shitd running, caught up with the rm before the undo is timed (the
#   daemon's own CPU is not counted: it is no child of the undo)
# Each round: plain rm -rf; shit run -- rm -rf; shit undo --yes (SHIT_DAEMON=off: it ingests the
# rm's spool itself) split into Node before shit-apply / shit-apply / Node after by SHIT_TIMES.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shit=$root/bin/shit
n=${1:-10000}
runs=${SHIT_BENCH_RUNS:-3}
w=$(mktemp -d "${SHIT_BENCH_DIR:-${TMPDIR:-/tmp}}/shit-undo-bench.XXXXXX") || exit 1
trap 'if [ -n "${daemon:-}" ]; then "$shit" daemon stop >/dev/null 2>&1; fi; cd /; rm -rf "$w"' EXIT
export SHIT_HOME="$w/state" SHIT_DAEMON=off
daemon=${SHIT_BENCH_DAEMON:-}
if [ -n "$daemon" ]; then export SHIT_DAEMON=on; fi
unset SHIT_CMD SHIT_STATE
cd "$w" || exit 1
python3 - "$w/tpl" "$n" <<'PY'
import os, sys
w, n = sys.argv[1], int(sys.argv[2])
per = 100
for i in range(n):
    d = os.path.join(w, "t", "d%04d" % (i // per))
    if i % per == 0: os.makedirs(d)
    with open(os.path.join(d, "f%02d" % (i % per)), "wb") as fh:
        fh.write(b"file %d " % i + b"x" * 80 + b"\n")
PY
# cpu SECONDS and wall of one command: "wall cpu"
# (a failed command: "-1 -1 0", which the row then calls FAILED, never a ratio)
timed() {
  if /usr/bin/time -f "%e %U %S %M" -o "$w/time.out" "$@" >"$w/out" 2>"$w/err"; then
    tail -1 "$w/time.out" | awk '{printf "%.3f %.3f %d", $1, $2 + $3, $4}'
  else
    echo "bench: $* failed:" >&2; grep -v '^  ' "$w/out" | tail -5 >&2; cat "$w/err" >&2; echo "-1 -1 0"
  fi
}
# the commands run in $w/d, the bench's own files stay in $w: the watcher tier (with shitd) would
# take /usr/bin/time writing them as changes outside capture while the rm ran
mkdir "$w/d"
prep() {
  if [ -n "$daemon" ] && [ -d "$SHIT_HOME" ]; then "$shit" daemon stop >/dev/null 2>&1; fi
  rm -rf "$w/d/t" "$SHIT_HOME"; "$shit" run -- true; cp -a "$w/tpl/t" "$w/d/t"; sync
}
# waits for a plan made ahead (of the command whose id begins with $1, if given) at the index's
# stamp as it is: one made before the index settled (an undo's processes' exits noted after it) is
# stale, and shitd plans it again a moment later, as a person typing the next verb gives it time to
stamp() { python3 -c 'import sqlite3, sys; print(sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True).execute("SELECT n FROM stamp").fetchone()[0])' "$SHIT_HOME/index.sqlite"; }
ahead_wait() { for _ in $(seq 100); do ls "$SHIT_HOME/run/ahead/${1-}"*"-$(stamp).v8" >/dev/null 2>&1 && return; sleep 0.1; done; echo "bench: no plan made ahead" >&2; }
cd "$w/d" || exit 1
for _ in $(seq "$runs"); do
  prep; plain=$(timed rm -rf t)
  prep; run=$(timed "$shit" run -- rm -rf t); sync
  spool=$(du -sk "$SHIT_HOME/spool" | cut -f1)
  # caught up; and, as while a person types `shit undo`, shitd has planned it ahead (at most 10 s)
  if [ -n "$daemon" ]; then "$shit" daemon start >/dev/null 2>&1; "$shit" list >/dev/null; ahead_wait; fi
  if [ -n "${SHIT_BENCH_PROF:-}" ]; then export NODE_OPTIONS="--cpu-prof --cpu-prof-dir=$SHIT_BENCH_PROF"; fi
  undo=$(SHIT_TIMES=$w/phases timed "$shit" undo --yes); unset NODE_OPTIONS
  files=$(find t -type f | wc -l)
  if [ -n "$daemon" ]; then "$shit" list >/dev/null; ahead_wait "$(sed -n 's/.*(as \([0-9a-f]*\);.*/\1/p' "$w/out")"; fi
  redo=$(SHIT_TIMES=$w/rphases timed "$shit" redo --yes)
  gone=$(find t -type f 2>/dev/null | wc -l)
  python3 - "$plain" "$run" "$undo" "$redo" "$files" "$gone" "$n" "$spool" "$w/phases" "$w/rphases" "$w/rounds" <<'PY'
import os, sys
plain, run, undo, redo = [tuple(map(float, a.split())) for a in sys.argv[1:5]]
files, gone, n, spool, ph, rph, rounds = sys.argv[5:]
r = lambda x, i: x[i] / plain[i] if plain[i] else float("inf")
print("rm -rf %s files: plain wall %.3f cpu %.3f | run %.2fx/%.2fx | undo wall %.3f cpu %.3f = %.2fx wall %.2fx cpu | redo %.2fx/%.2fx  (spool %s KiB; peak RSS of one process: undo %.0f MiB, redo %.0f MiB)" % (
    n, plain[0], plain[1], r(run, 0), r(run, 1), undo[0], undo[1], r(undo, 0), r(undo, 1), r(redo, 0), r(redo, 1), spool, undo[2] / 1024, redo[2] / 1024))
if int(files) != int(n) or int(gone) != 0: print("  WRONG: after undo %s files, after redo %s" % (files, gone))
# this round's ratios for the rows judged over all rounds below (-1: the verb failed or was wrong)
with open(rounds, "a") as fh:
    fh.write("%f %f\n" % (r(undo, 0) if undo[0] >= 0 and int(files) == int(n) else -1,
                          r(redo, 0) if redo[0] >= 0 and int(gone) == 0 else -1))
# the issue's targets, on wall time against the plain rm of the same run (CPU beside it)
target = 0.2 if os.environ.get("SHIT_BENCH_DAEMON") else 0.35
how = "shitd running" if os.environ.get("SHIT_BENCH_DAEMON") else "SHIT_DAEMON=off"
for name, x in (("undo", undo), ("redo", redo)):
    print("  %-4s of rm -rf %s (%s)  ratio %.2fx wall (%.2fx cpu)   target <= %.2fx   %s" % (
        name, n, how, r(x, 0), r(x, 1), target, "FAILED (exited non-zero)" if x[0] < 0 else "ok" if r(x, 0) <= target else "MISSED"))
for verb, f in (("undo", ph), ("redo", rph)):
    try:
        lines = open(f).read().split("\n")
    except OSError: continue
    print("   %s phases:" % verb)
    for line in filter(None, lines):
        name, wall, cpu, hwm = (line.split() + ["?"])[:4]
        print("    %-28s wall %.3f cpu %.3f (%.2fx cpu of plain rm)  peak RSS so far %s MiB" % (name, float(wall), float(cpu), float(cpu) / plain[1], hwm))
PY
  rm -f "$w/phases" "$w/rphases"
done
# the rows of `npm run bench`'s summary: the median ratio over the rounds, judged on wall time
PYTHONPATH=$root/bench python3 - "$w/rounds" "$n" <<'PY'
import os, statistics, sys
from benchrows import row, judge
n = sys.argv[2]
daemon = bool(os.environ.get("SHIT_BENCH_DAEMON"))
target, how = (0.2, "shitd running") if daemon else (0.35, "SHIT_DAEMON=off")
try:
    got = [tuple(map(float, line.split())) for line in open(sys.argv[1]) if line.strip()]
except OSError:
    got = []
for i, verb in enumerate(("undo", "redo")):
    name = "%s of rm -rf %s, ext4, %s" % (verb, n, how)
    xs = [g[i] for g in got]
    if not xs or min(xs) < 0:
        row(name, "-", "<= %.2fx" % target, "FAILED: a round failed or left the tree wrong (above)")
        continue
    m = statistics.median(xs)
    print("%s: median of %d rounds %.2fx wall   target <= %.2fx   %s" % (name, len(xs), m, target, judge(m, target)))
    row(name, "%.2fx (median of %d)" % (m, len(xs)), "<= %.2fx" % target, judge(m, target))
PY
