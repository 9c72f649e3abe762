// The events table (one row per captured call, keyed by its byte offset in the command's spool)
// and posts (each path's state when `shit run` ended, from its end scan). Written by ingest only.
import type { Index } from "./db.js";
import { Op } from "../spool/records.js";
import { fromBuf } from "../paths/bytes.js";
import { checkedEvent, checkedNet, goodPost, type EventRow, type NetRow, type PostRow } from "./rows.js";

const COLS =
  "cmd, seq, op, pid, err, time, flags, path, path2, pre, pre2, parent, parent2, keep, keep_how, keep2, keep2_how, target, target2, xname, xvalue, arg, step, note";

/** An event row from the columns of COLS, in that order: an object literal (fast properties). */
function eventOf(r: unknown[]): EventRow {
  return {
    cmd: r[0],
    seq: r[1],
    op: r[2],
    pid: r[3],
    err: r[4],
    time: r[5],
    flags: r[6],
    path: r[7],
    path2: r[8],
    pre: r[9],
    pre2: r[10],
    parent: r[11],
    parent2: r[12],
    keep: r[13],
    keep_how: r[14],
    keep2: r[15],
    keep2_how: r[16],
    target: r[17],
    target2: r[18],
    xname: r[19],
    xvalue: r[20],
    arg: r[21],
    step: r[22],
    note: r[23],
  } as EventRow;
}

/** Blob columns of a command's events, copied into shared slabs: node:sqlite gives each blob its
 *  own ArrayBuffer and backing store, ~180 bytes besides its bytes, three a row (path, pre,
 *  parent): the 100k events of an rm -rf held ~55 MB more that way. */
class Slabs {
  private slab = Buffer.allocUnsafeSlow(0);
  private at = 0;
  copy(v: unknown): unknown {
    if (!(v instanceof Uint8Array)) return v;
    const n = v.byteLength;
    if (this.at + n > this.slab.length) {
      this.slab = Buffer.allocUnsafeSlow(Math.max(n, 1 << 20));
      this.at = 0;
    }
    const out = this.slab.subarray(this.at, this.at + n);
    out.set(v);
    this.at += (n + 7) & ~7;
    return out;
  }
}
const BLOBS = [7, 8, 9, 10, 11, 12, 17, 18, 20]; // path, path2, pre, pre2, parent, parent2, target, target2, xvalue in COLS

/** A command's events, whole, in seq order (read one row at a time: no second array of them all). */
export function of(ix: Index, cmd: string): EventRow[] {
  const out: EventRow[] = [];
  const slabs = new Slabs();
  for (const r of ix.iterateArrays(`SELECT ${COLS} FROM events WHERE cmd = ? ORDER BY seq`, cmd)) {
    r[0] = cmd; // one string for all, not one a row
    for (const i of BLOBS) r[i] = slabs.copy(r[i]);
    out.push(checkedEvent(eventOf(r)));
  }
  return out;
}

/** A command's events one row at a time, in seq order or (`desc`) its reverse, up to seq `last`:
 *  a pass over a command of any size holds one row (its blobs its own, dropped with it), and
 *  passes bounded by one `last` read the same events even while a running command adds more. */
export function* stream(ix: Index, cmd: string, last: number, desc = false): Generator<EventRow> {
  for (const r of ix.iterateArrays(`SELECT ${COLS} FROM events WHERE cmd = ? AND seq <= ? ORDER BY seq ${desc ? "DESC" : "ASC"}`, cmd, last)) {
    r[0] = cmd; // one string for all, not one a row
    yield checkedEvent(eventOf(r));
  }
}

const NET_COLS = "seq, op, err, flags, path, path2, pre, pre2, keep, keep_how, note";
const netOf = (r: unknown[]): NetRow =>
  checkedNet({
    seq: r[0],
    op: r[1],
    err: r[2],
    flags: r[3],
    path: r[4],
    path2: r[5],
    pre: r[6],
    pre2: r[7],
    keep: r[8],
    keep_how: r[9],
    note: r[10],
  } as NetRow);

