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
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sandbox, sameTree, out, shitBin, busybox, showJson as show, type Sandbox } from "./helpers.ts";
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

const inJail = (s: Sandbox, names: string[]) => {
  for (const n of names) {
    copyFileSync(BB!, join(s.work, "jail/bin", n));
    spawnSync("chmod", ["755", join(s.work, "jail/bin", n)]);
  }
};

/** What a chroot case runs, and what it must find recorded: paths (relative to the work dir) each
 *  at its real path; notCaptured: the programs named "not captured: after chroot". */
interface Case {
  name: string;
  python?: string; // run as `python3 FILE`
  argv?: () => string[];
  jail?: string[]; // busybox-static copied into jail/bin under these names
  paths: string[];
  notCaptured?: string[];
}

const cases: Case[] = [
  {
    name: "python os.chroot, then writes, renames, unlinks and a tree removal inside: recorded at their real paths, undo and redo exact",
    python: `
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
`,
    paths: ["jail/d/f", "jail/d/target", "jail/d/k", "jail/d/deep/er/y", "jail/d/deep/er", "jail/d/dir/abs-link", "jail/d/sub/x"],
  },
  {
    name: "a descriptor from before the chroot, a working directory left outside it, and a chroot inside the chroot: every path the real one",
    python: `
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
`,
    paths: ["outside.txt", "jail/d/f", "jail/d/nested", "jail/d/k", "jail/d/sub/x"],
  },
  {
    name: "a program started inside the new root runs without the shim: named not captured, never silent; the undo does the rest and exits 10",
    jail: ["sh", "true"],
    python: `
import os
os.chroot("jail"); os.chdir("/")
os.unlink("/d/k")
assert os.system("true") == 0
pid = os.fork()
if pid == 0:
    os.execv("/bin/true", ["true"])
assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
`,
    paths: ["jail/d/k"],
    notCaptured: ["jail/bin/sh", "jail/bin/true"],
  },
  {
    name: "a static program (busybox-static chroot) under the seccomp tier: its writes in the new root undone and redone exactly",
    jail: ["busybox"],
    argv: () => [
      BB!,
      "chroot",
      "jail",
      "/bin/busybox",
      "sh",
      "-c",
      "echo new > /d/f; rm /d/k; mkdir /d/n; echo z > /d/n/z; mv /d/n/z /d/target; rm -r /d/deep; cd /d/sub && echo rel > rel.txt",
    ],
    paths: ["jail/d/f", "jail/d/k", "jail/d/n/z", "jail/d/target", "jail/d/deep/er/y", "jail/d/sub/rel.txt"],
  },
];

/** How a case is run and undone: under `shit run` (the verbs run as a program would), or typed at
 *  a hooked bash prompt (the shell's shim follows the line; a static program is handed to the
 *  seccomp tier; the verbs typed there too). Each gives the exit status and what was printed. */
interface Way {
  name: string;
  start(s: Sandbox): Promise<{
    run(argv: string[]): Promise<{ status: number | null; text: string }>;
    shit(args: string[]): Promise<{ status: number | null; text: string }>;
    end(): void;
  }>;
}
const q = (a: string) => (/^[\w./=-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
const ways: Way[] = [
  {
    name: "shit run",
    start: async (s) => {
      const spawned = (argv: string[]) => {
        const r = spawnSync(argv[0], argv.slice(1), { cwd: s.work, env: s.env, encoding: "utf8" });
        return Promise.resolve({ status: r.status, text: out(r) });
      };
      // shit-run itself in the namespace where chroot is allowed, as a user's `unshare -r shit run …`
      return { run: (argv) => spawned([...wrap!, shitBin, "run", "--", ...argv]), shit: (args) => spawned([shitBin, ...args]), end: () => undefined };
    },
  },
  {
    name: "typed at a hooked bash",
    start: async (s) => {
      const home = join(s.dir, "home");
      mkdirSync(home);
      const term = await Term.start("bash", { dir: s.dir, home, cwd: s.work, state: s.state });
      const typed = async (line: string) => {
        await term.run(line);
        return { status: Number(term.prompts().at(-1)!.split(" ")[1]), text: term.screen() };
      };
      return {
        run: async (argv) => {
          const line = [...wrap!, ...argv].map(q).join(" ");
          const r = await typed(line);
          const [c] = JSON.parse(s.shit(["list", "--json", "--limit", "1"]).stdout) as { line: string }[];
          assert.equal(c.line, line, "the typed line is the command recorded");
          return r;
        },
        shit: (args) => typed(["shit", ...args].join(" ")),
        end: () => term.kill(),
      };
    },
  },
];

// Each case each way: what the chroot'd process changes is recorded at its real path and undone,
// redone and undone again exactly (whole trees), or what a program started inside the new root
// changed is named "not captured: after chroot" by show and by the undo — never silence.
for (const way of ways)
  for (const c of cases)
    test(`chroot, ${way.name}: ${c.name}`, { skip: noChroot || (c.jail && !BB ? "no busybox-static" : false) }, async (t) => {
      const s = sandbox(t);
      s.sh(jail);
      if (c.jail) inJail(s, c.jail);
      let argv = c.argv?.() ?? [];
      if (c.python) {
        writeFileSync(join(s.dir, "case.py"), c.python);
        argv = ["python3", join(s.dir, "case.py")];
      }
      const ctl = await way.start(s);
      t.after(() => ctl.end());
      const before = s.tree();
      const run = await ctl.run(argv);
      assert.equal(run.status, 0, `the command failed:\n${run.text}`);
      const after = s.tree();
      assert.notEqual(sameTree(before, after), "", "the command changed the tree");
      const sh = show(s);
      const paths = sh.events.flatMap((e) => [e.path, e.path2]);
      for (const p of c.paths) assert.ok(paths.includes(join(s.work, p)), `${p} recorded at its real path: ${JSON.stringify(paths)}`);
      const nc = sh.events.filter((e) => e.op === "notcaptured");
      assert.deepEqual(nc.map((e) => e.path).sort(), (c.notCaptured ?? []).map((p) => join(s.work, p)).sort(), JSON.stringify(nc));
      for (const e of nc) assert.equal(e.note, "not captured: after chroot: a program started inside the new root", JSON.stringify(e));
      if (c.notCaptured) {
        assert.match(s.shit(["show", sh.id]).stdout, /after chroot/);
        const undo = await ctl.shit(["undo", "--yes"]);
        assert.equal(undo.status, 10, `undo:\n${undo.text}`);
        for (const p of c.notCaptured) assert.ok(undo.text.includes(`cannot undo: ${p}: not captured: after chroot`), `${p} named by the undo:\n${undo.text}`);
        assert.equal(sameTree(before, s.tree()), "", `the undo restores the rest:\n${undo.text}`);
        return;
      }
      for (const [verb, want] of [
        ["undo", before],
        ["redo", after],
        ["undo", before],
      ] as const) {
        const r = await ctl.shit([verb, "--yes"]);
        assert.equal(r.status, 0, `${verb}:\n${r.text}`);
        assert.equal(sameTree(want, s.tree()), "", `after the ${verb} the tree differs:\n${r.text}`);
      }
    });

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
