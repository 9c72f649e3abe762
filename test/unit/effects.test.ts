// Effect counting on synthetic events: each path's state before the command against after it
// (src/ingest/effects.ts). No index, no processes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { constants as C } from "node:fs";
import { effectCounts, netEffects, storedCounts } from "../../dist/ingest/effects.js";
import { Op } from "../../dist/spool/records.js";
import { ev } from "./events.ts";
import type { EventRow } from "../../dist/index/rows.js";

const PRE = new Uint8Array(64); // only its presence matters here
const net = (evs: EventRow[]) => Object.fromEntries(netEffects(evs));

test("net effects: a file created then deleted is nothing; modified then deleted is deleted", () => {
  assert.deepEqual(net([ev(Op.OPEN, "/t", { flags: C.O_WRONLY | C.O_CREAT }), ev(Op.UNLINK, "/t")]), {});
  assert.deepEqual(net([ev(Op.OPEN, "/f", { flags: C.O_WRONLY, pre: PRE }), ev(Op.UNLINK, "/f")]), { "/f": "deleted" });
});

test("net effects: a rename is one renamed path; a rename over a file is a delete and a modify", () => {
  assert.deepEqual(net([ev(Op.RENAME, "/a", { path2: Buffer.from("/b") })]), { "/a": "renamed" });
  // b keeps its name with new bytes, a is gone: counted as what each path went through
  assert.deepEqual(net([ev(Op.RENAME, "/a", { path2: Buffer.from("/b"), pre2: PRE })]), { "/a": "deleted", "/b": "modified" });
});

test("net effects: metadata only, failed calls ignored, a read-only open is nothing", () => {
  assert.deepEqual(net([ev(Op.CHMOD, "/m"), ev(Op.UTIMES, "/m")]), { "/m": "metadata" });
  assert.deepEqual(net([ev(Op.UNLINK, "/x", { err: 2 })]), {});
  assert.deepEqual(net([ev(Op.OPEN, "/r", { flags: C.O_RDONLY, pre: PRE })]), {});
});

test("counts add the shell's changes, untracked ones and what was not captured", () => {
  const c = effectCounts([ev(Op.MKDIR, "/d"), ev(Op.SYMLINK, "/d/l"), ev(Op.NOTCAPTURED, "/s", { err: 0 })], 2, 1);
  assert.deepEqual(c, { deleted: 0, modified: 0, created: 2, renamed: 0, metadata: 0, notCaptured: 1, shell: 2, untracked: 1 });
  assert.deepEqual(storedCounts(null), { deleted: 0, modified: 0, created: 0, renamed: 0, metadata: 0, notCaptured: 0, shell: 0, untracked: 0 });
  assert.equal(storedCounts(JSON.stringify({ deleted: 3 })).deleted, 3, "counts stored before a kind existed read as 0 for it");
});
