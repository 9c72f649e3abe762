#!/usr/bin/env python3
"""Per-command cost of the shell hooks: what a user feels at the prompt.

Each real shell (bash, zsh, fish) runs interactively on a pseudo-terminal, with and without
`shit init` in its rc, and is fed a few hundred trivial commands one at a time (`echo X<n>''Y`: a
builtin, so the shell's own loop is what is timed, and an output that the terminal's echo of the
typed line cannot contain). The time from writing a line to seeing its output and then the next
prompt is one sample; the hook's cost is the difference between the two
runs' medians (and p95s), measured in the same run, alternating rounds so that load on the machine
hits both sides alike. Target: <= 0.5 ms added median, <= 2 ms p99 (p95 and p99 printed).

Knobs: SHIT_BENCH_SHELL_CMDS (300 per round), SHIT_BENCH_SHELL_ROUNDS (3).
"""
import os, pty, select, shutil, statistics, subprocess, sys, tempfile, time
from benchrows import row, judge

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIT = os.path.join(ROOT, "bin", "shit")
N = int(os.environ.get("SHIT_BENCH_SHELL_CMDS", "300"))
ROUNDS = int(os.environ.get("SHIT_BENCH_SHELL_ROUNDS", "3"))
MARK = b"@P@ "


def rc(shell, hooked):
    init = {"bash": f'eval "$({SHIT} init bash)"', "zsh": f'eval "$({SHIT} init zsh)"', "fish": f"{SHIT} init fish | source"}[shell]
    if shell == "bash":
        return f"PS1='@P@ '\n{init if hooked else ''}\n"
    if shell == "zsh":
        return f"PS1='@P@ '\n{init if hooked else ''}\n"
    return f"function fish_greeting; end\nfunction fish_prompt; echo -n '@P@ '; end\n{init if hooked else ''}\n"


def session(shell, hooked, home, state, cmds):
    """Starts the shell on a pty, waits for its first prompt, then times each command."""
    rcfile = {"bash": ".bashrc", "zsh": ".zshrc", "fish": ".config/fish/config.fish"}[shell]
    path = os.path.join(home, rcfile)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(rc(shell, hooked))
    env = {"HOME": home, "TERM": "dumb", "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SHIT_HOME": state, "SHIT_DAEMON": "off", "LANG": "C.UTF-8"}
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(home)
        os.execvpe(shell, [shell, "-i"], env)
    buf = bytearray()

    def wait_prompt(timeout=20.0, after=b""):
        end = time.monotonic() + timeout
        while True:
            j = buf.find(after) if after else 0
            i = buf.find(MARK, j + len(after)) if j >= 0 else -1
            if i >= 0:
                del buf[: i + len(MARK)]
                return
            left = end - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"{shell}: no prompt; got {bytes(buf[-300:])!r}")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                try:
                    buf.extend(os.read(fd, 65536))
                except OSError:
                    raise RuntimeError(f"{shell} exited")

    wait_prompt(30)
    samples = []
    for n in range(cmds):
        t0 = time.perf_counter()
        os.write(fd, b"echo X%d''Y\n" % n)
        wait_prompt(after=b"X%dY\r\n" % n)
        samples.append((time.perf_counter() - t0) * 1000)
    os.write(fd, b"exit\n")
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    os.close(fd)
    return samples


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    wanted = sys.argv[1:] or ["bash", "zsh", "fish"]
    shells = [s for s in wanted if shutil.which(s)]
    for s in wanted:
        if s not in shells:
            for what, target in (("median", "<= +0.5 ms"), ("p99", "<= +2 ms")):
                row("hook cost per command, %s, added %s" % (s, what), "-", target, "skipped: %s not installed" % s)
    w = tempfile.mkdtemp(prefix="shit-bench-shell.")
    try:
        print(f"shell hooks: {N} trivial commands x {ROUNDS} rounds per side, time from Enter to the next prompt")
        print(f"{'shell':6} {'plain med':>10} {'hooked med':>11} {'added med':>10} {'added p95':>10} {'added p99':>10}  target")
        for shell in shells:
            plain, hooked = [], []
            try:
                for r in range(ROUNDS):
                    for hk, acc in ((False, plain), (True, hooked)):
                        home = os.path.join(w, f"{shell}-{hk}-{r}")
                        os.makedirs(home)
                        acc.extend(session(shell, hk, home, os.path.join(home, "state"), N))
            except (RuntimeError, OSError) as e:  # one shell failing leaves the others measured
                print(f"{shell:6} FAILED: {e}")
                for what, target in (("median", "<= +0.5 ms"), ("p99", "<= +2 ms")):
                    row(f"hook cost per command, {shell}, added {what}", "-", target, f"FAILED: {e}")
                continue
            med = statistics.median(hooked) - statistics.median(plain)
            p95 = pct(hooked, 95) - pct(plain, 95)
            p99 = pct(hooked, 99) - pct(plain, 99)
            good = med <= 0.5 and p99 <= 2.0
            print(f"{shell:6} {statistics.median(plain):9.3f}ms {statistics.median(hooked):10.3f}ms {med:+9.3f}ms {p95:+9.3f}ms {p99:+9.3f}ms  "
                  f"<= +0.5 ms median, +2 ms p99: {'ok' if good else 'MISSED'}")
            n = len(hooked)
            row(f"hook cost per command, {shell}, added median", f"{med:+.2f} ms (n={n})", "<= +0.5 ms", judge(med, 0.5))
            row(f"hook cost per command, {shell}, added p99", f"{p99:+.2f} ms (n={n})", "<= +2 ms", judge(p99, 2.0))
    finally:
        shutil.rmtree(w, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
