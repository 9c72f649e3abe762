// A command's events as the undo planner reads them (src/plan/plan.ts, Events): from the index a
// row at a time, a pass for each question, less the records of calls that never happened
// (src/undo/unhappened.ts). The undo of an rm -rf of 100k files held its 100k events whole,
// ~1 KB each with their blobs, through planning and the plan text. When this process has just
// ingested every one of them, from the rows in hand instead (src/ingest/hand.ts): the same rows
// the index would give, without reading them back for each pass.
import type { Index } from "../index/db.js";
import * as events from "../index/events.js";
import type { EventRow, NetRow } from "../index/rows.js";
import type { Events } from "../plan/plan.js";
import { inHand, netChangesOf } from "../ingest/hand.js";
import { type Change, netChanges } from "../plan/net.js";
import { unhappened } from "./unhappened.js";
import { keyCompare } from "../ingest/view.js";
import { Op } from "../spool/records.js";
import { fromBuf } from "../paths/bytes.js";

export interface CommandEvents extends Events {
  /** How many records were left out as calls that never happened. */
  dropped: number;
  last: number; // the seq every pass ends at
  /** The same events with only the columns their net changes read (src/plan/net.ts): the plan
   *  text's pass reads half the bytes. */
  net(): Iterable<NetRow>;
  /** The events of these ops up to `last`, those left out included (events.ofOps). */
  ofOps(ops: readonly number[]): Iterable<EventRow>;
  /** netChanges of net(): the plan text's. */
  changes(): Change[];
  /** The same changes, in the same (path) order, a pass at a time: past HOLD_MAX events folded
   *  path by path from the index (changesByPath), never all held. */
  inOrder(): Iterable<Change>;
}

/** The events of cmd (as events.of, then happened() with `staging`), read again for each pass. */
export function commandEvents(ix: Index, cmd: string, staging: string | undefined): CommandEvents {
  const held = inHand(ix, cmd);
  if (held) return heldEvents(held, staging);
  const last = events.lastSeq(ix, cmd); // every pass reads the same events, even of a command still running
  // (the columns its rules read: the whole row only of the few records it drops or compares)
  const dropped = unhappened(events.iterateTo(ix, cmd, last), staging, (seq) => events.bySeq(ix, cmd, [seq])[0]);
  return {
    dropped: dropped.size,
    last,
    forward: () => without(events.stream(ix, cmd, last), dropped),
    backward: () => without(events.stream(ix, cmd, last, true), dropped),
    net: () => without(events.iterateTo(ix, cmd, last), dropped),
    ofOps: (ops) => events.ofOps(ix, cmd, ops, last),
    changes: () => netChanges(without(events.iterateTo(ix, cmd, last), dropped)),
    // (below BY_PATH events one fold in memory is quicker than SQLite's sort)
    inOrder: () =>
      events.atLeast(ix, cmd, BY_PATH + 1) ? changesByPath(ix, cmd, last, dropped) : netChanges(without(events.iterateTo(ix, cmd, last), dropped)),
  };
}

/** commandEvents from rows in hand (every event of the command, in seq order). */
function heldEvents(rows: EventRow[], staging: string | undefined): CommandEvents {
  const dropped = unhappened(rows, staging, (seq) => rows[at(rows, seq)]);
  const kept = dropped.size ? rows.filter((e) => !dropped.has(e.seq)) : rows;
  return {
    dropped: dropped.size,
    last: rows.length ? rows[rows.length - 1].seq : -1,
    forward: () => kept,
    backward: () => backward(kept),
    net: () => kept,
    ofOps: (ops) => rows.filter((e) => ops.includes(e.op)),
    changes: () => netChangesOf(kept), // those of the stored view when nothing was left out
    inOrder: () => netChangesOf(kept),
  };
}

