// Events in hand: the rows an ingest wrote for a command, kept by the process that wrote them, so
// the undo that follows plans (and the ingest counts) from them instead of reading back the rows
// it has just written. An rm -rf of 10k files: each pass of the planner, the plan text and the
// effect count read 10k rows back from SQLite, five passes in all (~0.25 s CPU of the undo's
// ~1 s, most of it node:sqlite's row and blob objects and their collection).
//
// Held only when they are every event of the command the index has: its spool read by this
// process from its very start (offset 0 of its first file), with no other ingest taking a part
// between (a race, the daemon), and no more than HOLD_MAX of them (a larger command streams
// from the index as before: never held whole). Every use checks the count and the last seq
// against the index once more, and falls back to the index on any difference, so the answer is
// the index's answer either way (test/hand.test.ts compares the plans both ways).
import type { Index } from "../index/db.js";
import { goodPost, type EventRow, type PostRow } from "../index/rows.js";
import * as events from "../index/events.js";
import { type Change, netChanges } from "../plan/net.js";

/** More events than this, in all, are not held (the spool's chunks they point into stay alive
 *  with them: ~4 MiB and 10k small objects per 10k events). */
export const HOLD_MAX = 50_000;

interface Held {
  rows: EventRow[]; // in seq order, as inserted (a VOID's update applied)
  posts: Map<string, PostRow>; // by path (latin1): the latest POST of each, as the upsert keeps it
  next: number; // the spool position (base + offset) the next slice must start at to go on
}

/** Per index (an open database): the commands held, by id, and how many rows it holds at most.
 *  Absent: this index holds nothing. */
const hands = new WeakMap<Index, { held: Map<string, Held>; max: number }>();

/** From now on, ingests into ix keep the events they write in hand (an undo or redo: the CLI
 *  process reads them right after), at most `max` in all. Off elsewhere: shitd ingests for days. */
export function holdEvents(ix: Index, max = HOLD_MAX): void {
  if (!hands.has(ix)) hands.set(ix, { held: new Map(), max });
}

/** A slice of one spool being ingested: where its rows go until its transaction took them. */
export interface Slice {
  held: Held;
  fresh: EventRow[];
  posts: PostRow[];
  gone?: boolean; // over HOLD_MAX: not held
}

/** The slice of cmd's spool that starts at spool position `at` (base + offset): held on when it
 *  goes on from the last one held, or when it is the spool's start; else cmd is not held. */
export function slice(ix: Index, cmd: string, at: number, base: number): Slice | null {
  const map = hands.get(ix)?.held;
  if (!map) return null;
  let held = map.get(cmd);
  if (held && held.next !== at) held = undefined;
  if (!held && at === 0 && base === 0) held = { rows: [], posts: new Map(), next: 0 };
  if (!held) {
    map.delete(cmd); // a part read by another ingest: the index alone has it all
    return null;
  }
  return { held, fresh: [], posts: [] };
}

/** The slice's rows are in the index (in the transaction that takes them, before anything
 *  reads them back): they are held, up to `next`. Once more after more rows: those too. */
export function took(ix: Index, cmd: string, s: Slice, next: number): void {
  const hand = hands.get(ix);
  if (!hand || s.gone) return;
  const map = hand.held;
  // at most max rows in all, whatever the number of commands read in at once
  let others = 0;
  for (const [id, h] of map) if (id !== cmd) others += h.rows.length + h.posts.size;
  if (others + s.held.rows.length + s.fresh.length + s.held.posts.size + s.posts.length > hand.max) {
    map.delete(cmd);
    s.gone = true;
    return;
  }
  for (const r of s.fresh) s.held.rows.push(r);
  if (s.fresh.length) folded.delete(s.held.rows);
  s.fresh = [];
  for (const p of s.posts) s.held.posts.set(Buffer.from(p.path.buffer, p.path.byteOffset, p.path.byteLength).toString("latin1"), p);
  s.posts = [];
  s.held.next = next;
  map.set(cmd, s.held);
}

/** A VOID record's update (events.voidLatest) on the rows in hand too. */
export function voided(s: Slice, v: { op: number; pid: number; path: Uint8Array; err: number }): void {
  const match = (e: EventRow) => e.op === v.op && e.pid === v.pid && e.err === 0 && !!e.path && Buffer.compare(e.path, v.path) === 0;
  for (const rows of [s.fresh, s.held.rows])
    for (let i = rows.length - 1; i >= 0; i--)
      if (match(rows[i])) {
        rows[i].err = v.err || 1;
        folded.delete(s.held.rows);
        return;
      }
}

/** Nothing is held any more for ix (an ingest that failed part-way: what it wrote is unsure). */
export function drop(ix: Index): void {
  hands.get(ix)?.held.clear();
}

/** cmd's events in seq order, when every one the index has is in hand; else null (read the index). */
export function inHand(ix: Index, cmd: string): EventRow[] | null {
  const held = hands.get(ix)?.held.get(cmd);
  if (!held) return null;
  const n = held.rows.length;
  // the index's own count and last seq (its primary key's range, no row read): a row written by
  // anything but this process's ingest since makes them differ
  if (events.count(ix, cmd) !== n || events.lastSeq(ix, cmd) !== (n ? held.rows[n - 1].seq : -1)) return null;
  return held.rows;
}

const folded = new WeakMap<EventRow[], Change[]>();

/** The net changes (src/plan/net.ts) of rows in hand, made once for them: the ingest's stored
 *  view of the command and the undo's plan text fold the same events (~30 ms for 10k). */
export function netChangesOf(rows: EventRow[]): Change[] {
  let c = folded.get(rows);
  if (!c) folded.set(rows, (c = netChanges(rows)));
  return c;
}

/** cmd's end-scan rows (events.postsOf: in path order, the damaged left out), when every one the
 *  index has is in hand; else null. */
export function postsInHand(ix: Index, cmd: string): PostRow[] | null {
  const held = hands.get(ix)?.held.get(cmd);
  if (!held || events.postCount(ix, cmd) !== held.posts.size) return null;
  return [...held.posts.values()].sort((a, b) => Buffer.compare(a.path, b.path)).filter(goodPost); // a BLOB key's order
}
