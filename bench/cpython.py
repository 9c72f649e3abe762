#!/usr/bin/env python3
"""CPython's own file-system tests, plain against under `shit run` (issue 15: "CPython's
file-system tests under capture <= 1.05x"). test/transparency.test.ts checks that they give the
same results under capture; this measures what capture costs them.

    python3 bench/cpython.py [SUITE...]     default: test_os test_shutil test_tempfile test_pathlib
                                            test_fileio test_glob (libpython3.*-testsuite)

One `python3 -m test SUITE...` (serial: the machine has 2 cores) per side per round, the two sides
alternating and the one that goes first swapping each round (ABBA), so load on the machine and
its drift hit both alike. Each run gets the same untimed prepare: a fresh $SHIT_HOME (with one
`shit run -- true`, so the timed run meets a state dir in steady state) and an empty TMPDIR, both
in the bench's scratch dir, where the suites run. SHIT_DAEMON=off: nothing works in the
background between the runs. The ratio is the median wall time under shit over the median plain
one (CPU time, user + system of the whole tree, beside it); both sides must report the same test
totals, or the row is FAILED.

Knobs: SHIT_BENCH_RUNS (3) rounds; SHIT_BENCH_DIR (default $TMPDIR or /tmp). Prints its rows;
exits 0 once they are printed. Run under `flock /tmp/bench.lock` on a shared machine.
"""
import os, re, shutil, statistics, subprocess, sys, tempfile, time
from benchrows import row, judge

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIT = os.path.join(ROOT, "bin", "shit")
PYTHON = "/usr/bin/python3"
TARGET = 1.05
SUITES = sys.argv[1:] or ["test_os", "test_shutil", "test_tempfile", "test_pathlib", "test_fileio", "test_glob"]
RUNS = int(os.environ.get("SHIT_BENCH_RUNS", "3"))
NAME = "CPython's file-system tests under shit run"


def run(argv, w, env):
    """Wall and CPU seconds of one run of the suites, and its totals line (or an error)."""
    shutil.rmtree(os.path.join(w, "tmp"), ignore_errors=True)
    os.mkdir(os.path.join(w, "tmp"))
    shutil.rmtree(env["SHIT_HOME"], ignore_errors=True)
    subprocess.run([SHIT, "run", "--", "true"], env=env, cwd=os.path.join(w, "d"), check=True)
    os.sync()
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, env=env, cwd=os.path.join(w, "d"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.read().decode(errors="replace")
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    # -v: a line per test case, "test_x (module.Class.test_x) ... ok"; the outcomes counted
    counts = {}
    for m in re.finditer(r" \.\.\. (ok|skipped|FAIL|ERROR|expected failure|unexpected success)", out):
        counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    result = re.findall(r"^(?:Tests )?[Rr]esult: .*$", out, re.M)
    said = ", ".join("%s %d" % kv for kv in sorted(counts.items())) + "; " + (result[-1] if result else "no result line")
    return wall, ru.ru_utime + ru.ru_stime, os.waitstatus_to_exitcode(status), said


def main():
    if subprocess.run([PYTHON, "-c", "import test.support"], capture_output=True).returncode != 0:
        print("bench cpython: skipped: the python3 test suite is not installed (libpython3-testsuite)")
        row(NAME, "-", "<= %.2fx" % TARGET, "skipped: libpython3-testsuite not installed")
        return 0
    try:
        w = tempfile.mkdtemp(prefix="shit-bench-cpython.", dir=os.environ.get("SHIT_BENCH_DIR") or None)
    except OSError as e:
        print("bench cpython: cannot make a scratch dir: %s" % e, file=sys.stderr)
        return 1
    os.mkdir(os.path.join(w, "d"))
    env = dict(os.environ, SHIT_HOME=os.path.join(w, "state"), SHIT_DAEMON="off", TMPDIR=os.path.join(w, "tmp"))
    for k in ("SHIT_CMD", "SHIT_STATE", "SHIT_BENCH_ROWS"):
        env.pop(k, None)
    plain_argv = [PYTHON, "-m", "test", "-v", *SUITES]
    sides = {"plain": (plain_argv, []), "shit": ([SHIT, "run", "--", *plain_argv], [])}
    said = {}
    try:
        for r in range(RUNS):
            for side in ("plain", "shit") if r % 2 == 0 else ("shit", "plain"):
                argv, got = sides[side]
                wall, cpu, code, totals = run(argv, w, env)
                got.append((wall, cpu))
                said.setdefault(side, set()).add((code, totals))
                print("round %d %-5s wall %6.2f s  cpu %6.2f s  exit %d  %s" % (r + 1, side, wall, cpu, code, totals), flush=True)
    finally:
        shutil.rmtree(w, ignore_errors=True)
    suites = " ".join(SUITES)
    if said["plain"] != said["shit"]:
        print("bench cpython: FAILED: the suites did not report the same under shit: plain %s; shit %s" % (
            " | ".join("exit %d: %s" % x for x in sorted(said["plain"])), " | ".join("exit %d: %s" % x for x in sorted(said["shit"]))))
        row(NAME, "-", "<= %.2fx" % TARGET, "FAILED: results differ under shit (output above)")
        return 0
    pw, sw = (statistics.median(t for t, _ in sides[s][1]) for s in ("plain", "shit"))
    pc, sc = (statistics.median(c for _, c in sides[s][1]) for s in ("plain", "shit"))
    ratio = sw / pw
    print()
    print("CPython's file-system tests (%s), median of %d alternating rounds:" % (suites, RUNS))
    print("  plain %.2f s, under shit run %.2f s: %.3fx wall (cpu %.2f s / %.2f s: %.3fx)   target <= %.2fx   %s" % (
        pw, sw, ratio, pc, sc, sc / pc if pc else float("inf"), TARGET, judge(ratio, TARGET)))
    row(NAME + " (%d suites)" % len(SUITES), "%.3fx (median of %d)" % (ratio, RUNS), "<= %.2fx" % TARGET, judge(ratio, TARGET))
    return 0


if __name__ == "__main__":
    sys.exit(main())
