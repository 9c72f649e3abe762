// Effect counting on synthetic events: each path's state before the command against after it
// (src/ingest/effects.ts). No index, no processes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { constants as C } from "node:fs";
import { classOf, effectCounts, storedCounts } from "../../dist/ingest/effects.js";
import { housekeeping } from "../../dist/ingest/housekeeping.js";
import { fold, netChanges, netEffects } from "../../dist/plan/net.js";
import { Op, encodeStat } from "../../dist/spool/records.js";
import { ev } from "./events.ts";
import type { EventRow } from "../../dist/index/rows.js";

const PRE = new Uint8Array(64); // only its presence matters here
const net = (evs: EventRow[]) => Object.fromEntries(netEffects(evs));

test("net effects: a file created then deleted is nothing; modified then deleted is deleted", () => {
  assert.deepEqual(net([ev(Op.OPEN, "/t", { flags: C.O_WRONLY | C.O_CREAT }), ev(Op.UNLINK, "/t")]), {});
  assert.deepEqual(net([ev(Op.OPEN, "/f", { flags: C.O_WRONLY, pre: PRE }), ev(Op.UNLINK, "/f")]), { "/f": "deleted" });
});

test("net effects: a rename is one renamed path, also over a file (replacing it); a temp file renamed over one is a modify", () => {
  assert.deepEqual(net([ev(Op.RENAME, "/a", { path2: Buffer.from("/b") })]), { "/a": "renamed" });
  // mv a b over b: one rename, that replaced b (as people say it), not a delete and a modify
  assert.deepEqual(net([ev(Op.RENAME, "/a", { path2: Buffer.from("/b"), pre2: PRE })]), { "/a": "renamed" });
  assert.equal(netChanges([ev(Op.RENAME, "/a", { path2: Buffer.from("/b"), pre2: PRE })])[0].replaced, true);
  // sed -i: create a temp file, rename it over f
  const sed = [ev(Op.OPEN, "/d/sedX1", { flags: C.O_WRONLY | C.O_CREAT }), ev(Op.RENAME, "/d/sedX1", { path2: Buffer.from("/d/f"), pre2: PRE })];
  assert.deepEqual(net(sed), { "/d/f": "modified" });
  // a → b → c is one rename a → c
  const chain = [ev(Op.RENAME, "/a", { path2: Buffer.from("/b") }), ev(Op.RENAME, "/b", { path2: Buffer.from("/c") })];
  assert.deepEqual(
    netChanges(chain).map((c) => [c.path, c.effect, c.to]),
    [["/a", "renamed", "/c"]],
  );
});

test("net effects: a swap, or a cycle of renames, is a rename of each (replacing), not nothing", () => {
  // each object its own inode (a rename between two names of one inode does nothing)
  const ino = { "/x": 1n, "/y": 2n, "/z": 3n } as Record<string, bigint>;
  const file = (i: bigint) =>
    encodeStat({ dev: 1n, ino: i, mode: C.S_IFREG | 0o644, uid: 0, gid: 0, nlink: 1, size: 1n, mtimeNs: 0n, ctimeNs: 0n, atimeNs: 0n });
  const mv = (a: string, b: string, obj: string, over?: string) =>
    ev(Op.RENAME, a, { path2: Buffer.from(b), pre: file(ino[obj]), ...(over ? { pre2: file(ino[over]) } : {}) });
  // as mv does it: each name is free again when the next object moves onto it
  const cycle = [mv("/x", "/t", "/x"), mv("/y", "/x", "/y"), mv("/z", "/y", "/z"), mv("/t", "/z", "/x")];
  assert.deepEqual(
    netChanges(cycle).map((c) => [c.path, c.effect, c.to, c.replaced]),
    [
      ["/x", "renamed", "/z", true],
      ["/y", "renamed", "/x", true],
      ["/z", "renamed", "/y", true],
    ],
  );
});

