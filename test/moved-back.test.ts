// What an undo moved back out of staging is marked so in the index (keeps.state 'gone'), and
// nothing else: after shit-apply refused the plan before any step (exit 3, 5) no pre-image is
// marked, and after an undo killed part-way and finished by the next `shit undo`, every one it
// moved back is (the killed run marked those it had moved by then; the run that finishes it, the
// rest). Full path: each command's spool read in (`shit list`) before the undo.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { goneButStaged, noStrace, out, sameTree, sandbox, shitBin, stagedFiles, strayKeeps } from "./helpers.ts";

test("a pre-image deleted from staging, with --yes: shit-apply refuses the plan (exit 5), the undo names it missing (6) and marks nothing moved back: the next undo names it missing again", (t) => {
  const s = sandbox(t);
  s.sh("printf 1 > a; printf 2 > b; printf 3 > c");
  assert.equal(s.shit(["run", "--", "rm", "a", "b", "c"]).status, 0);
  rmSync(stagedFiles(join(s.state, "staging"))[1]);
  s.shit(["list"]);
  const gone = s.tree();
  for (let i = 0; i < 2; i++) {
    const u = s.shit(["undo", "--yes"]);
    assert.equal(u.status, 6, out(u));
    assert.match(u.stderr, /cannot undo: [abc]: pre-image \S+ is missing \(ENOENT\)/, "missing, not 'already moved back by an earlier undo'");
    assert.equal(sameTree(gone, s.tree()), "", "nothing changed");
  }
});

test(
  "shit-apply of an undo SIGKILLed at its k-th move (strace): the CLI marks what it moved back; the next undo finishes it and marks the rest; every file back, the redo and the undo after exact",
  { skip: noStrace },
  (t) => {
    const s = sandbox(t);
    s.sh("mkdir t; for i in $(seq 30); do mkdir t/d$i; ln -s f1 t/d$i/link; for j in $(seq 20); do echo $i $j > t/d$i/f$j; done; done");
    const before = s.tree();
    for (const k of [5, 25]) {
      assert.equal(s.shit(["run", "--", "rm", "-rf", "t"]).status, 0);
      const rm = (JSON.parse(s.shit(["list", "--json"]).stdout) as { id: string }[])[0].id; // (its spool read in)
      const killed = spawnSync(
        "strace",
        ["-f", "-o", "/dev/null", "-e", "trace=renameat2", "-e", `inject=renameat2:signal=SIGKILL:when=${k}`, shitBin, "undo", "--yes"],
        { cwd: s.work, env: s.env, encoding: "utf8" },
      );
      assert.equal(killed.status, 5, out(killed));
      assert.notEqual(sameTree(before, s.tree()), "", `killed at move ${k}: part of it is back`);
      assert.deepEqual(strayKeeps(s, rm), [], `killed at move ${k}: what it moved back is marked so`);
      assert.deepEqual(goneButStaged(s, rm), [], `killed at move ${k}: and nothing still in staging (a staged symlink dangles)`);
      const r = s.shit(["undo", "--yes"]);
      assert.equal(r.status, 0, out(r));
      assert.match(r.stderr, /finishing the interrupted undo/);
      assert.equal(sameTree(before, s.tree()), "");
      s.shit(["list"]);
      assert.deepEqual(strayKeeps(s, rm), [], `killed at move ${k}: and what the run that finished it moved`);
      assert.equal(s.shit(["redo", "--yes"]).status, 0);
      assert.equal(s.shit(["undo", "--yes"]).status, 0);
      assert.equal(sameTree(before, s.tree()), "");
    }
  },
);
