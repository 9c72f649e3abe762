#!/usr/bin/env python3
"""Per-file kernel cost of the ways capture could take a file's last name away while keeping its
inode, on the filesystem holding DIR (bench/fs.sh runs it on each loop mount; issue 15 asked which
placement of staging to choose). 10,000 files of 100 bytes in 100 dirs, no shim: only the system
calls each placement needs, timed in one run, as microseconds per file and as a ratio to unlink:
wall clock, and this process's CPU time (steadier on a shared machine; it leaves out work the
filesystem defers to kernel threads, and the snapshot row's `btrfs` process).

  python3 bench/fs-placement.py DIR      (root for the btrfs snapshot row)

SHIT_BENCH_RUNS (3) rounds, the ways alternating within each; each row is the median.

Rows: plain unlink (what `rm -rf` does); rename into one staging dir (what capture did); rename
into a dir per parent directory inside staging (what capture does: staging/<cmd>/d<dev>-<ino>/);
rename into a staging dir made in each parent; a second name (link) in a dir per parent, then the
program's own unlink; all the calls capture makes per file (stats, the parent's path, two
records each with its open and close, the rename into a dir per parent; Python adds ~1 us a
call); a reflink copy into staging then the unlink (capture's fallback when staging is on another
filesystem or btrfs subvolume); on btrfs, a snapshot of the subvolume then plain unlinks; and the
cost of one spool record append there.
"""
import fcntl
import os
import shutil
import subprocess
import statistics
import sys
import time

root = sys.argv[1]
N_D, N_F = 100, 100
N = N_D * N_F
rounds = int(os.environ.get("SHIT_BENCH_RUNS", "3"))
FICLONE = 0x40049409
fstype = subprocess.run(["findmnt", "-no", "FSTYPE", "-T", root], capture_output=True, text=True).stdout.strip()


def now():
    """Wall and this process's CPU seconds: on a shared machine the CPU figure is the steadier one
    (work a filesystem defers to its kernel threads shows only in the wall figure)."""
    return (time.perf_counter(), time.process_time())


def since(t0):
    t1 = now()
    return (t1[0] - t0[0], t1[1] - t0[1])


def make_tree(t):
    for d in range(N_D):
        dp = os.path.join(t, "d%02d" % d)
        os.makedirs(dp)
        for f in range(N_F):
            with open(os.path.join(dp, "f%02d" % f), "wb") as fh:
                fh.write(b"x" * 99 + b"\n")
    os.sync()


def dirs(t):
    for d in range(N_D):
        dp = os.path.join(t, "d%02d" % d)
        fd = os.open(dp, os.O_RDONLY | os.O_DIRECTORY)
        yield d, dp, fd
        os.close(fd)


def scratch():
    w = os.path.join(root, "placement")
    shutil.rmtree(w, ignore_errors=True)
    os.makedirs(os.path.join(w, "staging"))
    make_tree(os.path.join(w, "t"))
    return w


def unlink_all(t):
    for d, dp, fd in dirs(t):
        for f in range(N_F):
            os.unlink("f%02d" % f, dir_fd=fd)
        os.rmdir(dp)


def p_unlink():
    w = scratch()
    t0 = now()
    unlink_all(os.path.join(w, "t"))
    return since(t0)


def into_staging(by_dir):
    """Each file renamed into staging: into one dir, or into a dir per parent (made at its first file)."""
    w = scratch()
    st = os.open(os.path.join(w, "staging"), os.O_RDONLY)
    t0 = now()
    for d, dp, fd in dirs(os.path.join(w, "t")):
        if by_dir:
            os.mkdir("d%d" % d, dir_fd=st)
        for f in range(N_F):
            dst = "d%d/f%02d" % (d, f) if by_dir else "%d-%d" % (d, f)
            os.rename("f%02d" % f, dst, src_dir_fd=fd, dst_dir_fd=st)
        os.rmdir(dp)
    secs = since(t0)
    os.close(st)
    return secs


