// Packed sets of names and numbers by hash (src/paths/names.ts): what the undo of an rm -rf of 1M
// files asks of its staging directory's names and of its records' paths, exact, in typed arrays.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ByHash, NameSet, bytesHash, nameHash } from "../../dist/paths/names.js";

test("names: a packed set holds each name once and answers exactly, across its growth", () => {
  const s = new NameSet();
  const names = Array.from({ length: 50000 }, (_, i) => (i % 3 ? `2049-${i}` : `d${i}-\xe9\xff ${"x".repeat(i % 70)}`));
  for (const n of names) s.add(n);
  for (const n of names.slice(0, 100)) s.add(n); // again: no second entry
  assert.equal(s.size, names.length);
  for (const n of names) assert.ok(s.has(n), n);
  for (const n of ["", "2049-50000", "2049-1 ", "2049-", "d0-\xe9\xff x"]) assert.equal(s.has(n), false, n);
  s.add("");
  assert.ok(s.has(""));
  assert.equal(bytesHash(Buffer.from("d3-\xe9\xff", "latin1")), nameHash("d3-\xe9\xff"));
});

test("names: numbers by hash keep every number added under a hash, in order, whatever else shares the table", () => {
  const b = new ByHash();
  for (let i = 0; i < 30000; i++) b.add((i * 2654435761) >>> 0, i);
  b.add(7, 1e12); // a seq past 2^32
  b.add(7, 3);
  b.add((7 + 2048) >>> 0, 4); // the same slot in a small table, another hash
  for (let i = 0; i < 30000; i += 997) assert.deepEqual(b.get((i * 2654435761) >>> 0).slice(-1), [i]);
  assert.deepEqual(b.get(7).slice(-2), [1e12, 3]);
  assert.deepEqual(b.get(7 + 2048).slice(-1), [4]);
  assert.deepEqual(b.get(0xffffffff), []);
});
