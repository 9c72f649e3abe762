// How an undo's plan reads: a header, one line per path it puts back, as `shit show` names the
// command's changes ("revert f", "restore src/ (214 files, 9 dirs)"; the first 30 of a long
// plan; --raw: one line per step), a summary ("restore 214 files, 9 dirs under ./src"), and what
// it cannot do.
import { constants as C } from "node:fs";
import { type BPath, display, isUnder } from "../paths/bytes.js";
import type { Plan, Step } from "../plan/plan.js";
import { typeOf } from "../plan/vfs.js";
import { SHOWN, type PlanView } from "../plan/view.js";
import { undoLine } from "./changes.js";

export function summary(view: PlanView, cwd?: BPath): string {
  const n = view.counts;
  const pl = (k: number, one: string, many = one + "s") => `${k} ${k === 1 ? one : many}`;
  const parts: string[] = [];
  const restore = [
    n.files && pl(n.files, "file"),
    n.dirs && pl(n.dirs, "dir"),
    n.links && pl(n.links, "symlink"),
    n.other && pl(n.other, "special file"),
  ].filter(Boolean);
  if (restore.length) parts.push(`restore ${restore.join(", ")}`);
  if (n.bytes) parts.push(`put back the old contents of ${pl(n.bytes, "file")}`);
  if (n.move) parts.push(`move ${pl(n.move, "path")} back`);
  if (n.remove) parts.push(`remove ${pl(n.remove, "path")} it created`);
  if (n.meta) parts.push(`reset permissions or times of ${pl(n.meta, "path")}`);
  const common = view.common;
  const where =
    common && common !== "/"
      ? ` under ${cwd && (common === cwd || isUnder(common, cwd)) ? "./" + display(common, cwd).replace(/^\.$/, "").replace(/^\.\//, "") : display(common)}`
      : "";
  return (parts.join("; ") || "nothing to change") + where;
}

const VERB: Record<Step["kind"], string> = {
  remove: "remove",
  rename: "move",
  place: "restore",
  rewrite: "rewrite",
  truncate: "truncate",
  link: "link",
  meta: "reset",
  xattr: "xattr",
};

export function stepLine(s: Step, cwd?: BPath): string {
  const p = display(s.path, cwd);
  switch (s.kind) {
    case "rename":
      return `  move      ${p} → ${display(s.path2!, cwd)}`;
    case "link":
      return `  link      ${display(s.path2!, cwd)} (to ${p})`;
    case "truncate":
      return `  truncate  ${p} (back to ${s.length} bytes)`;
    case "place":
      return `  restore   ${p}${s.pre && typeOf(s.pre.mode) === C.S_IFDIR ? "/" : ""}`;
    default:
      return `  ${VERB[s.kind].padEnd(9)} ${p}`;
  }
}

/** What people see of the plan: a line per path it puts back (folded trees), at most 30 of a long
 *  plan. */
export function planLines(view: PlanView, cwd: BPath | undefined, moreHint: string): string[] {
  const lines = view.entries.map((e) => ("folded" in e ? undoLine(e.folded, cwd) : stepLine(e.step, cwd)));
  return limited(view.total > SHOWN ? lines.slice(0, 30) : lines, view.total, moreHint);
}

/** --raw: a line per step, not the closing pass over directory times. */
export function rawLines(plan: Plan, cwd: BPath | undefined, moreHint: string): string[] {
  const lines: string[] = [];
  let n = 0; // (the first SHOWN made, the rest counted: a plan of 1M steps is read, not held)
  for (const s of plan.steps) if (s.seq >= 0 && n++ < SHOWN) lines.push(stepLine(s, cwd));
  return limited(n > SHOWN ? lines.slice(0, 30) : lines, n, moreHint);
}

function limited(shown: string[], total: number, moreHint: string): string[] {
  if (shown.length < total) shown.push(`  … and ${total - shown.length} more (${moreHint})`);
  return shown;
}
