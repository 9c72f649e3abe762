// Records of calls a kill kept from happening (src/undo/unhappened.ts): capture writes the records
// of an unlink into staging, a rename and an rmdir before the call; a record whose call never
// ran is dropped by what the present tree shows. Real temp files, synthetic events.
import { test } from "node:test";
import assert from "node:assert/strict";
import { lstatSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { happened } from "../../dist/undo/unhappened.js";
import { bytesHash } from "../../dist/paths/names.js";
import { Op, encodeStat, type Stat } from "../../dist/spool/records.js";
import type { EventRow } from "../../dist/index/rows.js";

let seq = 0;
function ev(op: number, path: string, pre: Stat, extra: Partial<EventRow> = {}): EventRow {
  return {
    ...{ cmd: "c0ffee", seq: (seq += 64), op, pid: 1, err: 0, time: 0, flags: 0, path: Buffer.from(path), path2: null, pre: encodeStat(pre) },
    ...{ pre2: null, parent: null, parent2: null, keep: null, keep_how: null, keep2: null, keep2_how: null, target: null, target2: null },
    ...{ xname: null, xvalue: null, arg: null, step: null, note: null },
    ...extra,
  };
}

function real(p: string): Stat {
  const st = lstatSync(p, { bigint: true });
  return { dev: st.dev, ino: st.ino, mode: Number(st.mode), uid: 0, gid: 0, nlink: 1, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, atimeNs: 0n };
}

test("happened: drops records whose call a kill kept from running, keeps the rest", (t) => {
  const d = mkdtempSync(join(tmpdir(), "shit-unhappened-"));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const staging = join(d, "staging");
  mkdirSync(join(staging, "c0ffee"), { recursive: true });
  for (const n of ["never", "moved", "src", "dir"]) (n === "dir" ? mkdirSync : (p: string) => writeFileSync(p, n))(join(d, n));
  const preNever = real(join(d, "never"));
  const preMoved = real(join(d, "moved"));
  renameSync(join(d, "moved"), join(staging, "c0ffee/1-2")); // the unlink into staging happened
  const preSrc = real(join(d, "src"));
  const preDir = real(join(d, "dir"));
  const never = ev(Op.UNLINK, join(d, "never"), preNever, { keep: "c0ffee/1-1", keep_how: "R" });
  const moved = ev(Op.UNLINK, join(d, "moved"), preMoved, { keep: "c0ffee/1-2", keep_how: "R" });
  const rename = ev(Op.RENAME, join(d, "src"), preSrc, { path2: Buffer.from(join(d, "dst")) });
  const rmdir = ev(Op.RMDIR, join(d, "dir"), preDir);
  // a resumed shit-apply: the same unlink recorded twice, only the second call ran
  const twice1 = ev(Op.UNLINK, join(d, "moved"), preMoved, { keep: "c0ffee/1-2", keep_how: "R" });
  const kept = happened([never, moved, rename, rmdir, twice1], staging).map((e) => e.seq);
  assert.deepEqual(kept, [twice1.seq]);
  // once the calls happen, their records stand
  renameSync(join(d, "src"), join(d, "dst"));
  rmSync(join(d, "dir"), { recursive: true });
  assert.deepEqual(
    happened([rename, rmdir], staging).map((e) => e.seq),
    [rename.seq, rmdir.seq],
  );
});

test("happened: a keep name bent by a damaged record (NUL bytes, '..', no slash) is not looked up in staging; the tree decides", (t) => {
  const d = mkdtempSync(join(tmpdir(), "shit-unhappened-"));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const staging = join(d, "staging");
  mkdirSync(staging, { recursive: true });
  writeFileSync(join(d, "still"), "x");
  const pre = real(join(d, "still"));
  writeFileSync(join(d, "gone"), "y");
  const preGone = real(join(d, "gone"));
  rmSync(join(d, "gone"));
  for (const keep of ["6389b4\0\0\0mv\0a\0b", "../../etc/passwd", "c0ffee", "c0ffee/1-1\0"]) {
    // the path still holds its inode: the call never ran, whatever the keep says; the other did
    const evs = [ev(Op.UNLINK, join(d, "still"), pre, { keep, keep_how: "R" }), ev(Op.UNLINK, join(d, "gone"), preGone, { keep, keep_how: "R" })];
    assert.deepEqual(
      happened(evs, staging).map((e) => e.path!.toString()),
      [join(d, "gone")],
      JSON.stringify(keep),
    );
  }
});

test("happened: a repeated record is known by its path, not by its path's hash: two paths of one hash are both kept", () => {
  // two names whose paths share an FNV-1a hash (a birthday search: ~80k names for 32 bits)
  const seen = new Map<number, string>();
  let pair: [string, string] | null = null;
  for (let i = 0; !pair; i++) {
    const p = `/nonexistent-shit-test/f${i}`;
    const h = bytesHash(Buffer.from(p));
    const other = seen.get(h);
    if (other !== undefined) pair = [other, p];
    else seen.set(h, p);
  }
  const pre: Stat = { dev: 1n, ino: 9n, mode: 0o100644, uid: 0, gid: 0, nlink: 2, size: 1n, mtimeNs: 0n, ctimeNs: 5n, atimeNs: 0n };
  const same = { keep: "c0ffee/1-9", keep_how: "R" };
  const a = ev(Op.UNLINK, pair[0], pre, same);
  const b = ev(Op.UNLINK, pair[1], pre, same);
  assert.deepEqual(
    happened([a, b], undefined).map((e) => e.seq),
    [a.seq, b.seq],
  );
  // the same path's record again (a resumed apply) drops the first
  const again = ev(Op.UNLINK, pair[0], pre, same);
  assert.deepEqual(
    happened([a, b, again], undefined).map((e) => e.seq),
    [b.seq, again.seq],
  );
});
