#!/usr/bin/env bash
# The seccomp tier's cost (docs/DESIGN.md "seccomp tier"): busybox-static plain vs the same under
# `shit run` (supervised), measured side by side with hyperfine and printed as ratios (medians)
# against issue 16's targets:
#
#   1. busybox rm -rf of 10,000 small files        target <= 1.5x
#   2. busybox tar xf of a 10,000-file archive      target <= 1.5x
#   3. a static program making no mutating calls    target <= 1.02x (a busybox sh loop)
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
prep="rm -rf $dir/t $dir/state; cp -r $dir/src $dir/t"

# pair NAME TARGET PREPARE PLAIN SHIT: prints "NAME plain tier ratio target ok/MISSED" (median of
# the runs) and writes the row for `npm run bench`'s summary (bench/benchrows.py)
pair() {
  local err=""
  hyperfine -N -r "$runs" -w 1 --prepare "sh -c '$3'" --export-json "$dir/$1.json" "$4" "$5" >/dev/null 2>"$dir/$1.err" ||
    err=$(tail -n 1 "$dir/$1.err")
  PYTHONPATH=$root/bench python3 - "$dir/$1.json" "$1" "$2" "$err" <<'EOF'
import json, sys
from benchrows import row, judge
path, name, target, err = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
label = "seccomp tier (busybox-static): " + name
if err:
    print("%-12s FAILED: %s" % (name, err))
    row(label, "-", "<= %.2fx" % target, "FAILED: hyperfine: " + err)
    sys.exit(0)
p, s = (x["median"] for x in json.load(open(path))["results"])
print("%-12s plain %8.1f ms   tier %8.1f ms   %.2fx   target <= %.2fx   %s" % (name, p * 1000, s * 1000, s / p, target, judge(s / p, target)))
row(label, "%.2fx" % (s / p), "<= %.2fx" % target, judge(s / p, target))
EOF
}
pair rm-rf-10k 1.5 "$prep" "$bb rm -rf $dir/t" "$shit run -- $bb rm -rf $dir/t"
pair tar-x-10k 1.5 "$prep" "$bb tar xf $dir/src.tar -C $dir/t" "$shit run -- $bb tar xf $dir/src.tar -C $dir/t"
# shellcheck disable=SC2016 # expanded by busybox sh, not here
loop='i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done'
pair cpu-loop 1.02 "rm -rf $dir/state" "$bb sh -c '$loop'" "$shit run -- $bb sh -c '$loop'"
