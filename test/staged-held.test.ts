// The shim holds each unlink's STAGED record back, per thread, to go out in the same write as the
// thread's next record (common/spool.h, sp_thread_defer): one spool append per kept file instead
// of two. Every STAGED must still reach the spool, once: at exit, before an exec, and never from a
// forked child's copy of its parent's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { readRecords, Op, Tag, type Rec } from "../dist/spool/records.js";
import { sandbox, sameTree, out, shitBin, type Sandbox } from "./helpers.ts";

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

const noStrace = spawnSync("strace", ["-V"]).status === 0 ? false : "no strace (apt-get install strace)";

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
