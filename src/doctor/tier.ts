// How capture can keep pre-images of files under a directory: by reflink (FICLONE: O(1), also
// for in-place edits), by hard link / rename into staging (O(1) for deletes and replaces; edits
// are copied), or only by copying (the directory is on another filesystem than the state dir).
// Probed for real: a temp file in that directory, cloned and linked into staging.
import { spawnSync } from "node:child_process";
import { closeSync, linkSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";

export type Tier = "reflink" | "hardlink" | "copy";

export interface Probe {
  tier: Tier | null; // null: could not probe
  why?: string; // why it could not
}

export function probeTier(dir: string, staging: string): Probe {
  const tag = `.shit-doctor-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const src = join(dir, tag);
  const clone = join(staging, tag + ".clone");
  const link = join(staging, tag + ".link");
  try {
    let fd: number;
    try {
      fd = openSync(src, "wx", 0o600);
    } catch (e) {
      return { tier: null, why: `cannot write a probe file there (${(e as NodeJS.ErrnoException).code})` };
    }
    try {
      writeSync(fd, Buffer.alloc(8192, 1));
    } finally {
      closeSync(fd);
    }
    const r = spawnSync("cp", ["--reflink=always", "--", src, clone], { stdio: "ignore" });
    if (r.status === 0) return { tier: "reflink" };
    try {
      linkSync(src, link);
      return { tier: "hardlink" };
    } catch {
      return { tier: "copy" };
    }
  } finally {
    for (const f of [src, clone, link]) rmSync(f, { force: true });
  }
}
