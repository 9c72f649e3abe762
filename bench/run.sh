#!/usr/bin/env bash
# The ext4 benchmark (the first step of `npm run bench`, bench/all.sh): plain command vs the same
# command under `shit run`, measured in one run with hyperfine, printed as ratios against the
# plain command (the machine may be busy with other work, so only ratios measured side by side
# mean anything). Targets from issue 4, and issue 15 where it set them anew:
#
#   1. rm -rf of 10,000 small files                 target <= 1.0x  (issue 4)
#   2. tar xf of a 10,000-file archive over a copy   target <= 1.0x  (issue 4)
#   3. sed -i s/a/b/ over one 100 MB text file       target <= 1.1x  (issue 4; ext4 has no reflink)
#   4. shit run -- true vs true                      target <= +3 ms (issue 15)
#   5. shit undo --yes of (1) vs the plain rm -rf    target <= 0.35x (issue 15, SHIT_DAEMON=off)
#
# Every timed run is preceded by an untimed prepare (hyperfine --prepare) that rebuilds the input,
# resets $SHIT_HOME and syncs, the same prepare for the plain and the shit side.
# Knobs: SHIT_BENCH_RUNS (5), SHIT_BENCH_WARMUP (1), SHIT_BENCH_TRUE_RUNS (200),
# SHIT_BENCH_DIR (where the scratch dir goes; default $TMPDIR or /tmp).
# Always exits 0 once the report is printed: a missed target is reported as MISSED, not an error.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
shit=$root/bin/shit
runs=${SHIT_BENCH_RUNS:-5}
warmup=${SHIT_BENCH_WARMUP:-1}
true_runs=${SHIT_BENCH_TRUE_RUNS:-200}

die() { echo "bench: $*" >&2; exit 1; }
command -v hyperfine >/dev/null || die "hyperfine not found (apt-get install -y hyperfine)"
command -v python3 >/dev/null || die "python3 not found"
if [ ! -x "$root/native/build/shit-run" ] || [ ! -f "$root/dist/cli/main.js" ]; then
  die "not built: run npm install (or npm run build) first"
fi

w=$(mktemp -d "${SHIT_BENCH_DIR:-${TMPDIR:-/tmp}}/shit-bench.XXXXXX") || die "mktemp failed"
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() { cd / && chmod -R u+rwx "$w" 2>/dev/null; rm -rf "$w"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
# The state dir lives beside the data: same filesystem, so staging can rename into it.
export SHIT_HOME=$w/state
unset SHIT_CMD SHIT_STATE
# No daemon: each verb ingests for itself (a daemon would ingest in the background between timed
# runs, and one the CLI autostarts under strace -f below would keep strace waiting for its exit).
export SHIT_DAEMON=off
cd "$w" || die "cd $w"

# ---- inputs (built once; each prepare copies from them) ----------------------------------------
echo "bench: building inputs in $w" >&2
python3 - "$w" <<'EOF' || die "input generation failed"
import os, random, sys
w = sys.argv[1]
# 100 dirs x 100 files of 100 bytes
for d in range(100):
    dp = os.path.join(w, "tpl", "t", "d%02d" % d)
    os.makedirs(dp)
    for f in range(100):
        head = ("dir %02d file %02d " % (d, f)).encode()
        with open(os.path.join(dp, "f%02d" % f), "wb") as fh:
            fh.write(head + b"x" * (99 - len(head)) + b"\n")
# 100 MiB of text lines, plenty of 'a's (s/a/b/ changes the first one on each line)
rnd = random.Random(1)
words = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
         "november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu "
         "the quick brown fox jumps over a lazy dog").split()
lines, size = [], 0
while size < (1 << 20):
    line = " ".join(rnd.choice(words) for _ in range(12)) + "\n"
    lines.append(line); size += len(line)
chunk = "".join(lines).encode()[: 1 << 20]
chunk = chunk[: chunk.rindex(b"\n") + 1]
with open(os.path.join(w, "tpl", "big.txt"), "wb") as fh:
    total = 0
    while total < 100 << 20:
        fh.write(chunk); total += len(chunk)
