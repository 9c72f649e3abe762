// What an undo can do about a command's untracked changes (the watcher tier saw them, capture did
// not record them, so nothing was kept): nothing, except remove a regular file it created that is
// still there as the command left it. Each other one is "cannot restore: changed outside capture".
import { lstatSync } from "node:fs";
import type { Index } from "../index/db.js";
import { type BPath, fromBuf } from "./paths.js";
import type { Step } from "./plan.js";

export interface UntrackedRow {
  cmd: string;
  path: Uint8Array;
  kind: string; // create | delete | modify | attrib | move
  path2: Uint8Array | null;
  time: number | null;
}

export const OUTSIDE = "changed outside capture";
const MTIME_SLACK_MS = 1000; // a file last written after its command ended was changed by someone else

export function untrackedOf(index: Index, cmd: string): UntrackedRow[] {
  return index.q("SELECT * FROM untracked WHERE cmd = ? ORDER BY time, path").all(cmd) as unknown as UntrackedRow[];
}

/** The remove steps for the untracked creates an undo can take back, and the paths it cannot restore.
 *  laterTouch: a later command's record naming the path (then it is not this command's to remove). */
export function untrackedUndo(index: Index, cmd: string, laterTouch: (p: BPath) => string | null): { steps: Step[]; cannot: BPath[] } {
  const rows = untrackedOf(index, cmd);
  const c = index.q("SELECT started, ended FROM commands WHERE id = ?").get(cmd) as { started: number | null; ended: number | null } | undefined;
  const perPath = new Map<BPath, number>();
  for (const r of rows) perPath.set(fromBuf(r.path), (perPath.get(fromBuf(r.path)) ?? 0) + 1);
  const steps: Step[] = [];
  const cannot: BPath[] = [];
  for (const r of rows) {
    const p = fromBuf(r.path);
    if (r.kind === "create" && perPath.get(p) === 1) {
      const now = present(index, cmd, p, c?.ended ?? null);
      if (now === "gone") continue; // what the undo would do is done
      if (now === "removable" && !laterTouch(p)) {
        steps.push({ kind: "remove", path: p, seq: 0 });
        continue;
      }
    }
    cannot.push(r.kind === "move" && r.path2 ? fromBuf(r.path2) : p);
  }
  return { steps, cannot: [...new Set(cannot)] };
}

/** removable: a regular file, not written since the command ended, and no other command saw it
 *  change outside capture; gone: nothing there; else "kept". */
function present(index: Index, cmd: string, p: BPath, ended: number | null): "removable" | "gone" | "kept" {
  let st;
  try {
    st = lstatSync(Buffer.from(p, "latin1"));
  } catch {
    return "gone";
  }
  if (!st.isFile()) return "kept";
  if (ended !== null && st.mtimeMs > ended + MTIME_SLACK_MS) return "kept";
  return index.q("SELECT 1 FROM untracked WHERE path = ? AND cmd != ? LIMIT 1").get(Buffer.from(p, "latin1"), cmd) ? "kept" : "removable";
}
