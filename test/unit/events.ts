// Synthetic event rows for the unit tests: what ingest would have put in the index for one call.
import type { EventRow } from "../../dist/index/rows.js";

let seq = 0;

/** An event of op on path (a successful call, nothing kept), with the fields in extra. */
export function ev(op: number, path: string, extra: Partial<EventRow> = {}): EventRow {
  return {
    ...{ cmd: "c0ffee", seq: (seq += 64), op, pid: 1, err: 0, time: 0, flags: 0, path: Buffer.from(path), path2: null, pre: null, pre2: null },
    ...{ parent: null, parent2: null, keep: null, keep_how: null, keep2: null, keep2_how: null, target: null, target2: null },
    ...{ xname: null, xvalue: null, arg: null, step: null, note: null },
    ...extra,
  };
}
