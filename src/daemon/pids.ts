// Which processes each running command has: the runner's pid from BEGIN for commands with no END
// yet, and every pid an EXEC record named that was not seen exit. The exit watcher attaches through
// the hooks (lifetimes.ts): it is told of each new pid and of each command that ended.
import type { Index } from "../index/db.js";
import * as commands from "../index/commands.js";
import * as procs from "../index/procs.js";

export interface ProcHooks {
  onProcess?(cmd: string, pid: number): void;
  onCommandEnded?(cmd: string): void;
}

/** How long after it started a command's processes are still looked for (ms). */
export const RECENT_MS = 24 * 3600 * 1000;

export class ProcTable {
  readonly running = new Map<string, Set<number>>();
  hooks: ProcHooks = {};

  /** Brings the table up to date with the index (after an ingest). */
  refresh(index: Index): void {
    const now = new Map<string, Set<number>>();
    const add = (cmd: string, pid: number | null) => {
      if (!pid) return;
      let s = now.get(cmd);
      if (!s) now.set(cmd, (s = new Set()));
      s.add(pid);
    };
    for (const r of commands.unended(index)) add(r.id, r.pid);
    // a command runs while any of its processes lives: an ended one whose processes were not all
    // seen gone stays, unless it started over a day ago (a row left by a crash is not kept forever)
    const since = Date.now() - RECENT_MS;
    for (const r of procs.unexitedSince(index, since)) add(r.cmd, r.pid);
    for (const [cmd, pids] of now) {
      const had = this.running.get(cmd);
      for (const pid of pids) if (!had?.has(pid)) this.hooks.onProcess?.(cmd, pid);
    }
    for (const cmd of this.running.keys()) if (!now.has(cmd)) this.hooks.onCommandEnded?.(cmd);
    this.running.clear();
    for (const [k, v] of now) this.running.set(k, v);
  }

  toJSON(): Record<string, number[]> {
    return Object.fromEntries([...this.running].map(([k, v]) => [k, [...v].sort((a, b) => a - b)]));
  }
}