EOF
tar cf tpl/tree.tar -C tpl t || die "tar cf failed"
sync

# ---- prepare scripts (run by hyperfine through `sh FILE`, never timed) -------------------------
# Reset the state dir, then let one `shit run -- true` recreate its layout so the timed command
# meets a state dir in steady state (as a user's would be), not a first-ever run.
cat > reset-state.sh <<EOF
rm -rf '$SHIT_HOME' && '$shit' run -- true
EOF
cat > prep-rm.sh <<EOF
set -e
cd '$w'
rm -rf t
. '$w/reset-state.sh'
cp -a tpl/t t
sync
EOF
cat > prep-undo.sh <<EOF
. '$w/prep-rm.sh'
'$shit' run -- rm -rf t
sync
EOF
cat > prep-tar.sh <<EOF
set -e
cd '$w'
rm -rf x
. '$w/reset-state.sh'
mkdir x
tar xf tpl/tree.tar -C x
sync
EOF
cat > prep-sed.sh <<EOF
set -e
cd '$w'
rm -f big.txt
. '$w/reset-state.sh'
cp tpl/big.txt big.txt
sync
EOF

# hyperfine NAME [hyperfine args...]: results in $w/NAME.json; its own output goes to stderr.
hf() {
  local name=$1; shift
  echo >&2; echo "bench: --- $name ---" >&2
  hyperfine -N --style basic --export-json "$w/$name.json" "$@" >&2 ||
    { echo "bench: hyperfine failed for $name" >&2; rm -f "$w/$name.json"; }
}

hf rm --runs "$runs" --warmup "$warmup" \
  --prepare "sh '$w/prep-rm.sh'" --command-name "rm -rf t" "rm -rf t" \
  --prepare "sh '$w/prep-rm.sh'" --command-name "shit run -- rm -rf t" "'$shit' run -- rm -rf t" \
  --prepare "sh '$w/prep-undo.sh'" --command-name "shit undo --yes" "'$shit' undo --yes"
# the last timed undo must have put the whole tree back
restored=$(find t -type f 2>/dev/null | wc -l)

hf tar --runs "$runs" --warmup "$warmup" --prepare "sh '$w/prep-tar.sh'" \
  --command-name "tar xf" "tar xf '$w/tpl/tree.tar' -C '$w/x'" \
  --command-name "shit run -- tar xf" "'$shit' run -- tar xf '$w/tpl/tree.tar' -C '$w/x'"

hf sed --runs "$runs" --warmup "$warmup" --prepare "sh '$w/prep-sed.sh'" \
  --command-name "sed -i" "sed -i s/a/b/ '$w/big.txt'" \
  --command-name "shit run -- sed -i" "'$shit' run -- sed -i s/a/b/ '$w/big.txt'"

# no prepare: the state dir only gains one small spool file per run
sh reset-state.sh
hf true --runs "$true_runs" --warmup 20 \
  --command-name "true" "true" \
  --command-name "shit run -- true" "'$shit' run -- true" \
  --command-name "shit-run true" "'$root/native/build/shit-run' true"

