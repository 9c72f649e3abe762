// A command is running while any of its processes lives. Which of them live now, checked here
// through /proc (so it holds with no daemon): each process an EXEC record named that has not been
// seen gone, and the runner of a `shit run` still without an END. Processes found gone are marked
// exited in the index, so the next look is cheaper.
import type { Ctx } from "./context.js";
import { whose } from "../procfs.js";

export interface LiveProcess {
  pid: number;
  argv: string[];
}

const argvOf = (b: Uint8Array | null): string[] => (b ? Buffer.from(b).toString("utf8").split("\0").slice(0, -1) : []);

/** Whether the command has processes not yet seen gone (cheap: the procs_live index). */
export function mayRun(ctx: Ctx, cmdId: string): boolean {
  return !!ctx.index.q("SELECT 1 FROM procs WHERE cmd = ? AND exited IS NULL LIMIT 1").get(cmdId);
}

/** The command's processes alive now, by pid. A pid now held by another process does not count. */
export function liveProcesses(ctx: Ctx, cmdId: string): LiveProcess[] {
  const c = ctx.index.q("SELECT kind, session, pid, argv, started, ended FROM commands WHERE id = ?").get(cmdId) as
    | { kind: string; session: string | null; pid: number | null; argv: Uint8Array | null; started: number | null; ended: number | null }
    | undefined;
  if (!c) return [];
  const live: LiveProcess[] = [];
  // the runner of `shit run` (no EXEC record of its own): by start time, never marked
  if (c.ended === null && c.kind === "run" && !c.session && c.pid && c.started !== null) {
    if (typeof whose(c.pid, cmdId, c.started, true) === "object") live.push({ pid: c.pid, argv: ["shit", "run", ...argvOf(c.argv)] });
  }
  const rows = ctx.index.q("SELECT pid, time, argv FROM procs WHERE cmd = ? AND exited IS NULL ORDER BY seq").all(cmdId) as {
    pid: number;
    time: number;
    argv: Uint8Array | null;
  }[];
  const byPid = new Map<number, { time: number; argv: Uint8Array | null }>(); // its latest exec: what it runs now
  for (const r of rows) if (r.pid > 0) byPid.set(r.pid, { time: r.time, argv: r.argv });
  const dead: number[] = [];
  for (const [pid, r] of byPid) {
    if (live.some((l) => l.pid === pid)) continue;
    if (typeof whose(pid, cmdId, r.time) === "object") live.push({ pid, argv: argvOf(r.argv) });
    else dead.push(pid);
  }
  if (dead.length) {
    const now = Date.now();
    ctx.index.tx(() => {
      for (const pid of dead) ctx.index.q("UPDATE procs SET exited = ? WHERE cmd = ? AND pid = ? AND exited IS NULL").run(now, cmdId, pid);
    });
  }
  return live;
}

/** "pid 1234 (sleep 100), pid 1240 (make)" */
export function processesText(ps: LiveProcess[], sep = ", "): string {
  return ps.map((p) => `pid ${p.pid}${p.argv.length ? ` (${p.argv.join(" ")})` : ""}`).join(sep);
}
