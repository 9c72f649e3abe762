// Each case: tree → command under capture → undo → the tree from before, exactly → redo → the
// tree from right after, exactly.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cases } from "./cases.ts";
import { sandbox, sameTree, out } from "./helpers.ts";

const have = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
const seenOps = new Set<string>();

for (const c of cases) {
  test(c.name, { skip: c.needs && !have(c.needs) ? `${c.needs} is not installed` : false }, async (t) => {
    const s = sandbox(t);
    s.sh(c.setup);
    const before = s.tree();
    const run = s.shit(["run", "--", ...(c.shell ?? ["bash", "-c"]), c.cmd]);
    assert.equal(run.status, 0, `the command failed under shit run:\n${out(run)}`);
    if (c.settle) await new Promise((r) => setTimeout(r, c.settle));
    const after = s.tree();
    const show = s.shit(["show", "--json"]);
    assert.equal(show.status, 0, out(show));
    for (const e of JSON.parse(show.stdout).events) seenOps.add(e.op);

    if (sameTree(before, after) === "") {
      // the command changed nothing: undoing it says so and succeeds; with no id there is
      // nothing to undo at all (exit 1)
      const id = JSON.parse(show.stdout).id as string;
      const undo = s.shit(["undo", "--yes", id]);
      assert.equal(undo.status, 0, out(undo));
      assert.match(undo.stdout, /nothing to undo: .* changed no files/);
      assert.equal(s.shit(["undo", "--yes"]).status, 1);
      return;
    }
    const undo = s.shit(["undo", "--yes"]);
    assert.equal(undo.status, 0, `undo failed:\n${out(undo)}`);
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
  const want = ["unlink", "rmdir", "rename", "open", "truncate", "mkdir", "link", "symlink", "chmod", "utimes", "mknod"];
  const missing = want.filter((op) => !seenOps.has(op));
  assert.deepEqual(missing, [], `no case produced: ${missing.join(", ")}`);
});