# ---- rough phases of the undo (single shot each, for diagnosis) --------------------------------
phase() { # phase CMD...: prints wall seconds of CMD
  local t0 t1
  t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N)
  python3 -c "print('%.3f' % ($t1 - $t0))"
}
sh prep-undo.sh >/dev/null 2>&1
p_spool=$(du -sk "$SHIT_HOME/spool" 2>/dev/null | cut -f1)  # the rm's spool (+ the tiny `true`)
p_ingest=$(phase "$shit" list)      # first CLI call after the rm: ingests the spool
p_node=$(phase "$shit" list)        # nothing left to ingest: Node start + open the index
p_plan=$(phase "$shit" undo --dry-run)  # Node + plan (conflict checks), nothing applied
p_undo=$(phase "$shit" undo --yes)  # plan + apply, spool already ingested
# the same undo once more with only execve/exit traced (seccomp filter: next to no overhead), to
# split it into Node before shit-apply / shit-apply / Node after
p_split=
if command -v strace >/dev/null && sh prep-undo.sh >/dev/null 2>&1 &&
   strace -f --seccomp-bpf -tt -e trace=execve,exit_group -o "$w/undo.strace" \
     "$shit" undo --yes >/dev/null 2>&1; then
  p_split=$(python3 - "$w/undo.strace" <<'PY'
import sys
def t(s):
    h, m, x = s.split(":"); return int(h) * 3600 + int(m) * 60 + float(x)
start = apply = apply_end = end = None
pids = {}
for line in open(sys.argv[1]):
    f = line.split(None, 2)
    if len(f) < 3: continue
    pid, ts, rest = f[0], t(f[1]), f[2]
    if rest.startswith("execve(") and "= 0" in rest:
        if start is None: start = ts
        if "shit-apply" in rest: apply, pids["apply"] = ts, pid
    elif rest.startswith("exit_group("):
        if pid == pids.get("apply"): apply_end = ts
        end = ts
if None not in (start, apply, apply_end, end):
    print("%.3f %.3f %.3f" % (apply - start, apply_end - apply, end - apply_end))
PY
)
fi

