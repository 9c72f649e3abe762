// The bytes of a file before a command changed it and after, for content diffs (`shit show -p`,
// `shit diff`, `shit undo -p`). Before: the pre-image capture kept (checked as an undo checks
// it, src/store/store.ts). After: the present file when it is still what the command left (its
// end scan's identity), else what the next command kept of it, else it cannot be shown.
import { constants as C, lstatSync, readFileSync } from "node:fs";
import { readBlob } from "../store/blobs.js";
import type { CommandRow, EventRow } from "../index/rows.js";
import * as events from "../index/events.js";
import { Op, decodeStat, type Stat } from "../spool/records.js";
import { type BPath, fromBuf, isUnder, toBuf } from "../paths/bytes.js";
import { BlobError, type Store } from "../store/store.js";

/** Files larger than this are not read: their diff is their sizes. */
export const MAX_DIFF_BYTES = 8 << 20;

/** A file's contents (bytes null: larger than MAX_DIFF_BYTES), nothing there, or why it cannot be known. */
export type Image = { bytes: Buffer | null; size: number } | { none: true } | { why: string };

const CTIME_SLACK_MS = 100;
const WRITE = C.O_WRONLY | C.O_RDWR | C.O_TRUNC;

function readImage(path: string | Buffer, size: number): Image {
  if (size > MAX_DIFF_BYTES) return { bytes: null, size };
  try {
    const bytes = readFileSync(path);
    return { bytes, size: bytes.length };
  } catch (e) {
    return { why: `it cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
  }
}

/** The kept bytes a record names, checked before use. */
function kept(store: Store, cmd: string, keep: string | null, how: string | null, pre: Stat | null): Image {
  if (!keep) return { why: "its old bytes were not kept" };
  if (how === "T") return { why: "only the tail the truncate cut off was kept" };
  try {
    const src = store.source(cmd, keep, pre ?? undefined);
    const size = Number(pre?.size ?? 0);
    if (src.row.state !== "stored") return readImage(src.path, size);
    // a copy moved into the content-addressed store: read (and checked) from its blob
    if (size > MAX_DIFF_BYTES) return { bytes: null, size };
    const parts: Buffer[] = [];
    readBlob(store.paths, store.index, src.row.hash!, (b) => parts.push(Buffer.from(b)), `pre-image ${keep}`);
    const bytes = Buffer.concat(parts);
    return { bytes, size: bytes.length };
  } catch (e) {
    if (e instanceof BlobError) return { why: e.message };
    throw e;
  }
}

/** The file at p now, if it is a regular file (or nothing there). */
export function present(p: BPath): Image {
  const st = lstatSync(toBuf(p), { throwIfNoEntry: false });
  if (!st) return { none: true };
  if (!st.isFile()) return { why: "it is not a regular file now" };
  return readImage(toBuf(p), st.size);
}

/** What was at p before cmd changed it (its events in order): the kept pre-image. `left`: what cmd
 *  left there, for an append, whose old bytes are the first bytes of what it left. */
export function before(store: Store, cmd: CommandRow, evs: EventRow[], p: BPath, left?: () => Image): Image {
  let at = p; // where the object that was at p is now: a rename takes it along (an undo moves it aside first)
  for (const e of evs) {
    if (e.err !== 0) continue;
    const a = e.path ? fromBuf(e.path) : null;
    const b = e.path2 ? fromBuf(e.path2) : null;
    if (e.op === Op.RENAME && b === at && e.pre2) return kept(store, cmd.id, e.keep2, e.keep2_how, decodeStat(e.pre2));
    if (a !== at) continue;
    const pre = decodeStat(e.pre);
    if (e.op === Op.RENAME) {
      if (b === null) return { why: "it was moved away" };
      at = b;
      continue;
    }
    if (e.op === Op.UNLINK || e.op === Op.TRUNCATE) return kept(store, cmd.id, e.keep, e.keep_how, pre);
    if (e.op === Op.OPEN && !pre) return { none: true };
    if (e.op === Op.OPEN && e.flags & WRITE) {
      if (e.keep) return kept(store, cmd.id, e.keep, e.keep_how, pre);
      // appended to: the old bytes are what it left, up to the old size (when nothing else wrote)
      if (at === p && e.flags & C.O_APPEND && !(e.flags & C.O_TRUNC) && pre && left && evs.every((x) => x === e || !writes(x, p))) {
        const l = left();
        if ("bytes" in l && l.bytes && l.size >= Number(pre.size)) return { bytes: l.bytes.subarray(0, Number(pre.size)), size: Number(pre.size) };
      }
      return kept(store, cmd.id, null, null, pre);
    }
  }
  return at === p ? { none: true } : { why: "it was moved away, and is not kept" };
}

function writes(e: EventRow, p: BPath): boolean {
  if (e.err !== 0) return false;
  const a = e.path ? fromBuf(e.path) : null;
  if (e.op === Op.RENAME) return (e.path2 ? fromBuf(e.path2) : null) === p || a === p;
  return a === p && (e.op === Op.TRUNCATE || e.op === Op.UNLINK || (e.op === Op.OPEN && (e.flags & WRITE) !== 0));
}

/** What cmd left at p: the present file if it is still that (the end scan's inode, size and
 *  mtime; without an end scan, an inode unchanged since cmd ended), else what the next command
 *  that changed it kept, else why it cannot be shown. */
export function after(store: Store, cmd: CommandRow, evs: EventRow[], p: BPath): Image {
  const last = Math.max(-1, ...evs.filter((e) => e.err === 0 && ((e.path && fromBuf(e.path) === p) || (e.path2 && fromBuf(e.path2) === p))).map((e) => e.seq));
  const posts = events.postsOf(store.index, cmd.id).filter((r) => r.seq === null || r.seq > last);
  const row = posts.find((r) => fromBuf(r.path) === p);
  // null: the end scan found nothing there (or nothing at a directory above it: the scan leaves
  // out what is below a directory it found absent)
  const gone = !row && posts.some((r) => r.post === null && isUnder(p, fromBuf(r.path)));
  const post = row ? decodeStat(row.post) : gone ? null : undefined;
  if (post === null) return { none: true };
  const now = lstatSync(toBuf(p), { bigint: true, throwIfNoEntry: false });
  const same = (s: Stat) => !!now && now.isFile() && now.ino === s.ino && now.size === s.size && now.mtimeNs === s.mtimeNs;
  if (post && same(post)) return readImage(toBuf(p), Number(post.size));
  if (!post && now && now.isFile() && cmd.ended !== null && Number(now.ctimeMs) <= cmd.ended + CTIME_SLACK_MS) return readImage(toBuf(p), Number(now.size));
  const next = events.nextKeep(store.index, toBuf(p), cmd.id, cmd.started ?? 0);
  if (next) {
    const renamed = next.op === Op.RENAME;
    const pre = decodeStat(renamed ? next.pre2 : next.pre);
    const matches = !post || (pre && pre.ino === post.ino && pre.size === post.size && pre.mtimeNs === post.mtimeNs);
    if (matches) {
      store.preload(next.cmd);
      const img = kept(store, next.cmd, renamed ? next.keep2 : next.keep, renamed ? next.keep2_how : next.keep_how, pre);
      if (!("why" in img)) return img;
    }
  }
  return { why: "it was changed after the command, and what the command left was not kept" };
}
