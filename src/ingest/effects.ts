// How many paths a command changed, by kind (src/plan/net.ts says what each path went through),
// and what kind of command that makes it.
// Computed at ingest for every command that got new events, and kept with the command.
import { lstatSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { EventRow, Index } from "../index/db.js";
import * as commands from "../index/commands.js";
import * as events from "../index/events.js";
import * as untracked from "../index/untracked.js";
import * as kills from "../index/kills.js";
import { Op } from "../spool/records.js";
import { type BPath, fromBuf, toBuf } from "../paths/bytes.js";
import { type Effect, netEffects } from "../plan/net.js";
import { changeCount } from "../shell/state.js";
import { decodeStat } from "../spool/records.js";
import { loadConfig } from "../config.js";
import { GIT_INDEX, GIT_LOCK, housekeeping, housekeepingOf, type Housekeeping } from "./housekeeping.js";
import { sameStaged } from "./git-index.js";
import { storeView } from "./view.js";
import { inHand } from "./hand.js";

export type { Effect } from "../plan/net.js";

/** Counts by kind; `shell` is the shell state a command changed (cwd, variables, aliases, options);
 *  `untracked` the changes the watcher tier saw that capture did not record (src/daemon/untracked.ts). */
/** `killed`: processes a signal of it ended; `stopped`: systemd units it stopped (src/index/kills.ts). */
export type EffectCounts = Record<Effect, number> & { notCaptured: number; shell: number; untracked: number; killed: number; stopped: number };

export function effectCounts(evs: EventRow[], shell = 0, untracked = 0, ended = { killed: 0, stopped: 0 }): EffectCounts {
  const t = new Tally(housekeeping());
  for (const [p, e] of netEffects(evs)) t.seen(p, e);
  return countsOf(t, evs.filter((e) => e.op === Op.NOTCAPTURED).length, shell, untracked, ended);
}

function countsOf(t: Tally, notCaptured: number, shell: number, untracked: number, ended: { killed: number; stopped: number }): EffectCounts {
  return { ...t.counts, notCaptured, shell, untracked, ...ended };
}

/** Each path's net effect, seen one at a time (a 1M-path command's are never held together):
 *  counted by kind, with what classOf tells from the paths. */
class Tally {
  counts: Record<Effect, number> = { deleted: 0, modified: 0, created: 0, renamed: 0, metadata: 0 };
  size = 0;
  other = false; // a path that is not housekeeping
  indexes: BPath[] = []; // git indexes modified: housekeeping if only refreshed
  constructor(private hk: Housekeeping) {}
  seen = (p: BPath, e: Effect): void => {
    this.counts[e]++;
    this.size++;
    if (this.other || this.hk.matches(p) || GIT_LOCK.test(p)) return;
    if (GIT_INDEX.test(p) && e === "modified") this.indexes.push(p);
    else this.other = true;
  };
}

/** Recounts the effects of these commands and stores them with each, and what kind of command
 *  that makes it (classOf). `staging`: the state dir's staging root, where a git index refresh is
 *  told from a change by the index's kept pre-image (without it, an index write is a change). */
export function recount(index: Index, cmds: Iterable<string>, staging?: string, earlier = true): void {
  for (const id of cmds) {
    const sh = commands.shellOf(index, id);
    const shell = sh ? changeCount(JSON.parse(sh).changes) : 0;
    // one pass over the rows as they are read (a 100k-file command: never all at once); a large
    // command's pass makes its show view too (src/ingest/view.ts)
    // (from the rows in hand when this process just wrote them all: src/ingest/hand.ts)
    const held = inHand(index, id);
    const tally = new Tally(userHousekeeping());
    const viewed = storeView(index, id, tally.seen, held ?? undefined);
    let notCaptured = viewed?.notCaptured ?? 0;
    function* counted() {
      for (const e of held ?? events.forCounting(index, id)) {
        if (e.op === Op.NOTCAPTURED) notCaptured++;
        yield e;
      }
    }
    if (!viewed) for (const [p, e] of netEffects(counted())) tally.seen(p, e);
    const counts = countsOf(tally, notCaptured, shell, untracked.count(index, id), kills.count(index, id));
    const proven = commands.classOf(index, id) === "housekeeping"; // a refresh once proven stays one (the index may change later)
    const cls = classFrom(counts, tally, (p) => proven || (!!staging && indexRefreshed(index, id, p, staging)));
    commands.setEffects(index, id, JSON.stringify(counts), cls);
    if (earlier && staging) recount(index, indexLeftBy(index, id), staging, false);
  }
}

/** The commands that left a git index this one replaced (and kept): counted before this one was
 *  ingested, they could not yet tell a refresh from a change; its keep tells it now. */
function indexLeftBy(index: Index, id: string): string[] {
  const out: string[] = [];
  for (const e of events.renamesOver(index, id, Buffer.from("/.git/index"))) {
    if (e.err || e.op !== Op.RENAME || !e.path2 || !e.keep2 || !GIT_INDEX.test(fromBuf(e.path2))) continue;
    const pre = decodeStat(e.pre2);
    if (!pre) continue;
    for (const p of events.postsAt(index, Buffer.from(e.path2))) {
      const s = decodeStat(p.post);
      if (p.cmd !== id && s && s.ino === pre.ino && s.mtimeNs === pre.mtimeNs && commands.classOf(index, p.cmd) === "changes") out.push(p.cmd);
    }
  }
  return out;
}

/** What a command changed, in one word: "changes"; "none" (nothing: no path, no shell state, no
 *  change outside capture, nothing capture missed); or "housekeeping" (only paths that are
 *  housekeeping: src/ingest/housekeeping.ts). `refreshed(p)`: whether a git index at p was only
 *  refreshed (its staged content the same after as before). */
export type CommandClass = "changes" | "none" | "housekeeping";
export function classOf(counts: EffectCounts, net: Map<BPath, Effect>, hk: Housekeeping, refreshed: (p: BPath) => boolean): CommandClass {
  const t = new Tally(hk);
  for (const [p, e] of net) t.seen(p, e);
  return classFrom(counts, t, refreshed);
}

function classFrom(counts: EffectCounts, paths: Tally, refreshed: (p: BPath) => boolean): CommandClass {
  if (counts.shell || counts.untracked || counts.notCaptured || counts.killed || counts.stopped) return "changes";
  if (!paths.size) return "none";
  if (paths.other) return "changes";
  return paths.indexes.every(refreshed) ? "housekeeping" : "changes";
}

let hkCache: Housekeeping | null = null;
/** The built-in housekeeping patterns with the config's. A config that cannot be used leaves the
 *  built-in ones (ingest goes on; every verb names the fault as it starts: src/cli/main.ts). */
export function userHousekeeping(): Housekeeping {
  if (hkCache) return hkCache;
  try {
    const { add, drop } = housekeepingOf(loadConfig().config);
    return (hkCache = housekeeping(add, drop));
  } catch {
    return (hkCache = housekeeping());
  }
}

/** Whether command id only refreshed the git index at p: its pre-image (kept when the new index
 *  was renamed over it) and the index it left stage the same entries. The index it left is the
 *  one the end scan saw: the file now if it is still that one, else the pre-image the next command
 *  to replace it kept. */
function indexRefreshed(index: Index, id: string, p: BPath, staging: string): boolean {
  const pb = toBuf(p);
  let kept: string | null = null;
  for (const e of events.of(index, id)) {
    if (e.err || !e.path2 || e.op !== Op.RENAME || !Buffer.from(e.path2).equals(pb)) continue;
    if (!e.pre2 || !e.keep2) return false; // nothing was kept of the index it replaced
    kept = kept ?? e.keep2; // the first: what was there before the command
  }
  const left = decodeStat(events.postsOf(index, id).find((r) => Buffer.from(r.path).equals(pb))?.post);
  if (!kept || !left) return false;
  const same = (s: { ino: bigint; mtimeNs: bigint; size: bigint } | null) => !!s && s.ino === left.ino && s.mtimeNs === left.mtimeNs && s.size === left.size;
  try {
    let after: Buffer | null = null;
    if (same(lstatSync(pb, { bigint: true, throwIfNoEntry: false }) ?? null)) after = readFileSync(pb);
    else {
      const next = events.keptOf(index, pb).find((k) => same(decodeStat(k.pre)));
      if (next) after = readFileSync(join(staging, next.keep));
    }
    return !!after && sameStaged(readFileSync(join(staging, kept)), after);
  } catch {
    return false; // a kept file gone (gc): cannot tell
  }
}

export function storedCounts(json: string | null): EffectCounts {
  const zero = { deleted: 0, modified: 0, created: 0, renamed: 0, metadata: 0, notCaptured: 0, shell: 0, untracked: 0, killed: 0, stopped: 0 };
  return json ? { ...zero, ...JSON.parse(json) } : zero;
}
