// The undo chain's view of the index (chain.ts works on any History; this one reads the index).
import type { Index } from "../index/db.js";
import * as commands from "../index/commands.js";
import * as events from "../index/events.js";
import * as untracked from "../index/untracked.js";
import { Op } from "../spool/records.js";
import type { History } from "./chain.js";

/** Whether a command changed anything worth undoing: a captured effect (or one capture could not
 *  keep), a change outside capture, or its shell's state — not when all it changed is
 *  housekeeping (src/ingest/housekeeping.ts), nor when its effects net to nothing. */
export function hasEffects(ix: Index, id: string): boolean {
  const cls = commands.classOf(ix, id);
  if (cls === "housekeeping" || cls === "none") return false;
  if (events.hasAny(ix, id, Op.NOTCAPTURED)) return true;
  if (untracked.count(ix, id) > 0) return true; // changed outside capture
  const effects = commands.effectsOf(ix, id);
  return !!effects && (JSON.parse(effects).shell ?? 0) > 0; // it changed its shell's state
}

export function indexHistory(ix: Index): History {
  return {
    byId: (id) => commands.byId(ix, id),
    byRef: (ref) => commands.byRef(ix, ref),
    newest: (kind, session, finishedOk) => commands.ofKindNewestFirst(ix, kind, session, finishedOk),
    hasEffects: (id) => hasEffects(ix, id),
  };
}
