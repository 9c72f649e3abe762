// The list of pre-images an undo moves back, left for the ingest of its END (src/ingest/moved.ts):
// written 64 KiB at a time, one name a line, and read back a MiB at a time, every name once in
// order (across the reads' edges); a list a version before left as JSON is read too. The names as
// the undo holds them (src/store/names.ts): packed, every one back in order across chunks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serialize, deserialize } from "node:v8";
import { deferMoved, readLines } from "../../dist/ingest/moved.js";
import { NameList } from "../../dist/store/names.js";
import type { StatePaths } from "../../dist/paths/state.js";

test("moved: a list of many names is written a line each and read back whole, in order", (t) => {
  const run = mkdtempSync(join(tmpdir(), "shit-moved-"));
  t.after(() => rmSync(run, { recursive: true, force: true }));
  const file = join(run, "moved", "u1");
  // ~3.5 MB: names cut by the reader's 1 MiB reads and the writer's 64 KiB writes
  const names = Array.from({ length: 150000 }, (_, i) => `c0ffee${i % 7}/${i % 13 ? `1-${i}` : `d1-2/a name, ${i}`}`);
  for (const list of [names, [], ["one"]]) {
    assert.ok(deferMoved({ run } as StatePaths, "u1", list));
    assert.equal(readFileSync(file, "latin1"), list.map((n) => n + "\n").join(""));
    assert.deepEqual([...readLines(file)], list);
  }
  writeFileSync(file, JSON.stringify(names.slice(0, 5000)));
  assert.deepEqual([...readLines(file)], names.slice(0, 5000), "a list written as JSON");
});

test("moved: names held packed come back each once, in order, across chunks, and through v8's serialize", () => {
  // ~3.5 MB: names across the 1 MiB chunks' edges
  const names = Array.from({ length: 150000 }, (_, i) => `c0ffee${i % 7}/${i % 13 ? `1-${i}` : `d1-2/a name, ${i}`}`);
  // names sharing more than 255 bytes with the one before, one that is the start of the one before, the same twice
  const long = ["p".repeat(300) + "a", "p".repeat(300) + "b", "p".repeat(300), "p".repeat(300), "q"];
  for (const list of [names, [], ["one"], ["x".repeat(3 << 20), "y"], long]) {
    const l = NameList.of(list);
    assert.equal(l.length, list.length);
    assert.deepEqual([...l], list);
    const back = NameList.fromBytes(deserialize(serialize(l.bytes())));
    assert.equal(back?.length, list.length);
    assert.deepEqual([...back!], list);
    back!.push("after");
    assert.deepEqual([...back!].slice(-2), [...list.slice(-1), "after"]);
  }
  for (const bad of [["a\n"], [new Uint8Array([97])], [new Uint8Array([1, 97, 10])], "a\n", null]) assert.equal(NameList.fromBytes(bad), null);
  // packed: an rm -rf's names (<cmd>/<dev>-<ino>), 41 bytes each as text, take ~7 a name
  const rm = Array.from({ length: 100000 }, (_, i) => `01JABCDEFGHJKMNPQRSTVWXYZ0/2049-${1000000 + 3 * i}`);
  const packed = NameList.of(rm);
  assert.deepEqual([...packed], rm);
  const bytes = packed.bytes().reduce((n, b) => n + b.length, 0);
  assert.ok(bytes < 10 * rm.length, `${bytes} bytes`);
});
