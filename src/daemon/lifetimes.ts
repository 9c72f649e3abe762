// A command is running while any of its processes lives. The daemon learns of each exit from the
// exit watcher (procwatch.ts, pidfd) and writes it to the index (procs.exited), so `shit list`
// and `shit undo` need to look at /proc only for what no watcher has seen go. Attached to the
// process table through its hooks: every pid the table lists is watched until it exits.
import type { Index } from "../index/db.js";
import * as commands from "../index/commands.js";
import * as procs from "../index/procs.js";
import { whose } from "../procs/procfs.js";
import type { ProcTable } from "./pids.js";
import { ProcWatchError, ProcWatcher, type ExitInfo, type IdentityCheck, type Registration } from "./procwatch.js";

export class Lifetimes {
  private readonly watcher: ProcWatcher | null = null;
  private readonly regs = new Map<string, Map<number, Registration>>(); // cmd → pid → its watch
  private refreshing = false;

  /** Watches the processes `table` lists from now on; log says what cannot be watched. */
  constructor(
    private readonly table: ProcTable,
    private readonly index: Index,
    private readonly log: (line: string) => void,
  ) {
    try {
      this.watcher = new ProcWatcher();
    } catch (e) {
      log(`process exits are not watched (the CLI checks /proc itself): ${(e as Error).message}`);
      return;
    }
    table.hooks = { onProcess: (cmd, pid) => this.watch(cmd, pid), onCommandEnded: (cmd) => this.drop(cmd) };
  }

  private watch(cmd: string, pid: number): void {
    if (!this.watcher || this.regs.get(cmd)?.has(pid)) return;
    const execAt = procs.lastExecTime(this.index, cmd, pid);
    let check: IdentityCheck;
    if (execAt !== null) {
      check = { env: `SHIT_CMD=${cmd}` }; // inherited by every process of the command
    } else {
      // the runner of `shit run` (its BEGIN, no EXEC): its environment need not name the command
      const c = commands.times(this.index, cmd);
      const w = whose(pid, cmd, c?.started ?? 0, true);
      if (typeof w !== "object") return; // gone, or the pid is another process now: no row to mark
      check = { startTime: w.startTicks };
    }
    let reg: Registration | null;
    try {
      reg = this.watcher.on(pid, (info) => this.exited(cmd, info), check);
    } catch (e) {
      if (!(e instanceof ProcWatchError) || e.code !== "EACCES" || execAt === null) {
        this.log(`cannot watch pid ${pid} of ${cmd}: ${(e as Error).message}`);
        return;
      }
      // another user's environment (a setuid program): known by its start time instead
      const w = whose(pid, cmd, execAt, true);
      if (typeof w !== "object") return this.exited(cmd, { pid, how: w === "gone" ? "gone" : "reused" });
      try {
        reg = this.watcher.on(pid, (info) => this.exited(cmd, info), { startTime: w.startTicks });
      } catch (e2) {
        this.log(`cannot watch pid ${pid} of ${cmd}: ${(e2 as Error).message}`);
        return;
      }
    }
    if (!reg) return;
    let m = this.regs.get(cmd);
    if (!m) this.regs.set(cmd, (m = new Map()));
    m.set(pid, reg);
  }

  // exited, gone or reused: the process the row names is not running any more
  private exited(cmd: string, info: ExitInfo): void {
    const m = this.regs.get(cmd);
    m?.delete(info.pid);
    if (m?.size === 0) this.regs.delete(cmd);
    try {
      // the runner has no row: nothing to mark (its END says the rest)
      procs.markExited(this.index, cmd, info.pid, Date.now());
    } catch (e) {
      this.log(`cannot note the exit of pid ${info.pid} of ${cmd}: ${(e as Error).message}`);
      return;
    }
    this.refreshSoon();
  }

  private drop(cmd: string): void {
    const m = this.regs.get(cmd);
    if (!m) return;
    this.regs.delete(cmd);
    for (const reg of m.values()) this.watcher?.off(reg);
  }

  // the table follows the index again once this burst of exits is written (not from inside a hook)
  private refreshSoon(): void {
    if (this.refreshing) return;
    this.refreshing = true;
    setImmediate(() => {
      this.refreshing = false;
      try {
        this.table.refresh(this.index);
      } catch (e) {
        this.log(`process table refresh failed: ${(e as Error).message}`);
      }
    });
  }
}
