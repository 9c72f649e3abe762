// Which process holds a pid now, read from /proc: is it one of a recorded command's processes?
// Serves both the daemon (the exit watcher's fallback when an environment cannot be read) and the
// CLI (which checks for itself when no daemon watched).
import { readFileSync } from "node:fs";

/** Clock granularity allowed when comparing a start time (ticks, 10 ms) with a recorded time. */
export const SLACK_MS = 50;

let clockTicks = 0;
/** sysconf(_SC_CLK_TCK), from the aux vector (AT_CLKTCK = 17); 100 on every Linux in practice. */
function ticksPerSecond(): number {
  if (clockTicks) return clockTicks;
  clockTicks = 100;
  try {
    const a = readFileSync("/proc/self/auxv");
    for (let o = 0; o + 16 <= a.length; o += 16) {
      const type = a.readBigUInt64LE(o);
      if (type === 0n) break;
      if (type === 17n) {
        clockTicks = Number(a.readBigUInt64LE(o + 8)) || 100;
        break;
      }
    }
  } catch {
    // keep 100
  }
  return clockTicks;
}

export interface ProcStat {
  state: string; // R S D Z X …
  startTicks: bigint; // field 22: clock ticks after boot
}

/** Fields 3 and 22 of /proc/PID/stat, or null if there is no such process. */
export function procStat(pid: number): ProcStat | null {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return null;
  }
  const f = s.slice(s.lastIndexOf(")") + 2).split(" "); // the name may hold spaces and parens
  if (f.length < 20) return null;
  return { state: f[0], startTicks: BigInt(f[19]) };
}

/** A start time (clock ticks after boot, as stat and processStartTime give it) in ms since the
 *  epoch. Boot time comes from /proc/uptime (10 ms), not /proc/stat's btime (whole seconds). */
export function ticksToMs(ticks: bigint): number {
  const up = Number(readFileSync("/proc/uptime", "latin1").split(" ")[0]);
  const boot = Date.now() - up * 1000;
  return boot + (Number(ticks) * 1000) / ticksPerSecond();
}

/** Whether the initial environment of pid holds `entry` exactly; "unreadable" for another user's
 *  (or a setuid) process; null when there is no such process. A zombie's environment is empty. */
export function environHas(pid: number, entry: string): boolean | "unreadable" | null {
  let env: Buffer;
  try {
    env = readFileSync(`/proc/${pid}/environ`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === "EACCES" || code === "EPERM" ? "unreadable" : null;
  }
  const want = Buffer.from(entry + "\0");
  if (env.subarray(0, want.length).equals(want)) return true;
  return env.indexOf(Buffer.concat([Buffer.from("\0"), want])) >= 0;
}

/**
 * Is the process at pid now one of command `cmd`'s? By its environment (SHIT_CMD=<cmd>, which
 * every process of a recorded command inherits), or — when that cannot be read, or for the
 * runner (`byStart`) — by start time: a process that started after `notAfter` (ms; the time the
 * command recorded it: its EXEC, or the runner's BEGIN) cannot be the one recorded, since a pid
 * is free again only after its process is gone. Returns its start ticks when it is the command's
 * (so a pidfd can pin exactly that process), "gone" when no live process holds pid, "other" when
 * another process does.
 */
export function whose(pid: number, cmd: string, notAfter: number, byStart = false): { startTicks: bigint } | "gone" | "other" {
  const st = procStat(pid);
  if (!st || st.state === "Z" || st.state === "X") return "gone";
  if (!byStart) {
    const env = environHas(pid, `SHIT_CMD=${cmd}`);
    if (env === null) return "gone";
    if (env === false) return "other";
    if (env === true) return { startTicks: st.startTicks };
  }
  return ticksToMs(st.startTicks) <= notAfter + SLACK_MS ? { startTicks: st.startTicks } : "other";
}

/** Whether some process holds pid now (ours or another user's; a zombie counts). */
export function pidExists(pid: number | null): boolean {
  if (!pid || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