/** A command's events in seq order, one row at a time, with the columns its net changes and
 *  `shit show` read: a 100k-event command is never held whole in memory. */
export function* iterate(ix: Index, cmd: string): Generator<NetRow> {
  for (const r of ix.iterateArrays(`SELECT ${NET_COLS} FROM events WHERE cmd = ? ORDER BY seq`, cmd)) yield netOf(r);
}

/** As iterate, up to seq `last` (the passes of one plan read the same events). */
export function* iterateTo(ix: Index, cmd: string, last: number): Generator<NetRow> {
  for (const r of ix.iterateArrays(`SELECT ${NET_COLS} FROM events WHERE cmd = ? AND seq <= ? ORDER BY seq`, cmd, last)) yield netOf(r);
}

// A large command's events for the folds of src/ingest/view.ts in bounded memory: grouped by the
// path each one changes (a link's new name, path2; else path), in path order, each group in seq
// order. SQLite sorts them (spilling to a temporary file past its cache), so no pass holds more
// than one path's events. Path order (src/plan/net.ts inPathOrder: a directory's contents right
// after it, names in byte order) is the byte order of the path with its "/"s made NUL, a byte no
// name holds: replace() works on the bytes (a JS function per row held ~150 MB more at 300k rows:
// its arguments' buffers, freed only by a collection). A rename's two paths are one fold (where an
// object came from): each rename comes again in its new name's group (byTarget), so that every
// path a rename names has a group, and the fold of the paths renames join can be made at the first
// of them in path order (naming).
const AFFECTED = `CASE WHEN op = ${Op.LINK} THEN path2 ELSE path END`;
const KEY = (col: string) => `CAST(replace(${col}, '/', x'00') AS BLOB)`;
const IS_RENAME = `op = ${Op.RENAME} AND err = 0 AND path IS NOT NULL AND path2 IS NOT NULL`;
const BY_PATH = `SELECT ${NET_COLS}, 0 AS side, ${KEY(AFFECTED)} AS k FROM events WHERE cmd = ?1
  UNION ALL SELECT ${NET_COLS}, 1, ${KEY("path2")} FROM events WHERE cmd = ?1 AND ${IS_RENAME}`;

/** A row of byPath: a rename seen again in its new name's group is byTarget. */
export type PathRow = NetRow & { byTarget?: true };

/** Whether e is SQLite failing at a file it writes (SQLITE_FULL, SQLITE_IOERR, SQLITE_CANTOPEN):
 *  a full or unusable temporary directory among others, where sorts in memory may still go on. */
export function tempFault(e: unknown): boolean {
  const x = e as { code?: unknown; errcode?: unknown } | null;
  const c = x?.code === "ERR_SQLITE_ERROR" && typeof x.errcode === "number" ? x.errcode & 0xff : 0;
  return c === 13 || c === 10 || c === 14;
}

/** Bytes of rows (as estimated from a sample) a sort of a path range is given: at most half of
 *  what SQLite's sorter holds in memory before it spills (the cache size: Index.sortBytes). */
let rangeBytes = 8 << 20;
let ranges = false;

/** Runs fn with byPath reading a command's events in ranges of paths whose sorts fit in memory,
 *  each range a pass over the command's rows: slower, but no temporary file is written. For when
 *  one could not be (a full /tmp: tempFault), where SQLite ended the transaction itself, so the
 *  work of that transaction is done again this way (src/ingest/ingest.ts). */
export function sortInRanges<T>(fn: () => T, bytes = rangeBytes): T {
  const was = [ranges, rangeBytes] as const;
  ranges = true;
  rangeBytes = bytes; // tests: small, for many ranges
  try {
    return fn();
  } finally {
    [ranges, rangeBytes] = was;
  }
}

/** cmd's events by the path they change, in path order, each path's in seq order (a path's
 *  renames by their new name after its own events). */
export function* byPath(ix: Index, cmd: string): Generator<PathRow> {
  if (ranges) {
    for (const [from, to] of cuts(ix, cmd)) yield* range(ix, cmd, from, to);
    return;
  }
  for (const r of ix.iterateArrays(`SELECT ${NET_COLS}, side FROM (${BY_PATH}) ORDER BY k, seq, side`, cmd)) yield pathRowOf(r);
}

