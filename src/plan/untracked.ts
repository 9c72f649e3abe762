// What an undo can do about a command's untracked changes (the watcher tier saw them, capture did
// not record them, so nothing was kept): nothing, except remove a regular file it created that is
// still there as the command left it. Each other one is "cannot restore: changed outside capture".
import { lstatSync } from "node:fs";
import type { UntrackedRow } from "../index/rows.js";
import { type BPath, fromBuf, toBuf } from "../paths/bytes.js";
import type { Step } from "./steps.js";

export const OUTSIDE = "changed outside capture";
const MTIME_SLACK_MS = 1000; // a file last written after its command ended was changed by someone else

/** The untracked paths an undo might remove (creates): the ones to ask the index about. */
export function removable(rows: UntrackedRow[]): BPath[] {
  return rows.filter((r) => r.kind === "create").map((r) => fromBuf(r.path));
}

/** The remove steps for the untracked creates an undo can take back, and the paths it cannot
 *  restore. `claimed`: paths a later command names, or another command saw change (not ours). */
export function untrackedUndo(rows: UntrackedRow[], ended: number | null, claimed: Set<BPath>): { steps: Step[]; cannot: BPath[] } {
  const perPath = new Map<BPath, number>();
  for (const r of rows) perPath.set(fromBuf(r.path), (perPath.get(fromBuf(r.path)) ?? 0) + 1);
  const steps: Step[] = [];
  const cannot: BPath[] = [];
  for (const r of rows) {
    const p = fromBuf(r.path);
    if (r.kind === "create" && perPath.get(p) === 1) {
      const now = present(p, ended);
      if (now === "gone") continue; // what the undo would do is done
      if (now === "removable" && !claimed.has(p)) {
        steps.push({ kind: "remove", path: p, seq: 0 });
        continue;
      }
    }
    cannot.push(r.kind === "move" && r.path2 ? fromBuf(r.path2) : p);
  }
  return { steps, cannot: [...new Set(cannot)] };
}

/** removable: a regular file, not written since the command ended; gone: nothing there; else "kept". */
function present(p: BPath, ended: number | null): "removable" | "gone" | "kept" {
  let st;
  try {
    st = lstatSync(toBuf(p));
  } catch {
    return "gone";
  }
  if (!st.isFile()) return "kept";
  if (ended !== null && st.mtimeMs > ended + MTIME_SLACK_MS) return "kept";
  return "removable";
}
