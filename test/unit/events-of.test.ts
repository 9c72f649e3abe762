// events.of copies each row's blobs into shared slabs (src/index/events.ts): every blob must come
// back with exactly its bytes, whatever its size (one larger than a slab, an empty one), and no
// two may share bytes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Index } from "../../dist/index/db.js";
import * as events from "../../dist/index/events.js";
import { Op } from "../../dist/spool/records.js";
import { ev } from "./events.ts";

test("events.of: every blob of every row back byte for byte, across slabs (one of 3 MiB, an empty one), none sharing bytes with another", (t) => {
  const d = mkdtempSync(join(tmpdir(), "shit-events-of-"));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const ix = new Index(join(d, "index.sqlite"));
  try {
    const fill = (n: number, k: number) => Buffer.alloc(n, k & 0xff);
    const rows = Array.from({ length: 3000 }, (_, i) =>
      ev(Op.UNLINK, `/w/d${i % 7}/f${i}`, {
        cmd: "c0ffee",
        seq: i,
        pre: fill(64, i),
        parent: fill(64, i + 1),
        target: i === 1500 ? fill(3 << 20, 7) : i === 1501 ? Buffer.alloc(0) : null,
        xvalue: i % 3 === 0 ? fill(100 + (i % 50), i + 2) : null,
        keep: `c0ffee/k${i}`,
        keep_how: "R",
      }),
    );
    ix.tx(() => rows.forEach((r) => events.insert(ix, r)));
    const got = events.of(ix, "c0ffee");
    assert.equal(got.length, rows.length);
    const blobs = ["path", "path2", "pre", "pre2", "parent", "parent2", "target", "target2", "xvalue"] as const;
    for (let i = 0; i < rows.length; i++)
      for (const k of blobs) {
        const want = rows[i][k];
        const have = got[i][k];
        if (want === null) assert.equal(have, null, `row ${i} ${k}`);
        else assert.ok(have && Buffer.from(have).equals(Buffer.from(want)), `row ${i} ${k}: not the bytes written`);
      }
    assert.equal(got[1500].cmd, "c0ffee");
    // writing into one blob changes no other
    got[10].pre!.fill(0xee);
    assert.ok(Buffer.from(got[10].parent!).equals(rows[10].parent as Buffer) && Buffer.from(got[11].pre!).equals(rows[11].pre as Buffer));
  } finally {
    ix.close();
  }
});
