// Writes after chroot(2) (issue 16): a dynamic program that chroots (python os.chroot) is followed
// by the shim into its new root (capture.c "after chroot"), a static one by the seccomp tier
// (/proc/TID/root): what they change is recorded against the real path and undone exactly; a
// program started inside the new root, which the shim cannot follow, is named "not captured".
//
// chroot(2) needs CAP_SYS_CHROOT: the commands run under `unshare -r` (a user namespace where the
// user is root), which works unprivileged on most kernels; without it the tests run only as root.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { sandbox, sameTree, out, shitBin, busybox, showJson as show, type ShowJson, type Sandbox } from "./helpers.ts";
import { Term } from "./term.ts";

const userns = spawnSync("unshare", ["-r", "true"]).status === 0;
const wrap: string[] | null = userns ? ["unshare", "-r"] : process.getuid?.() === 0 ? [] : null;
const noChroot = wrap ? false : "chroot(2) needs root or `unshare -r` (user namespaces), neither is available";
const BB = busybox;

const jail = `
mkdir -p jail/d/sub jail/d/deep/er jail/bin
printf 'old contents\\n' > jail/d/f
printf 'kept\\n' > jail/d/k
printf 'moved over\\n' > jail/d/target
printf 'x\\n' > jail/d/sub/x
printf 'y\\n' > jail/d/deep/er/y
chmod 640 jail/d/k
`;

/** Runs argv under `shit run` with chroot allowed; undo, redo, undo, whole trees compared. */
function roundTrip(s: Sandbox, argv: string[], notCaptured = 0, env: Record<string, string> = {}): ShowJson {
  const before = s.tree();
  const cmd = [...wrap!, shitBin, "run", "--", ...argv];
  const run = spawnSync(cmd[0], cmd.slice(1), { cwd: s.work, env: { ...s.env, ...env }, encoding: "utf8" });
  assert.equal(run.status, 0, `the command failed under shit run:\n${out(run)}`);
  assert.doesNotMatch(run.stderr, /cannot be preloaded/, "the shim's library is not asked for inside the new root");
  const after = s.tree();
  assert.notEqual(sameTree(before, after), "", "the command changed the tree");
  const sh = show(s);
  assert.equal(sh.effects.notCaptured, notCaptured, JSON.stringify(sh.events.filter((e) => e.op === "notcaptured")));
  const undo = s.shit(["undo", "--yes"]);
  assert.equal(undo.status, notCaptured ? 10 : 0, `undo:\n${out(undo)}`);
  assert.equal(sameTree(before, s.tree()), "", `after undo the tree differs from before the command:\n${out(undo)}`);
  if (notCaptured) return sh;
  const redo = s.shit(["redo", "--yes"]);
  assert.equal(redo.status, 0, `redo:\n${out(redo)}`);
  assert.equal(sameTree(after, s.tree()), "", `after redo the tree differs from right after the command:\n${out(redo)}`);
  const again = s.shit(["undo", "--yes"]);
  assert.equal(again.status, 0, `undo of the redo:\n${out(again)}`);
  assert.equal(sameTree(before, s.tree()), "", "after undoing the redo the tree differs from before");
  return sh;
}

/** Asserts each of names (relative to root) is a path of one of the command's records. */
function recordedAt(sh: Pick<ShowJson, "events">, root: string, names: string[]): void {
  const paths = sh.events.flatMap((e) => [e.path, e.path2]);
  for (const p of names) assert.ok(paths.includes(join(root, p)), `${p} recorded at its real path: ${JSON.stringify(paths)}`);
}

test(
  "chroot: python os.chroot, then writes, renames, unlinks and a tree removal inside: recorded at their real paths, undo and redo exact",
  { skip: noChroot },
  (t) => {
    const s = sandbox(t);
    s.sh(jail);
    const py = `
import os, shutil
os.chroot("jail"); os.chdir("/")
open("/d/f", "w").write("new contents")
open("/d/new", "w").write("made in the jail")
os.rename("/d/target", "/d/renamed")
os.rename("/d/new", "/d/renamed2")
os.unlink("/d/k")
shutil.rmtree("/d/deep")
os.mkdir("/d/dir")
os.symlink("/d/f", "/d/dir/abs-link")
os.chmod("/d/sub/x", 0o600)
`;
    const sh = roundTrip(s, ["python3", "-c", py]);
    recordedAt(sh, join(s.work, "jail"), ["d/f", "d/k", "d/deep/er/y", "d/deep/er", "d/dir/abs-link", "d/sub/x"]);
  },
);

