// The watcher tier inside shitd: a DirWatcher over the tracked roots, and each change it sees
// attached to the commands running then whose own records do not name the path ("untracked":
// made by a static binary, a setuid tool, another user's process — anything LD_PRELOAD missed).
//
// Roots: config.json's "watch": {"roots": [...], "recent": true|false} (absolute, or ~/...;
// relative ones are taken from the daemon's cwd); with recent (the default) also the distinct cwds of commands started in the last hour. Never "/", never inside
// the state dir, a root inside another is watched with it, at most MAX_ROOTS. Re-evaluated after
// each ingest; what is skipped and why goes to the daemon log.
//
// Matching: events are held HOLD_MS, then the spools are ingested (a shim record can land after
// the watcher saw the change), then each event is matched to the `run` commands whose lifetime
// holds its time (started <= t <= ended, or no END yet and a process of it alive; up to
// END_SLACK_MS after its end only when no command was running at t).
// A path named by the events of ANY command alive then (undo/redo included) was captured and is
// skipped; so is a path under a directory such a command removed, renamed or put back. The state
// dir is filtered. SHIT_WATCH=off turns the tier off.
import { lstatSync, realpathSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve, sep } from "node:path";
import type { Index } from "../index/db.js";
import * as commands from "../index/commands.js";
import * as events from "../index/events.js";
import * as untracked from "../index/untracked.js";
import type { UntrackedKind } from "../index/untracked.js";
import { recount } from "../ingest/effects.js";
import { Op, StepOp } from "../spool/records.js";
import type { StatePaths } from "../paths/state.js";
import { loadConfig, parseConfig, settingOf } from "../config.js";
import { DirWatcher, type WatchEvent } from "./watcher.js";
import { liveProcesses } from "../procs/running.js";
import { pidExists } from "../procs/procfs.js";

export const MAX_ROOTS = 8;
export const RECENT_MS = 60 * 60 * 1000;
const HOLD_MS = 150;
/** Events held to be matched at most (~530 B each): past it the helper's events are not read until
 *  they are (DirWatcher.pause). An undo putting 1M files back under a watched root sent 433k of
 *  them while shitd ingested its records, and shitd reached 465 MiB; now the kernel's queue takes
 *  the excess, and its overflow a re-listing, as for any burst. */
const HELD_MAX = Number(process.env.SHIT_WATCH_HELD_MAX ?? 65536);
/** A command's named paths are read at once (events.namedPaths, a row at a time into two sets)
 *  only up to this many events: ~100-150 bytes of string and set entry a path, 15-30 MB at most,
 *  beside shitd's other peaks (planning ahead the undo of 1M files: ~204 MiB); past it a query a
 *  path, as for a command of more than a few times the batch's events. */
const NAMED_MAX = 100_000;
const END_SLACK_MS = 100; // the helper stamps an event when it reads it, a little after the change
const RESTART_MS = 5000;
const RETRY_MS = 60 * 1000;

export type { UntrackedKind } from "../index/untracked.js";
const CHANGE = new Set<string>(["create", "delete", "modify", "attrib", "move"]);
// ops after which everything under the path is the command's doing (or was its before)
const SUBTREE_OPS = [Op.RMDIR, Op.RENAME, StepOp.REMOVE, StepOp.RENAME, StepOp.PLACE];

export interface WatchConfig {
  roots: string[];
  recent: boolean;
}

/** The "watch" part of the config (src/config.ts, SETTINGS), or why it cannot be used. */
export function watchConfig(config: Record<string, unknown>): WatchConfig | string {
  const r = parseConfig(config);
  if ("error" in r) return r.error;
  return { roots: settingOf(r.config, "watch.roots") ?? [], recent: settingOf(r.config, "watch.recent") ?? true };
}

const under = (p: string, dir: string) => p === dir || p.startsWith(dir.endsWith(sep) ? dir : dir + sep);