function pathRowOf(r: unknown[]): PathRow {
  const n: PathRow = netOf(r);
  if (r[11] === 1 && n.op === Op.RENAME) n.byTarget = true;
  return n;
}

/** Where byPath's ranges are cut: the keys of about every n/4096th of the rows it sorts (renames
 *  twice: an mv of 100k files puts 100k rows at their new names), read unsorted, with their size
 *  in the sort, then sorted and summed in key order and cut at each rangeBytes. [from, to): null
 *  from is the start (NULL keys too), null to the end. */
function cuts(ix: Index, cmd: string): Array<[Buffer | null, Buffer | null]> {
  const step = Math.max(1, Math.ceil(count(ix, cmd) / 4096));
  const len = (c: string) => `coalesce(length(${c}), 0)`;
  const size = ["k", "path", "path2", "pre", "pre2", "keep", "note"].map(len).join(" + ") + " + 64";
  const most = Math.min(rangeBytes, ix.sortBytes / 2);
  const sample: Array<{ k: Buffer; n: number }> = [];
  let i = 0;
  for (const r of ix.iterateArrays(`SELECT k, ${size} FROM (${BY_PATH})`, cmd))
    if (i++ % step === 0 && r[0] instanceof Uint8Array) sample.push({ k: Buffer.from(r[0]), n: Number(r[1]) * step });
  sample.sort((a, b) => Buffer.compare(a.k, b.k));
  const out: Array<[Buffer | null, Buffer | null]> = [];
  let from: Buffer | null = null;
  let sum = 0;
  for (const { k, n } of sample) {
    if (sum + n > most && sum > 0 && !(from && k.equals(from))) {
      out.push([from, k]);
      from = k;
      sum = 0;
    }
    sum += n;
  }
  out.push([from, null]);
  return out;
}

/** byPath's rows whose key is in [from, to). */
function* range(ix: Index, cmd: string, from: Buffer | null, to: Buffer | null): Generator<PathRow> {
  const where = [from ? "k >= ?2" : "", to ? (from ? "k < ?3" : "(k IS NULL OR k < ?3)") : ""].filter(Boolean).join(" AND ") || "1";
  const params = [cmd, from ?? Buffer.alloc(0), to ?? Buffer.alloc(0)].slice(0, to ? 3 : from ? 2 : 1);
  for (const r of ix.iterateArrays(`SELECT ${NET_COLS}, side FROM (${BY_PATH}) WHERE ${where} ORDER BY k, seq, side`, ...params)) yield pathRowOf(r);
}

// The paths cmd's renames name, and their events: the plan text's view of a large undo folds
// those together (src/undo/events.ts changesByPath; as many as the renames name). Neither query
// sorts (rows by the primary key): no temporary file, which a full /tmp would refuse.

/** The paths cmd's successful renames name (either side). */
export function renamed(ix: Index, cmd: string): Set<string> {
  const out = new Set<string>();
  for (const r of ix.iterateArrays(`SELECT path, path2 FROM events WHERE cmd = ?1 AND ${IS_RENAME} ORDER BY seq`, cmd))
    for (const b of r) out.add(Buffer.from(b as Uint8Array).toString("latin1"));
  return out;
}

/** cmd's events up to seq `last` that change one of the paths `names` (renamed's), in seq order. */
export function* ofRenamed(ix: Index, cmd: string, names: Set<string>, last: number): Generator<NetRow> {
  for (const r of ix.iterateArrays(`SELECT ${NET_COLS} FROM events WHERE cmd = ?1 AND seq <= ?2 ORDER BY seq`, cmd, last)) {
    const e = netOf(r);
    const p = e.op === Op.LINK ? e.path2 : e.path;
    if (p && names.has(Buffer.from(p).toString("latin1"))) yield e;
  }
}

