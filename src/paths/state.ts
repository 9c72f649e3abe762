// Where shit keeps its state: $SHIT_HOME, else $XDG_STATE_HOME/shit, else ~/.local/state/shit.
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { mkdirSync, statSync } from "node:fs";

export interface StatePaths {
  root: string;
  index: string;
  spool: string;
  staging: string;
  run: string;
}

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
  };
}

/** Creates the state layout (0700 everywhere). Throws with the OS error when it cannot. */
export function ensureState(p: StatePaths): void {
  for (const d of [p.root, p.spool, p.staging, p.run]) mkdirs(d, 0o700);
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
