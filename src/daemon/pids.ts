// Which processes each running command has: the runner's pid from BEGIN and every pid an EXEC
// record named, for commands with no END yet. The exit watcher (procwatch.ts, pidfd) attaches
// through the hooks: it is told of each new pid and of each command that ended.
import type { Index } from "../index/db.js";

export interface ProcHooks {
  onProcess?(cmd: string, pid: number): void;
  onCommandEnded?(cmd: string): void;
}

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
    for (const r of index.q("SELECT id, pid FROM commands WHERE ended IS NULL AND started IS NOT NULL").all() as { id: string; pid: number | null }[]) add(r.id, r.pid);
    for (const r of index.q("SELECT p.cmd, p.pid FROM procs p JOIN commands c ON c.id = p.cmd WHERE c.ended IS NULL AND c.started IS NOT NULL").all() as { cmd: string; pid: number | null }[]) add(r.cmd, r.pid);
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
