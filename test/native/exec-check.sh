#!/usr/bin/env bash
# exec-check.sh — starting a program that runs outside capture (setuid/setgid, statically linked)
# is said and recorded (docs/SPOOL.md: NOTCAPTURED with flags 19 = EXEC), by `shit run` for its
# command and by the shim for every exec/spawn of a captured process; programs that do load the
# shim are not flagged, and the calls behave exactly as without the shim.
# Uses the real bin/shit, native/build/{shit-run,libshit.so}, cc (-static) and python3.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
shit=$root/bin/shit
lib=$root/native/build/libshit.so
{ [ -x "$root/native/build/shit-run" ] && [ -f "$lib" ]; } || { echo "FAIL missing native/build (make -C native)"; exit 1; }
tmp=$(mktemp -d /tmp/shit-exec-check.XXXXXX)
chmod 755 "$tmp"
# shellcheck disable=SC2064 # $tmp is expanded now, on purpose
trap "[ -n \"\${KEEP_TMP:-}\" ] || rm -rf \"$tmp\"" EXIT
unset XDG_STATE_HOME SHIT_CMD SHIT_STATE SHIT_CMD_FILE
# what is said and recorded for programs outside capture: `shit run`'s seccomp tier (which captures a
# static program it starts itself) is off here; the section "seccomp tier" at the end turns it on
export SHIT_DAEMON=off LC_ALL=C SHIT_SECCOMP=off
PY=$(python3 -c "import sys; print(sys.executable)")  # the interpreter itself, not a pyenv shim script
fails=0 n=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
dump() { python3 "$here/dumpspool.py" "$@"; }

STATIC_NOTE="statically linked: changes it makes are not captured"
SETUID_NOTE="setuid program: changes it makes are not captured"
SETGID_NOTE="setgid program: changes it makes are not captured"

