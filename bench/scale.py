#!/usr/bin/env python3
"""Scale bench (issue 15): `rm -rf` of big trees, plain against `shit run -- rm -rf` (capture)
and `shit undo --yes` of it, measured side by side in one run, with the peak resident memory of
every process on the path (the shit CLI, shitd, shit-apply, shit-run, the rm under the shim).

    python3 bench/scale.py [--counts 10000,100000] [--flat 100000] [--daemon on|off|both]
    python3 bench/scale.py --counts 10000,100000,1000000      the issue's 1M (~15 min; ~5 GB of disk;
                                                              SHIT_BENCH_FULL=1 in bench/all.sh)

Shapes: COUNT files in dirs of 1000 (1M: 10^3 dirs x 10^3 files) and a flat directory of --flat
entries (0: none). Each row: one round (SHIT_BENCH_RUNS for more; the best wall time is kept):
build the tree, plain rm -rf; build it again, `shit run -- rm -rf` (with shitd: caught up with
it, and its plan of the undo made ahead if it makes one, at most 10 s, as by the time a person
types the undo); `shit undo --yes`; the files counted back; with shitd, its ingest of the undo's
own records waited for (its peak is one of the process peaks).
Peak RSS: VmHWM of each process whose environment has this bench's SHIT_HOME, polled from /proc
every 20 ms (a process shorter than that can be missed). Per-file cost: wall / files. Prints `name value target ok/MISSED` rows;
always exits 0 once they are printed. Run under `flock /tmp/bench.lock` on a shared machine.
"""
import argparse, os, shutil, signal, subprocess, sys, tempfile, threading, time
from benchrows import row, judge

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
shit = os.path.join(root, "bin", "shit")
ap = argparse.ArgumentParser()
ap.add_argument("--counts", default="10000,100000")
ap.add_argument("--flat", type=int, default=100000)
ap.add_argument("--daemon", default="on", choices=["on", "off", "both"])
ap.add_argument("--per", type=int, default=1000, help="files a directory in the tree shape")
args = ap.parse_args()
runs = int(os.environ.get("SHIT_BENCH_RUNS", "1"))
RSS_MIB, CAPTURE, UNDO = 256, 1.0, 0.3
if not os.path.exists(os.path.join(root, "dist", "cli", "main.js")):
    sys.exit("bench: not built: run npm run build first")

w = tempfile.mkdtemp(prefix="shit-scale-bench.", dir=os.environ.get("SHIT_BENCH_DIR") or None)
state = os.path.join(w, "state")
os.mkdir(os.path.join(w, "d"))  # the commands run here; the bench's own files stay in w
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # through the finally below: shitd stopped, w removed


