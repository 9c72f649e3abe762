// Test helpers: temp trees, the real CLI, whole-tree manifests.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestContext } from "node:test";
import { manifest, diffManifests, type Entry } from "../dist/manifest.js";
import type { Stat } from "../dist/spool/records.js";
import { DatabaseSync } from "node:sqlite";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const shitBin = join(root, "bin", "shit");

export interface Sandbox {
  dir: string; // the temp dir
  work: string; // where the case's tree lives (the commands' cwd)
  state: string; // SHIT_HOME
  env: NodeJS.ProcessEnv;
  shit(args: string[], opts?: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv }): SpawnSyncReturns<string>;
  sh(script: string, opts?: { cwd?: string }): SpawnSyncReturns<string>;
  tree(): Entry[];
  cleanup(): void | Promise<void>; // sandbox(t) has it called when the test ends
}

/** What a fixture needs of a test: a hook run when the test ends, passed or failed (node:test's
 * TestContext has it). */
export type Ends = Pick<TestContext, "after">;

/** A temp dir with a work tree and a state dir, removed when the test t ends (pass or fail):
 * `const s = sandbox(t)`, no try/finally. */
export function sandbox(t: Ends): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), "shit-test-"));
  const work = join(dir, "work");
  const state = join(dir, "state");
  const env: NodeJS.ProcessEnv = { ...process.env, SHIT_HOME: state, LC_ALL: "C", TZ: "UTC", SHIT_DAEMON: "off" }; // daemon tests turn it on
  delete env.SHIT_CMD;
  delete env.SHIT_STATE;
  spawnSync("mkdir", ["-p", work]);
  const s: Sandbox = {
    dir,
    work,
    state,
    env,
    shit(args, opts = {}) {
      return spawnSync(shitBin, args, { cwd: opts.cwd ?? work, env: opts.env ?? env, encoding: "utf8", input: opts.input ?? "", maxBuffer: 256 << 20 });
    },
    sh(script, opts = {}) {
      const r = spawnSync("bash", ["-euc", script], { cwd: opts.cwd ?? work, env, encoding: "utf8", maxBuffer: 256 << 20 });
      if (r.status !== 0) throw new Error(`setup failed (${r.status}): ${script}\n${r.stderr}`);
      return r;
    },
    tree() {
      return manifest(work, { self: true, xattrs: true });
    },
    cleanup() {
      spawnSync("chmod", ["-R", "u+rwX", dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  t.after(() => s.cleanup()); // s.cleanup, not the method above: a box built on it replaces it
  return s;
}

/** Adds text (a terminal's screen, the disk's use) to an error a test rethrows: to its message and
 *  to its stack, which is what the test runner prints (a message changed after the error was made
 *  is not in it). */
export function addContext(e: unknown, text: string): void {
  if (!(e instanceof Error)) return;
  e.message += text;
  e.stack = `${e.stack ?? ""}${text}`;
}

/** Mounts a tmpfs of `size` (mount's size=, "2m") on dir, made here, for a root-only test: unmounted
 * when the test ends, before the sandbox s is removed. False, or why it cannot (the skip reason). */
export function mountTmpfs(s: Sandbox, dir: string, size: string): string | false {
  if (process.getuid?.() !== 0) return "needs root to mount a small tmpfs (skipped as the CI user)";
  spawnSync("mkdir", ["-p", dir]);
  const m = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=700`, "tmpfs", dir], { encoding: "utf8" });
  if (m.status !== 0) return `cannot mount a tmpfs here: ${m.stderr}`;
  const removeBox = s.cleanup;
  s.cleanup = () => {
    spawnSync("umount", ["-l", dir]);
    return removeBox();
  };
  return false;
}

/** Fills the file system of dir (a tmpfs mountTmpfs made) up to all but `leaveKiB`, with dir/filler,
 * outside capture; fill(dir, -1) empties the filler again. */
export function fill(dir: string, leaveKiB = 0): void {
  const f = join(dir, "filler");
  const script = leaveKiB < 0 ? `: > '${f}'` : `cat /dev/zero > '${f}' 2>/dev/null; truncate -s -${leaveKiB}K '${f}'`;
  spawnSync("sh", ["-c", script]);
}

/** The files kept in staging under dir (a command's staging dir, or all of staging): an unlinked
 *  file is kept in a dir named by its directory (d<dev>-<ino>/<name>), others by inode. */
export function stagedFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((d) => !d.isDirectory())
    .map((d) => join(d.parentPath, d.name))
    .sort();
}

/** The stat of a real path, as capture records it (PRE, POST, KEPT). */
export function statOf(p: string): Stat {
  const st = lstatSync(p, { bigint: true });
  return {
    dev: st.dev,
    ino: st.ino,
    mode: Number(st.mode),
    uid: Number(st.uid),
    gid: Number(st.gid),
    nlink: Number(st.nlink),
    size: st.size,
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
    atimeNs: st.atimeNs,
  };
}

/** Whether a process of group pgid still runs (a zombie does not: its parent may be slow to reap it). */
export function groupAlive(pgid: number): boolean {
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    let st: string;
    try {
      st = readFileSync(`/proc/${d}/stat`, "latin1");
    } catch {
      continue;
    }
    const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
    if (Number(f[2]) === pgid && f[0] !== "Z" && f[0] !== "X") return true;
  }
  return false;
}

export function sameTree(a: Entry[], b: Entry[]): string {
  return diffManifests(a, b);
}

/** `shit show --json` with no id (the command `shit undo` would pick), as the tests read it (exit 0 asserted). */
export interface ShowJson {
  id: string;
  effects: Record<string, number>;
  events: { op: string; path?: string; path2?: string; note?: string }[];
}
export function showJson(s: Sandbox): ShowJson {
  const r = s.shit(["show", "--json"]);
  if (r.status !== 0) throw new Error(`shit show --json failed: ${out(r)}`);
  return JSON.parse(r.stdout) as ShowJson;
}

export function out(r: SpawnSyncReturns<string>): string {
  return `exit ${r.status}${r.signal ? " signal " + r.signal : ""}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/** Waits for cond (polled every 20 ms), or throws naming what it waited for after ms. */
export async function until(what: string | (() => string), cond: () => boolean | Promise<boolean>, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${typeof what === "string" ? what : what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The path of a statically linked busybox (busybox-static: its applets run under the seccomp
 * tier), or undefined; noBusybox is the skip reason when there is none. */
export const busybox = ["/bin/busybox", "/usr/bin/busybox"].find(
  (p) => existsSync(p) && /statically linked|static-pie/.test(spawnSync("file", ["-L", p], { encoding: "utf8" }).stdout ?? ""),
);
export const noBusybox = busybox ? false : "no busybox-static (apt-get install busybox-static)";
export const noStrace = spawnSync("strace", ["-V"]).status === 0 ? false : "no strace (apt-get install strace)";

/** cmd's keeps rows that say kept (inode) whose staged file is gone. */
/** A command's keeps marked gone (moved back) whose staged file is still there. */
export function goneButStaged(s: Sandbox, cmd: string): string[] {
  const db = new DatabaseSync(join(s.state, "index.sqlite"), { readOnly: true });
  try {
    const rows = db.prepare("SELECT name FROM keeps WHERE name > ? AND name < ? AND state = 'gone'").all(`${cmd}/`, `${cmd}0`) as { name: string }[];
    return rows.map((r) => r.name).filter((n) => lstatSync(join(s.state, "staging", n), { throwIfNoEntry: false })); // (a staged symlink dangles)
  } finally {
    db.close();
  }
}

export function strayKeeps(s: Sandbox, cmd: string): string[] {
  const db = new DatabaseSync(join(s.state, "index.sqlite"), { readOnly: true });
  try {
    const rows = db.prepare("SELECT name FROM keeps WHERE name > ? AND name < ? AND state = 'inode'").all(`${cmd}/`, `${cmd}0`) as { name: string }[];
    return rows.map((r) => r.name).filter((n) => !lstatSync(join(s.state, "staging", n), { throwIfNoEntry: false })); // (a staged symlink dangles)
  } finally {
    db.close();
  }
}