# sr ARGS...: `shit run -- ARGS` with a fresh state dir; sets rc, err (stderr), sp (the spool's dump)
sr() {
  n=$((n + 1))
  export SHIT_HOME=$tmp/state$n
  "$shit" run -- "$@" > "$tmp/out$n" 2> "$tmp/err$n"
  rc=$?
  err=$(cat "$tmp/err$n")
  sp=$(for f in "$SHIT_HOME"/spool/*.spool; do [ -f "$f" ] && dump "$f"; done)
}
# flagged NOTE PATH: the spool has exactly one NOTCAPTURED exec record, for PATH with NOTE
flagged() {
  local lines
  lines=$(grep '^NOTCAPTURED ' <<<"$sp")
  [ "$(grep -c . <<<"$lines")" = 1 ] && grep -q 'flags=0x13 ' <<<"$lines" &&
    grep -qF "NOTE=$1 " <<<"$lines" && grep -qE "PATH=$2( |\$)" <<<"$lines"
}
notflagged() { ! grep -q '^NOTCAPTURED ' <<<"$sp"; }
opened() { grep -qE "^OPEN .*PATH=$1( |\$)" <<<"$sp"; } # the write to PATH was captured

# ---- programs ----
cat > "$tmp/w.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {      /* w FILE [STATUS]: writes FILE, exits STATUS */
  FILE *f = fopen(argc > 1 ? argv[1] : "out", "w");
  if (!f) return 99;
  fputs("written\n", f);
  fclose(f);
  return argc > 2 ? atoi(argv[2]) : 0;
}
EOF
mkdir -p "$tmp/bin" "$tmp/work"
cc -O1 -o "$tmp/bin/wdyn" "$tmp/w.c" || { echo "FAIL cc"; exit 1; }
have_static=1
cc -O1 -static -o "$tmp/bin/wstatic" "$tmp/w.c" 2>/dev/null || have_static=0
cd "$tmp/work" || exit 1

if [ $have_static = 0 ]; then
  echo "SKIP static cases: no static libc here (cc -static failed; apt-get install libc6-dev provides libc.a)"
else
  sr "$tmp/bin/wstatic" "$tmp/work/s1" 3
  check "static: same exit status (3, got $rc)" [ $rc = 3 ]
  check "static: the program ran (its file is there)" [ -f "$tmp/work/s1" ]
  check "static: one stderr line ($err)" [ "$err" = "shit: $tmp/bin/wstatic is statically linked: what it changes is not recorded (and cannot be undone)" ]
  check "static: NOTCAPTURED exec record with the program's path" flagged "$STATIC_NOTE" "$tmp/bin/wstatic"
  check "static: its write is (indeed) not in the spool" bash -c "! grep -q 'PATH=$tmp/work/s1' <<<'$sp'"

  # shit show: text and --json
  id=$(basename "$(find "$SHIT_HOME/spool" -name '*.spool' | head -1)" .spool)
  show=$("$shit" show "$id" 2>&1)
  check "shit show: 'not captured: PATH — NOTE' line" grep -qF "not captured: $tmp/bin/wstatic — $STATIC_NOTE" <<<"$show"
  check "shit show: counted as not captured" grep -q "^effects .*1 not captured" <<<"$show"
  "$shit" show --json "$id" > "$tmp/show.json" 2>&1
  check "shit show --json: event op notcaptured, concerns exec, path, note" "$PY" - "$tmp/show.json" "$tmp/bin/wstatic" "$STATIC_NOTE" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
ev = [e for e in j["events"] if e["op"] == "notcaptured"]
assert len(ev) == 1, ev
e = ev[0]
assert e["concerns"] == "exec" and e["path"] == sys.argv[2] and e["note"] == sys.argv[3], e
EOF
  undo=$("$shit" undo --dry-run "$id" 2>&1)
  check "shit undo: says what cannot be undone ($undo)" grep -qF "$tmp/bin/wstatic: $STATIC_NOTE" <<<"$undo"

  # found through PATH, as a shell finds it
  PATH=$tmp/bin:$PATH sr wstatic "$tmp/work/s2"
  check "static by name via PATH: the line names it as typed" [ "$err" = "shit: wstatic is statically linked: what it changes is not recorded (and cannot be undone)" ]
  check "static by name via PATH: record" flagged "$STATIC_NOTE" "$tmp/bin/wstatic"

  if cc -O1 -static-pie -o "$tmp/bin/wspie" "$tmp/w.c" 2>/dev/null; then
    sr "$tmp/bin/wspie" "$tmp/work/s3"
    check "static-pie: flagged" flagged "$STATIC_NOTE" "$tmp/bin/wspie"
  else
    echo "SKIP static-pie: cc -static-pie not supported here"
  fi

  # a script whose interpreter is static: judged by the interpreter
  printf '#!%s %s\n' "$tmp/bin/wstatic" "$tmp/work/by-script" > "$tmp/bin/scr"   # writes its argument
  chmod 755 "$tmp/bin/scr"
  sr "$tmp/bin/scr"
  check "#! script with a static interpreter: line names both ($err)" [ "$err" = "shit: $tmp/bin/scr runs $tmp/bin/wstatic, which is statically linked: what it changes is not recorded (and cannot be undone)" ]
  check "#! script with a static interpreter: record names the interpreter" flagged "$STATIC_NOTE" "$tmp/bin/wstatic"

  # the shim: a recorded shell (bash, preloaded) forks; its child's execve is looked at
  sr bash -c "'$tmp/bin/wstatic' '$tmp/work/b1'; '$tmp/bin/wdyn' '$tmp/work/b2'; exit 4"
  check "bash -c: exit status kept (4, got $rc)" [ $rc = 4 ]
  check "bash -c: no stderr line (bash itself is captured: '$err')" [ -z "$err" ]
  check "bash -c: the static child is recorded as not captured" flagged "$STATIC_NOTE" "$tmp/bin/wstatic"
  check "bash -c: the dynamic child's write is captured" opened "$tmp/work/b2"
  sr bash -c "exec '$tmp/bin/wstatic' '$tmp/work/b3'"
  check "bash exec (no fork): recorded" flagged "$STATIC_NOTE" "$tmp/bin/wstatic"
  sr bash -c "'$tmp/bin/scr'"
  check "bash running a #! script with a static interpreter: recorded" flagged "$STATIC_NOTE" "$tmp/bin/wstatic"

  # python: os.execvp (PATH search then execv), posix_spawnp, posix_spawn, fexecve, execl*
  # through ctypes, raw syscall(SYS_execveat)
  cat > "$tmp/py.py" <<'EOF'
import ctypes, os, sys
how, target = sys.argv[1], sys.argv[2]
out = sys.argv[3] if len(sys.argv) > 3 else "/dev/null"
args = [os.path.basename(target), out]
if how == "execvp":
    os.execvp(target, args)
elif how in ("posix_spawnp", "posix_spawn"):
    pid = getattr(os, how)(target, args, os.environ)
    _, st = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(st))
