// A content diff of one file as people read it: a unified diff (jsdiff's structuredPatch) with
// git's colors, a size line for binary or large files, or why it cannot be shown.
import { createRequire } from "node:module";
import type { Image } from "../undo/images.js";
import { paint } from "./output.js";

// jsdiff loaded when a diff is made, not by every verb at its start (~20 ms of CPU here)
let jsdiff: typeof import("diff") | undefined;
const jsdiffNow = () => (jsdiff ??= createRequire(import.meta.url)("diff") as typeof import("diff"));

/** 1.2 MiB, 0 B */
export function sizeText(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0,
    v = n;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

const binary = (b: Buffer) => b.subarray(0, 8000).includes(0); // as git decides

/** The lines of the diff of one path from `from` to `to` (names as shown: a/…, b/…). */
export function patchLines(name: string, from: Image, to: Image, toName = name): string[] {
  const head = paint("bold", `diff ${name === toName ? name : `${name} → ${toName}`}`);
  for (const [img, which] of [
    [from, "before"],
    [to, "after"],
  ] as const)
    if ("why" in img) return [head, paint("dim", `  cannot be shown: the ${which} state is not known: ${img.why}`)];
  const a = from as Exclude<Image, { why: string }>,
    b = to as Exclude<Image, { why: string }>;
  const size = (i: typeof a) => ("none" in i ? 0 : i.size);
  const bytes = (i: typeof a) => ("none" in i ? Buffer.alloc(0) : i.bytes);
  const ab = bytes(a),
    bb = bytes(b);
  if (!ab || !bb || binary(ab) || binary(bb)) {
    const what = !ab || !bb ? "too large to diff" : "binary";
    return [head, `${what}, ${"none" in a ? "none" : sizeText(size(a))} → ${"none" in b ? "none" : sizeText(size(b))}`];
  }
  if (ab.equals(bb)) return [head, paint("dim", "  contents unchanged")];
  const p = jsdiffNow().structuredPatch(name, toName, ab.toString("utf8"), bb.toString("utf8"), undefined, undefined, { context: 3 });
  const out = [head, paint("bold", `--- ${"none" in a ? "/dev/null" : "a/" + name}`), paint("bold", `+++ ${"none" in b ? "/dev/null" : "b/" + toName}`)];
  for (const h of p.hunks) {
    out.push(paint("cyan", `@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`));
    for (const l of h.lines) out.push(l[0] === "-" ? paint("red", l) : l[0] === "+" ? paint("green", l) : l);
  }
  return out;
}
