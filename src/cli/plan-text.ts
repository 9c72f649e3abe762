// How an undo's plan reads: a header, one line per path it puts back, as `shit show` names the
// command's changes ("revert f", "restore src/ (214 files, 9 dirs)"; the first 30 of a long
// plan; --raw: one line per step), a summary ("restore 214 files, 9 dirs under ./src"), and what
// it cannot do.
import { constants as C } from "node:fs";
import { type BPath, display, dirname, fromBuf, isUnder } from "../paths/bytes.js";
import type { EventRow } from "../index/rows.js";
import type { Plan, Step } from "../plan/plan.js";
import { typeOf } from "../plan/vfs.js";
import { type Change, fold } from "../plan/net.js";
import { undoLine } from "./changes.js";

export function summary(plan: Plan, cwd?: BPath): string {
  const n = { files: 0, dirs: 0, links: 0, other: 0, remove: 0, move: 0, bytes: 0, meta: 0 };
  for (const s of plan.steps) {
    if (s.kind === "place" || s.kind === "link") {
      const t = s.pre ? typeOf(s.pre.mode) : C.S_IFREG;
      if (t === C.S_IFREG) n.files++;
      else if (t === C.S_IFDIR) n.dirs++;
      else if (t === C.S_IFLNK) n.links++;
      else n.other++;
    } else if (s.kind === "remove") n.remove++;
    else if (s.kind === "rename") n.move++;
    else if (s.kind === "rewrite" || s.kind === "truncate") n.bytes++;
    else if (s.seq >= 0) n.meta++;
  }
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
  const paths = plan.steps.filter((s) => s.seq >= 0).map((s) => s.path);
  let common = paths.length ? dirname(paths[0]) : "";
  for (const p of paths) while (common !== "/" && p !== common && !isUnder(p, common)) common = dirname(common);
  const where =
    paths.length > 1 && common && common !== "/"
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

/** The target command's changes the plan undoes (those its steps touch); and its steps that
 *  belong to no change (--force clearing a path), but not those on the command's passing paths
 *  (a temp file it made and renamed away: the undo of its rename names it). */
export function changesOf(plan: Plan, changes: Change[], events: EventRow[]): { undone: Change[]; other: Step[] } {
  const visible = plan.steps.filter((s) => s.seq >= 0);
  const touched = new Set<BPath>();
  for (const s of visible) {
    touched.add(s.path);
    if (s.path2 !== undefined) touched.add(s.path2);
  }
  const undone = changes.filter((c) => touched.has(c.path) || (c.to !== undefined && touched.has(c.to)));
  const named = new Set(undone.flatMap((c) => (c.to !== undefined ? [c.path, c.to] : [c.path])));
  const unnamed = (s: Step) => !named.has(s.path) && !(s.path2 !== undefined && named.has(s.path2));
  // the paths with no net change are looked for only when some step is not named yet (an undo
  // of an rm -rf of 10k files names every step: its events are not read a second time)
  if (!visible.some(unnamed)) return { undone, other: [] };
  const net = new Set(changes.flatMap((c) => (c.to !== undefined ? [c.path, c.to] : [c.path])));
  for (const e of events) for (const p of [e.path, e.path2]) if (p && !net.has(fromBuf(p))) named.add(fromBuf(p));
  return { undone, other: visible.filter(unnamed) };
}

/** What people see of the plan: a line per path it puts back (folded trees; `raw`: a line per
 *  step, not the closing pass over directory times), at most 30 of a long plan. */
export function planLines(plan: Plan, changes: Change[], events: EventRow[], cwd: BPath | undefined, moreHint: string, raw = false): string[] {
  let lines: string[];
  if (raw) lines = plan.steps.filter((s) => s.seq >= 0).map((s) => stepLine(s, cwd));
  else {
    const { undone, other } = changesOf(plan, changes, events);
    lines = [...fold(undone).map((f) => undoLine(f, cwd)), ...other.map((s) => stepLine(s, cwd))];
  }
  const shown = lines.length > 40 ? lines.slice(0, 30) : lines;
  if (shown.length < lines.length) shown.push(`  … and ${lines.length - shown.length} more (${moreHint})`);
  return shown;
}