def p_capture_calls():
    """What capture itself asks of the kernel per file (native/common/capture.c cap_unlink): the
    file's and its parent's stat, the parent's path (/proc/self/fd), the record (its own open,
    write, close: the shim holds no descriptor), the rename into a dir per parent, the staged
    file's stat and its STAGED record: the floor the shim cannot go under, its own code aside."""
    w = scratch()
    st = os.open(os.path.join(w, "staging"), os.O_RDONLY)
    spool = os.path.join(w, "staging", "spool")
    rec = b"r" * 200
    t0 = now()
    for d, dp, fd in dirs(os.path.join(w, "t")):
        os.mkdir("d%d" % d, dir_fd=st)
        for f in range(N_F):
            n = "f%02d" % f
            os.stat(n, dir_fd=fd, follow_symlinks=False)
            os.readlink("/proc/self/fd/%d" % fd)
            os.stat(fd)
            for staged in (0, 1):
                if staged:
                    os.rename(n, "d%d/%s" % (d, n), src_dir_fd=fd, dst_dir_fd=st)
                    os.stat("d%d/%s" % (d, n), dir_fd=st, follow_symlinks=False)
                o = os.open(spool, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
                os.write(o, rec)
                os.close(o)
        os.rmdir(dp)
    secs = since(t0)
    os.close(st)
    return secs


def p_central():
    return into_staging(False)


def p_bydir():
    return into_staging(True)


def p_perdir():
    w = scratch()
    t0 = now()
    for d, dp, fd in dirs(os.path.join(w, "t")):
        os.mkdir(".staging", dir_fd=fd)
        for f in range(N_F):
            os.rename("f%02d" % f, ".staging/f%02d" % f, src_dir_fd=fd, dst_dir_fd=fd)
        os.rename(os.path.join(dp, ".staging"), os.path.join(w, "staging", "s%d" % d))
        os.rmdir(dp)
    return since(t0)


def p_link():
    """A second name in a dir per parent in staging, then the program's own unlink (no inode to free)."""
    w = scratch()
    st = os.open(os.path.join(w, "staging"), os.O_RDONLY)
    t0 = now()
    for d, dp, fd in dirs(os.path.join(w, "t")):
        os.mkdir("d%d" % d, dir_fd=st)
        for f in range(N_F):
            os.link("f%02d" % f, "d%d/f%02d" % (d, f), src_dir_fd=fd, dst_dir_fd=st, follow_symlinks=False)
            os.unlink("f%02d" % f, dir_fd=fd)
        os.rmdir(dp)
    secs = since(t0)
    os.close(st)
    return secs


def p_reflink():
    w = scratch()
    st = os.open(os.path.join(w, "staging"), os.O_RDONLY)
    t0 = now()
    for d, dp, fd in dirs(os.path.join(w, "t")):
        for f in range(N_F):
            s = os.open("f%02d" % f, os.O_RDONLY, dir_fd=fd)
            o = os.open("%d-%d" % (d, f), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=st)
            try:
                fcntl.ioctl(o, FICLONE, s)
            except OSError:
                os.copy_file_range(s, o, 1 << 20)
            os.close(s)
            os.close(o)
            os.unlink("f%02d" % f, dir_fd=fd)
        os.rmdir(dp)
    secs = since(t0)
    os.close(st)
    return secs


snap_ms = []


def p_snapshot():
    w = os.path.join(root, "placement")
    shutil.rmtree(w, ignore_errors=True)
    os.makedirs(w)
    sv = os.path.join(w, "sv")
    subprocess.run(["btrfs", "-q", "subvolume", "create", sv], check=True)
    make_tree(os.path.join(sv, "t"))
    t0 = now()
    subprocess.run(["btrfs", "-q", "subvolume", "snapshot", "-r", sv, os.path.join(w, "snap")], check=True)
    snap_ms.append(since(t0)[0] * 1e3)
    unlink_all(os.path.join(sv, "t"))
    secs = since(t0)
    for v in ("snap", "sv"):
        subprocess.run(["btrfs", "-q", "subvolume", "delete", os.path.join(w, v)], check=True, stdout=subprocess.DEVNULL)
    return secs


ways = [
    ("unlink (plain rm -rf)", p_unlink),
    ("rename into one staging dir (capture before)", p_central),
    ("rename into a dir per parent, in staging (capture)", p_bydir),
    ("rename into a staging dir in each parent", p_perdir),
    ("capture's calls: stats, 2 records, rename per parent", p_capture_calls),
    ("link into a dir per parent, then the unlink", p_link),
    ("reflink (else copy) into staging, then unlink", p_reflink),
]
if fstype == "btrfs" and os.geteuid() == 0:
    ways.append(("snapshot of the subvolume, then unlink", p_snapshot))
times = {name: [] for name, _ in ways}
for _ in range(rounds):  # the ways alternate within each round: load on the machine hits them alike
    for name, fn in ways:
        times[name].append(fn())
shutil.rmtree(os.path.join(root, "placement"), ignore_errors=True)
per_file = lambda name, i: statistics.median(t[i] for t in times[name]) / N * 1e6
base, base_cpu = per_file(ways[0][0], 0), per_file(ways[0][0], 1)
for name, _ in ways:
    us, cpu = per_file(name, 0), per_file(name, 1)
    note = "  (the snapshot itself: %.1f ms)" % statistics.median(snap_ms) if snap_ms and name.startswith("snapshot") else ""
    print("  %-6s %-48s %6.1f us/file  %5.2fx unlink   CPU %5.1f us/file  %5.2fx%s" % (fstype, name, us, us / base, cpu, cpu / base_cpu, note), flush=True)


def append_cost(where):
    """Microseconds per append of a 200-byte record (capture writes two per file it keeps)."""
    p = os.path.join(where, "spool-bench.%d" % os.getpid())
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    b = b"r" * 200
    t0 = time.perf_counter()
    for _ in range(2 * N):
        os.write(fd, b)
    secs = time.perf_counter() - t0
    os.close(fd)
    os.unlink(p)
    return secs / (2 * N) * 1e6


print("  %-6s %-48s %6.1f us/record (in /dev/shm: %.1f)" % (fstype, "spool record append (write, O_APPEND)", append_cost(root), append_cost("/dev/shm")))
