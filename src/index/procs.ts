// The procs table: one row per EXEC record (a program a process of the command started), and
// when that process was seen gone (by the daemon's exit watcher, or a CLI look at /proc).
import type { Index } from "./db.js";

export function insert(ix: Index, p: { cmd: string; seq: number; pid: number; time: number; argv: Buffer | null; cwd: Buffer | null }): void {
  ix.q("INSERT OR IGNORE INTO procs(cmd, seq, pid, time, argv, cwd) VALUES(?, ?, ?, ?, ?, ?)").run(p.cmd, p.seq, p.pid, p.time, p.argv, p.cwd);
}

/** Every program the command's processes started, in order. */
export function argvsOf(ix: Index, cmd: string): Array<Uint8Array | null> {
  return (ix.q("SELECT argv FROM procs WHERE cmd = ? ORDER BY seq").all(cmd) as { argv: Uint8Array | null }[]).map((r) => r.argv);
}

/** Whether the command has processes not yet seen gone (cheap: the procs_live index). */
export function anyUnexited(ix: Index, cmd: string): boolean {
  return !!ix.q("SELECT 1 FROM procs WHERE cmd = ? AND exited IS NULL LIMIT 1").get(cmd);
}

/** The command's EXECs whose process was not seen gone, in order. */
export function unexited(ix: Index, cmd: string): { pid: number; time: number; argv: Uint8Array | null }[] {
  return ix.q("SELECT pid, time, argv FROM procs WHERE cmd = ? AND exited IS NULL ORDER BY seq").all(cmd) as {
    pid: number;
    time: number;
    argv: Uint8Array | null;
  }[];
}

/** When pid's latest unexited EXEC in the command was recorded (null: none). */
export function lastExecTime(ix: Index, cmd: string, pid: number): number | null {
  return (ix.q("SELECT max(time) AS t FROM procs WHERE cmd = ? AND pid = ? AND exited IS NULL").get(cmd, pid) as { t: number | null }).t;
}

/** Unexited processes of commands that have no END, or started since `since`. */
export function unexitedSince(ix: Index, since: number): { cmd: string; pid: number | null }[] {
  return ix
    .q(
      "SELECT p.cmd, p.pid FROM procs p JOIN commands c ON c.id = p.cmd WHERE p.exited IS NULL AND c.started IS NOT NULL AND (c.ended IS NULL OR c.started >= ?)",
    )
    .all(since) as { cmd: string; pid: number | null }[];
}

export function markExited(ix: Index, cmd: string, pid: number, at: number): void {
  ix.q("UPDATE procs SET exited = ? WHERE cmd = ? AND pid = ? AND exited IS NULL").run(at, cmd, pid);
}

/** shit forget: the programs a command ran. */
export function removeOf(ix: Index, cmd: string): void {
  ix.q("DELETE FROM procs WHERE cmd = ?").run(cmd);
}