/** Which of the candidate directories (in priority order) to watch, and which not and why. */
export function chooseRoots(candidates: string[], stateDir: string, max = MAX_ROOTS): { roots: string[]; skipped: { root: string; why: string }[] } {
  const roots: string[] = [];
  const skipped: { root: string; why: string }[] = [];
  const seen = new Set<string>();
  let state = resolve(stateDir);
  try {
    state = realpathSync(state);
  } catch {
    /* not there yet */
  }
  for (const c of candidates) {
    let p: string;
    try {
      p = realpathSync(resolve(c));
      if (!lstatSync(p).isDirectory()) throw new Error("not a directory");
    } catch (e) {
      skipped.push({ root: c, why: (e as NodeJS.ErrnoException).code === "ENOENT" ? "it does not exist" : "it is not a directory" });
      continue;
    }
    if (seen.has(p)) continue;
    seen.add(p);
    if (p === "/") skipped.push({ root: p, why: "the whole filesystem is never watched" });
    else if (under(p, state)) skipped.push({ root: p, why: "it is inside the state directory" });
    else if (roots.some((r) => under(p, r)))
      continue; // watched with its ancestor
    else if (roots.some((r) => under(r, p)))
      roots.splice(0, roots.length, ...roots.filter((r) => !under(r, p)), p); // it takes their places
    else if (roots.length >= max) skipped.push({ root: p, why: `more than ${max} roots` });
    else roots.push(p);
  }
  return { roots, skipped };
}

interface Held {
  ev: WatchEvent;
  at: number; // when it arrived
}

export interface TierDeps {
  paths: StatePaths;
  index: Index;
  log(msg: string): void;
  /** Ingests every spool; resolves null when done, or with the error. */
  sync(): Promise<string | null>;
}

export class UntrackedTier {
  private watcher: DirWatcher | null = null;
  private watched: string[] = [];
  private held: Held[] = [];
  private paused = false;
  private flushTimer: NodeJS.Timeout | null = null;
  private flushing = false;
  private evaluating = false;
  private again = false;
  private closed = false;
  private lastSkipped = "";
  private lastConfigError = "";
  private restartAt = 0;
  private failed = new Map<string, { at: number; msg: string }>(); // roots whose add failed, not retried for RETRY_MS
  private readonly state: string;
  readonly off = process.env.SHIT_WATCH === "off";

  constructor(private readonly deps: TierDeps) {
    let s = resolve(deps.paths.root);
    try {
      s = realpathSync(s);
    } catch {
      /* made by the daemon before this */
    }
    this.state = s;
    if (this.off) deps.log("watcher tier off (SHIT_WATCH=off)");
  }

  /** The roots watched now. */
  get roots(): string[] {
    return [...this.watched];
  }

  /** After each ingest: the tracked roots may have changed. */
  ingested(): void {
    if (this.off || this.closed) return;
    if (this.evaluating) {
      this.again = true;
      return;
    }
    this.evaluating = true;
    void this.evaluate()
      .catch((e: Error) => this.deps.log(`watcher tier: ${e.message}`))
      .finally(() => {
        this.evaluating = false;
        if (this.again && !this.closed) {
          this.again = false;
          this.ingested();
        }
      });
  }

  private candidates(): string[] {
    let cfg: WatchConfig = { roots: [], recent: true };
    try {
      const w = watchConfig(loadConfig().config); // checked by loadConfig: a ConfigError names the file and field
      if (typeof w === "string") throw new Error(w);
      cfg = w;
      this.lastConfigError = "";
    } catch (e) {
      const msg = `${(e as Error).message}; using the defaults`;
      if (msg !== this.lastConfigError) this.deps.log(`watcher tier: ${msg}`);
      this.lastConfigError = msg;
    }
    const home = process.env.HOME || homedir();
    const out = cfg.roots.map((r) => (r === "~" ? home : r.startsWith("~/") ? join(home, r.slice(2)) : r));
    if (cfg.recent) {
      for (const cwd of commands.recentCwds(this.deps.index, Date.now() - RECENT_MS, 64)) out.push(Buffer.from(cwd).toString());
    }
    return out;
  }

