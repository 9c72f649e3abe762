// The shim holds each unlink's STAGED record back, per thread, to go out in the same write as the
// thread's next record (common/spool.h, sp_thread_defer): one spool append per kept file instead
// of two. Every STAGED must still reach the spool, once: at exit, before an exec, and never from a
// forked child's copy of its parent's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readRecords, Op, Tag, type Rec } from "../dist/spool/records.js";
import { noStrace, sandbox, sameTree, out, shitBin, type Sandbox } from "./helpers.ts";

/** The records of the newest spool with an unlink in it (the latest command's). */
function records(s: Sandbox): Rec[] {
  const dir = join(s.state, "spool");
  const spools = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".spool")) : [];
  const byAge = spools.map((f) => join(dir, f)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  for (const f of byAge) {
    const rs = readRecords(readFileSync(f)).records;
    if (rs.some((r) => r.op === Op.UNLINK)) return rs;
  }
  return [];
}

const count = (rs: Rec[], op: number) => rs.filter((r) => r.op === op).length;
const keepNames = (rs: Rec[]) => rs.filter((r) => r.op === Op.STAGED).map((r) => r.fields.get(Tag.KEEP)?.toString("latin1") ?? "");

function staged(s: Sandbox, n: number, what: string) {
  const rs = records(s);
  const ops = rs.map((r) => r.op);
  assert.equal(count(rs, Op.UNLINK), n, `${what}: unlinks`);
  assert.equal(count(rs, Op.STAGED), n, `${what}: a STAGED for every kept file, once: ${ops.join(" ")}`);
  assert.ok(ops.lastIndexOf(Op.STAGED) < ops.indexOf(Op.END), `${what}: STAGED before END: ${ops.join(" ")}`);
}