/** cmd's events that name p: as path, or as the new name of a link or a rename. Both the events
 *  that change p (byPath's group of p) and the renames that join p to other paths: the next step
 *  of a walk over the paths renames join. By the path indexes, not a pass over the command. */
export function naming(ix: Index, cmd: string, p: Uint8Array): NetRow[] {
  const sql = `SELECT ${NET_COLS} FROM events WHERE path = ?2 AND cmd = ?1 UNION ALL SELECT ${NET_COLS} FROM events WHERE path2 = ?2 AND cmd = ?1 AND op IN (${Op.LINK}, ${Op.RENAME}) AND path IS NOT path2`; // a name to itself: once;
  return ix.arrays(sql, cmd, p).map(netOf);
}

/** cmd's successful links that have a note, whose note goes with a path (path) other than the one
 *  they change (path2), in seq order: few. */
export function* linkNotes(ix: Index, cmd: string): Generator<NetRow> {
  const sql = `SELECT ${NET_COLS} FROM events WHERE cmd = ? AND op = ${Op.LINK} AND err = 0 AND note IS NOT NULL AND path IS NOT NULL AND path2 IS NOT path ORDER BY seq`;
  for (const r of ix.iterateArrays(sql, cmd)) yield netOf(r);
}

/** The command's last event's seq (-1: none): its primary key's end, no row read. */
export function lastSeq(ix: Index, cmd: string): number {
  const r = ix.q("SELECT seq FROM events WHERE cmd = ? ORDER BY seq DESC LIMIT 1").get(cmd) as { seq: number | bigint } | undefined;
  return r ? Number(r.seq) : -1;
}

/** The command's events on path p (as path). */
export function atPath(ix: Index, cmd: string, p: Uint8Array): NetRow[] {
  return ix.arrays(`SELECT ${NET_COLS} FROM events WHERE path = ? AND cmd = ? ORDER BY seq`, p, cmd).map(netOf);
}

/** The seqs of the command's events of one op, in seq order, one at a time (a pass over its
 *  rows in key order: no sort). */
export function* seqsOf(ix: Index, cmd: string, op: number): Generator<number> {
  for (const r of ix.iterateArrays("SELECT seq FROM events WHERE cmd = ? AND op = ? ORDER BY seq", cmd, op)) yield Number(r[0]);
}

/** Some of the command's events, whole, by seq (a few: those iterate found not captured). */
export function bySeq(ix: Index, cmd: string, seqs: number[]): EventRow[] {
  return seqs.map((seq) => ix.q("SELECT * FROM events WHERE cmd = ? AND seq = ?").get(cmd, seq) as unknown as EventRow).map(checkedEvent);
}

/** The command's successful renames over a kept file (KEEP2) whose target ends in `suffix` (a
 *  sed -i over 100k files makes 100k renames over kept files: none is read unless it names one). */
export function renamesOver(ix: Index, cmd: string, suffix: Buffer): Array<Pick<EventRow, "op" | "err" | "path2" | "pre2" | "keep2">> {
  return ix
    .q(
      `SELECT op, err, path2, pre2, keep2 FROM events WHERE cmd = ? AND op = ${Op.RENAME} AND err = 0 AND keep2 IS NOT NULL AND substr(path2, -?) = ? ORDER BY seq`,
    )
    .all(cmd, suffix.length, suffix)
    .filter((r) => r.path2 instanceof Uint8Array && (r.pre2 === null || r.pre2 instanceof Uint8Array) && typeof r.keep2 === "string") as Array<
    Pick<EventRow, "op" | "err" | "path2" | "pre2" | "keep2">
  >;
}

/** The columns effect counting reads (pre and pre2 as booleans, but a rename's as stats: one
 *  between two names of one inode did nothing), in order, one row at a time: a whole row per
 *  event, or all rows at once, would cost more than the counting. */
