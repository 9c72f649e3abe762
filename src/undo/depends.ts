// Dependencies: the later commands whose effects stand on a command's. Undoing C while a later
// command L changed a path C changed (or a path under a directory C created, moved or removed)
// would undo C under L's feet; so L is named, and `--cascade` undoes it first. Only successful
// effect records count: a command that only read a path has none there. The closure is taken in
// time order, so `echo a > f; mv f g; sed -i s/a/b/ g` makes both later ones depend on the echo.
import type { Index } from "../index/db.js";
import type { CommandRow } from "../index/rows.js";
import * as commands from "../index/commands.js";
import * as events from "../index/events.js";
import { Op } from "../spool/records.js";
import { type BPath, dirname, fromBuf } from "../paths/bytes.js";
import { acting, isUndone, type History } from "./chain.js";

/** The calls that change a path (what counts as touching it). */
const EFFECTS = [
  Op.UNLINK,
  Op.RMDIR,
  Op.RENAME,
  Op.OPEN,
  Op.TRUNCATE,
  Op.MKDIR,
  Op.LINK,
  Op.SYMLINK,
  Op.CHMOD,
  Op.CHOWN,
  Op.UTIMES,
  Op.SETXATTR,
  Op.REMOVEXATTR,
  Op.MKNOD,
] as const;
const DIRS: readonly number[] = [Op.MKDIR, Op.RMDIR, Op.RENAME]; // a path under one of these moves or goes with it

export interface Dependency {
  /** The command as the user knows it: a run (or, for the reversal of an earlier command, that reversal). */
  cmd: CommandRow;
  /** What is in effect for it, and so what the cascade reverses (a run, or the redo that re-did it). */
  acting: CommandRow;
}

/** The run a reversal goes back to (itself for a run). */
export function rootOf(h: History, c: CommandRow): CommandRow {
  for (let depth = 0; c.of && c.kind !== "run" && depth < 1e6; depth++) {
    const o = h.byId(c.of);
    if (!o) break;
    c = o;
  }
  return c;
}

/** The later commands, not undone, that depend on target, newest (as in effect) first: the order a
 *  cascade undoes them in. `inScope`: only these of target's paths (a selective undo). */
export function dependents(ix: Index, h: History, target: CommandRow, inScope: (p: BPath) => boolean = () => true): Dependency[] {
  const exact = new Set<BPath>(); // paths changed by target or a dependent
  const dirs = new Set<BPath>(); // directories among them that were made, moved or removed: below them counts too
  const above = new Set<BPath>(); // the directories above those paths: moving or removing one moves them
  const add = (rows: ReturnType<typeof events.effectPaths>, only: (p: BPath) => boolean) => {
    for (const r of rows)
      for (const b of [r.path, r.path2]) {
        if (!b) continue;
        const p = fromBuf(b);
        if (!only(p)) continue;
        exact.add(p);
        if (DIRS.includes(r.op)) dirs.add(p);
        for (let d = dirname(p); d !== "/" && !above.has(d); d = dirname(d)) above.add(d);
      }
  };
  const hits = (rows: ReturnType<typeof events.effectPaths>) =>
    rows.some((r) =>
      [r.path, r.path2].some((b) => {
        if (!b) return false;
        const p = fromBuf(b);
        if (exact.has(p) || ((r.op === Op.RENAME || r.op === Op.RMDIR) && above.has(p))) return true;
        for (let d = dirname(p); d !== "/"; d = dirname(d)) if (dirs.has(d)) return true;
        return false;
      }),
    );
  // target's own paths read only once a later command is there to compare (the undo of the
  // latest command, the common case, has none: its 10k events are not read again)
  let primed = false;
  const prime = () => {
    if (!primed) add(events.effectPaths(ix, target.id, EFFECTS), inScope);
    primed = true;
  };
  const origin = rootOf(h, target);
  const self = origin.id;
  const found = new Map<string, Dependency>();
  for (const c of commands.laterWithEvents(ix, target.started ?? 0)) {
    if (c.id === target.id || isUndone(h, c)) continue;
    // one that started while target still ran is no dependency: its writes may sit between
    // target's (the planner's concurrent-writer conflict names it), and undoing it first helps nothing
    if ((c.started ?? 0) <= (target.ended ?? Infinity)) continue;
    const root = rootOf(h, c);
    if (root.id === self) continue; // target's own chain (a selective undo of it, its redo)
    // a reversal of a later command stands for that command; of an earlier one, for itself
    const unit = c.kind !== "run" && (root.started ?? 0) > (origin.started ?? 0) ? root : c;
    if (unit !== c && isUndone(h, unit)) continue;
    const rows = events.effectPaths(ix, c.id, EFFECTS);
    prime();
    if (!hits(rows)) continue;
    add(rows, () => true);
    if (!found.has(unit.id)) found.set(unit.id, { cmd: unit, acting: unit.kind === "run" ? acting(h, unit) : unit });
  }
  return [...found.values()].sort((a, b) => (b.acting.started ?? 0) - (a.acting.started ?? 0));
}