  private async evaluate(): Promise<void> {
    const { roots, skipped } = chooseRoots(this.candidates(), this.state);
    const text = skipped.map((s) => `${s.root} (${s.why})`).join(", ");
    if (text !== this.lastSkipped && text) this.deps.log(`watcher tier: not watching ${text}`);
    this.lastSkipped = text;
    if (!roots.length && !this.watcher) return;
    if (!this.watcher) {
      if (Date.now() < this.restartAt) return;
      this.watcher = this.startWatcher();
      this.watched = [];
    }
    const w = this.watcher;
    for (const r of this.watched.filter((r) => !roots.includes(r))) {
      await w.remove(r).catch((e: Error) => this.deps.log(`watcher tier: stop watching ${r}: ${e.message}`));
      this.watched = this.watched.filter((x) => x !== r);
      this.deps.log(`watcher tier: no longer watching ${r}`);
    }
    for (const r of roots.filter((r) => !this.watched.includes(r))) {
      const failed = this.failed.get(r);
      if (failed && Date.now() < failed.at + RETRY_MS) continue;
      try {
        await w.add(r);
        this.watched.push(r);
        this.failed.delete(r);
        this.deps.log(`watcher tier: watching ${r}`);
      } catch (e) {
        const msg = (e as Error).message;
        if (msg !== failed?.msg) this.deps.log(`watcher tier: cannot watch ${r}: ${msg} (tried again every ${RETRY_MS / 1000} s)`);
        this.failed.set(r, { at: Date.now(), msg });
      }
    }
  }

  private startWatcher(): DirWatcher {
    const w = DirWatcher.start();
    w.on("event", (ev: WatchEvent) => this.event(ev));
    w.on("exit", (code: number | null, signal: string | null) => {
      if (this.closed) return;
      this.deps.log(`watcher tier: shit-watch exited (${signal ?? `status ${code}`}); starting it again at the next ingest`);
      if (this.watcher === w) {
        this.watcher = null;
        this.paused = false; // a new helper is read from the start
        this.watched = [];
        this.restartAt = Date.now() + RESTART_MS;
      }
    });
    return w;
  }

  private event(ev: WatchEvent): void {
    if (!CHANGE.has(ev.kind)) {
      const what =
        ev.kind === "rescan"
          ? `rescan of ${ev.root ?? "every root"} done`
          : ev.kind === "overflow"
            ? "events lost (inotify queue overflow); rescanning"
            : (ev.message ?? "");
      this.deps.log(`watcher tier: ${ev.kind}: ${what}`);
      return;
    }
    if (under(ev.pathStr, this.state) && (!ev.fromStr || under(ev.fromStr, this.state))) return;
    this.held.push({ ev, at: Date.now() });
    if (this.held.length >= HELD_MAX && !this.paused && this.watcher) {
      this.paused = true;
      this.watcher.pause();
      this.deps.log(`watcher tier: ${this.held.length} changes waiting to be matched: reading paused until they are`);
    }
    if (!this.flushTimer && !this.flushing) this.flushTimer = setTimeout(() => void this.flush(), HOLD_MS);
  }

  private async flush(): Promise<void> {
    this.flushTimer = null;
    if (this.closed) return;
    this.flushing = true;
    try {
      const cut = Date.now() - HOLD_MS;
      const take = this.held.filter((h) => h.at <= cut);
      this.held = this.held.filter((h) => h.at > cut);
      if (take.length) {
        const err = await this.deps.sync();
        if (err) this.deps.log(`watcher tier: ingest before matching failed: ${err}; matching with what is in the index`);
        if (!this.closed) this.attach(take.map((h) => h.ev));
      }
      if (this.paused && this.held.length < HELD_MAX / 2) {
        this.paused = false;
        this.watcher?.resume();
        this.deps.log("watcher tier: reading again");
      }
    } catch (e) {
      this.deps.log(`watcher tier: matching failed: ${(e as Error).message}`);
    } finally {
      this.flushing = false;
    }
    if (this.held.length && !this.closed) {
      const wait = Math.max(0, this.held[0].at + HOLD_MS - Date.now());
      this.flushTimer = setTimeout(() => void this.flush(), wait);
    }
  }

  /** The commands alive at t (ms), of every kind, out of those alive in the batch's span (rows);
   *  `strict`: without the end slack. A command runs while any of its processes lives
   *  (running.ts), also past its END (a background job). */
  private aliveAt(
    rows: commands.AliveRow[],
    t: number,
    live: (id: string, pid: number | null, ended: number | null) => boolean,
  ): { id: string; kind: string; strict: boolean }[] {
    const out: { id: string; kind: string; strict: boolean }[] = [];
    for (const c of rows) {
      if (!commands.aliveAt(c, t, END_SLACK_MS)) continue;
      const end = Math.max(c.ended ?? -Infinity, c.lastExit ?? -Infinity);
      if ((c.ended !== null && c.ended >= t) || end >= t || live(c.id, c.pid, c.ended)) out.push({ id: c.id, kind: c.kind, strict: true });
      else if (end + END_SLACK_MS >= t) out.push({ id: c.id, kind: c.kind, strict: false });
    }
    return out;
  }

