// Where shit keeps its state: $SHIT_HOME, else $XDG_STATE_HOME/shit, else ~/.local/state/shit.
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { chmodSync, lstatSync, mkdirSync, statSync, type Stats } from "node:fs";

export interface StatePaths {
  root: string;
  index: string;
  spool: string;
  staging: string;
  run: string;
  store: string; // content-addressed pre-images, store/<hh>/<sha256>[.zst] (src/store/blobs.ts)
}

/** Where a spool read to its end goes once its command has settled (src/ingest/ingest.ts): out of
 *  the directory every ingest lists, which would otherwise grow by a file a command. */
export const settledSpool = (p: StatePaths, name: string): string => join(p.spool, "done", name);

/** The rule native/common/command.c state_dir() follows too: a relative SHIT_HOME or
 * XDG_STATE_HOME is ignored (XDG base-dir spec; the shell hooks skip them too), a relative HOME
 * is taken against the working directory (test/statedir.test.ts). */
export function stateRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SHIT_HOME && isAbsolute(env.SHIT_HOME)) return resolve(env.SHIT_HOME);
  if (env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME)) return resolve(env.XDG_STATE_HOME, "shit");
  return resolve(env.HOME || homedir(), ".local", "state", "shit");
}

export function statePaths(root = stateRoot()): StatePaths {
  return {
    root,
    index: join(root, "index.sqlite"),
    spool: join(root, "spool"),
    staging: join(root, "staging"),
    run: join(root, "run"),
    store: join(root, "store"),
  };
}

/** Creates the state layout (0700 dirs, 0600 index files, also when they exist). Throws with the OS error when it cannot. */
export function ensureState(p: StatePaths): void {
  for (const d of [p.root, p.spool, p.staging, p.run, p.store]) mkdirs(d, 0o700);
  // made by an older version, or under a loose umask: closed to others (never opened wider)
  for (const [f, mode] of [
    [p.root, 0o700],
    [p.spool, 0o700],
    [p.staging, 0o700],
    [p.run, 0o700],
    [p.store, 0o700],
    [p.index, 0o600],
    [`${p.index}-wal`, 0o600],
    [`${p.index}-shm`, 0o600],
  ] as const) {
    try {
      if (statSync(f).mode & 0o077) chmodSync(f, mode);
    } catch {
      // absent
    }
  }
}

/** Why one entry of the state dir (st: its lstat, or fstat) must not be used: not a directory
 *  (dir) or regular file (a symlink is neither), another user's, or writable by group or others. */
export function unsafeEntry(path: string, st: Stats, dir: boolean): string | null {
  const uid = process.geteuid?.() ?? process.getuid?.() ?? 0;
  if (dir ? !st.isDirectory() : !st.isFile()) return `${path} is not a ${dir ? "directory" : "regular file"}`;
  if (st.uid !== uid) return `${path} is owned by uid ${st.uid}, not by you (uid ${uid})`;
  if (st.mode & 0o022) return `${path} is writable by ${st.mode & 0o002 ? "others" : "its group"} (mode ${(st.mode & 0o7777).toString(8).padStart(4, "0")})`;
  return null;
}

/** Why the state dir must not be used (owned by another user, or writable by group or others),
 * or null when it is safe or does not exist yet. The one check: every verb refuses such a dir
 * (exit 9), `shit doctor` FAILs it, and shit-run (native/common/command.c state_check) and the
 * shell hooks capture nothing into it. Checked: the dir (symlink followed), spool/, staging/,
 * run/, index.sqlite and its -wal/-shm, and extra (a command's staging dir) when given. */
export function unsafeState(p: StatePaths, extra: string[] = []): string | null {
  const one = unsafeEntry;
  let root: Stats;
  try {
    root = statSync(p.root);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    return `${p.root}: ${(e as NodeJS.ErrnoException).code}`;
  }
  const bad = one(p.root, root, true);
  if (bad) return bad;
  const dirs = [p.spool, p.staging, p.run, p.store, ...extra];
  const files = [p.index, `${p.index}-wal`, `${p.index}-shm`];
  for (const [list, dir] of [
    [dirs, true],
    [files, false],
  ] as const) {
    for (const path of list) {
      let st: Stats;
      try {
        st = lstatSync(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
        return `${path}: ${(e as NodeJS.ErrnoException).code}`;
      }
      const why = one(path, st, dir);
      if (why) return why;
    }
  }
  return null;
}

/** The state dir may not be used: another user owns it, or others can write to it (exit 9). */
export class UnsafeState extends Error {
  constructor(why: string) {
    super(`refusing the state directory: ${why}; another user could change what an undo puts back (fix it, or set SHIT_HOME to a directory of your own)`);
  }
}

/** Throws UnsafeState when unsafeState finds something. */
export function checkState(p: StatePaths, extra: string[] = []): void {
  const why = unsafeState(p, extra);
  if (why) throw new UnsafeState(why);
}

/** mkdir -p that gives up: Node's recursive mkdirSync loops forever (100% CPU) where mkdir says
 * ENOENT for a parent that exists, as under /proc. Each missing parent is made once, then the
 * dir is tried once more and its error thrown. */
export function mkdirs(d: string, mode: number): void {
  try {
    mkdirSync(d, { mode });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST" && statSync(d).isDirectory()) return;
    const parent = dirname(d);
    if (code !== "ENOENT" || parent === d) throw e;
    mkdirs(parent, mode);
    mkdirSync(d, { mode });
  }
}
