// What the planner produces: the steps that put a command's paths back, and what stands in the
// way. shit-apply performs the steps (src/apply), the CLI shows them.
import type { BPath } from "../paths/bytes.js";
import type { Stat } from "../spool/records.js";
import type { VNode } from "./vfs.js";

export type StepKind = "remove" | "rename" | "place" | "rewrite" | "truncate" | "link" | "meta" | "xattr";

export interface Step {
  kind: StepKind;
  path: BPath;
  path2?: BPath; // rename/link: the destination
  pre?: Stat; // mode, owner, times (and type, for place) to give the object
  keep?: string; // staging name of the pre-image bytes
  tailOf?: bigint; // rewrite from a kept tail: keep holds bytes from this offset on
  target?: Buffer; // place a symlink
  rdev?: bigint; // place a device node: its number
  length?: bigint; // truncate; rewrite: -1 for all
  xname?: string;
  xvalue?: Buffer | null;
  seq: number; // the event it undoes (-1: the final metadata pass)
}

/** A plan's steps in order, read a pass at a time (src/plan/steplog.ts, StepLog: past a few 10k
 *  from a file); a step read back is a new object, so a step is known by its place in it. */
export interface Steps extends Iterable<Step> {
  readonly length: number;
  readonly spilled: boolean; // its steps are in a file
  push(s: Step): void;
  /** A log of the same spill settings, empty. */
  like(): Steps;
  /** Whether a step is f's (read until one is). */
  some(f: (s: Step) => boolean): boolean;
}

export interface Conflict {
  path: BPath;
  reason: string;
  /** The path is not as the command left it (by someone after it); whom the caller may look up. */
  changedSince?: boolean;
}

export interface Plan {
  cmd: string;
  steps: Steps; // read a pass at a time: past a few 10k, from a file (src/plan/steplog.ts)
  conflicts: Conflict[];
  skipped: Steps; // left out by --on-conflict skip
  cannot: Array<{ path: BPath | null; reason: string }>; // effects that cannot be undone
  expect: Iterable<{ path: BPath; node: VNode | null }>; // the present state apply must still find (a pass at a time: src/plan/vfs.ts, Expectations)
  outside: BPath[]; // changed outside capture (the watcher tier saw it): cannot be restored
  partial?: boolean; // a selective undo that leaves part of the command as it is
  needed?: BPath[]; // a selective undo: the directories it puts back only for what it selected
}
