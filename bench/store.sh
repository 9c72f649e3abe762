#!/usr/bin/env bash
# The store's benchmark: a realistic day of edits over a source tree under `shit run`, then what
# the pre-images take in the store (dedup + zstd) against the sum of the bytes kept, and how fast
# gc frees them.
#
#   200 commands over a tree of ~400 source files (~6 MiB): sed -i on a few files, `>` overwrites
#   (some with the same bytes again), rm of a file; one command in ten runs a formatter-like
#   rewrite of a dozen files at once.
#
# Knobs: SHIT_BENCH_CMDS (200), SHIT_BENCH_DIR (where the scratch dir goes; default $TMPDIR or
# /tmp). No daemon: each verb ingests (and compresses) for itself, so the figures do not depend on
# when a background pass ran. Prints the report; exits 0 once it is printed.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
shit=$root/bin/shit
cmds=${SHIT_BENCH_CMDS:-200}

die() { echo "bench: $*" >&2; exit 1; }
command -v python3 >/dev/null || die "python3 not found"
if [ ! -x "$root/native/build/shit-run" ] || [ ! -f "$root/dist/cli/main.js" ]; then
  die "not built: run npm install (or npm run build) first"
fi

w=$(mktemp -d "${SHIT_BENCH_DIR:-${TMPDIR:-/tmp}}/shit-bench-store.XXXXXX") || die "mktemp failed"
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() { cd / && chmod -R u+rwx "$w" 2>/dev/null; rm -rf "$w"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
export SHIT_HOME="$w/state" SHIT_DAEMON=off
unset SHIT_CMD SHIT_STATE
cd "$w" || die "cd $w"

# ---- the tree: the project's own sources, four times over in subdirs ----------------------------
mkdir -p tree
for i in 1 2 3 4; do
  mkdir -p "tree/copy$i"
  (cd "$root" && tar cf - src native/common native/apply docs test) | (cd "tree/copy$i" && tar xf -) || die "copying the tree failed"
done
find tree -type f > files.txt
echo "bench: tree of $(wc -l < files.txt) files, $(du -sh tree | cut -f1)" >&2

# ---- the day ------------------------------------------------------------------------------------
python3 - "$cmds" > day.sh <<'PY' || die "planning the day failed"
import random, shlex, sys
n = int(sys.argv[1]); rnd = random.Random(7)
files = [l.strip() for l in open("files.txt") if l.strip()]
gone = set()
def pick(k=1):
    live = [f for f in files if f not in gone]
    return rnd.sample(live, k)
for i in range(n):
    r = rnd.random()
    if i % 10 == 9:
        fs = pick(12); print("sed -i 's/\\t/  /g; s/[ ]*$//' " + " ".join(map(shlex.quote, fs)))
    elif r < 0.45:
        fs = pick(rnd.choice([1, 2, 3])); print("sed -i 's/the/THE/' " + " ".join(map(shlex.quote, fs)))
    elif r < 0.65:
        f = pick()[0]; print(f"sh -c 'cat {shlex.quote(f)} > {shlex.quote(f)}.tmp; cat {shlex.quote(f)}.tmp > {shlex.quote(f)}; rm {shlex.quote(f)}.tmp'")
    elif r < 0.85:
        f = pick()[0]; print(f"sh -c 'echo overwritten > {shlex.quote(f)}'")
    else:
        f = pick()[0]; gone.add(f); print(f"rm {shlex.quote(f)}")
PY
t0=$(date +%s.%N)
while IFS= read -r line; do
  eval "\"\$shit\" run -- $line" >/dev/null 2>&1 || true
done < day.sh
t1=$(date +%s.%N)
"$shit" list >/dev/null || die "shit list failed" # ingest, absorb, compress
t2=$(date +%s.%N)

report() {
  python3 - "$SHIT_HOME" <<'PY'
import os, sqlite3, sys
st = sys.argv[1]
db = sqlite3.connect(os.path.join(st, "index.sqlite"))
kept = db.execute("SELECT coalesce(sum(size),0), count(*) FROM keeps WHERE state IN ('stored','staged')").fetchone()
inode = db.execute("SELECT count(*) FROM keeps WHERE state = 'inode'").fetchone()[0]
blobs = db.execute("SELECT count(*), coalesce(sum(size),0), coalesce(sum(stored),0) FROM blobs").fetchone()
staged = 0; sfiles = 0
for d, _, fs in os.walk(os.path.join(st, "staging")):
    for f in fs:
        staged += os.lstat(os.path.join(d, f)).st_size; sfiles += 1
ondisk = 0
for d, _, fs in os.walk(os.path.join(st, "store")):
    for f in fs: ondisk += os.lstat(os.path.join(d, f)).st_size
mib = lambda b: f"{b/1048576:.2f} MiB"
print(f"copies kept:      {kept[1]} pre-images, {mib(kept[0])} of bytes")
print(f"store:            {blobs[0]} blobs, {mib(blobs[1])} once deduplicated, {mib(blobs[2])} on disk ({mib(ondisk)} by du of store/)")
if kept[0]:
    print(f"store / kept:     {blobs[2]/kept[0]:.3f}  (dedup {blobs[1]/kept[0]:.3f}, then zstd {blobs[2]/max(blobs[1],1):.3f})")
print(f"inodes kept whole (rm): {inode} files, {mib(staged)} in staging ({sfiles} files)")
PY
}
echo "day: $cmds commands in $(python3 -c "print(f'{$t1-$t0:.1f}')") s; ingest + absorb + compress after it: $(python3 -c "print(f'{$t2-$t1:.2f}')") s"
report
pre=$(find "$SHIT_HOME/store" "$SHIT_HOME/staging" -type f | wc -l)
g0=$(date +%s.%N)
"$shit" gc --older-than 0s || die "gc failed"
g1=$(date +%s.%N)
python3 -c "d=$g1-$g0; print(f'gc: {$pre} files freed in {d:.2f} s ({$pre/d:.0f} files/s)')"
left=$(find "$SHIT_HOME/store" "$SHIT_HOME/staging" "$SHIT_HOME/spool" -type f | wc -l)
echo "left after gc: $left files in store/, staging/ and spool/"
