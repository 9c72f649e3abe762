// The shapes of the index's rows, as the functions in this directory return them.

export interface CommandRow {
  id: string;
  kind: string;
  of: string | null;
  argv: Uint8Array | null;
  cwd: Uint8Array | null;
  started: number | null;
  ended: number | null;
  exit: number | null;
  signal: number | null;
  pid: number | null;
  undone_by: string | null;
  effects: string | null;
  session: string | null;
  line: string | null;
  shell: string | null;
  grp?: string | null; // a cascade's reversals share it
  class?: string | null; // changes | none | housekeeping; NULL: not counted yet
  parent?: string | null; // undo/redo: the command it was run from
  pinned?: number | null; // ms when `shit pin` pinned it (gc never frees it)
  pin_name?: string | null;
  freed?: number | null; // ms when gc freed its pre-images
  freed_by?: string | null; // what freed them: "gc" (by age), "budget" (over the store budget)
}

export interface EventRow {
  cmd: string;
  seq: number;
  op: number;
  pid: number;
  err: number;
  time: number;
  flags: number;
  path: Uint8Array | null;
  path2: Uint8Array | null;
  pre: Uint8Array | null;
  pre2: Uint8Array | null;
  parent: Uint8Array | null;
  parent2: Uint8Array | null;
  keep: string | null;
  keep_how: string | null;
  keep2: string | null;
  keep2_how: string | null;
  target: Uint8Array | null;
  target2: Uint8Array | null;
  xname: string | null;
  xvalue: Uint8Array | null;
  arg: number | null;
  step: number | null;
  note: string | null;
}

export interface ProcRow {
  cmd: string;
  seq: number;
  pid: number;
  time: number;
  argv: Uint8Array | null;
  cwd: Uint8Array | null;
}

export interface KeepRow {
  name: string;
  hash: string | null;
  size: number | null;
  ino: number | null;
  ctime: string | null; // ns, as text (past 2^53)
  state: string; // staged (a hashed copy) | stored (its bytes are a blob, src/store/blobs.ts) | inode (the file itself) | missing | gone (moved back) | expired (freed by gc)
}

export interface BlobRow {
  hash: string; // sha256 of the bytes (uncompressed)
  size: number; // bytes
  stored: number; // bytes on disk
  zstd: number; // 0 raw, not yet tried | 1 compressed (<hash>.zst) | 2 raw, compression saved too little
  added: number | null; // ms
}

export interface UntrackedRow {
  cmd: string;
  path: Uint8Array;
  kind: string; // create | delete | modify | attrib | move
  path2: Uint8Array | null;
  time: number | null;
}

// A row whose columns do not have the types this code writes (SQLite does not enforce them) can
// only come from a damaged index: it is never handed on as it is (test/fuzz.test.ts).
const blob = (v: unknown) => v === null || v instanceof Uint8Array;
const str = (v: unknown) => v === null || typeof v === "string";
const int = (v: unknown) => v === null || (typeof v === "number" && Number.isInteger(v));
/** A path as capture writes it: absolute, no NUL byte (the kernel takes none). */
const absPath = (v: unknown) => v === null || (v instanceof Uint8Array && v[0] === 0x2f && !v.includes(0));

/** An event row as read, or, when a column is damaged, a NOTCAPTURED in its place that names it
 *  (so an undo says it cannot do that part instead of guessing). */
export function checkedEvent(r: EventRow): EventRow {
  // no arrays or closures per row: every event of an undo passes here (10k for an rm -rf)
  const ok =
    netOk(r) &&
    blob(r.parent) &&
    blob(r.parent2) &&
    blob(r.target) &&
    blob(r.target2) &&
    blob(r.xvalue) &&
    str(r.keep2) &&
    str(r.keep2_how) &&
    str(r.xname) &&
    int(r.arg) &&
    int(r.step);
  if (ok) return r;
  return {
    ...r,
    ...damaged(r),
    parent: null,
    parent2: null,
    keep2: null,
    keep2_how: null,
    target: null,
    target2: null,
    xname: null,
    xvalue: null,
    arg: null,
    step: null,
  };
}

/** The columns of an event that its net effect and `shit show`'s lines read (events.iterate). */
export type NetRow = Pick<EventRow, "seq" | "op" | "err" | "flags" | "path" | "path2" | "pre" | "pre2" | "keep" | "keep_how" | "note">;

const netOk = (r: NetRow): boolean =>
  typeof r.op === "number" &&
  typeof r.err === "number" &&
  typeof r.flags === "number" &&
  absPath(r.path) &&
  absPath(r.path2) &&
  blob(r.pre) &&
  blob(r.pre2) &&
  str(r.keep) &&
  str(r.keep_how) &&
  str(r.note);

/** checkedEvent for those columns. */
export function checkedNet(r: NetRow): NetRow {
  return netOk(r) ? r : damaged(r);
}

/** A damaged row's columns as a NOTCAPTURED that says so. */
function damaged(r: NetRow): NetRow {
  return {
    seq: r.seq,
    op: 17 /* NOTCAPTURED */,
    err: 0,
    flags: 0,
    path: r.path instanceof Uint8Array ? r.path : null,
    path2: null,
    pre: null,
    pre2: null,
    keep: null,
    keep_how: null,
    note: "its record in the index is damaged",
  };
}

/** Whether an end-scan row has the types the end scan writes. */
/** What the end scan saw at a path when the command ended; seq: the POST's place in the spool
 *  (null in rows from before it was kept). */
export interface PostRow {
  path: Uint8Array;
  post: Uint8Array | null;
  seq: number | null;
}

export const goodPost = (r: { path: unknown; post: unknown }): boolean => r.path !== null && absPath(r.path) && blob(r.post);

/** A keep row as read, or, when a column is damaged, the same row as "missing" (an undo names it). */
export function checkedKeep(r: KeepRow): KeepRow {
  const ok = typeof r.name === "string" && typeof r.state === "string" && str(r.hash) && str(r.ctime) && int(r.size) && int(r.ino);
  return ok ? r : { name: String(r.name), hash: null, size: null, ino: null, ctime: null, state: "missing" };
}
