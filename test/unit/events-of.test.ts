// events.of copies each row's blobs into shared slabs (src/index/events.ts): every blob must come
// back with exactly its bytes, whatever its size (one larger than a slab, an empty one), and no
// two may share bytes. The planner's passes over the index (src/undo/events.ts) read the same.
import { test } from "node:test";
import assert from "node:assert/strict";
import { lstatSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Index } from "../../dist/index/db.js";
import * as events from "../../dist/index/events.js";
import { Op, encodeStat } from "../../dist/spool/records.js";
import { happened } from "../../dist/undo/unhappened.js";
import { commandEvents } from "../../dist/undo/events.js";
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

test("commandEvents: its passes (forward, backward, net columns) read what happened(events.of) holds, in order, none past the seq they were made at", (t) => {
  const d = mkdtempSync(join(tmpdir(), "shit-events-of-"));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const ix = new Index(join(d, "index.sqlite"));
  try {
    writeFileSync(join(d, "still"), "x");
    const st = lstatSync(join(d, "still"), { bigint: true });
    const pre = encodeStat({
      dev: st.dev,
      ino: st.ino,
      mode: Number(st.mode),
      uid: 0,
      gid: 0,
      nlink: 1,
      size: st.size,
      mtimeNs: st.mtimeNs,
      ctimeNs: st.ctimeNs,
      atimeNs: 0n,
    });
    const rows = [
      ...Array.from({ length: 50 }, (_, i) =>
        ev(Op.UNLINK, join(d, `gone${i}`), { cmd: "c0ffee", seq: i * 64, pre: Buffer.from(pre), parent: Buffer.alloc(64, i) }),
      ),
      ev(Op.UNLINK, join(d, "still"), { cmd: "c0ffee", seq: 50 * 64, pre: Buffer.from(pre) }), // its call never ran: the path still holds the inode
      ev(Op.MKDIR, join(d, "new"), { cmd: "c0ffee", seq: 51 * 64 }),
      ev(Op.UNLINK, join(d, "still"), { cmd: "c0ffee", seq: 53 * 64, pre: Buffer.from(pre) }), // as above, but its row is damaged below
    ];
    ix.tx(() => rows.forEach((r) => events.insert(ix, r)));
    // a column the dropping rules do not read, bent: planned as a NOTCAPTURED (named), never dropped
    ix.q("UPDATE events SET parent = 'bent' WHERE cmd = ? AND seq = ?").run("c0ffee", 53 * 64);
    const want = happened(events.of(ix, "c0ffee"), undefined);
    assert.equal(want.length, rows.length - 1);
    assert.equal(want[want.length - 1].op, Op.NOTCAPTURED);
    const src = commandEvents(ix, "c0ffee", undefined);
    ix.tx(() => events.insert(ix, ev(Op.MKDIR, join(d, "later"), { cmd: "c0ffee", seq: 54 * 64 }))); // a command still running adds one
    const seqs = (it: Iterable<{ seq: number }>) => [...it].map((e) => e.seq);
    assert.equal(src.dropped, 1);
    assert.deepEqual(seqs(src.forward()), seqs(want));
    assert.deepEqual(seqs(src.backward()), seqs(want).reverse());
    assert.deepEqual(seqs(src.net()), seqs(want));
    assert.deepEqual(
      [...src.forward()].map((e) => Buffer.from(e.parent ?? [])),
      want.map((e) => Buffer.from(e.parent ?? [])),
    );
  } finally {
    ix.close();
  }
});
