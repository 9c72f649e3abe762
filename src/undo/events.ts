// A command's events as the undo planner reads them (src/plan/plan.ts, Events): from the index a
// row at a time, a pass for each question, less the records of calls that never happened
// (src/undo/unhappened.ts). The undo of an rm -rf of 100k files held its 100k events whole,
// ~1 KB each with their blobs, through planning and the plan text.
import type { Index } from "../index/db.js";
import * as events from "../index/events.js";
import type { NetRow } from "../index/rows.js";
import type { Events } from "../plan/plan.js";
import { unhappened } from "./unhappened.js";

export interface CommandEvents extends Events {
  /** How many records were left out as calls that never happened. */
  dropped: number;
  last: number; // the seq every pass ends at
  /** The same events with only the columns their net changes read (src/plan/net.ts): the plan
   *  text's pass reads half the bytes. */
  net(): Iterable<NetRow>;
}

/** The events of cmd (as events.of, then happened() with `staging`), read again for each pass. */
export function commandEvents(ix: Index, cmd: string, staging: string | undefined): CommandEvents {
  const last = events.lastSeq(ix, cmd); // every pass reads the same events, even of a command still running
  // (the columns its rules read: the whole row only of the few records it drops or compares)
  const dropped = unhappened(events.iterateTo(ix, cmd, last), staging, (seq) => events.bySeq(ix, cmd, [seq])[0]);
  return {
    dropped: dropped.size,
    last,
    forward: () => without(events.stream(ix, cmd, last), dropped),
    backward: () => without(events.stream(ix, cmd, last, true), dropped),
    net: () => without(events.iterateTo(ix, cmd, last), dropped),
  };
}

/** The events of cmd as recorded, every one (the command an undo or redo reversed). */
export function recordedEvents(ix: Index, cmd: string): Events {
  const last = events.lastSeq(ix, cmd);
  return { forward: () => events.stream(ix, cmd, last), backward: () => events.stream(ix, cmd, last, true) };
}

function* without<T extends { seq: number }>(evs: Iterable<T>, dropped: Set<number>): Generator<T> {
  for (const e of evs) if (!dropped.has(e.seq)) yield e;
}