test(
  "rm -rf under the shim: one spool append per kept file (its STAGED goes with the next unlink), every STAGED there, the undo exact",
  { skip: noStrace },
  (t) => {
    const s = sandbox(t);
    s.sh("mkdir -p t/a t/b && for i in $(seq 1 40); do echo $i > t/a/f$i; echo $i > t/b/g$i; done");
    const before = s.tree();
    const trace = join(s.dir, "trace");
    // -y names each descriptor's file: the appends to the spool are the writes to *.spool
    const r = spawnSync("strace", ["-f", "-y", "-o", trace, "-e", "trace=write,writev", shitBin, "run", "--", "rm", "-rf", "t"], {
      cwd: s.work,
      env: s.env,
      encoding: "utf8",
    });
    assert.equal(r.status, 0, out(r));
    const appends = readFileSync(trace, "utf8")
      .split("\n")
      .filter((l) => /^\d+\s+writev?\(\d+<[^>]*\.spool>/.test(l));
    staged(s, 80, "rm -rf");
    // 80 kept files: 80 appends carry their UNLINKs (and the STAGED before each), plus BEGIN, EXEC,
    // the rmdirs, the last STAGED, END and the end scan's; two a file would be 160 and more
    assert.ok(appends.length < 100, `${appends.length} appends to the spool for 80 kept files`);
    const u = s.shit(["undo", "--yes"]);
    assert.equal(u.status, 0, out(u));
    assert.equal(sameTree(before, s.tree()), "", "the undo puts every file back");
  },
);

test("a STAGED held back goes out before an exec, and a forked child never writes its parent's", (t) => {
  const s = sandbox(t);
  s.sh("echo a > a && echo b > b && echo c > c");
  const before = s.tree();
  // unlink, then exec: no destructor of the shim runs in the old image
  let r = s.shit(["run", "--", "python3", "-c", "import os; os.unlink('a'); os.execv('/bin/true', ['true'])"]);
  assert.equal(r.status, 0, out(r));
  staged(s, 1, "unlink then exec");
  // the parent holds b's STAGED while it forks; the child unlinks c and exits normally (its
  // copy of the parent's slot is not its own), the parent then exits
  r = s.shit([
    "run",
    "--",
    "python3",
    "-c",
    "import os, sys\nos.unlink('b')\npid = os.fork()\nif pid == 0:\n    os.unlink('c'); sys.exit(0)\nos.waitpid(pid, 0)",
  ]);
  assert.equal(r.status, 0, out(r));
  staged(s, 2, "unlink, fork, the child's unlink");
  const names = keepNames(records(s));
  assert.equal(new Set(names).size, 2, `two different kept files: ${names.join(", ")}`);
  const ids = (JSON.parse(s.shit(["list", "--json"]).stdout) as { id: string }[]).map((c) => c.id);
  for (const id of ids.slice(0, 2)) {
    const u = s.shit(["undo", "--yes", id]);
    assert.equal(u.status, 0, out(u));
  }
  assert.equal(sameTree(before, s.tree()), "", "both undone");
});

/** Every record of the latest `shit run` (the newest spool), in spool order. */
function latest(s: Sandbox): Rec[] {
  const dir = join(s.state, "spool");
  const f = readdirSync(dir)
    .filter((n) => n.endsWith(".spool"))
    .map((n) => join(dir, n))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  return readRecords(readFileSync(f)).records;
}
const pathOf = (r: Rec) => r.fields.get(Tag.PATH)?.toString("latin1") ?? "";
const created = (r: Rec) => r.op === Op.OPEN && r.fields.has(Tag.POST);

test(
  "tar xf over its own tree under the shim: the STAGED goes with the next record (two appends a file, not three), every record there and in order, undo and redo exact",
  { skip: noStrace },
  (t) => {
    const s = sandbox(t);
    const tar = join(s.dir, "t.tar");
    s.sh(`mkdir -p t/a t/b && for i in $(seq 1 30); do echo old$i > t/a/f$i; echo old$i > t/b/g$i; done && tar cf ${tar} t`);
    s.sh("for i in $(seq 1 30); do echo new$i > t/a/f$i; echo new$i > t/b/g$i; done");
    const before = s.tree();
    const trace = join(s.dir, "trace");
    const r = spawnSync("strace", ["-f", "-y", "-o", trace, "-e", "trace=write,writev", shitBin, "run", "--", "tar", "xf", tar], {
      cwd: s.work,
      env: s.env,
      encoding: "utf8",
    });
    assert.equal(r.status, 0, out(r));
    const after = s.tree();
    const appends = readFileSync(trace, "utf8")
      .split("\n")
      .filter((l) => /^\d+\s+writev?\(\d+<[^>]*\.spool>/.test(l));
    const rs = latest(s);
    assert.equal(count(rs, Op.UNLINK), 60, "unlinks");
    assert.equal(count(rs, Op.STAGED), 60, "a STAGED for each kept file");
    assert.equal(rs.filter(created).length, 60, "a creating OPEN for each file");
    assert.equal(count(rs, Op.OPEN), 60, "none for tar's O_EXCL opens that failed on the file there");
    for (const u of rs.filter((x) => x.op === Op.UNLINK)) {
      const i = rs.indexOf(u);
      const c = rs.findIndex((x) => created(x) && pathOf(x) === pathOf(u));
      assert.ok(c > i, `${pathOf(u)}: its creation after its unlink in the spool`);
    }
    // two a file (its UNLINK with the previous file's STAGED; its creating OPEN, written right
    // after the call: held, a process acting on the new file meanwhile would be on record before
    // its creation), plus BEGIN, EXEC, END and the end scan's; three a file would be 180 and more
    assert.ok(appends.length < 135, `${appends.length} appends to the spool for 60 files`);
    let u = s.shit(["undo", "--yes"]);
    assert.equal(u.status, 0, out(u));
    assert.equal(sameTree(before, s.tree()), "", "the undo puts every file back");
    u = s.shit(["redo", "--yes"]);
    assert.equal(u.status, 0, out(u));
    assert.equal(sameTree(after, s.tree()), "", "the redo extracts them again");
  },
);

test("a creating OPEN is on record before a child acts on the file (fork, posix_spawn, vfork); a STAGED held back goes out at _exit", (t) => {
  const s = sandbox(t);
  s.sh("echo a > a");
  const cases: [string, string[]][] = [
    ["bash: > f, then rm f (fork)", ["bash", "-c", "echo hi > f1; rm f1"]],
    [
      "python: open, then os.posix_spawn rm",
      ["python3", "-c", "import os\nopen('f2','w').write('x')\nos.waitpid(os.posix_spawn('/bin/rm', ['rm', 'f2'], os.environ), 0)"],
    ],
    ["python: open, then subprocess rm", ["python3", "-c", "import subprocess\nopen('f3','w').write('x')\nsubprocess.run(['rm', 'f3'], check=True)"]],
  ];
  // vfork: the child shares its parent's memory and execs rm before the parent runs again
  const vf = join(s.dir, "vf");
  writeFileSync(
    `${vf}.c`,
    `#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
  close(open("f4", O_WRONLY | O_CREAT | O_TRUNC, 0644));
  pid_t p = vfork();
  if (p == 0) {
    execl("/bin/rm", "rm", "f4", (char *)0);
    _exit(127);
  }
  int st;
  waitpid(p, &st, 0);
  return WEXITSTATUS(st);
}
`,
  );
  const cc = spawnSync("gcc", ["-o", vf, `${vf}.c`], { encoding: "utf8" });
  if (cc.status === 0) cases.push(["C: open, then vfork and exec rm", [vf]]);
  else t.diagnostic(`no C compiler here, the vfork case not run: ${cc.stderr}`);
  for (const [what, argv] of cases) {
    const r = s.shit(["run", "--", ...argv]);
    assert.equal(r.status, 0, `${what}: ${out(r)}`);
    const rs = latest(s);
    const name = `f${cases.findIndex((c) => c[1] === argv) + 1}`;
    const c = rs.findIndex((x) => created(x) && pathOf(x).endsWith(`/${name}`));
    const d = rs.findIndex((x) => x.op === Op.UNLINK && pathOf(x).endsWith(`/${name}`));
    assert.ok(c >= 0 && d > c, `${what}: the creation (${c}) before the child's unlink (${d}): ${rs.map((x) => x.op).join(" ")}`);
    // created and removed: nothing to undo (misordered, the undo would bring back a file never there)
    const u = s.shit(["undo", "--yes"]);
    assert.ok(u.status === 0 || /nothing to undo/.test(u.stderr), out(u));
    assert.ok(!existsSync(join(s.work, name)), `${what}: no ${name}, a file that was never there`);
  }
  // _exit skips the destructor: the STAGED of a's unlink, held back, still goes out
  const before = s.tree();
  const r = s.shit(["run", "--", "python3", "-c", "import os\nos.unlink('a')\nopen('g','w').write('x')\nos._exit(0)"]);
  assert.equal(r.status, 0, out(r));
  const rs = latest(s);
  assert.equal(count(rs, Op.STAGED), 1, `the STAGED at _exit: ${rs.map((x) => x.op).join(" ")}`);
  assert.equal(rs.filter(created).length, 1, "the creating OPEN at _exit");
  const u = s.shit(["undo", "--yes"]);
  assert.equal(u.status, 0, out(u));
  assert.equal(sameTree(before, s.tree()), "", "_exit: undone exactly");
});
