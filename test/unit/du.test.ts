// gc's sum of staging (src/store/gc.ts du) while an undo moves staged directories out of it: a
// directory gone in the middle of the walk counts as empty, never fails the sum (shitd's store
// upkeep failed "ENOENT: scandir …staging/<cmd>/<dir>" during a 1M-file undo).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { du } from "../../dist/store/gc.js";

test("du: the sum of a tree whose directories another process removes meanwhile never fails", async () => {
  const top = mkdtempSync(join(tmpdir(), "shit-du-"));
  try {
    let failed = 0;
    let sums = 0;
    for (let round = 0; round < 5; round++) {
      const dir = join(top, `staging${round}`);
      for (let i = 0; i < 400; i++) {
        mkdirSync(join(dir, `c/d${i}/e`), { recursive: true });
        for (let j = 0; j < 5; j++) writeFileSync(join(dir, `c/d${i}/e/f${j}`), "x");
      }
      assert.deepEqual(du(dir), { files: 2000, bytes: 2000 }, "a still tree is summed whole");
      const rm = spawn("rm", ["-rf", dir]);
      const done = new Promise((ok) => rm.on("exit", ok));
      let exited = false;
      void done.then(() => (exited = true));
      while (!exited) {
        try {
          du(dir);
        } catch {
          failed++;
        }
        sums++;
        await new Promise((ok) => setImmediate(ok));
      }
      assert.ok(!existsSync(dir));
    }
    assert.equal(failed, 0, `${failed} of ${sums} sums failed while the tree was being removed`);
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
});
