// The CLI's side of shitd: ask it something over its socket, start it, stop it.
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, statSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { packageRoot } from "../paths/native.js";
import { pidExists } from "../procs/procfs.js";
import { ensureState, type StatePaths } from "../paths/state.js";
import { instanceName } from "./instance.js";
import { logPath, pidPath, socketPath, startingPath, type Reply, type Request } from "./protocol.js";

/** The daemon's entry point beside this module: dist/daemon/shitd.js, or dist/bundle/shitd.js when the CLI runs bundled. */
export const daemonEntry = fileURLToPath(new URL("./shitd.js", import.meta.url));
/** The entry a systemd unit names: every build makes it, while a later build without esbuild leaves no bundle. */
export const durableDaemonEntry = join(packageRoot, "dist", "daemon", "shitd.js");
/** The daemon's command line; its runtime is the one running this CLI, with 4 MiB semi-spaces as
 *  bin/shit gives the CLI: shitd's ingest of an rm -rf of 100k files peaked at 242 MiB resident
 *  with V8's default young generation, 140 MiB with these (bench/scale.py). Its old generation
 *  grows by a quarter of what a full GC left live, as bin/shit gives undo and redo: planning
 *  ahead an undo of 100k files (the plan, its text, the pre-images checked: each phase's garbage
 *  stacked on the last with V8's own factor of up to 4x) peaked at 265-279 MiB. */
export const daemonCommand = (entry = daemonEntry): string[] => [
  process.execPath,
  "--disable-warning=ExperimentalWarning",
  "--max-semi-space-size=4",
  "--heap-growing-percent=25",
  entry,
];

/** What shitd's environment has that the CLI's has not (bin/shit gives undo and redo the same):
 *  glibc's malloc keeps its mmap threshold at 32 KiB, not raising it to each large block freed (up to 32 MiB), which left the planner's
 *  buffers and SQLite's in the brk heap after their use. Planning ahead the undo of an rm -rf of
 *  1M files after its ingest, shitd peaked at 290 MiB resident; 249-253 at bin/shit's 128 KiB (brk
 *  heap 114 -> 82 MB), 204 at 32 KiB (37 MB), its plan no slower; MALLOC_ARENA_MAX=2,
 *  MALLOC_TRIM_THRESHOLD_ and --max-old-space-size=128 changed nothing (docs/DESIGN.md). A user's
 *  own setting stays. Named in SHIT_ENV_SET: shitd takes it out of what it hands on (shit-watch). */
const DAEMON_ENV: Record<string, string> = { MALLOC_MMAP_THRESHOLD_: "32768" };

/** The environment shitd is started with, from base (the CLI's, or none for a systemd unit). */
export function daemonEnv(base: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  const set = Object.keys(DAEMON_ENV).filter((k) => base[k] === undefined);
  for (const k of set) env[k] = DAEMON_ENV[k];
  if (set.length) env.SHIT_ENV_SET = set.join(" ");
  return env;
}

export class DaemonDown extends Error {}

/** One request, one reply. Throws DaemonDown when nothing listens on the socket. */
export function request(paths: StatePaths, req: Request, timeoutMs = 10000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const c = createConnection({ path: socketPath(paths) });
    let buf = "";
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`shitd did not answer ${req.op} within ${timeoutMs} ms`));
    }, timeoutMs);
    c.setEncoding("utf8");
    c.on("connect", () => c.write(JSON.stringify(req) + "\n"));
    c.on("data", (d: string) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      clearTimeout(timer);
      c.destroy();
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as Reply);
      } catch {
        reject(new Error("shitd answered something that is not JSON"));
      }
    });
    c.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(["ENOENT", "ECONNREFUSED", "ENOTSOCK"].includes(e.code ?? "") ? new DaemonDown(`shitd is not running (${e.code})`) : e);
    });
    c.on("close", () => {
      clearTimeout(timer);
      reject(new DaemonDown("shitd closed the connection"));
    });
  });
}

/** The pid of the live daemon, or null. */
export async function ping(paths: StatePaths, timeoutMs = 2000): Promise<number | null> {
  try {
    const r = await request(paths, { op: "ping" }, timeoutMs);
    return r.ok && r.op === "ping" ? r.pid : null;
  } catch {
    return null;
  }
}

/** Asks a running daemon to bring the index up to date; false when none answered in time.
 *  `waitStartMs`: a shitd on its way up (`starting`) is waited for that long at most, rather than
 *  taken for none: the first `shit undo` in a shell whose hook has just launched it then takes
 *  the plan shitd makes ahead instead of ingesting and planning the whole command itself. */