test("net changes fold a deleted tree into one entry with counts; all: every path", () => {
  const dir = (m: number) => {
    const b = new Uint8Array(64);
    new DataView(b.buffer).setUint32(16, m, true);
    return b;
  };
  const evs = [
    ev(Op.UNLINK, "/t/d/y", { pre: dir(C.S_IFREG | 0o644) }),
    ev(Op.RMDIR, "/t/d", { pre: dir(C.S_IFDIR | 0o755) }),
    ev(Op.UNLINK, "/t/x", { pre: dir(C.S_IFREG | 0o644) }),
    ev(Op.RMDIR, "/t", { pre: dir(C.S_IFDIR | 0o755) }),
    ev(Op.UNLINK, "/t-other", { pre: dir(C.S_IFREG | 0o644) }),
  ];
  const f = fold(netChanges(evs));
  assert.deepEqual(
    f.map((x) => [x.change.path, x.contents]),
    [
      ["/t", { files: 2, dirs: 1, links: 0, other: 0 }],
      ["/t-other", undefined],
    ],
  );
  assert.equal(fold(netChanges(evs), true).length, 5);
});

test("net changes: a chmod says the mode before and after", () => {
  const pre = new Uint8Array(64);
  new DataView(pre.buffer).setUint32(16, C.S_IFREG | 0o644, true);
  const [c] = netChanges([ev(Op.CHMOD, "/m", { pre, flags: 0o755 })]);
  assert.deepEqual([c.effect, c.mode], ["metadata", [0o644, 0o755]]);
});

test("net effects: metadata only, failed calls ignored, a read-only open is nothing", () => {
  assert.deepEqual(net([ev(Op.CHMOD, "/m"), ev(Op.UTIMES, "/m")]), { "/m": "metadata" });
  assert.deepEqual(net([ev(Op.UNLINK, "/x", { err: 2 })]), {});
  assert.deepEqual(net([ev(Op.OPEN, "/r", { flags: C.O_RDONLY, pre: PRE })]), {});
});

test("counts add the shell's changes, untracked ones, what was not captured and the processes and units it ended", () => {
  const c = effectCounts([ev(Op.MKDIR, "/d"), ev(Op.SYMLINK, "/d/l"), ev(Op.NOTCAPTURED, "/s", { err: 0 })], 2, 1, { killed: 3, stopped: 1 });
  assert.deepEqual(c, { deleted: 0, modified: 0, created: 2, renamed: 0, metadata: 0, notCaptured: 1, shell: 2, untracked: 1, killed: 3, stopped: 1 });
  assert.deepEqual(storedCounts(null), {
    deleted: 0,
    modified: 0,
    created: 0,
    renamed: 0,
    metadata: 0,
    notCaptured: 0,
    shell: 0,
    untracked: 0,
    killed: 0,
    stopped: 0,
  });
  assert.equal(storedCounts(JSON.stringify({ deleted: 3 })).deleted, 3, "counts stored before a kind existed read as 0 for it");
});

test("a command whose only effect was a kill or a stopped unit has changes (undo's target), one that did nothing has none", () => {
  const cls = (ended: { killed: number; stopped: number }) => classOf(effectCounts([], 0, 0, ended), new Map(), housekeeping(), () => false);
  assert.equal(cls({ killed: 1, stopped: 0 }), "changes");
  assert.equal(cls({ killed: 0, stopped: 1 }), "changes");
  assert.equal(cls({ killed: 0, stopped: 0 }), "none");
});

test("net changes come in path order: a directory's contents right after it, names by their bytes; from an iterator as from an array", () => {
  const paths = ["/w/a-b", "/w/a/b/c", "/w/a", "/w/a b", "/w/a.b", "/w/a/b", "/w/B", "/w/a/\xe9", "/w/a/z", "/v", "/w/a!"];
  const evs = paths.map((p) => ev(Op.MKDIR, p));
  // "/" before every other byte, so a/… comes before a!, a-b, a.b (whole paths compared with it as NUL)
  const want = paths
    .map((p) => Buffer.from(p).toString("latin1"))
    .sort((x, y) => {
      const [a, b] = [x.replaceAll("/", "\0"), y.replaceAll("/", "\0")];
      return a < b ? -1 : a > b ? 1 : 0;
    });
  assert.deepEqual(
    netChanges(evs).map((c) => c.path),
    want,
  );
  assert.deepEqual(want.slice(0, 7), ["/v", "/w/B", "/w/a", "/w/a/b", "/w/a/b/c", "/w/a/z", "/w/a/\xc3\xa9"]); // é as its UTF-8 bytes
  assert.deepEqual(
    netChanges(evs.values()).map((c) => c.path),
    want,
  );
});
