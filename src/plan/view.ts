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
import type { Change, Contents, Folded } from "./net.js";

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

/** Changes as planView reads them: an array, or a pass in path order read again for each use
 *  (past a few 10k events, folded path by path from the index in bounded memory:
 *  src/undo/events.ts). */
export type Changes = Change[] | (() => Iterable<Change>);
const passOf = (c: Changes): Iterable<Change> => (Array.isArray(c) ? c : c());

/** The target command's changes the plan undoes (those its steps touch), each shown to `undone`
 *  in path order; and its steps that belong to no change (--force clearing a path), but not those
 *  on the command's passing paths (a temp file it made and renamed away: the undo of its rename
 *  names it): the first `most`, and how many. `each` is shown every step, in the first pass. */
function undoneOf(
  plan: Plan,
  changes: Changes,
  events: Iterable<Pick<NetRow, "path" | "path2">>,
  undone: (c: Change) => void,
  most: number,
  each?: (s: Step) => void,
): { other: Step[]; others: number } {
  // the steps' paths (TOUCHED), then of them and the changes' other names, those a change the
  // plan undoes names (NAMED): one set with a mark each, not two sets of 1M paths at once
  const paths = new PathSet();
  for (const s of plan.steps) {
    each?.(s); // (the view counts the steps in the same pass: a spilled plan's steps are decoded at each)
    if (s.seq < 0) continue;
    paths.mark(s.path, TOUCHED);
    if (s.path2 !== undefined) paths.mark(s.path2, TOUCHED);
  }
  const touched = (p: BPath) => (paths.marks(p) & TOUCHED) !== 0;
  for (const c of passOf(changes))
    if (touched(c.path) || (c.to !== undefined && touched(c.to))) {
      paths.mark(c.path, NAMED);
      if (c.to !== undefined) paths.mark(c.to, NAMED);
      undone(c);
    }
  const named = (p: BPath) => (paths.marks(p) & NAMED) !== 0;
  const unnamed = (s: Step) => !named(s.path) && !(s.path2 !== undefined && named(s.path2));
  // the paths with no net change are looked for only when some step is not named yet (an undo
  // of an rm -rf of 10k files names every step: its events are not read a second time)
  if (!plan.steps.some((s) => s.seq >= 0 && unnamed(s))) return { other: [], others: 0 };
  const net = new PathSet();
  for (const c of passOf(changes)) {
    net.mark(c.path, TOUCHED);
    if (c.to !== undefined) net.mark(c.to, TOUCHED);
  }
  for (const e of events) for (const p of [e.path, e.path2]) if (p && !net.marks(fromBuf(p))) paths.mark(fromBuf(p), NAMED);
  const other: Step[] = [];
  let others = 0;
  for (const s of plan.steps) if (s.seq >= 0 && unnamed(s) && others++ < most) other.push(s);
  return { other, others };
}

/** changesOf for `shit undo --patch`: the changes the plan undoes, and its steps no change names. */
export function changesOf(plan: Plan, changes: Changes, events: Iterable<Pick<NetRow, "path" | "path2">>): { undone: Change[]; other: Step[] } {
  const undone: Change[] = [];
  const { other } = undoneOf(plan, changes, events, (c) => undone.push(c), Infinity);
  return { undone, other };
}

