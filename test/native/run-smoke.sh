#!/usr/bin/env bash
# shellcheck disable=SC2016 # the single-quoted $VARs are for the command's own shell
# run-smoke.sh — checks of native/build/shit-run: state dir, BEGIN/END, exit status and signals,
# exec failures, the no-capture fallback, LD_PRELOAD composition and the POST end-scan.
# Runs a copy of shit-run beside an empty libshit.so, so the real shim does not add records.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${SHIT_RUN:-$root/native/build/shit-run}
[ -x "$bin" ] || { echo "missing $bin (make -C native build/shit-run)"; exit 2; }
tmp=$(mktemp -d /tmp/shit-run-smoke.XXXXXX)
# shellcheck disable=SC2064 # $tmp is expanded now, on purpose
trap "[ -n \"\${KEEP_TMP:-}\" ] || rm -rf \"$tmp\"" EXIT
cp "$bin" "$tmp/shit-run"
echo 'void shit_dummy(void) {}' > "$tmp/d.c"
cc -shared -fPIC -o "$tmp/libshit.so" "$tmp/d.c"
run=$tmp/shit-run
export SHIT_HOME=$tmp/state
unset XDG_STATE_HOME SHIT_CMD SHIT_STATE
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
dump() { python3 "$here/dumpspool.py" "$@"; }
# shellcheck disable=SC2012 # the newest by mtime; the names are hex ids
last_spool() { ls -t "$SHIT_HOME"/spool/*.spool | head -1; }

out=$("$run" sh -c 'echo "$SHIT_CMD $SHIT_STATE $LD_PRELOAD"; exit 7'); rc=$?
# shellcheck disable=SC2086 # split into its three words
set -- $out
check "exit code passes through (7, got $rc)" [ $rc = 7 ]
ishex16() { [[ $1 =~ ^[0-9a-f]{16}$ ]]; }
check "SHIT_CMD is 16 hex digits ($1)" ishex16 "$1"
check "SHIT_STATE is the state dir" [ "$2" = "$SHIT_HOME" ]
check "LD_PRELOAD is the libshit.so beside shit-run" [ "$3" = "$tmp/libshit.so" ]
check "state layout (0700 dirs)" [ "$(stat -c %a "$SHIT_HOME" "$SHIT_HOME"/spool "$SHIT_HOME"/staging "$SHIT_HOME"/run | sort -u)" = 700 ]
check "staging/<id> made" [ -d "$SHIT_HOME/staging/$1" ]
sp=$SHIT_HOME/spool/$1.spool
check "BEGIN + END" [ "$(dump "$sp" | cut -c1-12 | tr -d ' ' | tr '\n' ' ')" = "BEGIN END " ]
check "BEGIN fields" bash -c "dump() { python3 '$here/dumpspool.py' \"\$@\"; }; dump '$sp' | head -1 | grep -q 'ARGV=sh -c .* CWD=$PWD KIND=run'"
check "END err=7" bash -c "python3 '$here/dumpspool.py' '$sp' | grep -q '^END .*err=7 flags=0x0'"

out=$(cd "$tmp" && SHIT_HOME=rel XDG_STATE_HOME="$tmp/xdg" "$run" sh -c 'echo $SHIT_STATE')
check "relative SHIT_HOME ignored (as src/state.ts does)" [ "$out" = "$tmp/xdg/shit" ]
check "relative SHIT_HOME: nothing made under the cwd" [ ! -e "$tmp/rel" ]
out=$(SHIT_HOME='' XDG_STATE_HOME=$tmp/xdg "$run" sh -c 'echo $SHIT_STATE')
check "XDG_STATE_HOME/shit" [ "$out" = "$tmp/xdg/shit" ]
out=$(SHIT_HOME='' HOME=$tmp/home "$run" sh -c 'echo $SHIT_STATE')
check "HOME/.local/state/shit" [ "$out" = "$tmp/home/.local/state/shit" ]
out=$(LD_PRELOAD=/x/other.so "$run" sh -c 'echo $LD_PRELOAD' 2>/dev/null)
check "existing LD_PRELOAD kept after ours" [ "$out" = "$tmp/libshit.so:/x/other.so" ]
out=$(LD_PRELOAD=$tmp/libshit.so "$run" sh -c 'echo $LD_PRELOAD')
check "libshit.so not preloaded twice" [ "$out" = "$tmp/libshit.so" ]

"$run" /nonexistent/cmd 2> "$tmp/e1"; rc=$?
check "missing command: 127 ($rc)" [ $rc = 127 ]
check "missing command: message" grep -qx "shit: /nonexistent/cmd: No such file or directory" "$tmp/e1"
echo 'echo no' > "$tmp/noexec"; chmod 644 "$tmp/noexec"
"$run" "$tmp/noexec" 2> "$tmp/e2"; rc=$?
check "not executable: 126 ($rc)" [ $rc = 126 ]
# the missing command's spool, by its argv (by mtime, two spools made in one clock tick were a coin toss)
check "exec failure recorded as END 127" bash -c "python3 '$here/dumpspool.py' \$(grep -la /nonexistent/cmd '$SHIT_HOME'/spool/*.spool) | grep -q '^END .*err=127'"

"$run" sh -c 'kill -TERM $$'; rc=$?
check "child killed by TERM: shit-run dies of TERM too (143, got $rc)" [ $rc = 143 ]
check "END err=143 flags=15" bash -c "python3 '$here/dumpspool.py' \$(ls -t '$SHIT_HOME'/spool/*.spool | head -1) | grep -q '^END .*err=143 flags=0xf'"
# shellcheck disable=SC2015 # ok only prints
python3 - "$run" <<'EOF' && ok "signals: INT to the group, TERM/USR1 forwarded, INT to shit-run alone ignored" || bad "signals"
import os, signal, subprocess, sys, time
run = sys.argv[1]
p = subprocess.Popen([run, 'sleep', '5'], start_new_session=True)
time.sleep(0.3); os.killpg(p.pid, signal.SIGINT); p.wait()
assert p.returncode == -signal.SIGINT, p.returncode
p = subprocess.Popen([run, 'sleep', '5'])
time.sleep(0.3); p.send_signal(signal.SIGTERM); p.wait()
assert p.returncode == -signal.SIGTERM, p.returncode
p = subprocess.Popen([run, 'sh', '-c', 'trap "exit 5" USR1; sleep 3 & wait'])
time.sleep(0.3); p.send_signal(signal.SIGUSR1); p.wait()
assert p.returncode == 5, p.returncode
p = subprocess.Popen([run, 'sleep', '0.5'])
time.sleep(0.2); p.send_signal(signal.SIGINT); p.wait()
assert p.returncode == 0, p.returncode
EOF

chmod 500 "$SHIT_HOME/staging"
if [ "$(id -u)" = 0 ]; then runas() { su nobody -s /bin/sh -c "SHIT_HOME=$SHIT_HOME $*"; }; else runas() { sh -c "$*"; }; fi
chmod 755 "$tmp"
out=$(runas "$run" echo hi 2> "$tmp/e3"); rc=$?
check "unusable state: command still runs ($out, rc $rc)" [ "$out" = hi -a $rc = 0 ]
check "unusable state: one line on stderr" [ "$(wc -l < "$tmp/e3")" = 1 ]
# as root the command runs as nobody, for whom the state dir is another user's: refused before use
if [ "$(id -u)" = 0 ]; then msg="^shit: not recording: refusing the state directory: $SHIT_HOME is owned by uid 0, not by you (uid [0-9]*); running the command without capture$"
else msg="^shit: cannot record ($SHIT_HOME: Permission denied); running the command without capture$"; fi
check "unusable state: the message" grep -q "$msg" "$tmp/e3"
runas "$run" /nonexistent 2>/dev/null; rc=$?
check "unusable state: exec failure still 127 ($rc)" [ $rc = 127 ]
chmod 700 "$SHIT_HOME/staging"

# end-scan: fake effect records appended by the command itself
mkdir -p "$tmp/f"; echo 1 > "$tmp/f/a"; echo 2 > "$tmp/f/b"
cat > "$tmp/gen.py" <<EOF
import os, sys
sys.path.insert(0, '$here')
from spoolfmt import record
sp = os.path.join(os.environ['SHIT_STATE'], 'spool', os.environ['SHIT_CMD'] + '.spool')
n = int(sys.argv[1])
recs = [record(6, [('PATH', '$tmp/f/a')], flags=1), record(6, [('PATH', '$tmp/f/b')], flags=1),
        record(5, [('PATH', '$tmp/f/a'), ('PATH2', '$tmp/f/gone')]),
        record(3, [('PATH', '$tmp/f/failed')], err=2), record(17, [('PATH', '$tmp/f/notcap')])]
recs += [record(11, [('PATH', '$tmp/f/many/%06d' % i)], flags=0o644) for i in range(n)]
recs += [record(11, [('PATH', '$tmp/f/many/%06d' % i)], flags=0o600) for i in range(n)]
open(sp, 'ab').write(b''.join(recs))
EOF
"$run" python3 "$tmp/gen.py" 0
posts=$(dump "$(last_spool)" | grep '^POST' | sed 's/ POST=.*/ +/; s/.*PATH=//' | tr '\n' ' ')
check "POST per distinct path, first-touch order, absent = no POST field ($posts)" [ "$posts" = "$tmp/f/a + $tmp/f/b + $tmp/f/gone " ]
"$run" python3 "$tmp/gen.py" 20000
check "20000 distinct paths: 20003 POST records" [ "$(dump "$(last_spool)" | grep -c '^POST')" = 20003 ]

echo
if [ $fails = 0 ]; then echo "run-smoke: all checks passed"; else echo "run-smoke: $fails check(s) failed"; fi
[ $fails = 0 ]