export function* forCounting(ix: Index, cmd: string): Generator<EventRow> {
  const sql =
    "SELECT op, err, flags, path, path2, CASE WHEN op = 5 THEN pre ELSE pre IS NOT NULL END AS pre, " +
    "CASE WHEN op = 5 THEN pre2 ELSE pre2 IS NOT NULL END AS pre2 FROM events WHERE cmd = ? ORDER BY seq";
  for (const r of ix.iterateArrays(sql, cmd)) yield { op: r[0], err: r[1], flags: r[2], path: r[3], path2: r[4], pre: r[5], pre2: r[6] } as unknown as EventRow;
}

/** The paths of a command's successful events of these ops (the calls that change something). */
export function effectPaths(ix: Index, cmd: string, ops: readonly number[]): Array<{ op: number; path: Uint8Array | null; path2: Uint8Array | null }> {
  const list = ops.map(Number).join(",");
  return ix
    .arrays(`SELECT op, path, path2 FROM events WHERE cmd = ? AND err = 0 AND op IN (${list})`, cmd)
    .map((r) => ({ op: r[0] as number, path: r[1] as Uint8Array | null, path2: r[2] as Uint8Array | null }));
}

/** How many events the command has (its primary key's range: no row is read). */
export function count(ix: Index, cmd: string): number {
  return Number((ix.q("SELECT count(*) AS n FROM events WHERE cmd = ?").get(cmd) as { n: number | bigint }).n);
}

/** Whether the command has n events or more (reads n keys at most, not all: count reads all). */
export function atLeast(ix: Index, cmd: string, n: number): boolean {
  return !!ix.q("SELECT 1 FROM events WHERE cmd = ? LIMIT 1 OFFSET ?").get(cmd, n - 1);
}

/** Whether the command has an event that succeeded, or one of these ops (failed or not). */
export function hasAny(ix: Index, cmd: string, orOp: number): boolean {
  return !!ix.q("SELECT 1 FROM events WHERE cmd = ? AND (err = 0 OR op = ?) LIMIT 1").get(cmd, orOp);
}

/** Whether one of the command's events names p (as path or path2), optionally only these ops. */
export function names(ix: Index, cmd: string, p: Buffer, ops?: readonly number[]): boolean {
  if (!ops)
    return !!(
      ix.q("SELECT 1 FROM events WHERE path = ? AND cmd = ? LIMIT 1").get(p, cmd) ||
      ix.q("SELECT 1 FROM events WHERE path2 = ? AND cmd = ? LIMIT 1").get(p, cmd)
    );
  const list = ops.map(Number).join(",");
  return !!(
    ix.q(`SELECT 1 FROM events WHERE path = ? AND cmd = ? AND op IN (${list}) LIMIT 1`).get(p, cmd) ||
    ix.q(`SELECT 1 FROM events WHERE path2 = ? AND cmd = ? AND op IN (${list}) LIMIT 1`).get(p, cmd)
  );
}

/** What names() answers for every path, read at once for a command of at most `max` events: the
 *  paths (and path2s) its events name as latin1 strings, all of them and those of events of
 *  `ops`; null when it has more (then names() a path at a time). The watcher tier asks names()
 *  of each change it sees while a command ran: 10k point queries (~23 µs each) for the 10k files
 *  an undo of an rm -rf puts back, which keep the rm's ctime. */
export function namedPaths(ix: Index, cmd: string, ops: readonly number[], max: number): { all: Set<string>; of: Set<string> } | null {
  if (atLeast(ix, cmd, max + 1)) return null;
  const want = new Set(ops.map(Number));
  const all = new Set<string>(),
    of = new Set<string>();
  const text = (u: unknown) => (u instanceof Uint8Array ? fromBuf(u) : null);
  for (const [path, path2, op] of ix.iterateArrays("SELECT path, path2, op FROM events WHERE cmd = ?", cmd)) {
    const sub = want.has(Number(op));
    for (const p of [text(path), text(path2)]) {
      if (p === null) continue;
      all.add(p);
      if (sub) of.add(p);
    }
  }
  return { all, of };
}

/** Does a command's event name a path below the directory p (p/...)? */
export function namesUnder(ix: Index, cmd: string, p: Buffer): boolean {
  const lo = Buffer.concat([p, Buffer.from("/")]);
  const hi = Buffer.concat([p, Buffer.from("0")]); // "/" + 1: every path that starts with p/
  return !!ix.q("SELECT 1 FROM events WHERE cmd = ? AND path > ? AND path < ? LIMIT 1").get(cmd, lo, hi);
}

