// Where shit keeps its state: $SHIT_HOME, else $XDG_STATE_HOME/shit, else ~/.local/state/shit.
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { mkdirSync } from "node:fs";

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
  for (const d of [p.root, p.spool, p.staging, p.run]) mkdirSync(d, { recursive: true, mode: 0o700 });
}
