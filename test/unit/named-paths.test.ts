// events.namedPaths (what the watcher tier reads of a command once per batch of changes) must
// answer as events.names does a path at a time: path and path2, with and without an op filter,
// for names that are not UTF-8, and nothing for a command over its limit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Index } from "../../dist/index/db.js";
import * as events from "../../dist/index/events.js";
import { Op } from "../../dist/spool/records.js";
import { ev } from "./events.ts";

test("events.namedPaths: the answers of events.names for every path, of all ops and of some; null past max", (t) => {
  const d = mkdtempSync(join(tmpdir(), "shit-named-"));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const ix = new Index(join(d, "index.sqlite"));
  try {
    const odd = Buffer.from([0x2f, 0x77, 0x2f, 0xff, 0xc3, 0x28]); // "/w/" and bytes that are not UTF-8
    const rows = [
      ev(Op.UNLINK, "/w/a/f1", { cmd: "c1", seq: 1 }),
      ev(Op.RMDIR, "/w/a", { cmd: "c1", seq: 2 }),
      ev(Op.RENAME, "/w/b", { cmd: "c1", seq: 3, path2: Buffer.from("/w/c") }),
      ev(Op.OPEN, "/w/e", { cmd: "c1", seq: 4, err: 2 }),
      ev(Op.UNLINK, "/w/x", { cmd: "c1", seq: 5, path: odd }),
      ev(Op.UNLINK, "/w/other", { cmd: "c2", seq: 1 }),
    ];
    ix.tx(() => rows.forEach((r) => events.insert(ix, r)));
    const ops = [Op.RMDIR, Op.RENAME];
    const got = events.namedPaths(ix, "c1", ops, 100);
    assert.ok(got);
    const asked = ["/w/a/f1", "/w/a", "/w/b", "/w/c", "/w/e", "/w/other", "/w", "/w/a/f2", ""].map((s) => Buffer.from(s)).concat([odd]);
    for (const p of asked) {
      const s = p.toString("latin1");
      assert.equal(got.all.has(s), events.names(ix, "c1", p), `all: ${s}`);
      assert.equal(got.of.has(s), events.names(ix, "c1", p, ops), `of ops: ${s}`);
    }
    assert.ok(got.all.has(odd.toString("latin1")) && got.of.has("/w/c") && !got.of.has("/w/a/f1"));
    assert.equal(events.namedPaths(ix, "c1", ops, 4), null, "5 events over a max of 4");
    assert.ok(events.namedPaths(ix, "c1", ops, 5));
    assert.equal(events.namedPaths(ix, "nosuch", ops, 5)?.all.size, 0);
  } finally {
    ix.close();
  }
});