/** The command's events of these ops, in seq order, up to seq `last`: not a pass over all of them
 *  (an rm -rf has no OPEN). A row at a time: the redo of an undo of an rm -rf of 100k files has
 *  100k OPENs (the files made again), which held whole took ~100 MB. */
export function* ofOps(ix: Index, cmd: string, ops: readonly number[], last: number): Generator<EventRow> {
  const list = ops.map(Number).join(",");
  for (const r of ix.iterateArrays(`SELECT ${COLS} FROM events WHERE cmd = ? AND seq <= ? AND op IN (${list}) ORDER BY seq`, cmd, last)) {
    r[0] = cmd;
    yield checkedEvent(eventOf(r));
  }
}

/** The other commands with a successful event of these ops (opens for writing, truncates) on p
 *  recorded no later than `to` that ended no earlier than `from` (or have not ended): writers
 *  whose bytes may sit between a command's own. Times in ms, bounds inclusive. */
export function writersDuring(ix: Index, p: Buffer, not: string, ops: readonly number[], from: number, to: number): string[] {
  const list = ops.map(Number).join(",");
  const rows = ix
    .q(
      `SELECT DISTINCT e.cmd AS cmd FROM events e JOIN commands c ON c.id = e.cmd WHERE e.path = ? AND e.cmd != ? AND e.err = 0 AND e.op IN (${list}) AND e.time <= ? AND coalesce(c.ended, 9007199254740991) >= ? ORDER BY e.cmd`,
    )
    .all(p, not, to, from) as Array<{ cmd: string }>;
  return rows.map((r) => r.cmd);
}

/** Events of one op across all commands, grouped by their note: how often, in how many commands. */
export function notesOf(ix: Index, op: number): { note: string; n: number; cmds: number; last: number; example: string }[] {
  return ix
    .q(
      "SELECT COALESCE(note, '(no reason given)') AS note, COUNT(*) AS n, COUNT(DISTINCT cmd) AS cmds, MAX(time) AS last, MAX(cmd) AS example FROM events WHERE op = ? GROUP BY 1 ORDER BY n DESC",
    )
    .all(op) as { note: string; n: number; cmds: number; last: number; example: string }[];
}

/** The first event of another command started at or after `after` that kept what was at p (its
 *  bytes before that command changed them): what the earlier command left there, if unchanged. */
export function nextKeep(ix: Index, p: Buffer, not: string, after: number): EventRow | undefined {
  const r = ix
    .q(
      "SELECT e.* FROM events e JOIN commands c ON c.id = e.cmd WHERE e.cmd != ? AND c.started >= ? AND e.err = 0 AND " +
        "((e.path = ? AND e.keep IS NOT NULL AND e.op != 5) OR (e.path2 = ? AND e.keep2 IS NOT NULL AND e.op = 5)) ORDER BY c.started, e.seq LIMIT 1",
    )
    .get(not, after, p, p) as unknown as EventRow | undefined;
  return r && checkedEvent(r);
}