export function planView(plan: Plan, changes: Changes, events: Iterable<Pick<NetRow, "path" | "path2">>): PlanView {
  const counts = stepCounter();
  const common = commonDir();
  // the undone changes folded as they come (fold's one state: the created or deleted directory
  // it folds into), the first SHOWN entries kept, the rest counted
  const entries: PlanView["entries"] = [];
  let total = 0;
  let top: { change: Change; contents: Contents } | null = null;
  const entry = (f: Folded) => {
    if (entries.length < SHOWN) entries.push({ folded: f });
    total++;
  };
  const { other, others } = undoneOf(
    plan,
    changes,
    events,
    (c) => {
      if (top && isUnder(c.path, top.change.path) && c.effect === top.change.effect) {
        const n = top.contents;
        if (c.type === C.S_IFDIR) n.dirs++;
        else if (c.type === C.S_IFLNK) n.links++;
        else if (c.type === C.S_IFREG || c.type === null) n.files++;
        else n.other++;
        return;
      }
      if ((c.effect === "deleted" || c.effect === "created") && c.type === C.S_IFDIR) {
        top = { change: c, contents: { files: 0, dirs: 0, links: 0, other: 0 } };
        entry({ change: c, contents: top.contents });
      } else {
        if (top && !isUnder(c.path, top.change.path)) top = null;
        entry({ change: c, contents: undefined });
      }
    },
    SHOWN,
    (s) => {
      counts.add(s);
      common.add(s);
    },
  );
  for (const s of other) {
    if (entries.length >= SHOWN) break;
    entries.push({ step: s });
  }
  return { entries, total: total + others, counts: counts.n, common: common.dir(), steps: plan.steps.length };
}

/** A set of paths, each with marks (bits): exact up to EXACT of them, then by a 53-bit hash of
 *  each in a typed table (9 bytes a path, not ~100 for the string and its entry): what a plan's
 *  text shows of 1M steps (a collision, ~1 in 10^9 at 1M paths, could only name a change as
 *  undone in the text). */
const EXACT = 1 << 17;
const TOUCHED = 1,
  NAMED = 2;
class PathSet {
  private exact: Map<BPath, number> | null = new Map();
  private table = new Float64Array(0);
  private bits = new Uint8Array(0);
  private n = 0;

  /** Adds p (if it is not in yet) with `bits` among its marks. */
  mark(p: BPath, bits: number): void {
    if (this.exact) {
      this.exact.set(p, (this.exact.get(p) ?? 0) | bits);
      if (this.exact.size <= EXACT) return;
      const all = this.exact;
      this.exact = null;
      for (const [q, b] of all) this.put(hash(q), b);
      return;
    }
    this.put(hash(p), bits);
  }

  /** p's marks; 0: not in it. */
  marks(p: BPath): number {
    if (this.exact) return this.exact.get(p) ?? 0;
    const h = hash(p);
    const mask = this.table.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const x = this.table[i];
      if (x === 0) return 0;
      if (x === h) return this.bits[i];
    }
  }

  private put(h: number, bits: number): void {
    if (2 * (this.n + 1) > this.table.length) {
      const old = this.table,
        oldBits = this.bits;
      this.table = new Float64Array(Math.max(1 << 16, old.length * 2));
      this.bits = new Uint8Array(this.table.length);
      this.n = 0;
      for (let i = 0; i < old.length; i++) if (old[i] !== 0) this.put(old[i], oldBits[i]);
    }
    const mask = this.table.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const x = this.table[i];
      if (x === h) {
        this.bits[i] |= bits;
        return;
      }
      if (x === 0) {
        this.table[i] = h;
        this.bits[i] = bits;
        this.n++;
        return;
      }
    }
  }
}

/** Two FNV-1a hashes of a path's bytes in one positive 53-bit number (never 0). */
function hash(p: BPath): number {
  let a = 0x811c9dc5,
    b = 0x01000193 ^ p.length;
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
  }
  return (a >>> 0) * 0x200000 + (b & 0x1fffff) + 1;
}

/** How many steps of each kind, added one at a time. */
function stepCounter(): { n: StepCounts; add(s: Step): void } {
  const n: StepCounts = { files: 0, dirs: 0, links: 0, other: 0, remove: 0, move: 0, bytes: 0, meta: 0 };
  const add = (s: Step) => {
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
  };
  return { n, add };
}

/** The deepest directory every visible step's path is under, when there are two or more. */
function commonDir(): { add(s: Step): void; dir(): BPath } {
  let common: BPath | null = null;
  let n = 0;
  return {
    add(s) {
      if (s.seq < 0) return;
      n++;
      if (common === null) common = dirname(s.path);
      while (common !== "/" && s.path !== common && !isUnder(s.path, common)) common = dirname(common);
    },
    dir: () => (n > 1 && common ? common : ""),
  };
}
