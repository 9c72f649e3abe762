// The planner's virtual file system (src/plan/vfs.ts): a real temp tree overlaid with planned
// steps. No processes; the tree is made with fs calls before each view is built.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync, constants as C } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Expectations, RealTree, VFS, lstatNode, typeOf, TYPE_NAME, type VNode } from "../../dist/plan/vfs.js";
import type { Ends } from "../helpers.ts";

/** A temp tree: d/{a,b}, d/sub/c, e (file), l -> d; removed when the test ends. Paths as latin1. */
function tree(t: Ends): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "shit-vfs-")));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, "d/sub"), { recursive: true });
  writeFileSync(join(dir, "d/a"), "a");
  writeFileSync(join(dir, "d/b"), "bb");
  writeFileSync(join(dir, "d/sub/c"), "ccc");
  writeFileSync(join(dir, "e"), "e");
  symlinkSync("d", join(dir, "l"));
  return dir;
}

const file = (size: number, orig: string | null = null): VNode => ({ type: C.S_IFREG, ino: null, dev: null, size: BigInt(size), mtimeNs: null, orig });
const dirNode = (): VNode => ({ type: C.S_IFDIR, ino: null, dev: null, size: null, mtimeNs: null, orig: null });
const kids = (v: VFS, p: string) => v.children(p).sort();

test("vfs: with no steps planned, the view is the real tree (lstat: a symlink is not followed)", (t) => {
  const T = tree(t);
  const v = new VFS();
  assert.equal(v.get(`${T}/d/b`)?.size, 2n);
  assert.equal(v.get(`${T}/d`)?.type, C.S_IFDIR);
  assert.equal(v.get(`${T}/l`)?.type, C.S_IFLNK);
  assert.equal(v.get(`${T}/nope`), null);
  assert.deepEqual(kids(v, `${T}/d`), ["a", "b", "sub"]);
  const n = lstatNode(`${T}/d/a`)!;
  assert.equal(n.orig, `${n.dev}:${n.ino}`);
  assert.equal(TYPE_NAME[typeOf(0o100644)], "file");
  assert.equal(TYPE_NAME[typeOf(0o40755)], "directory");
});

test("vfs: set and remove overlay the real tree; a removed directory hides everything below it", (t) => {
  const T = tree(t);
  const v = new VFS();
  v.set(`${T}/d/new`, file(9));
  v.remove(`${T}/d/a`);
  assert.equal(v.get(`${T}/d/new`)?.size, 9n);
  assert.equal(v.get(`${T}/d/a`), null);
  assert.deepEqual(kids(v, `${T}/d`), ["b", "new", "sub"]);
  v.remove(`${T}/d`);
  assert.equal(v.get(`${T}/d`), null);
  assert.equal(v.get(`${T}/d/b`), null);
  assert.equal(v.get(`${T}/d/sub/c`), null);
  assert.equal(v.get(`${T}/d/new`), null, "the overlay below it goes too");
  assert.deepEqual(kids(v, `${T}/d`), []);
  // the real tree is untouched, and realAt sees it
  assert.equal(v.realAt(`${T}/d/a`)?.size, 1n);
});

test("vfs: a renamed directory takes its real contents and its overlay along", (t) => {
  const T = tree(t);
  const v = new VFS();
  v.set(`${T}/d/sub/planned`, file(4));
  v.remove(`${T}/d/b`);
  v.rename(`${T}/d`, `${T}/moved`);
  assert.equal(v.get(`${T}/d`), null);
  assert.equal(v.get(`${T}/d/a`), null);
  assert.equal(v.get(`${T}/moved`)?.type, C.S_IFDIR);
  assert.equal(v.get(`${T}/moved/a`)?.size, 1n);
  assert.equal(v.get(`${T}/moved/sub/c`)?.size, 3n);
  assert.equal(v.get(`${T}/moved/sub/planned`)?.size, 4n);
  assert.equal(v.get(`${T}/moved/b`), null, "a removal planned before the move stays removed");
  assert.deepEqual(kids(v, `${T}/moved`), ["a", "sub"]);
  assert.deepEqual(kids(v, `${T}/moved/sub`), ["c", "planned"]);
  // and back again, then a new empty directory in its old place
  v.rename(`${T}/moved`, `${T}/d`);
  assert.equal(v.get(`${T}/d/sub/c`)?.size, 3n);
  assert.equal(v.get(`${T}/moved`), null);
  v.rename(`${T}/d`, `${T}/again`);
  v.setEmptyDir(`${T}/d`, dirNode());
  assert.deepEqual(kids(v, `${T}/d`), [], "nothing real shows through a new directory");
  assert.equal(v.get(`${T}/d/a`), null);
  assert.equal(v.get(`${T}/again/a`)?.size, 1n);
});

