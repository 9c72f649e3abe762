// The per-file capture cap reaches the shim as a file: <state>/cap holds the config's
// store.fileCap in bytes (decimal). The shim cannot parse the JSON config at the cost of a libc
// call; it reads this file once per process, at its first copy (native/common/capture.c
// copy_cap; SHIT_CAP in the environment overrides it). Every CLI verb rewrites it when the config
// says otherwise, so a changed config applies from the next verb on.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { StatePaths } from "../paths/state.js";

export const capFile = (paths: StatePaths) => join(paths.root, "cap");

export function syncCap(paths: StatePaths, fileCap: number): void {
  const want = `${fileCap}\n`;
  try {
    if (readFileSync(capFile(paths), "utf8") === want) return;
  } catch {
    // none yet
  }
  const tmp = `${capFile(paths)}.${process.pid}`;
  writeFileSync(tmp, want, { mode: 0o600 });
  renameSync(tmp, capFile(paths));
}
