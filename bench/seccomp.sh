#!/usr/bin/env bash
# The seccomp tier's cost (docs/DESIGN.md "seccomp tier"): busybox-static plain vs the same under
# `shit run` (supervised), measured side by side with hyperfine and printed as ratios (medians)
# against issue 16's targets:
#
#   1. busybox rm -rf of 10,000 small files        target <= 1.5x
#      (files at rest, synced; also printed as an info row for files not yet written back)
#   2. busybox tar xf of a 10,000-file archive      target <= 1.5x
#   3. a static program making no mutating calls    target <= 1.02x (a busybox sh loop)
#   4. the round trip alone: a busybox sh loop of `: > /dev/null`, each open sent to shit-run,
#      which captures nothing there and lets it through (two context switches, the receive,
#      the path's read, the id check, one statx, the answer); no target: printed as us per
#      call over plain, the part of rows 1-2 that no change to capture can cut
#
# Knobs: SHIT_BENCH_RUNS (5), SHIT_BENCH_DIR (default $TMPDIR or /tmp). Not part of the tests.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shit=$root/bin/shit
runs=${SHIT_BENCH_RUNS:-5}
bb=$(command -v busybox) || { echo "bench: busybox not found (apt-get install busybox-static)" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "bench: hyperfine not found" >&2; exit 1; }
dir=$(mktemp -d "${SHIT_BENCH_DIR:-${TMPDIR:-/tmp}}/shit-bench-seccomp.XXXXXX")
trap 'rm -rf "$dir"' EXIT
export SHIT_HOME="$dir/state" SHIT_DAEMON=off
mkdir -p "$dir/src"
for i in $(seq 0 99); do mkdir "$dir/src/d$i"; for j in $(seq 0 99); do echo "$i $j" > "$dir/src/d$i/f$j"; done; done
tar cf "$dir/src.tar" -C "$dir" src
# files at rest, as bench/run.sh's prepares leave them (synced): what a user removes has been
# written back (the kernel does that within ~30 s). A file removed before its blocks are
# allocated costs the plain unlink next to nothing, while the tier's rename costs the same either
# way: that case is printed too, as an info row.
prep="rm -rf $dir/t $dir/state; cp -r $dir/src $dir/t; sync"
fresh="rm -rf $dir/t $dir/state; cp -r $dir/src $dir/t"

# pair NAME TARGET PREPARE PLAIN SHIT [CALLS]: prints "NAME plain tier ratio target ok/MISSED"
# (median of the runs; with CALLS, the us each supervised call adds; TARGET "-": none, an info row)
# and writes the row for `npm run bench`'s summary (bench/benchrows.py)
pair() {
  local err=""
  hyperfine -N -r "$runs" -w 1 --prepare "sh -c '$3'" --export-json "$dir/$1.json" "$4" "$5" >/dev/null 2>"$dir/$1.err" ||
    err=$(tail -n 1 "$dir/$1.err")
  PYTHONPATH=$root/bench python3 - "$dir/$1.json" "$1" "$2" "$err" "${6:-0}" <<'EOF'
import json, sys
from benchrows import row, judge
path, name, target, err, calls = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
label = "seccomp tier (busybox-static): " + name
shown = "-" if target == "-" else "<= %.2fx" % float(target)
if err:
    print("%-12s FAILED: %s" % (name, err))
    row(label, "-", shown, "FAILED: hyperfine: " + err)
    sys.exit(0)
p, s = (x["median"] for x in json.load(open(path))["results"])
per = "   %.1f us/call" % ((s - p) * 1e6 / calls) if calls else ""
if target == "-":
    print("%-12s plain %8.1f ms   tier %8.1f ms   %.2fx%s" % (name, p * 1000, s * 1000, s / p, per))
    row(label, "%.2fx%s" % (s / p, per), "-", "info")
else:
    print("%-12s plain %8.1f ms   tier %8.1f ms   %.2fx%s   target <= %.2fx   %s" % (name, p * 1000, s * 1000, s / p, per, float(target), judge(s / p, float(target))))
    row(label, "%.2fx" % (s / p), shown, judge(s / p, float(target)))
EOF
}
pair rm-rf-10k 1.5 "$prep" "$bb rm -rf $dir/t" "$shit run -- $bb rm -rf $dir/t"
pair rm-rf-10k-unsynced - "$fresh" "$bb rm -rf $dir/t" "$shit run -- $bb rm -rf $dir/t"
pair tar-x-10k 1.5 "$prep" "$bb tar xf $dir/src.tar -C $dir/t" "$shit run -- $bb tar xf $dir/src.tar -C $dir/t"
# shellcheck disable=SC2016 # expanded by busybox sh, not here
loop='i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done'
pair cpu-loop 1.02 "rm -rf $dir/state" "$bb sh -c '$loop'" "$shit run -- $bb sh -c '$loop'"
# the tier's fixed cost: 20k opens sent to shit-run, which captures nothing and lets each through
# shellcheck disable=SC2016
redir='i=0; while [ $i -lt 20000 ]; do i=$((i+1)); : > /dev/null; done'
pair round-trip - "rm -rf $dir/state" "$bb sh -c '$redir'" "$shit run -- $bb sh -c '$redir'" 20000