test("vfs: renaming a file over another replaces it; the source is gone", (t) => {
  const T = tree(t);
  const v = new VFS();
  const a = v.get(`${T}/d/a`)!;
  v.rename(`${T}/d/a`, `${T}/d/b`);
  assert.equal(v.get(`${T}/d/a`), null);
  assert.deepEqual(v.get(`${T}/d/b`), a);
  assert.deepEqual(kids(v, `${T}/d`), ["b", "sub"]);
});

test("vfs: fresh() is an empty overlay over the same cached real tree", (t) => {
  const T = tree(t);
  const v = new VFS();
  assert.equal(v.get(`${T}/e`)?.size, 1n);
  v.remove(`${T}/e`);
  writeFileSync(join(T, "e"), "changed on disk after it was looked at");
  const f = v.fresh();
  assert.equal(f.get(`${T}/e`)?.size, 1n, "the real tree as first seen (the shared cache)");
  assert.equal(new VFS().get(`${T}/e`)?.size, 38n, "a new view looks again");
  assert.equal(v.get(`${T}/e`), null, "the old overlay is its own");
});

test("vfs: findOrig finds an inode by identity in the overlay, else among the entries of the given dirs", (t) => {
  const T = tree(t);
  const v = new VFS();
  const c = v.get(`${T}/d/sub/c`)!;
  assert.equal(v.findOrig(c.orig!, [`${T}/d`]), null, "not in the overlay, not directly in d");
  assert.equal(v.findOrig(c.orig!, [`${T}/d`, `${T}/d/sub`]), `${T}/d/sub/c`);
  v.set(`${T}/planned-copy`, file(3, c.orig));
  assert.equal(v.findOrig(c.orig!, []), `${T}/planned-copy`);
  assert.equal(v.findOrig("0:0", [T, `${T}/d`]), null);
});

// below a real regular file lstat fails with ENOTDIR: that is "nothing there", not an error
test("vfs: below a real regular file there is nothing (no throw)", (t) => {
  const T = tree(t);
  const v = new VFS();
  assert.equal(v.get(`${T}/e/below-a-file`), null);
  assert.equal(v.realAt(`${T}/e/below-a-file`), null);
});

// the real tree's cache is packed (slots found by a hash of directory and name): every path
// added is found again with its node, its own path and its mark, across the table's growths
test("vfs: the real tree's packed cache gives back each path's node, path and mark", () => {
  const r = new RealTree();
  const want = new Map<string, VNode | null>();
  const devs = [1n, 2n ** 63n + 5n];
  for (let i = 0; i < 5000; i++) {
    const p = `/d${i % 7}/${i % 3 ? "f" : "a longer name \xe9 \xff "}${i}`;
    const n: VNode | null =
      i % 11
        ? { type: i % 5 ? C.S_IFREG : C.S_IFDIR, ino: 2n ** 64n - BigInt(i + 1), dev: devs[i % 2], size: BigInt(i), mtimeNs: BigInt(i) * 10n ** 9n, orig: "" }
        : null;
    if (n) n.orig = `${n.dev}:${n.ino}`;
    want.set(p, n);
    const at = r.add(p, n);
    if (i % 4 === 0) r.mark(at);
  }
  let i = 0;
  for (const [p, n] of want) {
    const at = r.lookup(p);
    assert.equal(at, i, p);
    assert.equal(r.pathOf(at!), p);
    assert.deepEqual(r.node(at!), n, p);
    assert.equal(r.marked(at), i % 4 === 0, p);
    i++;
  }
  assert.equal(r.lookup("/d1/f9999"), undefined);
  assert.equal(r.lookup("/nowhere/f1"), undefined);
  assert.equal(r.marked(r.lookup("/d1/f1")), false);
});

test("vfs: the real tree keeps each path's device past 65536 devices (its column widens)", () => {
  const r = new RealTree();
  const n = 70000;
  const node = (i: number): VNode => ({ type: C.S_IFREG, ino: BigInt(i), dev: BigInt(1000 + i), size: 1n, mtimeNs: 2n, orig: `${1000 + i}:${i}` });
  for (let i = 0; i < n; i++) r.add(`/d${i % 13}/f${i}`, node(i));
  for (const i of [0, 1, 65535, 65536, 65537, n - 1]) assert.deepEqual(r.node(r.lookup(`/d${i % 13}/f${i}`)!), node(i), `${i}`);
});

// a plan's expectations: in the order first seen, once each, less what an absent directory implies
test("vfs: expectations iterate in the order first seen, less paths below a directory expected absent", (t) => {
  const T = tree(t);
  const v = new VFS();
  const e = new Expectations(v.cache);
  for (const p of [`${T}/d/a`, `${T}/gone`, `${T}/gone/x`, `${T}/d/a`, `${T}/e`, `${T}/e/below`]) v.expectReal(e, p);
  assert.deepEqual(
    [...e].map((x) => [x.path.slice(T.length), x.node?.size ?? null]),
    [
      ["/d/a", 1n],
      ["/gone", null],
      ["/e", 1n],
      ["/e/below", null],
    ],
  );
  assert.ok(e.has(`${T}/gone`, true) && e.has(`${T}/d/a`) && !e.has(`${T}/d/a`, true) && !e.has(`${T}/d/b`));
});