elif how == "fexecve":
    fd = os.open(target, os.O_RDONLY)
    os.execve(fd, args, os.environ)
elif how in ("execl", "execlp"):
    libc = ctypes.CDLL(None, use_errno=True)
    f = getattr(libc, how)
    f.restype = ctypes.c_int
    r = f(target.encode(), args[0].encode(), out.encode(), None)
    sys.exit(100 + ctypes.get_errno())
elif how == "execveat":
    libc = ctypes.CDLL(None, use_errno=True)
    argv = (ctypes.c_char_p * 3)(args[0].encode(), out.encode(), None)
    envp = (ctypes.c_char_p * 1)(None)
    libc.syscall.restype = ctypes.c_long
    libc.syscall(ctypes.c_long(322), ctypes.c_long(-100), ctypes.c_char_p(target.encode()), argv, envp, ctypes.c_long(0))
    sys.exit(100 + ctypes.get_errno())
elif how == "errors":
    # the calls fail exactly as without the shim: errno and exceptions unchanged
    res = []
    try: os.execvp("no-such-program-xyz", ["x"])
    except OSError as e: res.append(e.errno)
    try: os.execv(target, [target])                  # not executable
    except OSError as e: res.append(e.errno)
    try: os.posix_spawnp("no-such-program-xyz", ["x"], os.environ)
    except OSError as e: res.append(e.errno)
    print(res)
