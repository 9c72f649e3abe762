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
  };
}

/** The events of cmd as recorded, every one (the command an undo or redo reversed). */
export function recordedEvents(ix: Index, cmd: string): Events {
  const held = inHand(ix, cmd);
  if (held) return { forward: () => held, backward: () => backward(held) };
  const last = events.lastSeq(ix, cmd);
  return { forward: () => events.stream(ix, cmd, last), backward: () => events.stream(ix, cmd, last, true) };
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
