// The undo chain's view of the index (chain.ts works on any History; this one reads the index).
import type { Index } from "../index/db.js";
import * as commands from "../index/commands.js";
import * as events from "../index/events.js";
import * as untracked from "../index/untracked.js";
import { Op } from "../spool/records.js";
import type { History } from "./chain.js";

/** Whether a command changed anything worth undoing: a captured effect (or one capture could not
 *  keep), a change outside capture, its shell's state, or a process or unit it ended — not when all it changed is
 *  housekeeping (src/ingest/housekeeping.ts), nor when its effects net to nothing. */
export function hasEffects(ix: Index, id: string): boolean {
  const cls = commands.classOf(ix, id);
  if (cls === "housekeeping" || cls === "none") return false;
  if (cls === "changes") return true; // counted at its END from the same effects as below
  if (events.hasAny(ix, id, Op.NOTCAPTURED)) return true;
  if (untracked.count(ix, id) > 0) return true; // changed outside capture
  const effects = commands.effectsOf(ix, id);
  if (!effects) return false;
  const c = JSON.parse(effects);
  return (c.shell ?? 0) > 0 || (c.killed ?? 0) > 0 || (c.stopped ?? 0) > 0; // its shell's state; a process it ended, a unit it stopped
}

export function indexHistory(ix: Index): History {
  return {
    byId: (id) => commands.byId(ix, id),
    byRef: (ref) => commands.byRef(ix, ref),
    newest: (kind, session, finishedOk) => commands.ofKindNewestFirst(ix, kind, session, finishedOk),
    hasEffects: (id) => hasEffects(ix, id),
  };
}
