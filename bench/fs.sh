#!/usr/bin/env bash
# Capture and undo on a journaled ext4, btrfs and XFS (issue 15), each loop-mounted from a sparse
# image made here, measured side by side in one run and printed as ratios with their targets:
#
#   rm -rf of 10,000 small files (100 dirs)  shit run vs plain                 target <= 1.0x
#   shit undo of that rm -rf                 vs the plain rm (info)            target <= 0.35x
#   the same with shitd running (it planned the undo ahead)  vs the plain rm   target <= 0.2x
#   shit undo (btrfs)                        vs snapper's undochange of the same rm -rf:
#                                            `snapper create --type pre`, rm -rf, `--type post`,
#                                            `snapper undochange PRE..POST`     target <= 0.5x
#   tar xf of a 10,000-file archive over its own tree   shit run vs plain      target <= 1.0x
#   dd conv=notrunc,fsync over a 100 MB file (all of it)  shit run vs plain    target <= 1.05x
#   sed -i s/a/b/ of a 100 MB text file                 shit run vs plain      target <= 1.05x
#   rm -rf (btrfs) with $SHIT_HOME in another subvolume of the same filesystem (a rename into
#   staging fails with EXDEV there, so capture copies: a reflink, then the unlink)   info, <= 1.0x
#
# The last two are O(1) to capture only where reflinks exist (btrfs, XFS: capture's copy of the
# bytes about to change is a FICLONE); on ext4 they cost a copy (bench/run.sh measures them), so
# the ext4 image gets the rm, undo and tar rows only. It is mkfs.ext4's default, with a journal:
# most users' ext4, where this machine's root has none (bench/run.sh says so, DESIGN.md). The dd
# syncs its data (fsync): after a reflink its blocks are shared, so writeback must allocate new
# ones (copy-on-write) where plain dd on XFS overwrites in place; that cost belongs to the ratio.
# Each timed command gets the same untimed prepare (fresh input, fresh $SHIT_HOME, sync), and the
# plain, shit and snapper sides alternate within each round, so load on the machine hits them
# alike; a row prints the median over the rounds. SHIT_HOME lives in the measured filesystem (on
# btrfs in the same subvolume as the data): staging renames and reflinks work only within one.
#
#   sudo bash bench/fs.sh [ext4] [btrfs] [xfs]   default all three;  SHIT_BENCH_RUNS (5) rounds;
#   SHIT_BENCH_DIR: where the images go (default /var/tmp; sparse, 4 GiB each, removed at exit)
# Then, on each, bench/fs-placement.py: the per-file cost of each place staging could be.
# Needs root (mount, losetup); says so and exits 0 otherwise. Installs btrfs-progs, xfsprogs and
# snapper with apt-get when they are missing (bench-only tools: the tests never need them).
# Always exits 0 once the report is printed: a missed target is reported as MISSED, not an error.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shit=$root/bin/shit
runs=${SHIT_BENCH_RUNS:-5}
fss=("$@")
[ ${#fss[@]} -gt 0 ] || fss=(ext4 btrfs xfs)

say() { echo "bench fs: $*" >&2; }
# report RESULTS SKIPS FS...: the rows (printed, and appended to $SHIT_BENCH_ROWS for the summary of
# `npm run bench`); a filesystem without timings gets each of its rows as "skipped: why"
report() {
  PYTHONPATH=$root/bench python3 - "$@" <<'EOF'
import statistics, sys
from collections import defaultdict
from benchrows import row as summary_row, judge
res, skipfile, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]
v = defaultdict(list)
try:
    for line in open(res):
        fs, k, s = line.split()
        v[(fs, k)].append(float(s))
except OSError:
    pass
skips = {}  # fs -> why its rows are skipped; "btrfs-snapper" -> why the snapper rows are
try:
    for line in open(skipfile):
        fs, why = line.rstrip("\n").split(": ", 1)
        skips[fs] = why.replace("skipped: ", "", 1)
except (OSError, ValueError):
    pass
med = lambda fs, k: statistics.median(v[(fs, k)]) if v.get((fs, k)) else None
def row(fs, label, a, aw, b, bw, target, skip=None):
    x, y = med(fs, a), med(fs, b)
    name = "%s %s" % (fs, label)
    why = skip or skips.get(fs)
    if why and (x is None or y is None):
        summary_row(name, "-", "<= %.2fx" % target, "skipped: " + why)
        return
    if x is None or y is None or x <= 0:
        print("%-36s FAILED (no timing)" % name)
        summary_row(name, "-", "<= %.2fx" % target, "FAILED: no timing (output above)")
        return
    r = y / x
    print("%-36s %s %7.3f s  %s %7.3f s  ratio %5.2fx   target <= %.2fx   %s" % (
        name, aw, x, bw, y, r, target, judge(r, target)))
    summary_row(name, "%.2fx" % r, "<= %.2fx" % target, judge(r, target))
for fs in wanted:
    if fs not in ("ext4", "btrfs", "xfs"):
        continue
    row(fs, "rm -rf 10k capture", "rm", "plain", "shit_rm", "shit ", 1.0)
    row(fs, "undo of rm -rf 10k", "rm", "rm   ", "undo", "undo ", 0.35)
    row(fs, "undo of rm -rf 10k, shitd", "rm", "rm   ", "undo_d", "undo ", 0.2)
    if fs == "btrfs":
        nosnap = None if med(fs, "undochange") is not None else skips.get("btrfs-snapper") or skips.get(fs)
        row(fs, "undo vs snapper undochange", "undochange", "snap ", "undo", "undo ", 0.5, nosnap)
        row(fs, "undo (shitd) vs snapper", "undochange", "snap ", "undo_d", "undo ", 0.5, nosnap)
    if med(fs, "undochange") is not None:
        pre, post, uc, rm2 = med(fs, "snap_pre"), med(fs, "snap_post"), med(fs, "undochange"), med(fs, "snap_rm")
        tot = pre + post + uc
        print("%-36s snapper pre %.3f s + post %.3f s + undochange %.3f s = %.3f s; undo/that %.2fx; rm -rf between the snapshots %.3f s" % (
            "", pre, post, uc, tot, med(fs, "undo") / tot, rm2))
    row(fs, "tar xf 10k over its tree", "tar", "plain", "shit_tar", "shit ", 1.0)
    if fs != "ext4":
        row(fs, "dd conv=notrunc 100 MB", "dd", "plain", "shit_dd", "shit ", 1.05)
        row(fs, "sed -i 100 MB", "sed", "plain", "shit_sed", "shit ", 1.05)
    if med(fs, "shit_rm_other") is not None:
        row(fs, "rm -rf, state in other subvol", "rm", "plain", "shit_rm_other", "shit ", 1.0)
    for k, what in (("undo_wrong", "undo"), ("undochange_wrong", "undochange")):
        if v.get((fs, k)):
            print("%-36s MISSED: after the %s t/ held %s files, not 10000" % ("", what, ", ".join("%d" % x for x in v[(fs, k)])))
            summary_row("%s %s of rm -rf 10k, files back" % (fs, what), ", ".join("%d" % x for x in v[(fs, k)]), "10000",
                        "FAILED: files missing")
    if v.get((fs, "reflink")):
        print("%-36s the dd's kept pre-image %s extents with the file (FIEMAP)" % ("", "shares" if v[(fs, "reflink")][0] else "does NOT share"))
    print()
EOF
}
if [ "$(id -u)" != 0 ]; then
  echo "bench fs: skipped: ext4, btrfs and XFS are loop-mounted from images, which needs root (sudo bash bench/fs.sh)"
  skips=$(mktemp) || exit 1
  printf '%s: skipped: not root (loop mounts need it)\n' "${fss[@]}" >"$skips"
  report /dev/null "$skips" "${fss[@]}" >/dev/null
  rm -f "$skips"
  exit 0
fi
if [ ! -x "$root/native/build/shit-run" ] || [ ! -f "$root/dist/cli/main.js" ]; then
  say "not built: run npm install (or npm run build) first"
  exit 1
fi

need=()
command -v mkfs.btrfs >/dev/null || need+=(btrfs-progs)
command -v mkfs.xfs >/dev/null || need+=(xfsprogs)
command -v snapper >/dev/null || need+=(snapper)
if [ ${#need[@]} -gt 0 ] && command -v apt-get >/dev/null; then
  say "installing ${need[*]} (bench-only tools)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"; } >/dev/null 2>&1 ||
    say "could not install ${need[*]}"
fi

base=$(mktemp -d "${SHIT_BENCH_DIR:-/var/tmp}/shit-bench-fs.XXXXXX") || exit 1
mnts=()
snapcfg=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  cd /
  [ -n "$snapcfg" ] && snapper --no-dbus -c "$snapcfg" delete-config >/dev/null 2>&1
  local m
  for m in "${mnts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m"; done
  rm -rf "$base"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
unset SHIT_CMD SHIT_STATE
export SHIT_DAEMON=off # each verb ingests for itself, as in bench/run.sh

# inputs, made once in $base (on the host's filesystem) and copied into each mount
python3 - "$base/tpl" <<'EOF' || { say "input generation failed"; exit 1; }
import os, random, sys
w = sys.argv[1]
for d in range(100):  # 100 dirs x 100 files of 100 bytes
    dp = os.path.join(w, "t", "d%02d" % d)
    os.makedirs(dp)
    for f in range(100):
        head = ("dir %02d file %02d " % (d, f)).encode()
        with open(os.path.join(dp, "f%02d" % f), "wb") as fh:
            fh.write(head + b"x" * (99 - len(head)) + b"\n")
rnd = random.Random(1)  # 100 MiB of text lines, plenty of 'a's
words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike a lazy dog".split()
lines, size = [], 0
while size < (1 << 20):
    line = " ".join(rnd.choice(words) for _ in range(12)) + "\n"
    lines.append(line); size += len(line)
chunk = "".join(lines).encode()[: 1 << 20]
chunk = chunk[: chunk.rindex(b"\n") + 1]
with open(os.path.join(w, "big.txt"), "wb") as fh:
    total = 0
    while total < 100 << 20:
        fh.write(chunk); total += len(chunk)
EOF
tar cf "$base/tpl/tree.tar" -C "$base/tpl" t || exit 1
head -c $((100 << 20)) /dev/urandom >"$base/tpl/over.bin"

# t CMD...: runs CMD (output to $base/out), prints its wall seconds
t() {
  local t0 t1
  t0=$(date +%s%N)
  "$@" >"$base/out" 2>&1 || { say "failed: $*"; tail -3 "$base/out" >&2; }
  t1=$(date +%s%N)
  echo "$(((t1 - t0) / 1000))e-6"
}
res=$base/results # lines: FS KEY SECONDS
rec() { echo "$1 $2 $3" >>"$res"; say "$1 $2 $3"; }

bench_fs() { # bench_fs FS
  local fs=$1 img=$base/$1.img mnt=$base/$1 vol
  command -v "mkfs.$fs" >/dev/null || { echo "$fs: skipped: mkfs.$fs not found" >>"$base/skips"; return; }
  truncate -s 4G "$img" || return
  local force=-f
  [ "$fs" = ext4 ] && force=-F
  "mkfs.$fs" -q "$force" "$img" >/dev/null 2>&1 || { echo "$fs: skipped: mkfs.$fs failed" >>"$base/skips"; return; }
  mkdir -p "$mnt"
  mount -o loop "$img" "$mnt" || { echo "$fs: skipped: cannot loop-mount (no loop devices here?)" >>"$base/skips"; return; }
  mnts+=("$mnt")
  vol=$mnt/vol
  local snap=
  if [ "$fs" = btrfs ]; then
    btrfs -q subvolume create "$vol" || return
    btrfs -q subvolume create "$mnt/other" || return
    if command -v snapper >/dev/null; then
      snapcfg=shitbench$$
      if snapper --no-dbus -c "$snapcfg" create-config -f btrfs "$vol" >/dev/null 2>&1; then snap=1; else
        echo "btrfs-snapper: snapper create-config failed" >>"$base/skips"
        snapcfg=
      fi
    else
      echo "btrfs-snapper: snapper not found" >>"$base/skips"
    fi
  else
    mkdir "$vol"
  fi
  say "$fs: $(findmnt -no SOURCE,FSTYPE,OPTIONS "$mnt")"
  export SHIT_HOME=$vol/state
  cp -a "$base/tpl" "$vol/tpl" && sync
  cd "$vol" || return
  reset() { rm -rf "$SHIT_HOME" && "$shit" run -- true; }
  prep_tree() { rm -rf t && reset && cp -a tpl/t t && sync; }
  prep_x() { rm -rf x && reset && mkdir x && tar xf tpl/tree.tar -C x && sync; }
  prep_big() { rm -f big.txt && reset && cp tpl/big.txt big.txt && sync; }
  local i n
  for i in $(seq "$runs"); do
    say "$fs: round $i of $runs"
    prep_tree; rec "$fs" rm "$(t rm -rf t)"
    prep_tree; rec "$fs" shit_rm "$(t "$shit" run -- rm -rf t)"
    sync; rec "$fs" undo "$(t "$shit" undo --yes)"
    n=$(find t -type f | wc -l); [ "$n" = 10000 ] || rec "$fs" undo_wrong "$n"
    # the realistic case: shitd running, which has ingested the rm and planned its undo ahead
    # while a person types `shit undo` (waited for here, at most 10 s)
    prep_tree; "$shit" run -- rm -rf t >/dev/null 2>&1; sync
    SHIT_DAEMON=on "$shit" daemon start >/dev/null 2>&1; SHIT_DAEMON=on "$shit" list >/dev/null 2>&1
    for _ in $(seq 100); do ls "$SHIT_HOME"/run/ahead/*.v8 >/dev/null 2>&1 && break; sleep 0.1; done
    rec "$fs" undo_d "$(SHIT_DAEMON=on t "$shit" undo --yes)"
    SHIT_DAEMON=on "$shit" daemon stop >/dev/null 2>&1
    n=$(find t -type f | wc -l); [ "$n" = 10000 ] || rec "$fs" undo_wrong "$n"
    if [ -n "$snap" ]; then
      prep_tree
      local t0 pre post
      t0=$(date +%s%N)
      pre=$(snapper --no-dbus -c "$snapcfg" create --type pre --print-number)
      rec "$fs" snap_pre "$((($(date +%s%N) - t0) / 1000))e-6"
      rec "$fs" snap_rm "$(t rm -rf t)"
      t0=$(date +%s%N)
      post=$(snapper --no-dbus -c "$snapcfg" create --type post --pre-number "$pre" --print-number)
      rec "$fs" snap_post "$((($(date +%s%N) - t0) / 1000))e-6"
      sync
      rec "$fs" undochange "$(t snapper --no-dbus -c "$snapcfg" undochange "$pre..$post")"
      n=$(find t -type f | wc -l); [ "$n" = 10000 ] || rec "$fs" undochange_wrong "$n"
      snapper --no-dbus -c "$snapcfg" delete "$pre" "$post" >/dev/null 2>&1
    fi
    prep_x; rec "$fs" tar "$(t tar xf tpl/tree.tar -C x)"
    prep_x; rec "$fs" shit_tar "$(t "$shit" run -- tar xf tpl/tree.tar -C x)"
    [ "$fs" = ext4 ] && continue # no reflinks: the dd and sed rows are bench/run.sh's
    prep_big; rec "$fs" dd "$(t dd if=tpl/over.bin of=big.txt bs=1M conv=notrunc,fsync)"
    prep_big; rec "$fs" shit_dd "$(t "$shit" run -- dd if=tpl/over.bin of=big.txt bs=1M conv=notrunc,fsync)"
    prep_big; rec "$fs" sed "$(t sed -i s/a/b/ big.txt)"
    prep_big; rec "$fs" shit_sed "$(t "$shit" run -- sed -i s/a/b/ big.txt)"
    if [ "$fs" = btrfs ]; then
      SHIT_HOME=$mnt/other/state prep_tree
      rec "$fs" shit_rm_other "$(SHIT_HOME=$mnt/other/state t "$shit" run -- rm -rf t)"
      rm -rf "$mnt/other/state"
    fi
  done
  # where staging could be, without the shim: the system calls each placement needs, per file
  say "$fs: placements (bench/fs-placement.py)"
  SHIT_BENCH_RUNS=3 python3 "$root/bench/fs-placement.py" "$vol" >>"$base/placement" 2>&1
  # was the pre-image of the dd a reflink? (FIEMAP's "shared" flag on the kept copy's extents)
  [ "$fs" = ext4 ] && { cd "$base" || true; return; }
  prep_big
  "$shit" run -- dd if=tpl/over.bin of=big.txt bs=1M count=1 conv=notrunc >/dev/null 2>&1
  local kept
  kept=$(find "$SHIT_HOME/staging" -type f -size +1M | head -n 1)
  if [ -n "$kept" ] && command -v filefrag >/dev/null; then
    if filefrag -v "$kept" | grep -q shared; then rec "$fs" reflink 1; else rec "$fs" reflink 0; fi
  fi
  cd "$base" || return
}

for fs in "${fss[@]}"; do
  case $fs in ext4 | btrfs | xfs) bench_fs "$fs" ;; *) echo "$fs: skipped: only ext4, btrfs and xfs are benched here" >>"$base/skips" ;; esac
done

echo
echo "shit bench (ext4 with a journal, btrfs, XFS) — ratios against the plain command (or snapper), same run, median of $runs rounds"
echo "(wall clock; the machine may be shared: only the ratios mean anything)"
echo
[ -f "$base/skips" ] && sed 's/^/  /' "$base/skips" && echo
report "$res" "$base/skips" "${fss[@]}"
if [ -s "$base/placement" ]; then
  echo "Where staging could be (bench/fs-placement.py: the system calls alone, no shim, median of 3):"
  cat "$base/placement"
fi
exit 0
