// Paths are bytes on Linux. Inside the planner a path is a "byte string": a JS string whose
// char codes are the path's bytes (latin1), so names that are not UTF-8 survive every step.
export type BPath = string;

// a view of b's bytes, not a copy (this runs for every path of every event read)
export const fromBuf = (b: Uint8Array): BPath => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
export const toBuf = (p: BPath): Buffer => Buffer.from(p, "latin1");

export function dirname(p: BPath): BPath {
  const i = p.lastIndexOf("/");
  return i <= 0 ? "/" : p.slice(0, i);
}

export function basename(p: BPath): BPath {
  return p.slice(p.lastIndexOf("/") + 1);
}

export function join(dir: BPath, name: BPath): BPath {
  return dir === "/" ? "/" + name : dir + "/" + name;
}

export function isUnder(p: BPath, dir: BPath): boolean {
  return dir === "/" ? p.startsWith("/") && p !== "/" : p.startsWith(dir + "/");
}

/** For people: UTF-8 when it decodes, else C-style escapes for the bytes that do not (like git). */
export function display(p: BPath | Uint8Array, cwd?: BPath): string {
  let s = typeof p === "string" ? p : fromBuf(p);
  if (cwd && cwd !== "/" && isUnder(s, cwd)) s = s.slice(cwd.length + 1);
  else if (cwd && s === cwd) s = ".";
  const buf = toBuf(s);
  const dec = new TextDecoder("utf-8", { fatal: true });
  let out: string;
  try {
    out = dec.decode(buf);
  } catch {
    out = "";
    for (const b of buf) out += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : "\\" + b.toString(8).padStart(3, "0");
    return `"${out}"`;
  }
  return /[\x00-\x1f\x7f"\\]/.test(out) ? JSON.stringify(out) : out;
}
