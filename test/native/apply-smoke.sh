#!/usr/bin/env bash
# apply-smoke.sh — end-to-end checks of native/build/shit-apply on a temporary tree.
#   bash test/native/apply-smoke.sh            (SHIT_APPLY=path overrides the binary; -v dumps spools)
# Plans are written with test/native/mkplan.py. Exit 0 when every check passes.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
apply=${SHIT_APPLY:-$root/native/build/shit-apply}
verbose=${1:-}
mkplan() { python3 "$here/mkplan.py" "$@"; }
dump() { python3 "$here/dumpspool.py" "$@"; }
[ -x "$apply" ] || { echo "missing $apply (make -C native build/shit-apply)"; exit 2; }

tmp=$(mktemp -d /tmp/shit-apply-smoke.XXXXXX)
# shellcheck disable=SC2064 # $tmp is expanded now, on purpose
trap "[ -n \"\${KEEP_TMP:-}\" ] || rm -rf \"$tmp\"" EXIT
export SHIT_STATE=$tmp/state
mkdir -p "$SHIT_STATE"/{spool,staging,run} "$tmp/t"
# a KEEP source must be <state>/staging/<OF>/<dev>-<ino>[.tail<n>], OF the plan's undone command:
# shit-apply refuses any other (test/security.test.ts); each plan's blobs live in its OF's dir
st() { mkdir -p "$SHIT_STATE/staging/00000000000000$1" && echo "$SHIT_STATE/staging/00000000000000$1/$2"; }
T=$tmp/t
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
content() { [ "$(cat "$1")" = "$2" ]; }
mode() { [ "$(stat -c %a "$1")" = "$2" ]; }
mtime() { [ "$(stat -c %Y "$1")" = "$2" ]; }
ino() { stat -c %i "$1"; }
newid() { head -c8 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# ---------------------------------------------------------------- 1. every step kind
echo "--- plan 1: every step kind"
echo gone > "$T/del.txt"
mkdir "$T/emptydir"
echo A > "$T/a.txt"
staged=$(st aa 2049-12345)
printf 'restored bytes\n' > "$staged"
echo 'new content, longer than the old' > "$T/rw.txt"
ln "$T/rw.txt" "$T/rw-link.txt"
rw_ino=$(ino "$T/rw.txt")
blob1=$(st aa 1-1); printf 'old content\n' > "$blob1"
python3 -c "open('$T/tr.txt','w').write('x'*100)"
echo meta > "$T/meta.txt"; chmod 600 "$T/meta.txt"
blob2=$(st aa 1-2); printf 'copied blob\n' > "$blob2"
T2000=946684800000000000   # 2000-01-01 in ns
T2001=978307200000000000
cat > "$tmp/p1.json" <<EOF
[
 {"kind": "EXPECT", "path": "$T/del.txt", "post": {"lstat": "$T/del.txt"}},
 {"kind": "EXPECT", "path": "$T/restored.txt"},
 {"kind": "EXPECT", "path": "$T/nope/deeper/x"},
 {"kind": "REMOVE", "path": "$T/del.txt"},
 {"kind": "REMOVE", "path": "$T/emptydir"},
 {"kind": "RENAME", "path": "$T/a.txt", "path2": "$T/b.txt"},
 {"kind": "PLACE", "path": "$T/restored.txt", "keep": ["R", "$staged"],
  "pre": {"mode": $((0100640)), "uid": $(id -u), "gid": $(id -g), "mtime_ns": $T2001, "atime_ns": $T2001}},
 {"kind": "PLACE", "path": "$T/copied.txt", "keep": ["C", "$blob2"],
  "pre": {"mode": $((0100604)), "uid": $(id -u), "gid": $(id -g), "mtime_ns": $T2000, "atime_ns": $T2000}},
 {"kind": "REWRITE", "path": "$T/rw.txt", "keep": ["C", "$blob1"], "length": -1,
  "pre": {"mode": $((0100644)), "mtime_ns": $T2000, "atime_ns": $T2000}},
 {"kind": "TRUNCATE", "path": "$T/tr.txt", "length": 10, "pre": {"mode": $((0100644)), "mtime_ns": $T2000, "atime_ns": $T2000}},
 {"kind": "META", "path": "$T/meta.txt", "pre": {"mode": $((0100644)), "uid": $(id -u), "gid": $(id -g), "mtime_ns": $T2000, "atime_ns": $T2000}},
 {"kind": "LINK", "path": "$T/meta.txt", "path2": "$T/meta-link"},
 {"kind": "PLACE", "path": "$T/newdir", "pre": {"mode": $((040750)), "uid": $(id -u), "gid": $(id -g), "mtime_ns": $T2000, "atime_ns": $T2000}},
 {"kind": "PLACE", "path": "$T/newdir/lnk", "target": "../b.txt", "pre": {"mode": $((0120777)), "uid": $(id -u), "gid": $(id -g), "mtime_ns": $T2001, "atime_ns": $T2001}},
 {"kind": "PLACE", "path": "$T/fifo", "pre": {"mode": $((010640)), "uid": $(id -u), "gid": $(id -g), "mtime_ns": $T2000, "atime_ns": $T2000}},
 {"kind": "XATTR", "path": "$T/meta.txt", "xname": "user.shit", "xvalue": "v1"},
 {"kind": "XATTR", "path": "$T/b.txt", "xname": "user.absent"}
]
EOF
mkplan "$tmp/p1" < "$tmp/p1.json"
id1=$(newid)
SHIT_CMD=$id1 "$apply" "$tmp/p1" undo 00000000000000aa extra-arg; rc=$?
check "plan 1 exits 0 (got $rc)" [ $rc = 0 ]
check "REMOVE file" [ ! -e "$T/del.txt" ]
check "REMOVE empty dir" [ ! -e "$T/emptydir" ]
check "RENAME" test ! -e "$T/a.txt" -a "$(cat "$T/b.txt" 2>/dev/null)" = A
check "PLACE R: bytes" content "$T/restored.txt" "restored bytes"
check "PLACE R: moved out of staging" [ ! -e "$staged" ]
check "PLACE R: mode 640" mode "$T/restored.txt" 640
check "PLACE R: mtime" mtime "$T/restored.txt" 978307200
check "PLACE C: bytes" content "$T/copied.txt" "copied blob"
check "PLACE C: source kept" [ -f "$blob2" ]
check "PLACE C: mode 604" mode "$T/copied.txt" 604
check "REWRITE: bytes" content "$T/rw.txt" "old content"
check "REWRITE: same inode" [ "$(ino "$T/rw.txt")" = "$rw_ino" ]
check "REWRITE: hardlink sees it" content "$T/rw-link.txt" "old content"
check "REWRITE: mtime" mtime "$T/rw.txt" 946684800
check "TRUNCATE: size 10" [ "$(stat -c %s "$T/tr.txt")" = 10 ]
check "TRUNCATE: mtime" mtime "$T/tr.txt" 946684800
check "META: mode" mode "$T/meta.txt" 644
check "META: mtime" mtime "$T/meta.txt" 946684800
check "LINK" [ "$(ino "$T/meta.txt")" = "$(ino "$T/meta-link")" ]
check "PLACE dir: mode 750" mode "$T/newdir" 750
check "PLACE symlink" [ "$(readlink "$T/newdir/lnk")" = ../b.txt ]
check "PLACE symlink: mtime" [ "$(stat -c %Y "$T/newdir/lnk")" = 978307200 ]
check "PLACE fifo" test -p "$T/fifo"
check "PLACE fifo: mode" mode "$T/fifo" 640
check "XATTR set" [ "$(python3 -c "import os;print(os.getxattr('$T/meta.txt','user.shit').decode())")" = v1 ]
sp1=$SHIT_STATE/spool/$id1.spool
check "undo spool written" [ -s "$sp1" ]
check "journal has 17 steps" [ "$(stat -c %s "$SHIT_STATE/run/$id1.journal")" = 68 ]
# shellcheck disable=SC2015 # ok only prints
HERE=$here python3 - "$sp1" <<'EOF' && ok "spool: BEGIN, END, POSTs and a STEP on every effect" || { echo "FAIL spool check"; fails=$((fails + 1)); }
import os, sys
sys.path.insert(0, os.environ['HERE'])
import spoolfmt
recs = list(spoolfmt.parse(open(sys.argv[1], 'rb').read()))
assert recs[0]['opname'] == 'BEGIN', recs[0]
f = recs[0]['fields']
assert f['KIND'] == b'undo' and f['OF'] == b'00000000000000aa' and f['ARGV'] == b'extra-arg\0', f
ends = [r for r in recs if r['opname'] == 'END']
assert len(ends) == 1 and ends[0]['err'] == 0, ends
post = {r['fields']['PATH']: r['fields'].get('POST') for r in recs[recs.index(ends[0]):] if r['opname'] == 'POST'}
assert all(r['opname'] == 'POST' for r in recs[recs.index(ends[0]) + 1:])
t = os.path.dirname(recs[1]['fields']['PATH'])
assert post[t + b'/del.txt'] is None and post[t + b'/restored.txt']['mode'] == 0o100640, post
eff = [r for r in recs if 3 <= r['op'] <= 16]
assert len(eff) >= 14, len(eff)
assert all('STEP' in r['fields'] for r in eff), [r for r in eff if 'STEP' not in r['fields']]
steps = {r['fields']['STEP'] for r in eff}
assert steps >= {3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, steps
EOF
[ "$verbose" = -v ] && dump "$sp1"

# ---------------------------------------------------------------- 2. conflicts
echo "--- plan 2: EXPECT conflicts change nothing"
echo changed-later > "$T/b.txt"
cat > "$tmp/p2.json" <<EOF
[
 {"kind": "EXPECT", "path": "$T/b.txt", "post": {"lstat": "$T/b.txt", "size": 2}},
 {"kind": "EXPECT", "path": "$T/copied.txt"},
 {"kind": "EXPECT", "path": "$T/gone-later", "post": {"mode": $((0100644))}},
 {"kind": "REMOVE", "path": "$T/meta-link"}
]
EOF
mkplan "$tmp/p2" < "$tmp/p2.json"
id2=$(newid)
SHIT_CMD=$id2 "$apply" "$tmp/p2" undo 00000000000000bb 2> "$tmp/err2"; rc=$?
check "conflict exits 3 (got $rc)" [ $rc = 3 ]
check "conflict: nothing removed" [ -e "$T/meta-link" ]
check "conflict: size reported" grep -q "conflict: $T/b.txt: size" "$tmp/err2"
check "conflict: unexpected file reported" grep -q "conflict: $T/copied.txt: exists now" "$tmp/err2"
check "conflict: missing file reported" grep -q "conflict: $T/gone-later: missing" "$tmp/err2"
[ "$verbose" = -v ] && cat "$tmp/err2"
# the same plan with force on every EXPECT
sed -i 's/"kind": "EXPECT"/"kind": "EXPECT", "flags": 1/' "$tmp/p2.json"
mkplan "$tmp/p2" < "$tmp/p2.json"
SHIT_CMD=$(newid) "$apply" "$tmp/p2" undo 00000000000000bb 2> "$tmp/err2f"; rc=$?
check "forced conflict runs (got $rc)" [ $rc = 0 ]
check "forced: removed" [ ! -e "$T/meta-link" ]
check "forced: conflicts still printed" grep -q "conflict: $T/b.txt" "$tmp/err2f"

# ---------------------------------------------------------------- 3. parent symlinks
echo "--- plan 3: never follow a parent symlink"
mkdir "$T/real"; echo keep > "$T/real/victim"; ln -s real "$T/sl"
cat > "$tmp/p3.json" <<EOF
[ {"kind": "REMOVE", "path": "$T/sl/victim"} ]
EOF
mkplan "$tmp/p3" < "$tmp/p3.json"
SHIT_CMD=$(newid) "$apply" "$tmp/p3" undo 00000000000000cc 2> "$tmp/err3"; rc=$?
check "symlink parent: exit 4 (got $rc)" [ $rc = 4 ]
check "symlink parent: victim intact" [ -e "$T/real/victim" ]
check "symlink parent: message" grep -q "step 0 remove $T/sl/victim: a parent is a symlink, not following it" "$tmp/err3"
# PLACE onto a final symlink is refused (must not exist), REWRITE of a symlink refused
ln -s real/victim "$T/final-link"
blob1c=$(st cc 1-1); cp "$blob1" "$blob1c"
cat > "$tmp/p3b.json" <<EOF
[ {"kind": "REWRITE", "path": "$T/final-link", "keep": ["C", "$blob1c"], "length": -1} ]
EOF
mkplan "$tmp/p3b" < "$tmp/p3b.json"
SHIT_CMD=$(newid) "$apply" "$tmp/p3b" undo 00000000000000cc 2> "$tmp/err3b"; rc=$?
check "REWRITE through a final symlink refused (rc $rc)" [ $rc = 4 ]
check "REWRITE: symlink's target intact" content "$T/real/victim" keep
# a KEEP source that is a symlink is refused
evil=$(st cc 1-3); ln -s "$blob1c" "$evil"
cat > "$tmp/p3c.json" <<EOF
[ {"kind": "PLACE", "path": "$T/from-evil", "keep": ["C", "$evil"], "pre": {"mode": $((0100644))}} ]
EOF
mkplan "$tmp/p3c" < "$tmp/p3c.json"
SHIT_CMD=$(newid) "$apply" "$tmp/p3c" undo 00000000000000cc 2> "$tmp/err3c"; rc=$?
check "symlink KEEP source refused (rc $rc)" [ $rc = 4 -a ! -e "$T/from-evil" ]

# ---------------------------------------------------------------- 4. journal resume
echo "--- plan 4: a failing step stops; a second run continues from the journal"
mkdir "$T/j"; for f in 1 2 3; do echo $f > "$T/j/f$f"; done
cat > "$tmp/p4.json" <<EOF
[
 {"kind": "REMOVE", "path": "$T/j/f1"},
 {"kind": "RENAME", "path": "$T/j/f2", "path2": "$T/j/sub/f2"},
 {"kind": "REMOVE", "path": "$T/j/f3"}
]
EOF
mkplan "$tmp/p4" < "$tmp/p4.json"
id4=$(newid)
SHIT_CMD=$id4 "$apply" "$tmp/p4" undo 00000000000000dd 2> "$tmp/err4"; rc=$?
check "failing step: exit 4 (got $rc)" [ $rc = 4 ]
check "failing step: message" grep -q "shit-apply: step 1 rename $T/j/f2: No such file or directory" "$tmp/err4"
check "failing step: step 0 done" [ ! -e "$T/j/f1" ]
check "failing step: step 2 not done" [ -e "$T/j/f3" ]
check "journal: one step" [ "$(od -An -tu4 "$SHIT_STATE/run/$id4.journal" | tr -d ' ')" = 0 ]
echo "recreated" > "$T/j/f1"      # if step 0 ran again it would remove this
mkdir "$T/j/sub"                  # the fix
SHIT_CMD=$id4 "$apply" "$tmp/p4" undo 00000000000000dd; rc=$?
check "resume: exit 0 (got $rc)" [ $rc = 0 ]
check "resume: finished step 0 not redone" content "$T/j/f1" recreated
check "resume: step 1 done" content "$T/j/sub/f2" 2
check "resume: step 2 done" [ ! -e "$T/j/f3" ]
check "journal: 0 1 2" [ "$(od -An -tu4 "$SHIT_STATE/run/$id4.journal" | tr -s ' ' | sed 's/^ //')" = "0 1 2" ]
check "resume: one BEGIN in the spool" [ "$(dump "$SHIT_STATE/spool/$id4.spool" | grep -c '^BEGIN')" = 1 ]
[ "$verbose" = -v ] && dump "$SHIT_STATE/spool/$id4.spool"

# ---------------------------------------------------------------- 5. interrupted step re-run
echo "--- plan 5: re-running a step that had finished but was not journaled"
mkdir "$T/k"; staged2=$(st ee 1-5); printf 'kept\n' > "$staged2"; echo x > "$T/k/rm"; echo y > "$T/k/mv"
cat > "$tmp/p5.json" <<EOF
[
 {"kind": "PLACE", "path": "$T/k/placed", "keep": ["R", "$staged2"], "pre": {"mode": $((0100600)), "size": 5, "mtime_ns": $T2000, "atime_ns": $T2000}},
 {"kind": "REMOVE", "path": "$T/k/rm"},
 {"kind": "RENAME", "path": "$T/k/mv", "path2": "$T/k/mv2"},
 {"kind": "PLACE", "path": "$T/k/d", "pre": {"mode": $((040700))}},
 {"kind": "PLACE", "path": "$T/k/s", "target": "t"},
 {"kind": "LINK", "path": "$T/k/mv2", "path2": "$T/k/mv3"}
]
EOF
mkplan "$tmp/p5" < "$tmp/p5.json"
id5=$(newid)
SHIT_CMD=$id5 "$apply" "$tmp/p5" undo 00000000000000ee; rc=$?
check "plan 5 first run (got $rc)" [ $rc = 0 ]
rm "$SHIT_STATE/run/$id5.journal"           # as if killed before any journal write
SHIT_CMD=$id5 "$apply" "$tmp/p5" undo 00000000000000ee; rc=$?
check "plan 5 re-run without journal succeeds (got $rc)" [ $rc = 0 ]
check "plan 5: placed file intact" content "$T/k/placed" kept

# ---------------------------------------------------------------- 6. kill -9 mid-plan, then finish
echo "--- plan 6: kill -9 during a 3000-step plan, re-run until done"
mkdir "$T/m"
blob6=$(st ff 1-6); printf 'blob\n' > "$blob6"
python3 - "$T/m" "$blob6" > "$tmp/p6.json" <<'PY'
import json, os, sys
d, blob = sys.argv[1], sys.argv[2]
steps = []
for i in range(1000):
    open(f'{d}/rm{i}', 'w').write(str(i))
    open(f'{d}/mv{i}', 'w').write(str(i))
    steps += [{"kind": "REMOVE", "path": f"{d}/rm{i}"},
              {"kind": "PLACE", "path": f"{d}/new{i}", "keep": ["C", blob], "pre": {"mode": 0o100640}},
              {"kind": "RENAME", "path": f"{d}/mv{i}", "path2": f"{d}/moved{i}"}]
print(json.dumps(steps))
PY
mkplan "$tmp/p6" < "$tmp/p6.json"
id6=$(newid); runs=0; rc=1
for delay in 0.05 0.1 0.15 0.2 0.3; do
  SHIT_CMD=$id6 "$apply" "$tmp/p6" undo 00000000000000ff 2>> "$tmp/err6" & pid=$!
  sleep $delay; kill -9 $pid 2>/dev/null; wait $pid; rc=$?; runs=$((runs + 1))
  [ $rc = 0 ] && break
done
[ $rc = 0 ] || { SHIT_CMD=$id6 "$apply" "$tmp/p6" undo 00000000000000ff 2>> "$tmp/err6"; rc=$?; runs=$((runs + 1)); }
check "plan 6 finished after $runs run(s) (rc $rc)" [ $rc = 0 ]
check "plan 6: no errors printed" [ ! -s "$tmp/err6" ]
left=$(find "$T/m" -mindepth 1 -maxdepth 1 \( -name 'rm*' -o -name 'mv[0-9]*' \) | wc -l)
placed=$(find "$T/m" -mindepth 1 -maxdepth 1 -name 'new*' | wc -l); moved=$(find "$T/m" -mindepth 1 -maxdepth 1 -name 'moved*' | wc -l)
check "plan 6: every step's effect ($left left, $placed placed, $moved moved)" [ "$left" = 0 -a "$placed" = 1000 -a "$moved" = 1000 ]
check "plan 6: placed bytes" content "$T/m/new999" blob
# The record goes first, then the rename into staging (capture.c cap_unlink: no staged file
# without its record). A kill -9 between the two leaves a record of a removal that did not
# happen; the re-run finds the file in place and records it again: at most one extra per kill.
unl=$(dump "$SHIT_STATE/spool/$id6.spool" | grep -c '^UNLINK ')
check "plan 6: an UNLINK record per removed file, more at most one per kill ($unl, $runs runs)" [ "$unl" -ge 1000 -a "$unl" -le $((1000 + runs - 1)) ]
check "plan 6: each removed file kept in staging" [ "$(find "$SHIT_STATE/staging/$id6" -type f | wc -l)" = 1000 ]

# ---------------------------------------------------------------- 7. kills while records wait
# A PLACE in the directory of the step before it keeps its record (and journal entry) in memory
# for a while (apply.c, sp_defer). A SIGTERM writes them before shit-apply ends; a kill -9 loses
# them, and the re-run finds those files in place and records them: either way every step ends
# with exactly one OPEN record, and the directory's first one still has its PARENT from before.
echo "--- plan 7: 2000 files moved back into one directory; SIGTERM, or kill -9, right after the 100th"
cat > "$tmp/killat.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
/* SHIT_TEST_KILL_AT=N:SIG: raise SIG right after the Nth successful renameat2 */
int renameat2(int a, const char *b, int c, const char *d, unsigned f) {
  static int n;
  int (*real)(int, const char *, int, const char *, unsigned) = dlsym(RTLD_NEXT, "renameat2");
  int r = real(a, b, c, d, f);
  const char *e = getenv("SHIT_TEST_KILL_AT");
  if (r == 0 && e && strchr(e, ':') && ++n == atoi(e)) raise(atoi(strchr(e, ':') + 1));
  return r;
}
C
cc -shared -fPIC -o "$tmp/killat.so" "$tmp/killat.c" -ldl
for c in 15:a1 9:a2; do # SIGTERM, SIGKILL; each undoes its own command (its staging dir)
  sig=${c%:*} of=00000000000000${c#*:} dir=$T/p${c%:*}; mkdir "$dir"
  python3 - "$dir" "$(st "${c#*:}" x)" > "$tmp/p7.json" <<'PY'
import json, os, sys
d, stdir = sys.argv[1], os.path.dirname(sys.argv[2])
steps = [{"kind": "EXPECT", "path": f"{d}/f0"}]  # its check opens the directory before any step
for i in range(2000):
    kept = f'{stdir}/1-{i}'
    open(kept, 'w').write(str(i))
    steps.append({"kind": "PLACE", "path": f"{d}/f{i}", "keep": ["R", kept], "pre": {"lstat": kept}})
print(json.dumps(steps))
PY
  mkplan "$tmp/p7" < "$tmp/p7.json"
  touch -d @946684800 "$dir" # the directory's state before the undo: what its redo sets back
  id7=$(newid)
  SHIT_CMD=$id7 SHIT_TEST_KILL_AT=100:$sig LD_PRELOAD=$tmp/killat.so "$apply" "$tmp/p7" undo "$of"; rc=$?
  check "plan 7 (signal $sig): ended by the signal (rc $rc)" [ $rc = $((128 + sig)) ]
  placed=$(find "$dir" -mindepth 1 | wc -l)
  recs=$(dump "$SHIT_STATE/spool/$id7.spool" | grep -c '^OPEN ')
  check "plan 7 (signal $sig): 100 placed ($placed)" [ "$placed" = 100 ]
  # SIGTERM: every record but the one of the call it came right after; kill -9: those waiting are lost
  [ "$sig" = 15 ] && check "plan 7 (SIGTERM): the records waiting were written ($recs for $placed files)" [ "$recs" = 99 ]
  SHIT_CMD=$id7 "$apply" "$tmp/p7" undo "$of"; rc=$?
  check "plan 7 (signal $sig): the re-run finishes (rc $rc)" [ $rc = 0 ]
  python3 - "$SHIT_STATE/spool/$id7.spool" "$here" <<'PY' > "$tmp/p7.out"
import os, sys
sys.path.insert(0, sys.argv[2])
import spoolfmt
recs = [r for r in spoolfmt.parse(open(sys.argv[1], 'rb').read()) if r['opname'] == 'OPEN' and r['err'] == 0]
steps = sorted(r['fields']['STEP'] for r in recs)
print('steps', 'ok' if steps == list(range(1, 2001)) else '%d records, %d distinct' % (len(steps), len(set(steps))))
print('first parent', recs[0]['fields']['PARENT']['mtime_ns'])
bad = [r['fields']['PATH'] for r in recs if r['fields']['POST']['ino'] != os.lstat(r['fields']['PATH']).st_ino]
print('posts', 'ok' if not bad else bad[:3])
PY
  check "plan 7 (signal $sig): one OPEN record per step" grep -qx 'steps ok' "$tmp/p7.out"
  check "plan 7 (signal $sig): the directory's first record has its PARENT from before" grep -qx 'first parent 946684800000000000' "$tmp/p7.out"
  check "plan 7 (signal $sig): each record's POST is the file in place" grep -qx 'posts ok' "$tmp/p7.out"
done

# ---------------------------------------------------------------- 8. records stay in step order
echo "--- plan 8: a record that waits in memory still comes before the records of later steps"
mkdir "$T/q"; echo z > "$T/q/z"; kx=$(st b1 1-1); ky=$(st b1 1-2); echo x > "$kx"; echo y > "$ky"
cat > "$tmp/p8.json" <<EOF
[
 {"kind": "PLACE", "path": "$T/q/x", "keep": ["R", "$kx"], "pre": {"lstat": "$kx"}},
 {"kind": "PLACE", "path": "$T/q/y", "keep": ["R", "$ky"], "pre": {"lstat": "$ky"}},
 {"kind": "REMOVE", "path": "$T/q/z"}
]
EOF
mkplan "$tmp/p8" < "$tmp/p8.json"
id8=$(newid)
SHIT_CMD=$id8 "$apply" "$tmp/p8" undo 00000000000000b1; rc=$?
check "plan 8 (rc $rc)" [ $rc = 0 ]
order=$(dump "$SHIT_STATE/spool/$id8.spool" | sed -n 's/^\(OPEN\|UNLINK\) .*STEP=\([0-9]*\).*/\1 \2/p' | tr '\n' ' ')
check "plan 8: records in step order ($order)" [ "$order" = "OPEN 0 OPEN 1 UNLINK 2 " ]

# ---------------------------------------------------------------- 9. batched records lost
# A write of records waiting in memory fails (a full disk: strace makes the first 64 KiB batch
# fail with ENOSPC): those steps are done but not on record, so shit-apply must not end as if they
# were (before: exit 0, an END, a journal naming all 3000 steps and ~290 OPEN records missing,
# which a redo then met as entries it did not expect). It says so and exits 4; a re-run records them.
echo "--- plan 9: 3000 PLACEs in one directory, the first batch of their records fails with ENOSPC"
if command -v strace > /dev/null; then
  mkdir "$T/full"; blob9=$(st b2 1-9); printf 'blob\n' > "$blob9"
  python3 - "$T/full" "$blob9" > "$tmp/p9.json" <<'PY'
import json, sys
d, blob = sys.argv[1], sys.argv[2]
print(json.dumps([{"kind": "PLACE", "path": f"{d}/new{i}", "keep": ["C", blob], "pre": {"mode": 0o100640}} for i in range(3000)]))
PY
  mkplan "$tmp/p9" < "$tmp/p9.json"
  id9=$(newid)
  # writes: the first PLACE's record, its directory's, a journal entry, then the first batch
  SHIT_CMD=$id9 strace -o /dev/null -e trace=write -e inject=write:error=ENOSPC:when=4 "$apply" "$tmp/p9" undo 00000000000000b2 2> "$tmp/err9"; rc=$?
  check "plan 9: exit 4 when batched records were lost (rc $rc)" [ $rc = 4 ]
  check "plan 9: it says so" grep -q "cannot record every step: No space left on device" "$tmp/err9"
  check "plan 9: no END" [ "$(dump "$SHIT_STATE/spool/$id9.spool" | grep -c '^END')" = 0 ]
  SHIT_CMD=$id9 "$apply" "$tmp/p9" undo 00000000000000b2; rc=$?
  check "plan 9: the re-run finishes (rc $rc)" [ $rc = 0 ]
  steps9=$(dump "$SHIT_STATE/spool/$id9.spool" | sed -n 's/^OPEN .*STEP=\([0-9]*\).*/\1/p' | sort -un | wc -l)
  check "plan 9: every step on record ($steps9 of 3000)" [ "$steps9" = 3000 ]
else
  echo "skip plan 9: no strace"
fi

# ---------------------------------------------------------------- 10. a directory taken whole, its batch lost
# A directory whose files are all removed goes into staging in one move, its files' UNLINK
# records batched and written just before it. When that write fails (a full disk: strace makes it
# fail with ENOSPC), the move must not happen: sp_batch(0) had written (and emptied) the batch, so
# the flush after it found nothing to fail on and the directory moved with 39 of its 40 files on
# no record (before: 40 staged, 1 UNLINK; the undo then put back only the files on record, and a
# re-run found the directory gone and recorded nothing). Now the files are removed one by one,
# each on record, and shit-apply exits 4 as for any lost batch.
echo "--- plan 10: a directory of 40 files taken whole, the batch of their records fails with ENOSPC"
if command -v strace > /dev/null; then
  mkdir "$T/whole"; for i in $(seq 1 40); do echo "$i" > "$T/whole/f$i"; done
  python3 - "$T/whole" > "$tmp/p10.json" <<'PY'
import json, sys
d = sys.argv[1]
steps = [{"kind": "REMOVE", "path": f"{d}/f{i}", "pre": {"lstat": f"{d}/f{i}"}} for i in range(1, 41)]
print(json.dumps(steps + [{"kind": "REMOVE", "path": d, "pre": {"lstat": d}}]))
PY
  mkplan "$tmp/p10" < "$tmp/p10.json"
  id10=$(newid)
  # writes: BEGIN, the first file's UNLINK (at once), then the batch of the other 39
  SHIT_CMD=$id10 strace -o /dev/null -e trace=write -e inject=write:error=ENOSPC:when=3 "$apply" "$tmp/p10" redo 00000000000000c1 2> "$tmp/err10"; rc=$?
  check "plan 10: exit 4 when the batch was lost (rc $rc)" [ $rc = 4 ]
  dump "$SHIT_STATE/spool/$id10.spool" > "$tmp/d10"
  staged10=0 unrecorded10=0
  for f in "$SHIT_STATE/staging/$id10"/*/*; do
    [ -e "$f" ] || continue
    staged10=$((staged10 + 1))
    k=${f#"$SHIT_STATE/staging/"}
    grep -q "^UNLINK .*KEEP=R$k " "$tmp/d10" || unrecorded10=$((unrecorded10 + 1))
  done
  check "plan 10: the 40 files are staged ($staged10)" [ $staged10 = 40 ]
  check "plan 10: every staged file on an UNLINK record ($unrecorded10 on none)" [ $unrecorded10 = 0 ]
  SHIT_CMD=$id10 "$apply" "$tmp/p10" redo 00000000000000c1; rc=$?
  check "plan 10: the re-run finishes (rc $rc)" [ $rc = 0 ]
else
  echo "skip plan 10: no strace"
fi

# ---------------------------------------------------------------- 11. the journal of the EXPECTs cannot be written
# The EXPECTs pass and go on the journal before anything changes, so a re-run does not take this
# run's own changes for conflicts. When that journal write fails (a full disk: strace fails it and
# the one after the reserve's room was given), nothing may change: before, the run went on, and
# its re-run met the directory it had made as a conflict ("exists now, expected absent", exit 3).
echo "--- plan 11: the journal write of the EXPECTs fails with ENOSPC"
if command -v strace > /dev/null; then
  k11=$(st c2 1-11); echo eleven > "$k11"
  cat > "$tmp/p11.json" <<EOF
[
 {"kind": "EXPECT", "path": "$T/d11"},
 {"kind": "PLACE", "path": "$T/d11", "pre": {"mode": $((040755))}},
 {"kind": "PLACE", "path": "$T/d11/f", "keep": ["C", "$k11"], "pre": {"mode": $((0100644))}}
]
EOF
  mkplan "$tmp/p11" < "$tmp/p11.json"
  id11=$(newid)
  # writes: BEGIN, then the journal's entries for the EXPECTs, and again after the reserve gave room
  SHIT_CMD=$id11 strace -o /dev/null -e trace=write -e inject=write:error=ENOSPC:when=2..3 "$apply" "$tmp/p11" undo 00000000000000c2 2> "$tmp/err11"; rc=$?
  check "plan 11: exit 4 (rc $rc)" [ $rc = 4 ]
  check "plan 11: it says so" grep -q "cannot write the journal: No space left on device" "$tmp/err11"
  check "plan 11: nothing changed" [ ! -e "$T/d11" ]
  SHIT_CMD=$id11 "$apply" "$tmp/p11" undo 00000000000000c2; rc=$?
  check "plan 11: the re-run finishes (rc $rc)" [ $rc = 0 ]
  check "plan 11: the file is placed" content "$T/d11/f" eleven
else
  echo "skip plan 11: no strace"
fi

# What shit-apply keeps per step (a slot of 64 bytes, the journal's marks, the tables of paths) is
# written out to a file it maps and lets go with the plan's pages (issue 15, Scale): its peak
# resident memory does not grow with the step count. 300k steps with a 1 MiB window: ~6 MiB
# (by /proc VmHWM), where the slots, the table of REMOVEs and glibc's qsort copy of it took ~24.
echo "--- plan 12: 300k steps, the resident memory bounded by the window"
k12=$(st c3 1-12); echo twelve > "$k12"
echo bye > "$T/gone12"
python3 - "$tmp/p12" "$T" "$k12" "$here" <<'PY'
import sys
out, T, k, here = sys.argv[1:]
sys.path.insert(0, here)
from spoolfmt import record, STEPNUM
n = 150000
with open(out, "wb") as fh:
    fh.write(b"".join(record(STEPNUM["STEP_EXPECT"], [("PATH", "%s/none12/f%06d" % (T, i))]) for i in range(n)))
    fh.write(record(STEPNUM["STEP_PLACE"], [("PATH", T + "/d12"), ("PRE", {"mode": 0o40755})]))
    fh.write(record(STEPNUM["STEP_PLACE"], [("PATH", T + "/d12/f"), ("PRE", {"mode": 0o100644}), ("KEEP", ("C", k))]))
    fh.write(b"".join(record(STEPNUM["STEP_REMOVE"], [("PATH", "%s/none12/g%06d" % (T, i))]) for i in range(n)))
    fh.write(record(STEPNUM["STEP_REMOVE"], [("PATH", T + "/gone12")]))
PY
id12=$(newid)
# its peak resident memory (KiB) by GNU time (a parent that is small: the maxrss of a child counts
# what it was forked from), and its exit code
if [ -x /usr/bin/time ]; then
  peak12=$(SHIT_CMD=$id12 SHIT_APPLY_WINDOW=1048576 /usr/bin/time -f "%M %x" "$apply" "$tmp/p12" undo 00000000000000c3 2>&1 | tail -1)
else
  SHIT_CMD=$id12 SHIT_APPLY_WINDOW=1048576 "$apply" "$tmp/p12" undo 00000000000000c3
  peak12="- $?"
fi
check "plan 12: exit 0 ($peak12)" [ "${peak12#* }" = 0 ]
check "plan 12: the directory and its file placed" content "$T/d12/f" twelve
check "plan 12: the file removed" [ ! -e "$T/gone12" ]
check "plan 12: every step journaled" [ "$(stat -c %s "$SHIT_STATE/run/$id12.journal")" = $(((2 * 150000 + 3) * 4)) ]
if [ -x /usr/bin/time ]; then
  check "plan 12: peak resident memory under 12 MiB (${peak12% *} KiB)" [ "${peak12% *}" -lt 12288 ]
else
  echo "skip plan 12's peak: no /usr/bin/time"
fi

echo
if [ $fails = 0 ]; then echo "apply-smoke: all checks passed"; else echo "apply-smoke: $fails check(s) failed"; fi
[ $fails = 0 ]
