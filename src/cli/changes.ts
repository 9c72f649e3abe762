// How a command's net changes read (src/plan/net.ts), one line a path: for `shit show` what it
// did ("modified f", "deleted src/ (214 files, 9 dirs)"), for an undo's plan what the undo does
// ("revert f", "restore src/ (…)"). Also the content diffs of those changes.
import { constants as C } from "node:fs";
import { resolve } from "node:path";
import type { CommandRow, EventRow } from "../index/rows.js";
import { type Change, type Folded, contentsText } from "../plan/net.js";
import { type BPath, display, fromBuf, isUnder } from "../paths/bytes.js";
import type { Store } from "../store/store.js";
import { after, before, present, type Image } from "../undo/images.js";
import { patchLines } from "./patch.js";
import { paint } from "./output.js";

const oct = (m: number) => m.toString(8).padStart(4, "0");

const SHOW_COLOR: Record<string, Parameters<typeof paint>[0]> = { deleted: "red", created: "green", modified: "yellow", renamed: "cyan" };

function name(c: Change, p: BPath, cwd?: BPath): string {
  return display(p, cwd) + (c.type === C.S_IFDIR ? "/" : "");
}

/** One line of what a command did to a path (or a folded tree). */
export function didLine(f: Folded, cwd?: BPath): string {
  const c = f.change;
  const n = f.contents ? contentsText(f.contents) : "";
  const word = (w: string) => paint(SHOW_COLOR[c.effect] ?? "cyan", w) + " ".repeat(Math.max(0, 9 - w.length));
  switch (c.effect) {
    case "renamed":
      return `  ${word("renamed")} ${name(c, c.path, cwd)} → ${name(c, c.to!, cwd)}${c.replaced ? "  (replacing it)" : ""}`;
    case "metadata":
      if (c.mode && c.meta?.length === 1) return `  ${word("mode")} ${name(c, c.path, cwd)}  ${oct(c.mode[0])} → ${oct(c.mode[1])}`;
      return `  ${word("metadata")} ${name(c, c.path, cwd)}  (${(c.meta ?? []).map((m) => (m === "mode" && c.mode ? `mode ${oct(c.mode[0])} → ${oct(c.mode[1])}` : m)).join(", ")})`;
    default:
      return `  ${word(c.effect)} ${name(c, c.path, cwd)}${n ? `  (${n})` : ""}`;
  }
}

/** One line of what undoing that change does. */
export function undoLine(f: Folded, cwd?: BPath): string {
  const c = f.change;
  const n = f.contents ? `  (${contentsText(f.contents)})` : "";
  const w = (s: string) => s.padEnd(9);
  switch (c.effect) {
    case "deleted":
      return `  ${w("restore")} ${name(c, c.path, cwd)}${n}`;
    case "created":
      return `  ${w("remove")} ${name(c, c.path, cwd)}${n}`;
    case "modified":
      return `  ${w("revert")} ${name(c, c.path, cwd)}  (its old contents)`;
    case "renamed":
      return `  ${w("move")} ${name(c, c.to!, cwd)} → ${name(c, c.path, cwd)}${c.replaced ? `  (and restore the ${name(c, c.to!, cwd)} it replaced)` : ""}`;
    case "metadata":
      if (c.mode && c.meta?.length === 1) return `  ${w("mode")} ${name(c, c.path, cwd)}  ${oct(c.mode[1])} → ${oct(c.mode[0])}`;
      return `  ${w("reset")} ${name(c, c.path, cwd)}  (${(c.meta ?? []).join(", ")})`;
  }
}

/** Changes that touch one of these paths (as typed, relative to where shit runs), or all. */
export function onPaths(changes: Change[], args: string[] | undefined): Change[] {
  if (!args?.length) return changes;
  const want = args.map((a) => fromBuf(Buffer.from(resolve(a))));
  const hit = (p: BPath | undefined) => p !== undefined && want.some((w) => p === w || isUnder(p, w));
  return changes.filter((c) => hit(c.path) || hit(c.to));
}

const isFile = (c: Change) => c.type === C.S_IFREG || c.type === null;

/** The content diff of each file the command created, modified or deleted: before vs what it left. */
export function didPatches(store: Store, cmd: CommandRow, evs: EventRow[], changes: Change[], cwd?: BPath): string[] {
  const out: string[] = [];
  for (const c of changes) {
    if (!isFile(c) || c.effect === "renamed" || c.effect === "metadata") continue;
    const left = () => (c.effect === "deleted" ? ({ none: true } as Image) : after(store, cmd, evs, c.path));
    let l: Image | null = null;
    const leftOnce = () => (l ??= left());
    const was: Image = c.effect === "created" ? { none: true } : before(store, cmd, evs, c.path, leftOnce);
    out.push(...patchLines(display(c.path, cwd), was, leftOnce()));
  }
  return out;
}

/** What undoing these changes does to each file's contents: the present file vs what comes back. */
export function undoPatches(store: Store, cmd: CommandRow, evs: EventRow[], changes: Change[], cwd?: BPath): string[] {
  const out: string[] = [];
  for (const c of changes) {
    if (!isFile(c) || c.effect === "renamed" || c.effect === "metadata") continue;
    const back: Image = c.effect === "created" ? { none: true } : before(store, cmd, evs, c.path, () => after(store, cmd, evs, c.path));
    out.push(...patchLines(display(c.path, cwd), present(c.path), back));
  }
  return out;
}