EOF
  for how in execvp posix_spawnp posix_spawn fexecve execl execlp; do
    t=$tmp/bin/wstatic
    case $how in execvp|posix_spawnp|execlp) t=wstatic ;; esac
    PATH=$tmp/bin:$PATH sr "$PY" "$tmp/py.py" $how "$t" "$tmp/work/p-$how"
    check "python $how: the program ran (rc $rc)" [ -f "$tmp/work/p-$how" ] 
    check "python $how: recorded" flagged "$STATIC_NOTE" "$tmp/bin/wstatic"
  done
  if [ "$(uname -m)" = x86_64 ]; then
    sr "$PY" "$tmp/py.py" execveat "$tmp/bin/wstatic" "$tmp/work/p-execveat"
    check "syscall(SYS_execveat): ran and recorded" bash -c "[ -f '$tmp/work/p-execveat' ] && $(declare -f flagged); sp=\$(cat); flagged '$STATIC_NOTE' '$tmp/bin/wstatic'" <<<"$sp"
  fi
  echo 'echo hi' > "$tmp/noexec"
  chmod 644 "$tmp/noexec"
  sr "$PY" "$tmp/py.py" errors "$tmp/noexec"
  plain=$(env -u LD_PRELOAD "$PY" "$tmp/py.py" errors "$tmp/noexec")
  check "errno after failing calls is the real call's ($(cat "$tmp/out$n") vs plain $plain)" [ "$(cat "$tmp/out$n")" = "$plain" ]
  check "failing calls: nothing recorded" notflagged

  # PATH search as glibc does it: a non-executable file of that name earlier in PATH is skipped
  mkdir -p "$tmp/p1" "$tmp/p2" "$tmp/p3"
  cp "$tmp/bin/wstatic" "$tmp/p1/prog"; chmod 644 "$tmp/p1/prog"
  cp "$tmp/bin/wdyn" "$tmp/p2/prog"
  PATH=$tmp/p1:$tmp/p2:$PATH sr "$PY" "$tmp/py.py" execvp prog "$tmp/work/p-search1"
  check "execvp skips a non-executable static file earlier in PATH (runs the dynamic one: not flagged)" notflagged
  check "execvp: the dynamic program's write is captured" opened "$tmp/work/p-search1"
  cp "$tmp/bin/wdyn" "$tmp/p3/prog"; chmod 644 "$tmp/p3/prog"
  cp "$tmp/bin/wstatic" "$tmp/p2/prog"
  sr env PATH="$tmp/p3:$tmp/p2" "$PY" "$tmp/py.py" posix_spawnp prog "$tmp/work/p-search2"
  check "posix_spawnp finds the static program after a non-executable one: flagged" flagged "$STATIC_NOTE" "$tmp/p2/prog"

  # capture off (no SHIT_CMD): the shim is preloaded but writes nothing
  mkdir -p "$tmp/off"
  SHIT_STATE=$tmp/off LD_PRELOAD=$lib bash -c "'$tmp/bin/wstatic' '$tmp/work/off1'"
  check "capture off: the program ran, nothing written to the state dir" bash -c "[ -f '$tmp/work/off1' ] && [ -z \"\$(ls -A '$tmp/off')\" ]"

  # shit's own programs: a recorded shell running `shit run` starts the static shit-run
  sr bash -c "'$shit' run -- true"
  check "shit-run started from a recorded shell is not flagged" notflagged
fi

# ---- dynamic programs are captured, not flagged ----
sr "$tmp/bin/wdyn" "$tmp/work/d1"
check "dynamic: no stderr line ('$err')" [ -z "$err" ]
check "dynamic: not flagged" notflagged
check "dynamic: its write is captured" opened "$tmp/work/d1"

# ---- set-ID ----
# A setuid copy of a binary this user owns changes no identity: the loader keeps LD_PRELOAD.
cp "$tmp/bin/wdyn" "$tmp/bin/wsuid-own"
chmod u+s "$tmp/bin/wsuid-own"
sr "$tmp/bin/wsuid-own" "$tmp/work/u1"
check "setuid copy owned by this user: not flagged" notflagged
check "setuid copy owned by this user: its write is captured" opened "$tmp/work/u1"
sr bash -c "'$tmp/bin/wsuid-own' '$tmp/work/u2'"
check "setuid own copy from a recorded shell: not flagged, write captured" bash -c "$(declare -f notflagged opened); sp=\$(cat); notflagged && opened '$tmp/work/u2'" <<<"$sp"

if [ "$(id -u)" = 0 ]; then
  # root: a setuid copy owned by another user does change identity (AT_SECURE)
  cp "$tmp/bin/wdyn" "$tmp/bin/wsuid-other"
  chown 65534 "$tmp/bin/wsuid-other"
  chmod 4755 "$tmp/bin/wsuid-other"
  sr "$tmp/bin/wsuid-other" /dev/null
  check "root: setuid file owned by another user: the line ($err)" [ "$err" = "shit: $tmp/bin/wsuid-other is a setuid program: what it changes is not recorded (and cannot be undone)" ]
  check "root: setuid file owned by another user: record" flagged "$SETUID_NOTE" "$tmp/bin/wsuid-other"
  sr bash -c "'$tmp/bin/wsuid-other' /dev/null"
  check "root: the same from a recorded shell: record" flagged "$SETUID_NOTE" "$tmp/bin/wsuid-other"
  # and a setuid-root program run by root is its own user: not flagged (the shim is loaded)
  suid=$(find /usr/bin /bin -maxdepth 1 -type f -user root -perm -4000 -name mount 2>/dev/null | head -1)
  if [ -n "$suid" ]; then
    sr "$suid" --version
    check "root running setuid-root $suid: not flagged" notflagged
  fi