// the overlay's packed slots (src/plan/vfs.ts, Overlay): grown from a few slots, with dropped
// directories' slots left behind, names that are not ASCII, names set again keeping their place
test("vfs: the overlay keeps every name through growth, dropped directories and renames", (t) => {
  const T = tree(t);
  const v = new VFS(undefined, 16);
  const name = (f: number) => `f\xe9\xff${f}`;
  for (let d = 0; d < 10; d++) {
    v.setEmptyDir(`${T}/n${d}`, dirNode());
    for (let f = 0; f < 300; f++) v.set(`${T}/n${d}/${name(f)}`, { ...file(f, `7:${d * 1000 + f}`), mtimeNs: BigInt(f) * 10n ** 9n });
  }
  v.remove(`${T}/n4`);
  v.setEmptyDir(`${T}/n4`, dirNode());
  v.set(`${T}/n4/x`, file(1));
  // more names after the drop: the table grows again past n4's old slots
  for (let f = 0; f < 3000; f++) v.set(`${T}/n9/g${f}`, file(f));
  for (let d = 0; d < 10; d++)
    for (let f = 0; f < 300; f++) {
      const n = v.get(`${T}/n${d}/${name(f)}`);
      if (d === 4) assert.equal(n, null);
      else assert.deepEqual([n?.size, n?.mtimeNs, n?.orig], [BigInt(f), BigInt(f) * 10n ** 9n, `7:${d * 1000 + f}`]);
    }
  assert.equal(v.get(`${T}/n9/g2999`)?.size, 2999n);
  assert.deepEqual(v.children(`${T}/n4`), ["x"]);
  // in the order set; one removed and set again keeps its place
  v.remove(`${T}/n3/${name(1)}`);
  assert.deepEqual(v.children(`${T}/n3`).slice(0, 3), [name(0), name(2), name(3)]);
  v.set(`${T}/n3/${name(1)}`, file(5));
  assert.deepEqual(v.children(`${T}/n3`).slice(0, 3), [name(0), name(1), name(2)]);
  assert.equal(v.children(`${T}/n3`).length, 300);
  assert.equal(v.findOrig("7:2010", []), `${T}/n2/${name(10)}`);
  v.rename(`${T}/n5`, `${T}/m5`);
  assert.equal(v.get(`${T}/n5/${name(7)}`), null);
  assert.equal(v.get(`${T}/m5/${name(7)}`)?.orig, "7:5007");
  assert.equal(v.findOrig("7:5007", []), `${T}/m5/${name(7)}`);
  assert.equal(v.findOrig("7:4007", []), null);
  // nodes with an inode and a device of their own, of more devices than 16 bits number
  const w = new VFS(undefined, 16);
  const real = (j: number): VNode => ({
    type: C.S_IFREG,
    ino: 2n ** 64n - BigInt(j + 1),
    dev: BigInt(j),
    size: 1n,
    mtimeNs: 2n,
    orig: `${j}:${2n ** 64n - BigInt(j + 1)}`,
  });
  for (let j = 0; j < 70000; j++) w.set(`${T}/r/f${j}`, real(j));
  for (let j = 0; j < 70000; j += 7) assert.deepEqual(w.get(`${T}/r/f${j}`), real(j));
  assert.equal(w.findOrig(real(69999).orig!, []), `${T}/r/f69999`);
});

test("vfs: an overlay of paths set to nothing holds no node columns (the redo of an undo of an rm -rf of 1M files sets 1M), and a node put after them keeps all it has", () => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const n = 200_000;
  const under = "/nonexistent-shit-vfs-test/d"; // no lstat below an absent directory: the real tree stays small
  gc();
  const base = process.memoryUsage().arrayBuffers;
  const v = new VFS(undefined, n);
  for (let f = 0; f < n; f++) v.remove(`${under}/f${f}`);
  gc();
  const perSlot = (process.memoryUsage().arrayBuffers - base) / n;
  // a slot's directory, name end, next, type, known bits and order, the hash table and the names'
  // bytes: ~41 bytes; with the size, mtime, orig and device columns made for every slot, ~69
  assert.ok(perSlot < 50, `${perSlot.toFixed(1)} bytes of typed arrays a slot`);
  const real: VNode = { type: C.S_IFREG, ino: 2n ** 64n - 3n, dev: 70000n, size: 5n, mtimeNs: 6n, orig: `70000:${2n ** 64n - 3n}` };
  v.set(`${under}/x`, real);
  for (let f = 0; f < 300_000; f++) v.set(`${under}/g${f}`, file(f, `9:${f}`)); // grown past them, columns and all
  assert.deepEqual(v.get(`${under}/x`), real);
  assert.equal(v.get(`${under}/f7`), null);
  assert.deepEqual([v.get(`${under}/g299999`)?.size, v.get(`${under}/g299999`)?.orig], [299999n, "9:299999"]);
  assert.equal(v.findOrig("9:123", []), `${under}/g123`);
});
