// How an undo's plan reads: a header, one line per step (the first 30 of a long plan), a summary
// ("restore 214 files, 9 dirs under ./src"), and what it cannot do.
import { constants as C } from "node:fs";
import { type BPath, display, dirname, isUnder } from "../paths/bytes.js";
import type { Plan, Step } from "../plan/plan.js";
import { typeOf } from "../plan/vfs.js";

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

/** The steps people see (not the closing pass over directory times), at most 30 of a long plan. */
export function stepLines(plan: Plan, cwd: BPath | undefined, moreHint: string): string[] {
  const visible = plan.steps.filter((s) => s.seq >= 0);
  const shown = visible.length > 40 ? visible.slice(0, 30) : visible;
  const out = shown.map((s) => stepLine(s, cwd));
  if (shown.length < visible.length) out.push(`  … and ${visible.length - shown.length} more (${moreHint})`);
  return out;
}
