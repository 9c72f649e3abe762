// Each case: tree → command under capture → the undo's plan summary and exit code → undo → the
// tree from before, exactly → redo → the tree from right after, exactly.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cases, skipOf } from "./cases.ts";
import { sandbox, sameTree, out } from "./helpers.ts";

const seenOps = new Set<string>();

/** The plan's summary line: the first line after the header that is not a step ("  …"). */
function summaryOf(stdout: string): string | null {
  const lines = stdout.split("\n");
  if (/^nothing to undo: /.test(lines[0])) return null;
  return lines.slice(1).find((l) => !l.startsWith("  ")) ?? null;
}

for (const c of cases) {
  const skip = skipOf(c);
  test(c.name, { skip, todo: c.todo }, async (t) => {
    const s = sandbox(t);
    s.sh(c.setup);
    const before = s.tree();
    const run = s.shit(["run", "--", ...(c.shell ?? ["bash", "-c"]), c.cmd]);
    assert.equal(run.status, 0, `the command failed under shit run:\n${out(run)}`);
    if (c.settle) await new Promise((r) => setTimeout(r, c.settle));
    const after = s.tree();
    if (c.later) s.sh(c.later);
    const present = s.tree();
    const show = s.shit(["show", "--json"]);
    assert.equal(show.status, 0, out(show));
    for (const e of JSON.parse(show.stdout).events) seenOps.add(e.op);
    const id = JSON.parse(show.stdout).id as string;

    const dry = s.shit(["undo", "--dry-run", id]);
    assert.equal(dry.status, c.expect.conflict ? 3 : 0, `undo --dry-run:\n${out(dry)}`);
    const summary = c.expect.summary;
    const want = summary === null || typeof summary === "string" ? summary : process.getuid?.() === 0 ? summary.root : summary.user;
    assert.equal(summaryOf(dry.stdout), want, `the plan's summary line:\n${out(dry)}`);
    assert.equal(sameTree(present, s.tree()), "", "undo --dry-run changed the tree");

    if (c.expect.summary === null) {
      // the command changed nothing: undoing it says so and succeeds; with no id there is
      // nothing to undo at all (exit 1). (A command that recorded an effect which left the tree
      // as it was, like a chown to the same owner, has a plan and goes the usual way below.)
      assert.equal(sameTree(before, after), "", "a command with nothing to undo changed the tree");
      const undo = s.shit(["undo", "--yes", id]);
      assert.equal(undo.status, c.expect.exit, out(undo));
      assert.match(undo.stdout, /nothing to undo: .* changed no files/);
      assert.equal(s.shit(["undo", "--yes"]).status, 1);
      return;
    }
    const undo = s.shit(["undo", "--yes"]);
    assert.equal(undo.status, c.expect.exit, `undo exit code:\n${out(undo)}`);
    assert.equal(/^conflict: /m.test(undo.stderr), c.expect.conflict, `undo conflict:\n${out(undo)}`);
    if (c.expect.exit !== 0) {
      assert.equal(sameTree(present, s.tree()), "", `an undo that exits ${c.expect.exit} changes nothing:\n${out(undo)}`);
      return;
    }
    assert.equal(sameTree(before, s.tree()), "", `after undo the tree differs from before the command:\n${out(undo)}`);

    const redo = s.shit(["redo", "--yes"]);
    assert.equal(redo.status, 0, `redo failed:\n${out(redo)}`);
    assert.equal(sameTree(after, s.tree()), "", `after redo the tree differs from right after the command:\n${out(redo)}`);

    const again = s.shit(["undo", "--yes"]);
    assert.equal(again.status, 0, `undo of the redo failed:\n${out(again)}`);
    assert.equal(sameTree(before, s.tree()), "", "after undoing the redo the tree differs from before");
  });
}

test("the matrix exercises every kind of effect the shim records", () => {
  const want = ["unlink", "rmdir", "rename", "open", "truncate", "mkdir", "link", "symlink", "chmod", "chown", "utimes", "setxattr", "removexattr", "mknod"];
  const missing = want.filter((op) => !seenOps.has(op));
  assert.deepEqual(missing, [], `no case produced: ${missing.join(", ")}`);
});
