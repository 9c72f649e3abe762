// The undo chain: which command `shit undo` and `shit redo` act on. An undo or redo is itself a
// recorded command (kind undo/redo, `of` = the command it reversed), and when it finishes with
// exit 0 the reversed command's `undone_by` points at it:
//
//     run A ──undone_by──▶ undo U1 ──undone_by──▶ redo R1 ──undone_by──▶ undo U2 …
//
// A command is undone when its undone_by is set and that undo is not itself undone; so in the
// chain above, after R1, A is not undone (U1 is undone by R1), and after U2 it is again.
// The command whose effects are in place for A is the last redo that is not undone (`acting`):
// undoing A after R1 reverses R1, which put A's effects back.
// docs/DESIGN.md ("Undo chain") has the rules in prose; test/unit/chain.test.ts checks them on
// synthetic rows.
import type { CommandRow } from "../index/rows.js";

/** What the chain needs of the history: rows by id or reference, and newest-first scans. */
export interface History {
  byId(id: string): CommandRow | undefined;
  /** By id or unique prefix; throws (CommandRefError) when it names none or several. */
  byRef(ref: string): CommandRow;
  /** Commands of a kind, newest first, of one shell session when given; `finishedOk`: only
   *  those that ended with exit 0. */
  newest(kind: "run" | "undo", session: string | null, finishedOk: boolean): Iterable<CommandRow>;
  /** Whether a command changed anything worth undoing (files, outside capture, or its shell's
   *  state; not housekeeping alone). */
  hasEffects(id: string): boolean;
}

/** There is nothing to undo or redo: exit 1. */
export class NothingToDo extends Error {}
/** The command named cannot be undone or redone as asked (already undone, not undone): bad input. */
export class ChainError extends Error {}

/** Is this command's effect currently undone? (undone by an undo that was not itself undone) */
export function isUndone(h: History, c: CommandRow): boolean {
  for (let depth = 0; c.undone_by; depth++) {
    const u = h.byId(c.undone_by);
    if (!u) return false;
    if (!u.undone_by) return true;
    // u is undone by a redo r: c is undone iff u is not, i.e. iff r is undone
    const r = h.byId(u.undone_by);
    if (!r) return true;
    c = r;
    if (depth > 1e6) throw new Error("undo chain loops");
  }
  return false;
}

/** The command whose effects are in place now for c: c itself, or the redo that re-did it. */
export function acting(h: History, c: CommandRow): CommandRow {
  for (;;) {
    if (!c.undone_by) return c;
    const u = h.byId(c.undone_by);
    if (!u?.undone_by) return c;
    const r = h.byId(u.undone_by);
    if (!r) return c;
    c = r;
  }
}

/** The undo in effect for an undone command c: the reversal of the command acting for it (after
 *  A ◀ U1 ◀ R1 ◀ U2, A's is U2, not U1: U1 was redone by R1). Undefined when c is not undone. */
export function undoneBy(h: History, c: CommandRow): CommandRow | undefined {
  if (!isUndone(h, c)) return undefined;
  const by = acting(h, c).undone_by;
  return by ? h.byId(by) : undefined;
}

/** The commands `shit undo` would pick, best first: `run`s with effects (not housekeeping only)
 *  that are not undone, newest first — of this shell's session when given. */
function* undoCandidates(h: History, session: string | null, self?: string): Generator<CommandRow> {
  for (const c of h.newest("run", session, false)) if (c.id !== self && !isUndone(h, c) && !c.freed && h.hasEffects(c.id)) yield c;
}

/** A reference as people type it: an id or a unique prefix of one, or a relative one — `@` is the
 *  command `shit undo` would pick, `@~1` (or `@~`) the one it would pick after that, `@~N` the
 *  Nth after (git's HEAD~N; jj's @-). Relative ones count in this shell's session when given. */
export function resolveRef(h: History, ref: string, session?: string | null, self?: string): CommandRow {
  const rel = /^@(?:~(\d*))?$/.exec(ref);
  if (!rel) return h.byRef(ref);
  const n = rel[1] === undefined ? 0 : rel[1] === "" ? 1 : Number(rel[1]);
  let i = 0;
  for (const c of undoCandidates(h, session ?? null, self)) if (i++ === n) return c;
  if (i === 0) throw nothingToUndo(session);
  throw new ChainError(
    `${ref}: there ${i === 1 ? "is 1 command" : `are ${i} commands`} to undo${session ? " in this shell" : ""} (@${i > 1 ? ` to @~${i - 1}` : ""})`,
  );
}

const nothingToUndo = (session?: string | null) =>
  new NothingToDo(
    `nothing to undo: no recorded command${session ? " of this shell" : ""} with effects that is not undone${session ? " (--global looks at every shell)" : ""}`,
  );

/** What `shit undo [ref]` reverses: the command named (through its redos), else the latest `run`
 *  with effects that is not undone and whose pre-images gc has not freed — of this shell's session
 *  when given — other than `self`, the command the undo itself runs in (typed at a hooked prompt:
 *  its line is recorded, and running). */
export function pickUndo(h: History, ref?: string, session?: string | null, self?: string): CommandRow {
  if (ref) {
    const c = resolveRef(h, ref, session, self);
    const by = undoneBy(h, c);
    if (by) throw new ChainError(`${c.id.slice(0, 8)} is already undone (by ${by.id.slice(0, 8)}); \`shit redo\` puts it back`);
    return acting(h, c);
  }
  for (const c of undoCandidates(h, session ?? null, self)) return acting(h, c);
  throw nothingToUndo(session);
}

/** What `shit redo [ref]` reverses: an undo (or redo) named that is in effect, the undo of a
 *  command named, else the latest successful undo that is not undone — of this session when given. */
export function pickRedo(h: History, ref?: string, session?: string | null, self?: string): CommandRow {
  if (ref) {
    const c = resolveRef(h, ref, session, self);
    // the reversal in effect: U1 of A ◀ U1 ◀ R1 ◀ U2 acts through U2 (reversing U1 again would
    // work from a state R1 and U2 have since replaced, and overwrite U1's link to R1)
    if ((c.kind === "undo" || c.kind === "redo") && !isUndone(h, c)) return acting(h, c);
    const by = undoneBy(h, c);
    if (by) return by;
    throw new ChainError(`${c.id.slice(0, 8)} is not undone: nothing to redo`);
  }
  for (const u of h.newest("undo", session ?? null, true)) if (!isUndone(h, u)) return u;
  throw new NothingToDo(
    `nothing to redo: no undo${session ? " made in this shell" : ""} that is not already redone${session ? " (--global looks at every shell)" : ""}`,
  );
}

/** Undoing an undo is a redo; undoing anything else (a run, a redo) is an undo. */
export const reversalKind = (target: CommandRow): "undo" | "redo" => (target.kind === "undo" ? "redo" : "undo");
