// Selective undo: `shit undo ID -- PATH…` acts on those paths only, and the command is then
// partly undone. The reversal records every path it acted on (src/index/scopes.ts); the undo of
// the rest leaves those out, and a redo of the selective undo is the undo of its own records.
import type { Index } from "../index/db.js";
import type { CommandRow } from "../index/rows.js";
import * as commands from "../index/commands.js";
import * as scopes from "../index/scopes.js";
import type { Scope } from "../plan/plan.js";
import type { BPath } from "../paths/bytes.js";
import { acting, isUndone, type History } from "./chain.js";

/** The selective reversals in effect for c (through its redos): c is partly undone by these. */
export function partlyUndoneBy(ix: Index, h: History, c: CommandRow): CommandRow[] {
  return commands.scopedReversalsOf(ix, acting(h, c).id).filter((r) => !isUndone(h, r));
}

/** The last of c's chain of reversals: c itself, or the undo or redo that reversed it last. */
function latest(h: History, c: CommandRow): CommandRow {
  for (let depth = 0; c.undone_by && depth < 1e6; depth++) {
    const n = h.byId(c.undone_by);
    if (!n) break;
    c = n;
  }
  return c;
}

export interface Scoped {
  /** Undefined: the whole command. */
  scope?: Scope;
  /** Reversals to reverse first: the redo of a selective undo puts its paths forward again, so
   *  undoing the whole command again undoes that redo for them. */
  first: CommandRow[];
  /** A selective reversal's directories put back only for the paths selected below them. */
  keepIfFull?: Set<BPath>;
}

/** How a reversal of target is scoped: `only` the paths selected (if any), except the paths its
 *  selective reversals acted on (each either still reversed, or forward again through a redo
 *  that is then reversed first). */
export function scopeFor(ix: Index, h: History, target: CommandRow, only?: BPath[]): Scoped {
  const except = new Set<BPath>();
  const first: CommandRow[] = [];
  for (const r of commands.scopedReversalsOf(ix, target.id)) {
    const last = latest(h, r);
    if (last.kind !== r.kind && !first.some((f) => f.id === last.id)) first.push(last);
    for (const p of scopes.of(ix, r.id)) except.add(p);
  }
  const needed = scopes.neededOf(ix, target.id);
  const keepIfFull = needed.length ? new Set(needed) : undefined;
  if (!only && !except.size) return { first, keepIfFull };
  return { scope: { ...(only ? { only } : {}), ...(except.size ? { except } : {}) }, first, keepIfFull };
}