# ---- report ------------------------------------------------------------------------------------
discard=$(findmnt -no OPTIONS -T "$w" 2>/dev/null | tr , '\n' | grep -x discard | head -n 1)
# an ext4 with no journal (its jbd2 task "<none>" in /sys/fs/ext4/DEV): see the note below
nojournal=
if [ "$(findmnt -no FSTYPE -T "$w" 2>/dev/null)" = ext4 ]; then
  dev=$(findmnt -no SOURCE -T "$w" 2>/dev/null)
  [ "$(cat "/sys/fs/ext4/${dev##*/}/journal_task" 2>/dev/null)" = "<none>" ] && nojournal=1
fi
PYTHONPATH=$root/bench python3 - "$w" "$restored" "$p_ingest" "$p_node" "$p_plan" "$p_undo" "${p_spool:-?}" "$p_split" \
  "$discard" "$nojournal" <<'EOF'
import json, os, sys
from benchrows import row, judge
w, restored, p_ingest, p_node, p_plan, p_undo, p_spool, p_split, discard, nojournal = sys.argv[1:]

def load(name):
    try:
        with open(os.path.join(w, name + ".json")) as fh:
            return {r["command"]: r for r in json.load(fh)["results"]}
    except (OSError, ValueError, KeyError):
        return None

def secs(x):
    return "%.3f s" % x

rows, notes = [], []

def ratio_row(label, res, plain, shit, target, plain_word="plain", shit_word="shit", where="ext4"):
    if res is None or plain not in res or shit not in res:
        rows.append("%-24s FAILED (see the hyperfine output above)" % label)
        row("%s (%s)" % (label, where), "-", "<= %.2fx" % target, "FAILED: hyperfine failed")
        return
    p, s = res[plain], res[shit]
    r, rmed = s["mean"] / p["mean"], s["median"] / p["median"]
    ok = judge(r, target)
    row("%s (%s)" % (label, where), "%.2fx" % r, "<= %.2fx" % target, ok)
    rows.append("%-24s %s %-9s  %s %-9s  ratio %.2fx   target <= %.2fx   %s" % (
        label, plain_word, secs(p["mean"]), shit_word, secs(s["mean"]), r, target, ok))
    notes.append("%-24s median: %s %s, %s %s, ratio %.2fx;  sd: %.3f s / %.3f s;  n=%d" % (
        label, plain_word, secs(p["median"]), shit_word, secs(s["median"]), rmed,
        p["stddev"] or 0, s["stddev"] or 0, len(s["times"])))
    pc, sc = p["user"] + p["system"], s["user"] + s["system"]
    notes.append("%-24s cpu (user+sys, mean): %s %s, %s %s, ratio %.2fx" % (
        "", plain_word, secs(pc), shit_word, secs(sc), sc / pc if pc else float("inf")))

rm, tar, sed, tru = load("rm"), load("tar"), load("sed"), load("true")
ratio_row("rm -rf 10k files", rm, "rm -rf t", "shit run -- rm -rf t", 1.0)
ratio_row("tar xf 10k over copy", tar, "tar xf", "shit run -- tar xf", 1.0)
ratio_row("sed -i 100 MB", sed, "sed -i", "shit run -- sed -i", 1.1)
if tru is None or "true" not in tru or "shit run -- true" not in tru:
    rows.append("%-24s FAILED (see the hyperfine output above)" % "shit run -- true")
    row("shit run -- true over true", "-", "<= +3 ms", "FAILED: hyperfine failed")
else:
    p, s = tru["true"], tru["shit run -- true"]
    d, dmed = (s["mean"] - p["mean"]) * 1e3, (s["median"] - p["median"]) * 1e3
    rows.append("%-24s plain %.1f ms   shit %.1f ms   %+.1f ms   target <= +3 ms   %s" % (
        "shit run -- true", p["mean"] * 1e3, s["mean"] * 1e3, d, judge(d, 3)))
    row("shit run -- true over true", "%+.1f ms" % d, "<= +3 ms", judge(d, 3))
    notes.append("%-24s median: plain %.1f ms, shit %.1f ms, %+.1f ms;  n=%d" % (
        "shit run -- true", p["median"] * 1e3, s["median"] * 1e3, dmed, len(s["times"])))
    if "shit-run true" in tru:
        r = tru["shit-run true"]
        notes.append("%-24s (the C runner alone, without the sh launcher bin/shit: mean %.1f ms, %+.1f ms)"
                     % ("", r["mean"] * 1e3, (r["mean"] - p["mean"]) * 1e3))
ratio_row("shit undo of rm -rf 10k", rm, "rm -rf t", "shit undo --yes", 0.35,
          plain_word="rm", shit_word="undo", where="ext4, SHIT_DAEMON=off")
if rm is not None and "shit undo --yes" in rm and restored != "10000":
    rows.append("%-24s MISSED: after the last timed undo t/ holds %s files, not 10000"
                % ("", restored))
    row("shit undo of rm -rf 10k, files back (ext4)", restored, "10000", "FAILED: files missing")

print()
print("shit bench — ratios against the plain command, same run (wall-clock mean; medians and")
print("CPU time below)")
print()
for r in rows:
    print(r)
print()
for n in notes:
    print("  " + n)
print()
print("  undo phases, one shot each, spool of the rm %s KiB:" % p_spool)
print("    first `shit list` after the rm (Node + ingest)    %s s" % p_ingest)
print("    second `shit list` (Node + index, no ingest)      %s s" % p_node)
print("    `shit undo --dry-run` (Node + plan, no apply)     %s s" % p_plan)
print("    `shit undo --yes` (Node + plan + apply)           %s s" % p_undo)
if p_split:
    a, b, c = p_split.split()
    print("    a whole `shit undo --yes` (ingest included), split by execve/exit: Node before shit-apply"
          " %s s, shit-apply %s s, Node after %s s" % (a, b, c))
if discard:
    print()
    print("  note: this filesystem is mounted with `discard`: freeing blocks (plain rm, tar over files)")
    print("  is slow and noisy here; under shit the freeing is deferred to when staging is purged,")
    print("  which the untimed prepare does.")
if nojournal:
    print()
    print("  note: this ext4 has no journal. There each file created skips every free inode of its group")
    print("  freed in the last 60 s (300 s while its inode table block is unwritten; ext4's ialloc.c")
    print("  recently_deleted), one buffer lookup each: 70-85% of tar xf's time on both sides (perf), and")
    print("  it grows with whatever this machine deleted in the last minutes (the prepares, the other side's")
    print("  runs, other work). The tar row moves with that (0.6x-1.1x in one day), not with capture;")
    print("  on a journaled ext4 (mkfs.ext4's default) the same row is a measure of capture.")
EOF
exit 0