test(
  "chroot: a descriptor from before the chroot, a working directory left outside it, and a chroot inside the chroot: every path the real one",
  { skip: noChroot },
  (t) => {
    const s = sandbox(t);
    s.sh(jail);
    const py = `
import os
d = os.open("jail/d", os.O_RDONLY)
os.chroot("jail")
open("outside.txt", "w").write("the cwd is outside the new root")
os.unlink("f", dir_fd=d)
os.chroot("/d")
os.chdir("/")
open("/nested", "w").write("n")
os.unlink("/k")
os.rename("/sub/x", "/sub/x2")
`;
    const sh = roundTrip(s, ["python3", "-c", py]);
    recordedAt(sh, s.work, ["outside.txt", "jail/d/f", "jail/d/nested", "jail/d/k", "jail/d/sub/x"]);
  },
);

const inJail = (s: Sandbox, ...names: string[]) => {
  for (const n of names) {
    copyFileSync(BB!, join(s.work, "jail/bin", n));
    spawnSync("chmod", ["755", join(s.work, "jail/bin", n)]);
  }
};

test(
  "chroot: a program started inside the new root that cannot be handed over (system(3)'s shell, a posix_spawn) runs without the shim: named not captured, never silent",
  { skip: noChroot || (BB ? false : "no busybox-static") },
  (t) => {
    const s = sandbox(t);
    s.sh(jail);
    inJail(s, "sh", "true");
    const py = `
import os
os.chroot("jail"); os.chdir("/")
os.unlink("/d/k")
assert os.system("true") == 0
pid = os.posix_spawn("/bin/true", ["true"], {})
_, st = os.waitpid(pid, 0)
assert st == 0
`;
    const sh = roundTrip(s, ["python3", "-c", py], 2);
    const nc = sh.events.filter((e) => e.op === "notcaptured");
    assert.deepEqual(nc.map((e) => e.path).sort(), [join(s.work, "jail/bin/sh"), join(s.work, "jail/bin/true")], JSON.stringify(nc));
    for (const e of nc) assert.match(e.note ?? "", /after chroot/);
    const text = s.shit(["show", sh.id]);
    assert.match(text.stdout, /after chroot/, out(text));
  },
);

