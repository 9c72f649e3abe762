// A killed process cannot be brought back; a new one can be started in its place. For each
// process a command ended (src/index/kills.ts), the command that starts it again — its argv, in
// its working directory, with its environment — and running that command detached.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import type { KillRow } from "../index/kills.js";
import { shellQuote } from "../shell/quote.js";

/** The variables that tie a process to a recorded command (capture's attribution): the new
 *  process is not part of the command that started the old one, so they are left out. */
const ATTRIBUTION = new Set(["SHIT_CMD", "SHIT_CALLER_CMD", "SHIT_SHELL_PID", "SHIT_CMD_FILE", "SHIT_SHELL_IGNORE", "SHIT_RUN_JOIN", "SHIT_SUPERVISED"]);

const NAMES = new Map(Object.entries(constants.signals).map(([k, v]) => [v as number, k]));
export const signalName = (n: number | null) => (n === null ? "?" : (NAMES.get(n) ?? `signal ${n}`));

const words = (b: Uint8Array | null): string[] => {
  if (!b?.length) return [];
  const s = Buffer.from(b).toString("utf8");
  return (s.endsWith("\0") ? s.slice(0, -1) : s).split("\0");
};

export const argvOfKill = (k: KillRow) => words(k.argv);

/** The environment the new process gets: the old one's, without capture's attribution; null
 *  when it could not be read. */
export function envOfKill(k: KillRow): Record<string, string> | null {
  if (!k.env) return null;
  const env: Record<string, string> = {};
  for (const e of words(k.env)) {
    const eq = e.indexOf("=");
    if (eq > 0 && !ATTRIBUTION.has(e.slice(0, eq))) env[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return env;
}

/** "killed 4242 python3 -m http.server (SIGTERM)" / "stopped unit web.service (user)" */
export function killText(k: KillRow): string {
  if (k.kind === "unit") return `stopped unit ${k.unit} (${k.scope})`;
  const argv = argvOfKill(k);
  return `killed ${k.pid} ${argv.length ? argv.join(" ") : "(command line unknown)"} (${signalName(k.signal)})`;
}

/**
 * The shell line that starts it again: `cd DIR && env [-u NAME…] [NAME=VALUE…] ARGV…`, the env
 * part only where its environment differs from `current` (run it from there: it then gets the
 * recorded environment, but for PWD, OLDPWD and _, which the shell sets); a unit's
 * `systemctl [--user] start UNIT`. null: no command line was recorded.
 */
export function restartLine(k: KillRow, current: NodeJS.ProcessEnv = process.env): string | null {
  if (k.kind === "unit") return `systemctl ${k.scope === "user" ? "--user " : ""}start ${shellQuote(k.unit ?? "")}`;
  const argv = argvOfKill(k);
  if (!argv.length) return null;
  const env = envOfKill(k);
  const parts: string[] = [];
  if (env) {
    // what the shell itself sets for the line (`cd` sets PWD and OLDPWD, bash sets _) is left to it
    const cwd = k.cwd ? Buffer.from(k.cwd).toString("utf8") : null;
    const own = (n: string, v?: string) => n === "_" || n === "OLDPWD" || (n === "PWD" && (v === undefined || v === cwd));
    const unset = Object.keys(current)
      .filter((n) => !(n in env) && !ATTRIBUTION.has(n) && !own(n))
      .sort();
    const set = Object.entries(env).filter(([n, v]) => current[n] !== v && !own(n, v));
    if (unset.length || set.length) parts.push("env", ...unset.flatMap((n) => ["-u", shellQuote(n)]), ...set.map(([n, v]) => shellQuote(`${n}=${v}`)));
  }
  // a first word that looks like an assignment would be taken for one by the shell
  const first = !parts.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(argv[0]) ? ["command"] : [];
  const cmd = [...parts, ...first, ...argv.map(shellQuote)].join(" ");
  return k.cwd ? `cd ${shellQuote(Buffer.from(k.cwd).toString("utf8"))} && ${cmd}` : cmd;
}

/** Is the very process it killed still running (same pid, same start time): it handled the signal. */
export function stillRunning(k: KillRow): boolean {
  if (k.kind !== "process" || k.pid === null || k.start === null) return false;
  try {
    const stat = readFileSync(`/proc/${k.pid}/stat`, "latin1");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return f[0] !== "Z" && f[0] !== "X" && Number(f[19]) === k.start; // state (field 3), start time (22); a zombie is dead
  } catch {
    return false;
  }
}

export type Restarted = { pid: number; log: string } | { exit: number } | { error: string };

/**
 * Starts it again, detached (a new session; stdin from /dev/null, output to a log in `logDir`):
 * its argv (found on its own PATH; else its executable, as argv[0] names it), in its directory,
 * with its whole environment but capture's attribution. A unit: `systemctl start`, waited for.
 */
export async function restart(k: KillRow, logDir: string): Promise<Restarted> {
  if (k.kind === "unit") {
    const r = spawnSync("systemctl", [...(k.scope === "user" ? ["--user"] : []), "start", k.unit ?? ""], { stdio: ["ignore", "ignore", "pipe"] });
    if (r.error) return { error: r.error.message };
    return r.status === 0 ? { exit: 0 } : { error: r.stderr.toString().trim() || `systemctl exited ${r.status}` };
  }
  const argv = argvOfKill(k);
  const env = envOfKill(k);
  if (!argv.length) return { error: "its command line was not recorded" };
  if (!env) return { error: "its environment was not recorded" };
  const cwd = k.cwd ? Buffer.from(k.cwd).toString("utf8") : "/";
  if (!existsSync(cwd)) return { error: `its directory ${cwd} is gone` };
  mkdirSync(logDir, { recursive: true, mode: 0o700 });
  const log = join(logDir, `restart-${k.cmd.slice(0, 8)}-${k.pid}-${Date.now()}.log`);
  const tryOne = (file: string) =>
    new Promise<Restarted>((resolve) => {
      const out = openSync(log, "a", 0o600);
      try {
        const child = spawn(file, argv.slice(1), { cwd, env, argv0: argv[0], detached: true, stdio: ["ignore", out, out] });
        child.once("error", (e) => resolve({ error: (e as NodeJS.ErrnoException).code === "ENOENT" ? "ENOENT" : e.message }));
        child.once("spawn", () => {
          child.unref();
          resolve({ pid: child.pid!, log });
        });
      } finally {
        closeSync(out);
      }
    });
  let r = await tryOne(argv[0]);
  const exe = k.exe
    ? Buffer.from(k.exe)
        .toString("utf8")
        .replace(/ \(deleted\)$/, "")
    : null;
  if ("error" in r && r.error === "ENOENT" && exe && exe !== argv[0]) r = await tryOne(exe);
  if ("error" in r && r.error === "ENOENT") r = { error: `${argv[0]}: not found${exe ? ` (nor ${exe})` : ""}` };
  return r;
}
