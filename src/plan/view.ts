// What people are shown of a plan, as data: the target's changes it undoes (folded trees), its
// steps that no change names, how many of each kind of step, and the directory they share. Made
// from the plan and the target's net changes; small whatever the plan's size (at most SHOWN
// entries), so a plan made ahead (src/undo/ahead.ts) carries it instead of its 10k steps and
// events. The CLI words it (src/cli/plan-text.ts).
import { constants as C } from "node:fs";
import { type BPath, dirname, fromBuf, isUnder } from "../paths/bytes.js";
import type { NetRow } from "../index/rows.js";
import type { Plan, Step } from "./plan.js";
import { typeOf } from "./vfs.js";
import { type Change, type Folded, fold } from "./net.js";

/** A plan's text shows up to 40 entries whole, else the first 30 and how many more. */
export const SHOWN = 40;

export interface StepCounts {
  files: number;
  dirs: number;
  links: number;
  other: number;
  remove: number;
  move: number;
  bytes: number;
  meta: number;
}

export interface PlanView {
  entries: Array<{ folded: Folded } | { step: Step }>; // the first SHOWN
  total: number; // entries in all
  counts: StepCounts;
  common: BPath; // the directory every visible step is under ("": none, or only one step)
  steps: number; // the plan's steps, the closing pass over directories' times among them
}

/** The target command's changes the plan undoes (those its steps touch); and its steps that
 *  belong to no change (--force clearing a path), but not those on the command's passing paths
 *  (a temp file it made and renamed away: the undo of its rename names it). */
export function changesOf(
  plan: Plan,
  changes: Change[],
  events: Iterable<Pick<NetRow, "path" | "path2">>,
  most = Infinity,
): { undone: Change[]; other: Step[]; others: number } {
  const touched = new Set<BPath>();
  for (const s of plan.steps) {
    if (s.seq < 0) continue;
    touched.add(s.path);
    if (s.path2 !== undefined) touched.add(s.path2);
  }
  const undone = changes.filter((c) => touched.has(c.path) || (c.to !== undefined && touched.has(c.to)));
  const named = new Set<BPath>(); // (a loop, not a flatMap: an array a change for 10k changes)
  for (const c of undone) {
    named.add(c.path);
    if (c.to !== undefined) named.add(c.to);
  }
  const unnamed = (s: Step) => !named.has(s.path) && !(s.path2 !== undefined && named.has(s.path2));
  // the paths with no net change are looked for only when some step is not named yet (an undo
  // of an rm -rf of 10k files names every step: its events are not read a second time)
  if (!plan.steps.some((s) => s.seq >= 0 && unnamed(s))) return { undone, other: [], others: 0 };
  const net = new Set(changes.flatMap((c) => (c.to !== undefined ? [c.path, c.to] : [c.path])));
  for (const e of events) for (const p of [e.path, e.path2]) if (p && !net.has(fromBuf(p))) named.add(fromBuf(p));
  // the first `most` of them, and how many in all
  const other: Step[] = [];
  let others = 0;
  for (const s of plan.steps) if (s.seq >= 0 && unnamed(s) && others++ < most) other.push(s);
  return { undone, other, others };
}

export function planView(plan: Plan, changes: Change[], events: Iterable<Pick<NetRow, "path" | "path2">>): PlanView {
  const { undone, other, others } = changesOf(plan, changes, events, SHOWN);
  const folded = fold(undone);
  const entries: PlanView["entries"] = [];
  for (const f of folded) {
    if (entries.length >= SHOWN) break;
    entries.push({ folded: { change: f.change, contents: f.contents } }); // not what is folded under it
  }
  for (const s of other) {
    if (entries.length >= SHOWN) break;
    entries.push({ step: s });
  }
  return { entries, total: folded.length + others, counts: countSteps(plan.steps), common: commonDir(plan.steps), steps: plan.steps.length };
}

export function countSteps(steps: Iterable<Step>): StepCounts {
  const n: StepCounts = { files: 0, dirs: 0, links: 0, other: 0, remove: 0, move: 0, bytes: 0, meta: 0 };
  for (const s of steps) {
    if (s.kind === "place" || s.kind === "link") {
      const t = s.pre ? typeOf(s.pre.mode) : C.S_IFREG;
      if (t === C.S_IFREG) n.files++;
      else if (t === C.S_IFDIR) n.dirs++;
      else if (t === C.S_IFLNK) n.links++;
      else n.other++;
    } else if (s.kind === "remove") n.remove++;
    else if (s.kind === "rename") n.move++;
    else if (s.kind === "rewrite" || s.kind === "truncate") n.bytes++;
    else if (s.seq >= 0) n.meta++;
  }
  return n;
}

/** The deepest directory every visible step's path is under, when there are two or more. */
function commonDir(steps: Iterable<Step>): BPath {
  let common: BPath | null = null;
  let n = 0;
  for (const s of steps) {
    if (s.seq < 0) continue;
    n++;
    if (common === null) common = dirname(s.path);
    while (common !== "/" && s.path !== common && !isUnder(s.path, common)) common = dirname(common);
  }
  return n > 1 && common ? common : "";
}
