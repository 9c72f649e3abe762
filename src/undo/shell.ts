// The shell part of an undo: what reversing a command does to the state of the shell it was typed
// in (cwd, variables, aliases, options), and handing that to the shell's hook.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Index } from "../index/db.js";
import type { CommandRow } from "../index/rows.js";
import * as sessions from "../index/sessions.js";
import type { StatePaths } from "../paths/state.js";
import { changeCount, describeChanges, invert, script, type Shell, type ShellChanges } from "../shell/state.js";

export interface ShellPart {
  shell: Shell;
  session: string | null; // the session whose state this is
  changes: ShellChanges; // what the undo/redo does to that shell
  lines: string[]; // the same, for people
}

/** The inverse of target's recorded change to its shell's state, or null when it changed none. */
export function shellPart(ix: Index, target: CommandRow): ShellPart | null {
  if (!target.shell) return null;
  const info = JSON.parse(target.shell) as { shell?: Shell; changes?: ShellChanges };
  if (!info.changes || !changeCount(info.changes)) return null;
  const changes = invert(info.changes);
  const sessShell = target.session ? (sessions.shellOf(ix, target.session) as Shell | undefined) : undefined;
  return { shell: info.shell ?? sessShell ?? "bash", session: target.session, changes, lines: describeChanges(changes) };
}

/** What the undo's own row records of its shell part (commands.shell). */
export const shellRecord = (part: ShellPart): string => JSON.stringify({ shell: part.shell, changes: part.changes });

/** Hands the shell part to the hooked shell it belongs to, when that is the shell this runs in
 *  (its hook sources the file at the next prompt): "handed". Else the lines to type there. */
export function handShell(paths: StatePaths, part: ShellPart, by: string, here: string | null): "handed" | string[] {
  const text = script(part.shell, part.changes);
  if (part.session && part.session === here) {
    writeFileSync(join(paths.run, `shell-${part.session}.apply`), [...text, part.shell === "fish" ? `set __shit_of ${by}` : `__shit_of=${by}`, ""].join("\n"), {
      mode: 0o600,
    });
    return "handed";
  }
  return text;
}