  /** Does a command's own record name p (or a directory above p it removed, renamed or put back)?
   *  `paths`: what events.namedPaths read of it for this batch, if it did (null: too many events). */
  private named(cmd: string, p: Buffer, paths: { all: Set<string>; of: Set<string> } | null): boolean {
    const idx = this.deps.index;
    let s = p.toString("latin1");
    if (paths ? paths.all.has(s) : events.names(idx, cmd, p)) return true;
    for (let d = dirname(s); d !== s; s = d, d = dirname(d)) {
      if (paths ? paths.of.has(d) : events.names(idx, cmd, Buffer.from(d, "latin1"), SUBTREE_OPS)) return true;
    }
    return false;
  }

  /** Matches watch events to running commands and records the untracked ones. */
  attach(evs: WatchEvent[]): void {
    const idx = this.deps.index;
    const seen = new Map<string, boolean>(); // liveness now, once per command per batch
    const live = (id: string, pid: number | null, ended: number | null) => {
      let v = seen.get(id);
      if (v === undefined) seen.set(id, (v = liveProcesses(idx, id).length > 0 || (ended === null && pidExists(pid))));
      return v;
    };
    const names = new Map<string, boolean>(); // a path's create and modify come together: look once
    // each command's named paths read at once when it has no more events than a few times the
    // batch (a command of 1M events for a handful of changes: a query a path)
    const read = new Map<string, { all: Set<string>; of: Set<string> } | null>();
    const named = (cmd: string, p: Buffer) => {
      const k = `${cmd}/${p.toString("latin1")}`;
      let v = names.get(k);
      if (v === undefined) {
        let paths = read.get(cmd);
        if (paths === undefined) read.set(cmd, (paths = events.namedPaths(idx, cmd, SUBTREE_OPS, Math.min(4 * evs.length + 1000, NAMED_MAX))));
        names.set(k, (v = this.named(cmd, p, paths)));
      }
      return v;
    };
    const found: { cmd: string; kind: UntrackedKind; path: Buffer; path2: Buffer | null; t: number }[] = [];
    const times = evs.map((ev) => Number(ev.timeNs / 1000000n));
    let lo = Infinity,
      hi = -Infinity;
    for (const t of times) ((lo = Math.min(lo, t)), (hi = Math.max(hi, t)));
    const rows = evs.length ? commands.aliveBetween(idx, lo, hi, END_SLACK_MS) : [];
    if (!rows.some((c) => c.kind === "run")) return; // no command ran then: nothing to attach any of them to
    for (let i = 0; i < evs.length; i++) {
      const ev = evs[i],
        t = times[i];
      const cmds = this.aliveAt(rows, t, live);
      // the commands running at t; those that ended just before only when none was
      let runs = cmds.filter((c) => c.kind === "run" && c.strict);
      if (!runs.length) runs = cmds.filter((c) => c.kind === "run");
      if (!runs.length) continue; // no command ran: nothing to attach it to
      const paths = ev.kind === "move" && ev.from ? [ev.from, ev.path] : [ev.path];
      if (cmds.some((c) => paths.some((p) => named(c.id, p)))) continue; // captured
      // an undo's (redo's) closing pass sets the times of the directories it changed things in,
      // without records of their own (StepFlag.FINAL_META): the shell line that ran it did not
      if (ev.kind === "attrib" && cmds.some((c) => c.kind !== "run" && events.namesUnder(idx, c.id, ev.path))) continue;
      for (const c of runs)
        found.push({
          cmd: c.id,
          kind: ev.kind as UntrackedKind,
          path: ev.kind === "move" && ev.from ? ev.from : ev.path,
          path2: ev.kind === "move" ? ev.path : null,
          t,
        });
    }
    if (!found.length) return;
    idx.tx(() => {
      for (const f of found) untracked.record(idx, f.cmd, f.kind, f.path, f.path2, f.t);
    });
    recount(idx, new Set(found.map((f) => f.cmd)));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    await this.watcher?.close();
  }
}
