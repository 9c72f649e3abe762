// A command is running while any of its processes lives. Which of them live now, checked here
// through /proc (so it holds with no daemon): each process an EXEC record named that has not been
// seen gone, and the runner of a `shit run` still without an END. Processes found gone are marked
// exited in the index, so the next look is cheaper. The CLI (list, show, undo) and the daemon's
// watcher tier both ask here.
import type { Index } from "../index/db.js";
import * as commands from "../index/commands.js";
import * as procs from "../index/procs.js";
import { whose } from "./procfs.js";

export interface LiveProcess {
  pid: number;
  argv: string[];
}

const argvOf = (b: Uint8Array | null): string[] => (b ? Buffer.from(b).toString("utf8").split("\0").slice(0, -1) : []);

/** Whether the command has processes not yet seen gone (cheap: the procs_live index). */
export const mayRun = (index: Index, cmdId: string): boolean => procs.anyUnexited(index, cmdId);

/** The command's processes alive now, by pid. A pid now held by another process does not count. */
export function liveProcesses(index: Index, cmdId: string): LiveProcess[] {
  const c = commands.byId(index, cmdId);
  if (!c) return [];
  const live: LiveProcess[] = [];
  // the runner of `shit run` (no EXEC record of its own), or the hooked shell a line was typed in
  // before its journal record came (an EXEC's SHELL): by start time, never marked
  if (c.ended === null && c.kind === "run" && !c.session && c.pid && c.started !== null) {
    const argv = c.argv ? ["shit", "run", ...argvOf(c.argv)] : ["(the shell it was typed in)"];
    if (typeof whose(c.pid, cmdId, c.started, true) === "object") live.push({ pid: c.pid, argv });
  }
  const byPid = new Map<number, { time: number; argv: Uint8Array | null }>(); // its latest exec: what it runs now
  for (const r of procs.unexited(index, cmdId)) if (r.pid > 0) byPid.set(r.pid, { time: r.time, argv: r.argv });
  const dead: number[] = [];
  for (const [pid, r] of byPid) {
    if (live.some((l) => l.pid === pid)) continue;
    if (typeof whose(pid, cmdId, r.time) === "object") live.push({ pid, argv: argvOf(r.argv) });
    else dead.push(pid);
  }
  if (dead.length) {
    const now = Date.now();
    index.tx(() => {
      for (const pid of dead) procs.markExited(index, cmdId, pid, now);
    });
  }
  return live;
}

/**
 * A `run` command with no END whose processes are all gone was killed (the whole process group
 * with kill -9, a crash, a hooked shell killed mid-line): mark it ended, exit unknown, so list,
 * show, gc and undo stop taking it for running. Its runner (`shit run`) or, typed in a hooked
 * shell, that shell must be gone too (the shell ends the line itself otherwise). An undo or redo
 * killed part-way is left unended: the next `shit undo` finishes it from its plan and journal.
 */
export function endIfGone(index: Index, cmdId: string): boolean {
  const c = commands.byId(index, cmdId);
  if (!c || c.ended !== null || c.kind !== "run" || c.started === null || !c.pid) return false;
  if (typeof whose(c.pid, cmdId, c.started, true) === "object") return false;
  if (liveProcesses(index, cmdId).length) return false;
  commands.endKilled(index, cmdId, Date.now());
  return true;
}

/** endIfGone for every command without an END. */
export function endGone(index: Index): void {
  for (const c of commands.unended(index)) endIfGone(index, c.id);
}