export async function syncDaemon(paths: StatePaths, timeoutMs = 5000, ahead?: { session: string | null }, waitStartMs = 0): Promise<boolean> {
  const req: Request = ahead ? { op: "sync", ahead: true, ...(ahead.session ? { session: ahead.session } : {}) } : { op: "sync" };
  const end = Date.now() + waitStartMs;
  for (;;) {
    try {
      return (await request(paths, req, timeoutMs)).ok;
    } catch (e) {
      if (!(e instanceof DaemonDown) || Date.now() >= end || !(await starting(paths))) return false;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** How long a launch marker speaks for a shitd that has not yet taken its lock: one that died
 *  before (a crash at load) is waited for no longer than this. */
const LAUNCH_MS = 3000;

/** Whether a shitd is on its way up: it holds the instance lock (a live process, whatever it is
 *  doing; the kernel frees the lock when it dies), or it was launched less than LAUNCH_MS ago and
 *  has not yet taken it. */
export async function starting(paths: StatePaths): Promise<boolean> {
  try {
    if (Date.now() - statSync(startingPath(paths)).mtimeMs < LAUNCH_MS) return true;
  } catch {
    // no launch pending
  }
  return new Promise((resolve) => {
    const c = createConnection({ path: instanceName(paths.root) });
    c.on("connect", () => {
      c.destroy();
      resolve(true);
    });
    c.on("error", () => resolve(false));
  });
}

/** Starts a detached daemon (stdio to its log) and returns at once. */
export function spawnDaemon(paths: StatePaths): number | undefined {
  ensureState(paths);
  closeSync(openSync(startingPath(paths), "w", 0o600)); // fresh mtime: launched now
  const log = openSync(logPath(paths), "a", 0o600);
  try {
    const env = daemonEnv({ ...process.env, SHIT_HOME: paths.root });
    delete env.SHIT_CMD;
    const [exe, ...args] = daemonCommand();
    const child = spawn(exe, args, { detached: true, stdio: ["ignore", log, log], cwd: "/", env });
    child.unref();
    return child.pid;
  } finally {
    closeSync(log);
  }
}

const until = async (cond: () => Promise<boolean>, timeoutMs: number): Promise<boolean> => {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
};

/** A Unix socket path has room for 107 bytes: a state dir deeper than that gets no daemon. */
export const socketFits = (paths: StatePaths) => Buffer.byteLength(socketPath(paths)) <= 107;

/** Makes sure a daemon runs; its pid, and whether this call started it. */
export async function startDaemon(paths: StatePaths, timeoutMs = 10000): Promise<{ pid: number; started: boolean }> {
  if (!socketFits(paths))
    throw new Error(`the state dir's path is too long for a Unix socket (${socketPath(paths)}): no daemon; every verb ingests for itself`);
  const up = await ping(paths);
  if (up) return { pid: up, started: false };
  spawnDaemon(paths);
  let pid: number | null = null;
  if (!(await until(async () => !!(pid = await ping(paths)), timeoutMs)))
    throw new Error(`shitd did not come up within ${timeoutMs} ms (see ${logPath(paths)})`);
  return { pid: pid!, started: true };
}

/** Stops the daemon and waits until it is gone; its pid, or null when none ran. */
export async function stopDaemon(paths: StatePaths, timeoutMs = 10000): Promise<number | null> {
  let pid: number;
  try {
    const r = await request(paths, { op: "stop" }, timeoutMs);
    if (!r.ok || r.op !== "stop") throw new Error(r.ok ? "unexpected reply" : r.error);
    pid = r.pid;
  } catch (e) {
    if (e instanceof DaemonDown) return null;
    throw e;
  }
  if (!(await until(async () => !alive(pid), timeoutMs))) throw new Error(`shitd (pid ${pid}) did not stop within ${timeoutMs} ms`);
  return pid;
}

/** Whether the daemon's pid still names a process. */
export const alive = (pid: number): boolean => pidExists(pid);

/** The pid the pid file names, if that process is alive and is a shitd. Cheap and synchronous. */
export function pidFileDaemon(paths: StatePaths): number | null {
  try {
    const pid = Number(readFileSync(pidPath(paths), "utf8").trim());
    if (!(pid > 0)) return null;
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("shitd") ? pid : null;
  } catch {
    return null;
  }
}

/** The CLI's autostart: a daemon unless SHIT_DAEMON=off. Never waits, never fails the verb. */
export function autostart(paths: StatePaths): void {
  if (process.env.SHIT_DAEMON === "off" || !socketFits(paths)) return;
  try {
    if (pidFileDaemon(paths) === null) spawnDaemon(paths);
  } catch {
    // the verb works without a daemon
  }
}
