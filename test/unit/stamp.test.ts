// The index's stamp (src/index/stamp.ts): every write an undo plan may depend on moves it, so a
// plan made ahead (src/undo/ahead.ts) is never used past a change it did not see. Checks that
// every table has its triggers (a table added later without them fails here), and that writes
// through each kind of path move it: a trigger, and the ingest's own bump for events and keeps.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Index } from "../../dist/index/db.js";
import * as stamp from "../../dist/index/stamp.js";
import * as commands from "../../dist/index/commands.js";
import * as keeps from "../../dist/index/keeps.js";

test("stamp: every table but spools has triggers on insert, update and delete (events, keeps and posts: update and delete; the ingest bumps their inserts)", (t) => {
  const d = mkdtempSync(join(tmpdir(), "shit-stamp-"));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const ix = new Index(join(d, "index.sqlite"));
  try {
    const have = new Set(stamp.triggers(ix).map((x) => `${x.table} ${x.op}`));
    const tables = stamp.tables(ix);
    assert.ok(tables.includes("commands") && tables.includes("events") && tables.includes("kills"), tables.join(" "));
    for (const tb of tables)
      for (const op of ["INSERT", "UPDATE", "DELETE"]) {
        if (op === "INSERT" && (tb === "events" || tb === "keeps" || tb === "posts")) continue;
        assert.ok(have.has(`${tb} ${op}`), `no stamp trigger on ${op} of ${tb}: a plan made ahead would not see such a write`);
      }
  } finally {
    ix.close();
  }
});

test("stamp: a command's row written, a keep marked gone, and the ingest's bump each move it; a read does not", (t) => {
  const d = mkdtempSync(join(tmpdir(), "shit-stamp-"));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const ix = new Index(join(d, "index.sqlite"));
  try {
    let last = stamp.stampOf(ix);
    const moved = (what: string) => {
      const now = stamp.stampOf(ix);
      assert.ok(now > last, `${what} moves the stamp (${last} → ${now})`);
      last = now;
    };
    ix.tx(() => commands.ensure(ix, "c0ffee0000000001", 1));
    moved("a command's row");
    ix.tx(() => keeps.insert(ix, { name: "c0ffee0000000001/1-1", hash: null, size: null, ino: null, ctime: null, state: "inode" }));
    assert.equal(stamp.stampOf(ix), last, "a keep's insert is the ingest's to bump");
    ix.tx(() => keeps.markGone(ix, ["c0ffee0000000001/1-1"]));
    moved("a keep marked gone");
    ix.tx(() => stamp.bump(ix));
    moved("the ingest's bump");
    commands.byId(ix, "c0ffee0000000001");
    assert.equal(stamp.stampOf(ix), last, "a read moves nothing");
  } finally {
    ix.close();
  }
});

test("stamp: marking an undo's keeps gone moves it once for all of them, not once a row; any other write of a keep, a gone one's included, still moves it", (t) => {
  const d = mkdtempSync(join(tmpdir(), "shit-stamp-"));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const ix = new Index(join(d, "index.sqlite"));
  try {
    const names = ["c0ffee0000000002/1-1", "c0ffee0000000002/1-2", "c0ffee0000000002/1-3"];
    ix.tx(() => {
      for (const name of names) keeps.insert(ix, { name, hash: null, size: null, ino: null, ctime: null, state: "inode" });
    });
    const before = stamp.stampOf(ix);
    ix.tx(() => keeps.markGone(ix, names));
    assert.equal(stamp.stampOf(ix), before + 1, "one move for the three rows");
    assert.deepEqual(
      names.map((n) => keeps.byName(ix, n)?.state),
      ["gone", "gone", "gone"],
    );
    ix.tx(() => keeps.markGone(ix, names));
    assert.equal(stamp.stampOf(ix), before + 1, "nothing left to mark: nothing written");
    ix.tx(() => keeps.setIdentity(ix, names[0], 7, "123"));
    assert.ok(stamp.stampOf(ix) > before + 1, "a gone keep's row written again moves it (its trigger)");
  } finally {
    ix.close();
  }
});