def build(top, count, per):
    """count files of ~90 bytes: in one dir (per >= count) or in count/per dirs."""
    body = b"x" * 80 + b"\n"
    d = top
    os.mkdir(top)
    for i in range(count):
        if per < count and i % per == 0:
            d = os.path.join(top, "d%04d" % (i // per))
            os.mkdir(d)
        fd = os.open(os.path.join(d, "f%06d" % i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, b"file %d " % i + body)
        os.close(fd)
    os.sync()


def count_files(top):
    n = 0
    for _, _, files in os.walk(top):
        n += len(files)
    return n


class Peaks(threading.Thread):
    """VmHWM (peak RSS) per role of every process with our SHIT_HOME, polled until stopped."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.seen, self.stop = {}, {}, threading.Event()

    def role(self, pid):
        try:
            env = open("/proc/%s/environ" % pid, "rb").read().split(b"\0")
            if ("SHIT_HOME=" + state).encode() not in env:
                return None
            argv = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\0")
        except OSError:
            return None
        words = [a.decode(errors="replace") for a in argv if a]
        joined = " ".join(words)
        if "shitd" in joined:
            return "shitd"
        if "main.js" in joined or "bundle" in joined:
            verb = next((a for a in words[1:] if not a.startswith("-") and not a.endswith(".js") and "/" not in a), "?")
            return "shit " + verb + " (Node)"
        base = os.path.basename(words[0]) if words else "?"
        return base if base.startswith("shit") else base + " (under capture)"

    def poll(self):
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                start = open("/proc/%s/stat" % pid, "rb").read().rsplit(b")", 1)[1].split()[19]
            except OSError:
                continue
            key = (pid, start)
            if key not in self.seen:
                self.seen[key] = self.role(pid)
            r = self.seen[key]
            if r is None:
                continue
            try:
                for line in open("/proc/%s/status" % pid):
                    if line.startswith("VmHWM:"):
                        kib = int(line.split()[1])
                        self.peak[r] = max(self.peak.get(r, 0), kib)
            except OSError:
                pass

    def run(self):
        while not self.stop.is_set():
            self.poll()
            time.sleep(0.02)


def timed(argv):
    """wall seconds and exit code of one command run in w/d."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=os.path.join(w, "d"))
    out, err = p.communicate()
    t = time.perf_counter() - t0
    if p.returncode != 0:
        print("bench: %s exited %d: %s" % (" ".join(argv), p.returncode, (err or out).decode(errors="replace").strip()[-400:]), file=sys.stderr)
    return t, p.returncode


def shit_cmd(*a, check=False):
    return subprocess.run([shit, *a], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=os.path.join(w, "d"), check=check)


def ahead_wait(limit=10.0):
    """Seconds until shitd's plan of the undo, made ahead, is saved at the index's stamp (as a
    person typing `shit undo` gives it time to: bench/undo.sh waits the same way); None when none
    comes (a command over SHIT_AHEAD_MAX_EVENTS is planned by the undo itself)."""
    import glob, sqlite3
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(state, "index.sqlite"), uri=True)
        try:
            stamp = db.execute("SELECT n FROM stamp").fetchone()[0]
        finally:
            db.close()
        if glob.glob(os.path.join(state, "run", "ahead", "*-%d.v8" % stamp)):
            return time.perf_counter() - t0
        time.sleep(0.1)
    return None


def one(name, count, per, daemon):
    """One round of one shape: returns a dict of figures."""
    os.environ["SHIT_HOME"] = state
    os.environ["SHIT_DAEMON"] = "on" if daemon else "off"
    for k in ("SHIT_CMD", "SHIT_STATE"):
        os.environ.pop(k, None)
    top = os.path.join(w, "d", "t")
    shit_cmd("daemon", "stop")
    shutil.rmtree(state, ignore_errors=True)
    shutil.rmtree(top, ignore_errors=True)
    shit_cmd("run", "--", "true")
    f = {}
    build(top, count, per)
    f["plain"], _ = timed(["rm", "-rf", "t"])
    build(top, count, per)
    if daemon:
        shit_cmd("daemon", "start")
        shit_cmd("list")
    peaks = Peaks()
    peaks.start()
    f["run"], _ = timed([shit, "run", "--", "rm", "-rf", "t"])
    if daemon:
        t0 = time.perf_counter()
        shit_cmd("list")  # syncs with shitd: ingested
        f["catch-up"] = time.perf_counter() - t0
        f["ahead"] = ahead_wait()
    f["undo"], code = timed([shit, "undo", "--yes"])
    f["back"] = count_files(top) if os.path.isdir(top) else 0
    if daemon:
        # shitd ingests the undo's own records (one per file put back) after it: its peak counts
        # too (the 1M undo's took shitd from ~140 to over 400 MiB, which stopping it here hid)
        shit_cmd("list")
    peaks.poll()
    peaks.stop.set()
    peaks.join()
    f["peaks"] = peaks.peak
    shit_cmd("daemon", "stop")
    shutil.rmtree(top, ignore_errors=True)
    return f


def ahead_said(f):
    a = f["ahead"]
    plan = "its plan made ahead %.2f s later" % a if a is not None else "no plan made ahead (the undo plans it)"
    return "; shitd caught up in %.2f s, %s" % (f["catch-up"], plan)


rows = []
shapes = [("tree %d files (%d/dir)" % (n, args.per), n, args.per) for n in map(int, args.counts.split(","))]
if args.flat:
    shapes.insert(1 if shapes else 0, ("flat dir of %d entries" % args.flat, args.flat, args.flat))
modes = {"on": [True], "off": [False], "both": [True, False]}[args.daemon]
worst = 0
per_file = []
try:
    for daemon in modes:
        how = "shitd running" if daemon else "SHIT_DAEMON=off"
        for name, n, per in shapes:
            best = None
            for _ in range(runs):
                f = one(name, n, per, daemon)
                if best is None or f["undo"] < best["undo"]:
                    best = f
            f = best
            cap, und = f["run"] / f["plain"], f["undo"] / f["plain"]
            print("%s, %s: plain rm -rf %.2f s; shit run %.2f s; undo %.2f s%s; %d of %d files back" % (
                name, how, f["plain"], f["run"], f["undo"], ahead_said(f) if daemon else "", f["back"], n), flush=True)
            rows.append("  %-44s %6.2fx   target <= %.1fx   %s" % ("capture, " + name, cap, CAPTURE, "ok" if cap <= CAPTURE else "MISSED"))
            rows.append("  %-44s %6.2fx   target <= %.1fx   %s" % ("undo, " + name, und, UNDO, "ok" if und <= UNDO and f["back"] == n else "MISSED" + ("" if f["back"] == n else " (files not all back)")))
            row("capture, %s, %s" % (name, how), "%.2fx" % cap, "<= %.1fx" % CAPTURE, judge(cap, CAPTURE))
            row("undo, %s, %s" % (name, how), "%.2fx" % und, "<= %.1fx" % UNDO,
                judge(und, UNDO) if f["back"] == n else "FAILED: %d of %d files back" % (f["back"], n))
            top = max(f["peaks"].items(), key=lambda kv: kv[1], default=None)
            for role, kib in sorted(f["peaks"].items()):
                mib = kib / 1024
                worst = max(worst, mib)
                rows.append("  %-44s %6.0f MiB  target <= %d MiB  %s" % ("  peak RSS " + role, mib, RSS_MIB, "ok" if mib <= RSS_MIB else "MISSED"))
            if top:
                row("peak RSS of every process, %s, %s" % (name, how), "%.0f MiB (%s)" % (top[1] / 1024, top[0]),
                    "<= %d MiB" % RSS_MIB, judge(top[1] / 1024, RSS_MIB))
            else:
                row("peak RSS of every process, %s, %s" % (name, how), "-", "<= %d MiB" % RSS_MIB, "FAILED: no process seen")
            if per < n:
                per_file.append((how, n, f["plain"] / n * 1e6, f["run"] / n * 1e6, f["undo"] / n * 1e6))
            print("\n".join(rows[-(2 + len(f["peaks"])):]), flush=True)
finally:
    subprocess.run([shit, "daemon", "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.rmtree(w, ignore_errors=True)

print()
print("shit scale bench (one run side by side; the machine may be shared: ratios, not seconds, are the figures)")
for r in rows:
    print(r)
print("  %-44s %6.0f MiB  target <= %d MiB  %s" % ("max peak RSS of any process", worst, RSS_MIB, "ok" if worst <= RSS_MIB else "MISSED"))
if per_file:
    print("  per-file cost (µs a file; linear: flat across counts)")
    for how, n, p, r, u in per_file:
        print("    %-16s %8d files: plain rm %6.1f  shit run %6.1f  undo %6.1f" % (how, n, p, r, u))
# summary rows: the per-file cost at each count (the issue asks for 10k, 100k and 1M), and whether
# it stays flat. The target is "linear in the count" without a figure: a per-file cost at
# the largest count within 1.5x of the smallest's is called linear here (room for a shared machine).
LINEAR = 1.5
for how in sorted({p[0] for p in per_file}):
    mine = sorted((n, p, r, u) for h, n, p, r, u in per_file if h == how)
    for n, p, r, u in mine:
        row("per-file cost, tree of %d files, %s" % (n, how), "rm %.1f / run %.1f / undo %.1f µs" % (p, r, u),
            "linear in the count", "info")
    if len(mine) > 1:
        (n0, _, r0, u0), (n1, _, r1, u1) = mine[0], mine[-1]
        g = max(r1 / r0, u1 / u0)
        row("per-file cost growth %d -> %d files, %s" % (n0, n1, how), "run %.2fx / undo %.2fx" % (r1 / r0, u1 / u0),
            "<= %.1fx (flat)" % LINEAR, judge(g, LINEAR))
if not any(n >= 1000000 for _, n, _, _, _ in per_file):
    row("capture, undo, RSS and per-file cost at 1M files", "-", "<= 1.0x, <= 0.3x, <= 256 MiB",
        "skipped: --counts ...,1000000 (~15 min; SHIT_BENCH_FULL=1)")
