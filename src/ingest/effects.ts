// What a command did, path by path: each path's state before the command against after it.
// Computed at ingest for every command that got new events, and kept with the command.
import { constants as C } from "node:fs";
import type { EventRow, Index } from "../index/db.js";
import * as commands from "../index/commands.js";
import * as events from "../index/events.js";
import * as untracked from "../index/untracked.js";
import { Op } from "../spool/records.js";
import { type BPath, fromBuf } from "../paths/bytes.js";
import { noop } from "../plan/plan.js";
import { changeCount } from "../shell/state.js";

export type Effect = "deleted" | "modified" | "created" | "renamed" | "metadata";

/** Net effect per path: what a path was before the command against what it was after. */
export function netEffects(evs: EventRow[]): Map<BPath, Effect> {
  interface S {
    before: boolean;
    after: boolean;
    bytes: boolean;
    meta: boolean;
    movedTo?: BPath;
    movedFrom?: BPath;
  }
  const st = new Map<BPath, S>();
  const at = (p: BPath, existed: boolean): S => {
    let s = st.get(p);
    if (!s) st.set(p, (s = { before: existed, after: existed, bytes: false, meta: false }));
    return s;
  };
  for (const e of evs) {
    if (e.err !== 0 || !e.path) continue;
    const a = fromBuf(e.path),
      b = e.path2 ? fromBuf(e.path2) : null;
    const pre = !!e.pre;
    // OPSWITCH(effects; ignores: BEGIN END POST EXEC NOTCAPTURED VOID STAGED) -- not effects; NOTCAPTURED is counted apart; a VOID marks the event it voids failed
    switch (e.op) {
      case Op.UNLINK:
      case Op.RMDIR:
        at(a, true).after = false;
        break;
      case Op.RENAME: {
        if (noop(e)) break; // between two names of one inode: it did nothing
        const s = at(a, true);
        s.after = false;
        s.movedTo = b!;
        const t = at(b!, !!e.pre2);
        t.after = true;
        t.bytes = true;
        t.movedFrom = a;
        break;
      }
      case Op.OPEN: {
        const s = at(a, pre);
        s.after = true;
        if (e.flags & (C.O_WRONLY | C.O_RDWR | C.O_TRUNC)) s.bytes = true;
        break;
      }
      case Op.TRUNCATE: {
        const s = at(a, true);
        s.after = true;
        s.bytes = true;
        break;
      }
      case Op.MKDIR:
      case Op.SYMLINK:
      case Op.MKNOD:
        at(a, false).after = true;
        break;
      case Op.LINK:
        if (b) at(b, false).after = true;
        break;
      case Op.CHMOD:
      case Op.CHOWN:
      case Op.UTIMES:
      case Op.SETXATTR:
      case Op.REMOVEXATTR:
        at(a, true).meta = true;
        break;
    }
  }
  const out = new Map<BPath, Effect>();
  for (const [p, s] of st) {
    if (s.before && !s.after) {
      const to = s.movedTo && st.get(s.movedTo);
      out.set(p, to && to.after && !to.before && to.movedFrom === p ? "renamed" : "deleted");
    } else if (!s.before && s.after) {
      const from = s.movedFrom && st.get(s.movedFrom);
      if (!(from && from.movedTo === p && from.before && !from.after)) out.set(p, "created");
    } else if (s.before && s.after) {
      if (s.bytes) out.set(p, "modified");
      else if (s.meta) out.set(p, "metadata");
    }
  }
  return out;
}

/** Counts by kind; `shell` is the shell state a command changed (cwd, variables, aliases, options);
 *  `untracked` the changes the watcher tier saw that capture did not record (src/daemon/untracked.ts). */
export type EffectCounts = Record<Effect, number> & { notCaptured: number; shell: number; untracked: number };

export function effectCounts(evs: EventRow[], shell = 0, untracked = 0): EffectCounts {
  const counts = { deleted: 0, modified: 0, created: 0, renamed: 0, metadata: 0, notCaptured: 0, shell, untracked };
  for (const k of netEffects(evs).values()) counts[k]++;
  counts.notCaptured = evs.filter((e) => e.op === Op.NOTCAPTURED).length;
  return counts;
}

/** Recounts the effects of these commands and stores them with each. */
export function recount(index: Index, cmds: Iterable<string>): void {
  for (const id of cmds) {
    const sh = commands.shellOf(index, id);
    const shell = sh ? changeCount(JSON.parse(sh).changes) : 0;
    commands.setEffects(index, id, JSON.stringify(effectCounts(events.forCounting(index, id), shell, untracked.count(index, id))));
  }
}

export function storedCounts(json: string | null): EffectCounts {
  const zero = { deleted: 0, modified: 0, created: 0, renamed: 0, metadata: 0, notCaptured: 0, shell: 0, untracked: 0 };
  return json ? { ...zero, ...JSON.parse(json) } : zero;
}