else
  # an unprivileged user: a real setuid-root program, run harmlessly
  suid=
  for c in mount su passwd chfn; do
    p=$(command -v $c 2>/dev/null) || continue
    p=$(readlink -f "$p")
    [ -u "$p" ] && [ "$(stat -c %u "$p")" = 0 ] && { suid=$p; break; }
  done
  if [ -z "$suid" ]; then
    echo "SKIP setuid-root: no setuid-root mount/su/passwd/chfn here"
  else
    case ${suid##*/} in mount) a=--version ;; *) a=--help ;; esac
    sr "$suid" $a
    check "setuid-root ${suid##*/} $a run by $(id -un): the line ($err)" grep -qxF "shit: $suid is a setuid program: what it changes is not recorded (and cannot be undone)" <<<"$err"
    check "setuid-root ${suid##*/}: record" flagged "$SETUID_NOTE" "$suid"
    sr bash -c "'$suid' $a >/dev/null 2>&1; true"
    check "setuid-root ${suid##*/} from a recorded shell: record" flagged "$SETUID_NOTE" "$suid"
    PATH=/usr/bin:/bin:/usr/sbin:/sbin sr "$PY" "$tmp/py.py" posix_spawnp "${suid##*/}"
    check "setuid-root ${suid##*/} via posix_spawnp: record" flagged "$SETUID_NOTE" "$suid"
  fi
fi

# setgid to a group this process is not in as its effective group (chage, expiry: group shadow)
sgid=
for c in chage expiry; do
  p=$(command -v $c 2>/dev/null) || continue
  p=$(readlink -f "$p")
  [ -g "$p" ] && [ "$(stat -c %g "$p")" != "$(id -g)" ] && { sgid=$p; break; }
done
if [ -z "$sgid" ]; then
  echo "SKIP setgid: no setgid chage/expiry here"
else
  sr bash -c "'$sgid' --help >/dev/null 2>&1; true"
  check "setgid ${sgid##*/} from a recorded shell: record" flagged "$SETGID_NOTE" "$sgid"
fi

# ---- the seccomp tier (native/supervise): a static program `shit run` starts is captured ----
if [ $have_static = 1 ]; then
  SHIT_SECCOMP=on sr "$tmp/bin/wstatic" "$tmp/work/sc1" 5
  check "seccomp tier: same exit status (5, got $rc)" [ $rc = 5 ]
  check "seccomp tier: nothing said ($err)" [ -z "$err" ]
  check "seccomp tier: no NOTCAPTURED" notflagged
  check "seccomp tier: the write is captured" opened "$tmp/work/sc1"
  SHIT_SECCOMP=on sr "$tmp/bin/scr"
  check "seccomp tier: a #! script with a static interpreter is captured" opened "$tmp/work/by-script"
  check "seccomp tier: #! script: no NOTCAPTURED" notflagged
  # started by a dynamic program in a captured command: the shim hands the exec to shit-run (joined)
  SHIT_SECCOMP=on sr bash -c "'$tmp/bin/wstatic' '$tmp/work/sc2' 6; echo \$?"
  check "seccomp tier via the shim: the static child's exit status reaches bash ($(cat "$tmp/out$n"))" [ "$(cat "$tmp/out$n")" = 6 ]
  check "seccomp tier via the shim: nothing said ($err)" [ -z "$err" ]
  check "seccomp tier via the shim: no NOTCAPTURED" notflagged
  check "seccomp tier via the shim: the write is captured" opened "$tmp/work/sc2"
  check "seccomp tier via the shim: one BEGIN, one END (no command of its own)" [ "$(grep -c '^BEGIN' <<<"$sp")$(grep -c '^END' <<<"$sp")" = 11 ]
fi

echo
if [ $fails = 0 ]; then echo "exec-check: all checks passed"; else echo "exec-check: $fails check(s) failed"; fi
[ $fails = 0 ]
