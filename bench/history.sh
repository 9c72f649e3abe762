#!/usr/bin/env bash
# History at scale (issue 15): `shit list` with 100k recorded commands and M events in the index,
# and the first screen of `shit show` of a command with 100k effects.
#
#   bash bench/history.sh [--events M] [--commands N] [--big K]   (defaults 1M, 100k, 100k)
#   bash bench/history.sh --events 10000000                        the issue's 10M (long to build)
#
# The state is built once by bench/fill-history.mjs (through the real ingest path) and reused
# from /tmp/shit-history-N-M-K. Each row is the median of SHIT_BENCH_RUNS (5) runs, wall time
# from the start of `shit …` (the sh launcher and Node's start included) to its exit, or for
# `show` to the 40th line on a pipe; beside it the same minus the median of `node -e 0` (Node's
# own start, ~60-80 ms here). Targets are on the raw time. Max RSS is wait4's ru_maxrss of the
# process tree (what /usr/bin/time -v reports), the largest over the runs; cpu: user + system of
# the whole run (less moved by other load than wall time), median. SHIT_DAEMON=off: each
# verb looks at the spools itself (100k spool files, all ingested already).
# SHIT_BENCH_PROF=DIR: one more run of each with node --cpu-prof into DIR.
# Prints rows `name  value  target  ok/MISSED`; exits 0 once they are printed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shit=$root/bin/shit
runs=${SHIT_BENCH_RUNS:-5}
die() { echo "bench: $*" >&2; exit 1; }
[ -f "$root/dist/cli/main.js" ] || die "not built: run npm run build first"
node=$(cat "$root/build/node" 2>/dev/null) || die "not built: no build/node"
case $node in /*) ;; *) node=$root/$node ;; esac

state=$("$node" "$root/bench/fill-history.mjs" "$@" | tail -n 1) || die "filling the history failed"
[ -f "$state/filled.json" ] || die "no history in $state"
export SHIT_HOME=$state SHIT_DAEMON=off SHIT_CONFIG=$state/no-config.json
unset SHIT_CMD SHIT_STATE SHIT_PAGER PAGER
cd "$state" || die "cd $state"

PYTHONPATH=$root/bench python3 - "$node" "$shit" "$state" "$runs" "${SHIT_BENCH_PROF:-}" <<'PY'
import json, os, sqlite3, statistics, subprocess, sys, time
from benchrows import row as summary_row, judge
node, shit, state, runs, prof = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
filled = json.load(open(os.path.join(state, "filled.json")))
db = sqlite3.connect("file:%s?mode=ro" % os.path.join(state, "index.sqlite"), uri=True)
one = lambda sql, *a: db.execute(sql, a).fetchone()
sed = one("SELECT id FROM commands WHERE argv = ?", b"sed\0-i\0s/foo/bar/\0-r\0src\0")
rm = one("SELECT id, cwd FROM commands WHERE argv = ?", b"rm\0-rf\0big-tree\0")
db.close()

def run(argv, lines=None, env=None):
    """Wall seconds from the start to the exit (or to the `lines`-th line), max RSS in KiB, and
    CPU seconds (user + system, of the whole run)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    t = None
    if lines:
        n = 0
        for _ in p.stdout:
            n += 1
            if n == lines:
                t = time.perf_counter() - t0
                break
        p.stdout.close()  # the rest: EPIPE, as under `| head -40`
    else:
        p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    # a verb that failed is no figure (cut off after `lines` lines, a closed pipe is its exit: 141)
    if code != 0 and not (lines and code in (141, -13)):
        failed.append("%s: exit %d" % (" ".join(argv[1:3]), code))
    if t is None:
        t = time.perf_counter() - t0
    return t, ru.ru_maxrss, ru.ru_utime + ru.ru_stime

def median(argv, lines=None):
    run(argv, lines)  # warm the page cache
    got = [run(argv, lines) for _ in range(runs)]
    if prof:
        env = dict(os.environ, NODE_OPTIONS="--cpu-prof --cpu-prof-dir=" + prof)
        run(argv, lines, env)
    return statistics.median(t for t, _, _ in got), max(r for _, r, _ in got), statistics.median(c for _, _, c in got)

failed = []
base, _, base_cpu = median([node, "-e", "0"])
rows, worst = [], 0
def row(name, argv, target_ms, lines=None):
    global worst
    before = len(failed)
    t, rss, cpu = median(argv, lines)
    worst = max(worst, rss)
    ms = t * 1e3
    label = "%s (%s commands, %s events)" % (name, filled["commands"], filled["events"])
    if len(failed) > before:
        rows.append("%-34s FAILED (%s)  target <= %d ms  MISSED" % (name, failed[-1], target_ms))
        summary_row(label, "-", "<= %d ms" % target_ms, "FAILED: " + failed[-1])
        return
    summary_row(label, "%.0f ms" % ms, "<= %d ms" % target_ms, judge(ms, target_ms))
    rows.append("%-34s %7.1f ms  (%6.1f ms after Node's start; cpu %6.1f ms)  %4.0f MiB  target <= %d ms  %s"
                % (name, ms, ms - base * 1e3, cpu * 1e3, rss / 1024, target_ms, "ok" if ms <= target_ms else "MISSED"))

cwd = rm[1].decode() if rm else state
row("shit list", [shit, "list"], 100)
row("shit list --json", [shit, "list", "--json"], 100)
row("shit list --grep big-tree", [shit, "list", "--grep", "big-tree"], 100)
row("shit list --cwd DIR", [shit, "list", "--cwd", cwd], 100)
row("shit list -n 20", [shit, "list", "-n", "20"], 100)
if sed:
    row("shit show (sed -i of %s files)" % filled.get("big", "?"), [shit, "show", sed[0]], 300, lines=40)
if rm:
    row("shit show (rm -rf of %s files)" % filled.get("big", "?"), [shit, "show", rm[0]], 300, lines=40)

print()
print("shit history bench — %s commands, %s events in the index (%s); `node -e 0` %.1f ms (cpu %.1f ms)"
      % (filled["commands"], filled["events"], state, base * 1e3, base_cpu * 1e3))
print("(median of %d runs each; the machine may be shared: read the figures with that in mind)" % runs)
print()
for r in rows:
    print(r)
print("%-34s %7.0f MiB  target <= 256 MiB  %s" % ("max RSS of any shit process", worst / 1024, "ok" if worst <= 256 * 1024 else "MISSED"))
summary_row("max RSS of any shit process (list, show)", "%.0f MiB" % (worst / 1024), "<= 256 MiB", judge(worst, 256 * 1024))
if filled["events"] < 10_000_000:
    summary_row("shit list at the issue's 10M events", "-", "<= 100 ms",
                "skipped: this run's index holds %s events; --events 10000000 (SHIT_BENCH_FULL=1)" % filled["events"])
print("%-34s %7s µs/event when the state was built (fill-history's own max RSS, its spool writing included: %s MiB)"
      % ("ingest cost", filled.get("ingestUsPerEvent", "?"), filled.get("maxRssMiB", "?")))
PY
exit 0
