// What an undo can do about a command's untracked changes (the watcher tier saw them, capture did
// not record them, so nothing was kept): name them, and leave them as they are. The tier
// attributes a change to the commands alive when it happened, by time only (inotify does not say
// who wrote; unprivileged fanotify reports pid 0 for every other writer), so it cannot prove the
// command made it: an editor saving beside a running `sleep` looks the same as the command's own
// static helper. An undo changes or deletes nothing it cannot prove the command did; acting on
// such a change needs its writer known to be one of the command's processes (a tier that sees
// the writer: a root daemon's fanotify, or seccomp), which no tier records yet.
import type { UntrackedRow } from "../index/rows.js";
import { type BPath, fromBuf } from "../paths/bytes.js";

export const OUTSIDE = "changed outside capture while the command ran (by a writer not known to be the command's): left as it is";

/** The paths an undo names and leaves alone: every untracked change of the command. */
export function untrackedUndo(rows: UntrackedRow[]): { cannot: BPath[] } {
  return { cannot: [...new Set(rows.map((r) => fromBuf(r.kind === "move" && r.path2 ? r.path2 : r.path)))] };
}
