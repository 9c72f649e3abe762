// How many paths a command changed, by kind (src/plan/net.ts says what each path went through).
// Computed at ingest for every command that got new events, and kept with the command.
import type { EventRow, Index } from "../index/db.js";
import * as commands from "../index/commands.js";
import * as events from "../index/events.js";
import * as untracked from "../index/untracked.js";
import { Op } from "../spool/records.js";
import { type Effect, netEffects } from "../plan/net.js";
import { changeCount } from "../shell/state.js";

export type { Effect } from "../plan/net.js";

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
