#!/usr/bin/env bash
# shellcheck disable=SC2317 # the s_* fixture setups are called by name, through run_case
# shim-smoke.sh — the LD_PRELOAD shim against real tools.
#
# Every case builds the same fixture twice at the same path and runs the same command line, once
# plain and once under the shim (SHIT_CMD/SHIT_STATE set, bash itself preloaded too). It checks:
#   - exit status, stdout, stderr and the resulting tree are identical;
#   - the spool parses to the last byte, paths are absolute, nothing under the state dir;
#   - every KEEP's staged file holds the pre-image (same bytes; R/L: the very same inode);
#   - the keeps the case expects (OP:HOW) were made; no NOTE / NOTCAPTURED.
# Then: SHIT_CMD switching inside one preloaded bash, staging on another filesystem (EXDEV ->
# copy), and timings of rm -rf on 10k small files (plain vs shim).
#
# usage: test/native/shim-smoke.sh [case-name-substring]     (BENCH=0 skips the timing part)
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
make -s -C "$ROOT/native" build/libshit.so || exit 1
LIB=$ROOT/native/build/libshit.so
CHK="python3 $ROOT/test/native/shimcheck.py"
TMP=$(mktemp -d /tmp/shim-smoke.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
CMDID=0123456789abcdef
ST=$TMP/state
W=$TMP/w
ONLY=${1:-}
cc -O2 -D_FORTIFY_SOURCE=2 -pthread -o "$TMP/shim-prog" "$ROOT/test/native/shim-prog.c" || exit 1
PROG=$TMP/shim-prog
pass=0 fail=0

fresh_state() { rm -rf "$ST"; mkdir -p "$ST/spool" "$ST/staging/$CMDID"; }

# run_case NAME SETUP-FUNCTION 'COMMAND LINE' [OP:HOW ...]
run_case() {
  local name=$1 setup=$2 cmdline=$3; shift 3
  [[ -n $ONLY && $name != *$ONLY* ]] && return
  local mode ok=1
  for mode in plain shim; do
    rm -rf "$W"; mkdir -p "$W"
    (cd "$W" && $setup) >/dev/null 2>&1
    fresh_state
    $CHK snap "$W" "$TMP/snap.json"
    if [[ $mode == plain ]]; then
      (cd "$W" && bash -c "$cmdline") >"$TMP/plain.out" 2>"$TMP/plain.err"
    else
      (cd "$W" && env LD_PRELOAD="$LIB" SHIT_STATE="$ST" SHIT_CMD=$CMDID bash -c "$cmdline") \
        >"$TMP/shim.out" 2>"$TMP/shim.err"
    fi
    echo $? >"$TMP/$mode.rc"
    $CHK tree "$W" >"$TMP/$mode.tree"
  done
  for f in rc out err tree; do
    if ! cmp -s "$TMP/plain.$f" "$TMP/shim.$f"; then
      ok=0; echo "  FAIL $f differs:"; diff "$TMP/plain.$f" "$TMP/shim.$f" | head -10 | sed 's/^/    /'
    fi
  done
  local ex=()
  for e in "$@"; do ex+=(--expect "$e"); done
  $CHK check "$ST" $CMDID "$TMP/snap.json" --forbid-under "$ST" "${ex[@]}" || ok=0
  if ((ok)); then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name ($cmdline)"; fi
}

mk_tree() {
  mkdir -p d/sub/deeper d/empty
  for i in $(seq 1 40); do echo "file $i" >"d/f$i"; done
  echo deep >d/sub/deeper/x; printf 'bin\0\1\2' >d/sub/bin
  echo shared >d/hard1; ln d/hard1 d/hard2
  ln -s f1 d/link; ln -s /nonexistent d/dangling
  mkfifo d/fifo; echo sp >'d/with space'; echo raw >"d/$(printf 'lat\xe9')"
  echo big >d/big; seq 1 400000 >>d/big
}
s_rm() { mk_tree; }
s_files() { echo alpha >a; echo beta >b; echo gamma >c; mkdir dd; echo in >dd/x; }
s_hard() { s_files; ln b b2; }
s_tar() { mk_tree; tar --mtime=@0 --sort=name -cf ../t.tar d; echo changed >d/f1; rm d/f2; echo new >d/extra; mv ../t.tar .; }
s_git() {
  git init -q . && echo one >f && echo two >g && git add f g &&
    git -c user.email=t@t -c user.name=t commit -qm i && echo dirty >f && echo dirty >g
}
s_errno() { echo 1 >e1; echo 2 >e2; mkdir edir; mkdir -p edir2/x; }
s_misc() { for i in 1 2 3 4 5 7 8 9; do echo "content $i" >"m$i"; done; }
s_meta() { s_files; }

run_case rm-rf s_rm 'rm -rf d' UNLINK:R UNLINK:C
run_case rm-fails s_files 'rm nonexist; rm dd; echo $?; rmdir dd; rm -r dd' UNLINK:R
run_case mv-over s_files 'mv a b && mv dd ee && mv c ee/' RENAME:L
run_case mv-over-hardlinked s_hard 'mv a b' RENAME:C
run_case sed-i s_files 'sed -i s/a/A/ a b c' RENAME:L
run_case cp-over s_files 'cp a b && cp -r dd dd2 && cp -f c dd/x' OPEN:C
run_case tar-x s_tar 'tar xf t.tar' UNLINK:R
run_case py-replace s_files 'python3 -c "import os; os.replace(\"a\", \"b\"); os.rename(\"dd\", \"d2\")"' RENAME:L
run_case py-rmtree s_rm 'python3 -c "import shutil; shutil.rmtree(\"d\")"' UNLINK:R UNLINK:C
run_case py-write s_files 'python3 -c "open(\"a\",\"w\").write(\"new\"); open(\"b\",\"a\").write(\"more\"); open(\"n\",\"x\").write(\"x\")"' OPEN:C
run_case bash-redirect s_files 'echo x > a; echo y >> b; echo z > new; : > c' OPEN:C
run_case dash-redirect s_files 'dash -c "echo x > a; echo y >> b; echo z > new"' OPEN:C
export GIT_AUTHOR_DATE='2020-01-01T00:00:00Z' GIT_COMMITTER_DATE='2020-01-01T00:00:00Z'
run_case git-checkout s_git 'git checkout -- f && git -c user.email=t@t -c user.name=t stash -q && git status --short' UNLINK:R
run_case perl-pi s_files 'perl -pi -e s/a/A/ a b' RENAME:L
# truncate(1) opens O_WRONLY first: that open keeps the full copy, the ftruncate refers to it (E)
run_case truncate s_files 'truncate -s 2 a && truncate -s 100 b && truncate -s 0 c' OPEN:C TRUNCATE:E
run_case dd-notrunc s_files 'dd if=c of=a conv=notrunc status=none' OPEN:C
run_case meta s_meta 'chmod 600 a && chmod 755 dd && touch -d @0 b && ln a h && ln -s a s && mkdir nd && mkfifo ff && python3 -c "import os; os.setxattr(\"c\", b\"user.k\", b\"v1\"); os.setxattr(\"c\", b\"user.k\", b\"v2\"); os.removexattr(\"c\", b\"user.k\")"'
run_case c-errno s_errno "$PROG errno ." UNLINK:R
run_case c-misc s_misc "$PROG misc ." OPEN:C TRUNCATE:T UNLINK:R
# each file is rewritten (O_TRUNC: copy) before the rename over it, so the rename finds it kept (E)
run_case c-threads s_files "$PROG threads ." OPEN:C RENAME:E UNLINK:R
run_case c-created s_files "$PROG created ."
run_case c-spawn s_files "$PROG spawn ." OPEN:C
run_case py-spawn s_files 'python3 -c "import os; os.waitpid(os.posix_spawn(\"/bin/echo\", [\"echo\", \"x\"], os.environ, file_actions=[(os.POSIX_SPAWN_OPEN, 1, \"b\", os.O_WRONLY | os.O_TRUNC, 0)]), 0)"' OPEN:C
if command -v node >/dev/null; then
  run_case node s_rm 'node -e "const fs=require(\"fs\"); fs.writeFileSync(\"d/f1\",\"n\"); fs.renameSync(\"d/f2\",\"d/f3\"); fs.chmodSync(\"d/f4\",0o600); fs.rmSync(\"d\",{recursive:true})"' UNLINK:R OPEN:C RENAME:L
fi

# ---- targeted checks ----
if [[ -z $ONLY || shell-switch == *$ONLY* ]]; then
  rm -rf "$W"; mkdir -p "$W"; cd "$W" || exit 1; s_files; fresh_state
  mkdir -p "$ST/staging/fedcba9876543210"
  env LD_PRELOAD="$LIB" SHIT_STATE="$ST" SHIT_CMD=$CMDID bash -c 'echo 1 > a; export SHIT_CMD=fedcba9876543210; echo 2 > b; unset SHIT_CMD; echo 3 > c'
  n1=$(python3 "$ROOT/test/native/dumpspool.py" "$ST/spool/$CMDID.spool" | grep -c '^OPEN.*PATH=.*/a ')
  n2=$(python3 "$ROOT/test/native/dumpspool.py" "$ST/spool/fedcba9876543210.spool" | grep -c '^OPEN.*PATH=.*/b ')
  n3=$(cat "$ST"/spool/*.spool | grep -c "$W/c")
  if [[ $n1 == 1 && $n2 == 1 && $n3 == 0 ]]; then pass=$((pass + 1)); echo "ok   shell-switch (one preloaded bash, SHIT_CMD changed between commands)"
  else fail=$((fail + 1)); echo "FAIL shell-switch $n1 $n2 $n3"; fi
  cd /
fi

# metadata changes to files the process created in this command are not recorded (only their
# OPEN): through the fd, by path after close, after a rename, in a forked child. Changes to
# existing files are, and so are changes made once SHIT_CMD names another command.
if [[ -z $ONLY || created-here == *$ONLY* ]]; then
  rm -rf "$W"; mkdir -p "$W"; cd "$W" || exit 1; s_files; fresh_state
  env LD_PRELOAD="$LIB" SHIT_STATE="$ST" SHIT_CMD=$CMDID "$PROG" created . >/dev/null
  d=$(python3 "$ROOT/test/native/dumpspool.py" "$ST/spool/$CMDID.spool")
  o=$(python3 "$ROOT/test/native/dumpspool.py" "$ST/spool/fedcba9876543210.spool" 2>/dev/null)
  n1=$(grep -c "PATH=$W/n1 " <<<"$d"); n2=$(grep -c "PATH=$W/n2 " <<<"$d"); n3=$(grep -c "PATH=$W/n3 " <<<"$d")
  na=$(grep -c "^CHMOD.*PATH=$W/a " <<<"$d"); nb=$(grep -c "^CHMOD.*PATH=$W/b " <<<"$d")
  nt=$(grep -c "^OPEN.*PATH=$W/tmp" <<<"$d"); no=$(grep -c "^CHMOD.*PATH=$W/n1 " <<<"$o")
  if [[ "$n1 $n2 $n3 $na $nb $nt $no" == "1 1 0 1 1 1 1" ]]; then
    pass=$((pass + 1)); echo "ok   created-here (metadata of files created in this command not recorded)"
  else fail=$((fail + 1)); echo "FAIL created-here n1=$n1 n2=$n2 n3=$n3 a=$na b=$nb tmp=$nt other=$no"; grep -v '^EXEC' <<<"$d" | sed 's/^/    /'; fi
  cd /
fi

if [[ -z $ONLY || spawn-chdir == *$ONLY* ]]; then
  rm -rf "$W"; mkdir -p "$W"; cd "$W" || exit 1; s_files; fresh_state
  env LD_PRELOAD="$LIB" SHIT_STATE="$ST" SHIT_CMD=$CMDID "$PROG" spawn . chdir >/dev/null
  d=$(python3 "$ROOT/test/native/dumpspool.py" "$ST/spool/$CMDID.spool")
  if grep -q "^NOTCAPTURED.*chdir action" <<<"$d" && ! grep -q "PATH=$W/x " <<<"$d" && [[ $(cat dd/x) == spawned ]]; then
    pass=$((pass + 1)); echo "ok   spawn-chdir (relative addopen after a chdir action: NOTCAPTURED)"
  else fail=$((fail + 1)); echo "FAIL spawn-chdir"; grep -v '^EXEC' <<<"$d" | sed 's/^/    /'; fi
  cd /
fi

if [[ -z $ONLY || exdev == *$ONLY* ]] && [[ -d /dev/shm ]]; then
  SHM=$(mktemp -d /dev/shm/shim-smoke.XXXXXX)
  rm -rf "$W"; mkdir -p "$W"; cd "$W" || exit 1; s_files; $CHK snap "$W" "$TMP/snap.json"
  mkdir -p "$SHM/spool" "$SHM/staging/$CMDID"
  env LD_PRELOAD="$LIB" SHIT_STATE="$SHM" SHIT_CMD=$CMDID bash -c 'rm a && mv b c'
  if $CHK check "$SHM" $CMDID "$TMP/snap.json" --expect UNLINK:C --expect RENAME:C; then
    pass=$((pass + 1)); echo "ok   exdev (staging on tmpfs: unlink/rename fall back to copies)"
  else fail=$((fail + 1)); echo "FAIL exdev"; fi
  rm -rf "$SHM"; cd /
fi

if [[ -z $ONLY || no-staging == *$ONLY* ]]; then
  rm -rf "$W"; mkdir -p "$W"; cd "$W" || exit 1; s_files; rm -rf "$ST"; mkdir -p "$ST/spool"
  env LD_PRELOAD="$LIB" SHIT_STATE="$ST" SHIT_CMD=$CMDID rm a
  if compgen -G "$ST/staging/$CMDID/d$(stat -c %d "$W")-$(stat -c %i "$W")/a" >/dev/null; then
    pass=$((pass + 1)); echo "ok   no-staging (staging dir created on demand)"
  else fail=$((fail + 1)); echo "FAIL no-staging"; fi
  # unwritable spool: the call must still succeed
  rm -rf "$ST"; mkdir -p "$ST"; chmod 500 "$ST" 2>/dev/null
  touch x; env LD_PRELOAD="$LIB" SHIT_STATE=/proc/nonexistent SHIT_CMD=$CMDID rm x
  if [[ $? == 0 && ! -e x ]]; then pass=$((pass + 1)); echo "ok   spool-unwritable (call unaffected)"
  else fail=$((fail + 1)); echo "FAIL spool-unwritable"; fi
  chmod 700 "$ST"; cd /
fi

echo "passed $pass, failed $fail"

if [[ ${BENCH:-1} == 1 && -z $ONLY ]]; then
  echo "--- rm -rf of 10,000 small files (same ext4 filesystem as staging) ---"
  bench_tree() { rm -rf "$W"; mkdir -p "$W/b"; (cd "$W/b" && for i in $(seq 0 99); do mkdir "$i"; (cd "$i" && for j in $(seq 0 99); do echo "$i.$j" >"f$j"; done); done); sync; }
  for mode in plain shim plain shim; do
    bench_tree; fresh_state
    if [[ $mode == plain ]]; then
      t=$( { TIMEFORMAT='%R real %U user %S sys'; time rm -rf "$W/b"; } 2>&1 )
    else
      t=$( { TIMEFORMAT='%R real %U user %S sys'; time env LD_PRELOAD="$LIB" SHIT_STATE="$ST" SHIT_CMD=$CMDID rm -rf "$W/b"; } 2>&1 )
    fi
    echo "$mode: $t  (staged: $(find "$ST/staging/$CMDID" -type f | wc -l), spool: $(stat -c %s "$ST/spool/$CMDID.spool" 2>/dev/null || echo 0) bytes)"
  done
fi
exit $((fail > 0))
