// The list of pre-images an undo moves back, left for the ingest of its END (src/ingest/moved.ts):
// written 64 KiB at a time, it is the bytes JSON.stringify gives the whole list.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deferMoved } from "../../dist/ingest/moved.js";
import type { StatePaths } from "../../dist/paths/state.js";

test("moved: a list of many names, some needing escapes, is written as JSON.stringify writes it", (t) => {
  const run = mkdtempSync(join(tmpdir(), "shit-moved-"));
  t.after(() => rmSync(run, { recursive: true, force: true }));
  const names = Array.from({ length: 20000 }, (_, i) => `c0ffee${i % 7}/${i % 13 ? `1-${i}` : `d\u00e9"\\\n${i}`}`);
  for (const list of [names, [], ["one"]]) {
    assert.ok(deferMoved({ run } as StatePaths, "u1", list));
    const text = readFileSync(join(run, "moved", "u1"), "utf8");
    assert.equal(text, JSON.stringify(list));
  }
});