/** One event; a second insert of the same (cmd, seq) is ignored (two ingests may race). */
export function insert(ix: Index, e: EventRow): void {
  ix.q(
    `INSERT OR IGNORE INTO events(cmd, seq, op, pid, err, time, flags, path, path2, pre, pre2, parent, parent2,
       keep, keep_how, keep2, keep2_how, target, target2, xname, xvalue, arg, step, note)
     VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
  ).run(
    e.cmd,
    e.seq,
    e.op,
    e.pid,
    e.err,
    e.time,
    e.flags,
    e.path,
    e.path2,
    e.pre,
    e.pre2,
    e.parent,
    e.parent2,
    e.keep,
    e.keep_how,
    e.keep2,
    e.keep2_how,
    e.target,
    e.target2,
    e.xname,
    e.xvalue,
    e.arg,
    e.step,
    e.note,
  );
}

/** What the command left at a path (a POST record of the end scan; null post: nothing there). */
/** A VOID record: the latest event of this pid with that op and path, written before its call,
 *  did not happen (the call failed with err): it is marked failed, as a record after a failed
 *  call would have been. */
export function voidLatest(ix: Index, cmd: string, v: { op: number; pid: number; path: Buffer; err: number }): void {
  ix.q(
    "UPDATE events SET err = ? WHERE cmd = ? AND seq = (SELECT seq FROM events WHERE cmd = ? AND op = ? AND pid = ? AND path = ? AND err = 0 ORDER BY seq DESC LIMIT 1)",
  ).run(v.err || 1, cmd, cmd, v.op, v.pid, v.path);
}

/** Every kept pre-image of path p, by any command: the staging name and the stat it was kept with. */
export function keptOf(ix: Index, p: Buffer): { keep: string; pre: Uint8Array }[] {
  return ix
    .q(
      "SELECT keep2 AS keep, pre2 AS pre FROM events WHERE path2 = ? AND keep2 IS NOT NULL AND pre2 IS NOT NULL AND err = 0 " +
        "UNION ALL SELECT keep, pre FROM events WHERE path = ? AND keep IS NOT NULL AND pre IS NOT NULL AND err = 0",
    )
    .all(p, p) as { keep: string; pre: Uint8Array }[];
}

/** The commands whose end scan saw path p, with what they saw. */
export function postsAt(ix: Index, p: Buffer): { cmd: string; post: Uint8Array | null }[] {
  return ix.q("SELECT cmd, post FROM posts WHERE path = ?").all(p) as { cmd: string; post: Uint8Array | null }[];
}

/** A POST: the latest of a path's wins (an upsert: cheaper than REPLACE's delete and insert). */
export function insertPost(ix: Index, cmd: string, seq: number, path: Buffer, post: Buffer | null): void {
  ix.q("INSERT INTO posts(cmd, path, post, seq) VALUES(?, ?, ?, ?) ON CONFLICT(cmd, path) DO UPDATE SET post = excluded.post, seq = excluded.seq").run(
    cmd,
    path,
    post,
    seq,
  );
}

/** As postsOf, a row at a time (the planner's one pass: 100k end-scan rows held whole took ~110 MB). */
export function* iteratePosts(ix: Index, cmd: string): Generator<PostRow> {
  for (const r of ix.iterateArrays("SELECT path, post, seq FROM posts WHERE cmd = ?", cmd)) {
    const row = { path: r[0], post: r[1], seq: Number.isSafeInteger(r[2]) ? r[2] : null } as PostRow;
    if (goodPost(row)) yield row;
  }
}

/** How many end-scan rows the command has. */
export function postCount(ix: Index, cmd: string): number {
  return Number((ix.q("SELECT count(*) AS n FROM posts WHERE cmd = ?").get(cmd) as { n: number | bigint }).n);
}

export function postsOf(ix: Index, cmd: string): PostRow[] {
  return [...iteratePosts(ix, cmd)];
}

/** shit forget: a command's events and end-scan posts. The number of events removed. */
export function removeOf(ix: Index, cmd: string): number {
  // a row a statement, a page of keys at a time: one DELETE over a command's 100k rows inside the
  // transaction journals every page it changes in SQLite's temporary directory, and with that
  // full forget failed (keeps.ts says more)
  // (from -Infinity: below every value of any type but NULL, which neither key holds)
  const post = ix.q("DELETE FROM posts WHERE cmd = ? AND path = ?");
  for (const path of ix.keysAfter("SELECT path FROM posts WHERE cmd = ?2 AND path > ?1 ORDER BY path", -Infinity, cmd)) post.run(cmd, path);
  const event = ix.q("DELETE FROM events WHERE cmd = ? AND seq = ?");
  let n = 0;
  for (const seq of ix.keysAfter("SELECT seq FROM events WHERE cmd = ?2 AND seq > ?1 ORDER BY seq", -Infinity, cmd)) n += Number(event.run(cmd, seq).changes);
  return n;
}