// A static program exec'd inside the new root by a dynamic process (the shim's exec wrappers) is
// handed to shit-run through the real root the shim holds: shit-run leaves the new root to
// supervise and starts the program back inside it (run.c "leave_jail"). It was named "not
// captured: after chroot" and not restored.
test(
  "chroot: a static program exec'd inside the new root by a dynamic one (python os.chroot + execv, coreutils chroot DIR /bin/busybox) is supervised: recorded at its real paths, undo and redo exact",
  { skip: noChroot || (BB ? false : "no busybox-static") },
  (t) => {
    const s = sandbox(t);
    s.sh(jail);
    inJail(s, "busybox");
    const script = "echo new > /d/f; rm /d/k; mkdir /d/n; echo z > /d/n/z; mv /d/n/z /d/target; rm -r /d/deep; cd /d/sub && echo rel > rel.txt";
    const py = `
import os
os.chroot("jail"); os.chdir("/d")
open("/d/own", "w").write("the chroot'd python's own write")
pid = os.fork()
if pid == 0:
    os.execv("/bin/busybox", ["busybox", "sh", "-c", ${JSON.stringify(script)}])
raise SystemExit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
`;
    let sh = roundTrip(s, ["python3", "-c", py]);
    recordedAt(sh, join(s.work, "jail"), ["d/own", "d/f", "d/k", "d/target", "d/deep/er/y", "d/sub/rel.txt"]);
    // a name without a slash, started from the working directory (execv), not looked for in PATH
    mkdirSync(join(s.work, "jail/tools"));
    copyFileSync(BB!, join(s.work, "jail/tools/bb"));
    spawnSync("chmod", ["755", join(s.work, "jail/tools/bb")]);
    const bare = `import os\nos.chroot("jail"); os.chdir("/tools")\nos.execv("bb", ["rm", "/d/k"])\n`;
    sh = roundTrip(s, ["python3", "-c", bare]);
    assert.ok(
      sh.events.some((e) => e.op === "unlink" && e.path === join(s.work, "jail/d/k")),
      JSON.stringify(sh.events),
    );
    // coreutils chroot (dynamic: the shim's chroot and execvp wrappers), the program found by PATH
    sh = roundTrip(s, ["chroot", "jail", "busybox", "sh", "-c", script], 0, { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" });
    recordedAt(sh, join(s.work, "jail"), ["d/f", "d/k", "d/target", "d/deep/er/y", "d/sub/rel.txt"]);
  },
);

test(
  "chroot: when shit-run cannot leave the new root (CAP_SYS_CHROOT dropped from the bounding set: the process keeps it, its exec loses it), the program runs as asked and is named not captured, never silent",
  { skip: noChroot || (BB ? false : "no busybox-static") },
  (t) => {
    const s = sandbox(t);
    s.sh(jail);
    inJail(s, "busybox");
    const py = `
import os, ctypes
os.chroot("jail"); os.chdir("/")
assert ctypes.CDLL(None).prctl(24, 18, 0, 0, 0) == 0  # PR_CAPBSET_DROP, CAP_SYS_CHROOT
os.execv("/bin/busybox", ["busybox", "rm", "/d/k"])
`;
    const cmd = [...wrap!, shitBin, "run", "--", "python3", "-c", py];
    const run = spawnSync(cmd[0], cmd.slice(1), { cwd: s.work, env: s.env, encoding: "utf8" });
    assert.equal(run.status, 0, out(run));
    assert.equal(existsSync(join(s.work, "jail/d/k")), false, "rm ran as asked");
    const nc = show(s).events.filter((e) => e.op === "notcaptured");
    assert.equal(nc.length, 1, JSON.stringify(nc));
    assert.match(
      nc[0]?.note ?? "",
      /^not captured: after chroot: a program started inside the new root \(shit-run cannot leave it: Operation not permitted\)$/,
      JSON.stringify(nc),
    );
  },
);

// A dynamic program inside the new root cannot load the shim (its path is the real root's), so it
// is handed to the seccomp tier the same way; LD_PRELOAD loses the shim's library (the loader said
// on stderr that it could not load it).
const dynProgram = `#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
int main(void) {
  FILE *f = fopen("/d/f", "w");
  if (!f || fputs("new from a dynamic program\\n", f) < 0 || fclose(f)) return 1;
  return unlink("/d/k") || rename("/d/sub/x", "/d/target") || mkdir("/d/made", 0755);
}
`;
test(
  "chroot: a dynamic program exec'd inside the new root (coreutils chroot DIR /bin/dyn, its libc copied in) is supervised too: recorded at its real paths, undo and redo exact",
  { skip: noChroot },
  (t) => {
    const s = sandbox(t);
    s.sh(jail);
    writeFileSync(join(s.dir, "dyn.c"), dynProgram);
    const bin = join(s.work, "jail/bin/dyn");
    const cc = spawnSync("gcc", ["-o", bin, join(s.dir, "dyn.c")], { encoding: "utf8" });
    if (cc.status !== 0) return t.skip(`no C compiler here: ${cc.stderr}`);
    for (const lib of spawnSync("ldd", [bin], { encoding: "utf8" }).stdout.match(/\/\S+/g) ?? []) {
      mkdirSync(join(s.work, "jail", dirname(lib)), { recursive: true });
      copyFileSync(lib, join(s.work, "jail", lib));
    }
    const sh = roundTrip(s, ["chroot", "jail", "/bin/dyn"], 0, { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" });
    recordedAt(sh, join(s.work, "jail"), ["d/f", "d/k", "d/sub/x", "d/target", "d/made"]);
  },
);

test(
  "chroot: a static program (busybox-static chroot) under the seccomp tier: its writes in the new root undone and redone exactly",
  { skip: noChroot || (BB ? false : "no busybox-static") },
  (t) => {
    const s = sandbox(t);
    s.sh(jail);
    inJail(s, "busybox");
    const sh = roundTrip(s, [
      BB!,
      "chroot",
      "jail",
      "/bin/busybox",
      "sh",
      "-c",
      "echo new > /d/f; rm /d/k; mkdir /d/n; echo z > /d/n/z; mv /d/n/z /d/target; rm -r /d/deep; cd /d/sub && echo rel > rel.txt",
    ]);
    recordedAt(sh, join(s.work, "jail"), ["d/f", "d/k", "d/target", "d/deep/er/y", "d/sub/rel.txt"]);
  },
);

test(
  "chroot: a program that closes every descriptor, the held root's among them, and reuses its number: capture stops, never writing where that number now points",
  { skip: noChroot },
  (t) => {
    const s = sandbox(t);
    s.sh(jail);
    const py = `
import os
os.chroot("jail"); os.chdir("/")
os.unlink("/d/k")
os.closerange(3, 4096)
os.makedirs(os.environ["SHIT_STATE"] + "/spool", exist_ok=True)  # the spool's path, inside the jail
os.dup2(os.open("/", os.O_RDONLY), 512)
open("/d/after", "w").write("not recorded")
`;
    const cmd = [...wrap!, shitBin, "run", "--", "python3", "-c", py];
    const run = spawnSync(cmd[0], cmd.slice(1), { cwd: s.work, env: s.env, encoding: "utf8" });
    assert.equal(run.status, 0, out(run));
    const inJailSpool = spawnSync("find", [join(s.work, "jail", s.state), "-type", "f"], { encoding: "utf8" }).stdout;
    assert.equal(inJailSpool, "", "no record written inside the jail");
    const paths = show(s).events.map((e) => e.path);
    assert.ok(paths.includes(join(s.work, "jail/d/k")), JSON.stringify(paths));
    assert.ok(!paths.includes(join(s.work, "jail/d/after")), JSON.stringify(paths));
  },
);

// The same typed at a hooked bash prompt (the shell runs the line with the shim preloaded; a static
// program is handed to the seccomp tier): every write after the chroot is recorded at its real
// path and undone and redone exactly, or named "not captured: after chroot" — never silence.
test(
  "chroot typed at a hooked bash: python os.chroot's writes recorded at their real paths, undone and redone exactly; a program started in the new root named not captured; busybox chroot under the seccomp tier undone exactly",
  { skip: noChroot || (BB ? false : "no busybox-static") },
  async (t) => {
    const s = sandbox(t);
    s.sh(jail);
    inJail(s, "busybox", "true");
    const home = join(s.dir, "home");
    mkdirSync(home);
    const py = (name: string, code: string) => {
      writeFileSync(join(s.dir, name), code);
      return [...wrap!, "python3", join(s.dir, name)].join(" ");
    };
    const writes = py(
      "writes.py",
      `
import os, shutil
os.chroot("jail"); os.chdir("/")
open("/d/f", "w").write("new contents")
os.rename("/d/target", "/d/renamed")
os.unlink("/d/k")
shutil.rmtree("/d/deep")
os.mkdir("/d/dir")
os.symlink("/d/f", "/d/dir/abs-link")
os.chmod("/d/sub/x", 0o600)
`,
    );
    const inside = py(
      "inside.py",
      `
import os
os.chroot("jail"); os.chdir("/")
os.unlink("/d/sub/x")
pid = os.posix_spawn("/bin/true", ["true"], {})
assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
`,
    );
    const term = await Term.start("bash", { dir: s.dir, home, cwd: s.work, state: s.state });
    try {
      const status = () => term.prompts().at(-1);
      const typed = async (line: string) => {
        const before = s.tree();
        await term.run(line);
        assert.equal(status(), "p 0", `${line}\n${term.screen()}`);
        const after = s.tree();
        assert.notEqual(sameTree(before, after), "", `${line}: changed nothing`);
        const [c] = JSON.parse(s.shit(["list", "--json", "--limit", "1"]).stdout) as { id: string; line: string }[];
        assert.equal(c.line, line);
        return { before, after, id: c.id, events: show(s).events };
      };
      // python: the chroot'd process's own calls, at their real paths
      let r = await typed(writes);
      recordedAt(r, join(s.work, "jail"), ["d/f", "d/target", "d/k", "d/deep/er/y", "d/dir/abs-link", "d/sub/x"]);
      await term.run("shit undo --yes");
      assert.equal(status(), "p 0", term.screen());
      assert.equal(sameTree(r.before, s.tree()), "", term.screen());
      await term.run("shit redo --yes");
      assert.equal(status(), "p 0", term.screen());
      assert.equal(sameTree(r.after, s.tree()), "", term.screen());
      await term.run("shit undo --yes");
      assert.equal(sameTree(r.before, s.tree()), "", term.screen());
      // a program started inside the new root: named, and the undo says it is done in part
      r = await typed(inside);
      const nc = r.events.filter((e) => e.op === "notcaptured");
      assert.deepEqual(
        nc.map((e) => [e.path, e.note]),
        [[join(s.work, "jail/bin/true"), "not captured: after chroot: a program started inside the new root"]],
        JSON.stringify(r.events),
      );
      const u = s.shit(["undo", "--yes", "--on-conflict", "skip", r.id]);
      assert.equal(u.status, 10, out(u));
      assert.match(u.stdout, /cannot undo: jail\/bin\/true: not captured: after chroot/, out(u));
      assert.equal(sameTree(r.before, s.tree()), "", out(u));
      // a static chroot (busybox-static), handed to the seccomp tier by the shell's shim
      r = await typed(`${[...wrap!, BB!].join(" ")} chroot jail /bin/busybox sh -c 'echo new > /d/f; rm /d/k; mkdir /d/n; echo z > /d/n/z; rm -r /d/deep'`);
      recordedAt(r, join(s.work, "jail"), ["d/f", "d/k", "d/n/z", "d/deep/er/y"]);
      await term.run("shit undo --yes");
      assert.equal(status(), "p 0", term.screen());
      assert.equal(sameTree(r.before, s.tree()), "", term.screen());
    } finally {
      term.kill();
    }
  },
);