/** The events of cmd as recorded, every one (the command an undo or redo reversed). */
export function recordedEvents(ix: Index, cmd: string): Events {
  const held = inHand(ix, cmd);
  if (held) return { forward: () => held, backward: () => backward(held) };
  const last = events.lastSeq(ix, cmd);
  return { forward: () => events.stream(ix, cmd, last), backward: () => events.stream(ix, cmd, last, true) };
}

/**
 * netChanges of cmd's events up to `last`, less those `dropped`, in path order, in bounded memory
 * (as the ingest's stored view folds them: src/ingest/view.ts, storeBounded): each path's events
 * as SQLite hands them over grouped by path in path order (events.byPath), folded alone, but the
 * paths renames name, whose changes depend on each other: folded together in memory (as many as
 * those) and merged in path order. The undo of an rm -rf of 1M files held 1M changes, sorted.
 */
const BY_PATH = Number(process.env.SHIT_VIEW_BOUNDED) || 50_000; // as the ingest's stored view (tests set it low)
function* changesByPath(ix: Index, cmd: string, last: number, dropped: Set<number>): Generator<Change> {
  const ours = <T extends { seq: number }>(evs: Iterable<T>) => without(upTo(evs, last), dropped);
  const renamed = events.renamed(ix, cmd);
  const fromRenames = renamed.size ? netChanges(ours(events.ofRenamed(ix, cmd, renamed, last))) : [];
  let r = 0; // the next of fromRenames
  let group: NetRow[] = [];
  let key: Uint8Array | null = null;
  const rows = ours(pathRows(ix, cmd))[Symbol.iterator]();
  for (;;) {
    const next = rows.next();
    const e = next.done ? null : next.value;
    // a rename again under its new name (the ingest's fold walks renames by it; here the paths
    // renames name are folded apart, from ofRenamed)
    if (e && (e.op === Op.NOTCAPTURED || (e as events.PathRow).byTarget)) continue;
    const k = e && (e.op === Op.LINK ? e.path2 : e.path);
    if (e && !k) continue; // changes nothing (a note on a link's path)
    if (key && (!k || Buffer.compare(k, key) !== 0)) {
      const p = fromBuf(key);
      if (!renamed.has(p)) {
        const cs = netChanges(group);
        if (cs.length) for (; r < fromRenames.length && keyCompare(fromRenames[r].path, p) < 0; r++) yield fromRenames[r];
        yield* cs;
      }
      group = [];
    }
    if (!e) break;
    key = k;
    group.push(e);
  }
  for (; r < fromRenames.length; r++) yield fromRenames[r];
}

/** events.byPath, or sorted in path ranges when SQLite cannot write its sort's temporary file (a
 *  full /tmp: the ingest does the same, src/ingest/ingest.ts). The sort is made before the first
 *  row comes, so that is where it fails. */
function* pathRows(ix: Index, cmd: string): Generator<events.PathRow> {
  let g = events.byPath(ix, cmd);
  let first: IteratorResult<events.PathRow>;
  try {
    first = g.next();
  } catch (e) {
    if (!events.tempFault(e)) throw e;
    [g, first] = events.sortInRanges(() => {
      const r = events.byPath(ix, cmd);
      return [r, r.next()] as const;
    });
  }
  if (first.done) return;
  yield first.value;
  yield* g;
}

function* upTo<T extends { seq: number }>(evs: Iterable<T>, last: number): Generator<T> {
  for (const e of evs) if (e.seq <= last) yield e;
}

function* without<T extends { seq: number }>(evs: Iterable<T>, dropped: Set<number>): Generator<T> {
  for (const e of evs) if (!dropped.has(e.seq)) yield e;
}

function* backward<T>(a: T[]): Generator<T> {
  for (let i = a.length - 1; i >= 0; i--) yield a[i];
}

/** The index of the row with this seq in rows sorted by seq (there is one: unhappened asks only
 *  the seqs it was given). */
function at(rows: EventRow[], seq: number): number {
  let lo = 0,
    hi = rows.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (rows[mid].seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
