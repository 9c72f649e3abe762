// SHIT_TIMES=FILE: the phases of an undo or redo, each appended to FILE as
// "NAME WALL CPU HWM rss=R anon=A file=F heap=H/T ext=E ab=A" (seconds; CPU is user+sys of this process and of the
// children it waited for, such as shit-apply; HWM this process's peak resident MiB so far, VmHWM:
// which phase made the peak; then MiB resident now, of it anonymous and of files, of V8's heap in use and held, of memory outside it
// (external) and of that in ArrayBuffers: who holds the resident set at the phase's end), for
// bench/undo.sh. Off (one env lookup) otherwise.
import { appendFileSync, readFileSync } from "node:fs";

const file = process.env.SHIT_TIMES;

/** CPU seconds of this process plus its waited-for children (/proc/self/stat cutime, cstime). */
function cpu(): number {
  const own = process.cpuUsage();
  let kids = 0;
  try {
    const f = readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ");
    kids = (Number(f[13]) + Number(f[14])) / 100; // fields 16, 17 of stat(5); USER_HZ is 100 on Linux
  } catch {
    // not Linux: own time only
  }
  return (own.user + own.system) / 1e6 + kids;
}

/** MiB of a field of /proc/self/status (VmHWM: the peak resident set so far; RssAnon, RssFile:
 *  of it now, the process's own memory and files' pages mapped, such as its code); 0 when not known. */
function status(field: string, text: string): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(text);
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}

function statusText(): string {
  try {
    return readFileSync("/proc/self/status", "utf8");
  } catch {
    return "";
  }
}

let last = file ? { wall: 0, cpu: 0 } : null; // the first phase counts from the process start

/** Ends a phase: what it took since the last one (or since the process started). */
export function phase(name: string): void {
  if (!file || !last) return;
  const now = { wall: performance.now() / 1000, cpu: cpu() };
  const m = process.memoryUsage();
  const mib = (n: number) => Math.round(n / 1048576);
  const st = statusText();
  const mem = `rss=${mib(m.rss)} anon=${status("RssAnon", st)} file=${status("RssFile", st)} heap=${mib(m.heapUsed)}/${mib(m.heapTotal)} ext=${mib(m.external)} ab=${mib(m.arrayBuffers)}`;
  appendFileSync(file, `${name.replace(/\s/g, "_")} ${(now.wall - last.wall).toFixed(3)} ${(now.cpu - last.cpu).toFixed(3)} ${status("VmHWM", st)} ${mem}\n`);
  last = { wall: performance.now() / 1000, cpu: cpu() };
}

if (file) process.on("exit", () => phase("rest, to exit"));
