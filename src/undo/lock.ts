// The lock that one undo, redo or gc holds at a time: run/apply.lock, holding the holder's pid.
// A lock whose holder is gone (killed) is taken over.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync, constants as C } from "node:fs";
import { join } from "node:path";
import type { StatePaths } from "../paths/state.js";
import { pidExists } from "../procs/procfs.js";

/** Another undo, redo or gc holds the lock: exit 7. */
export class Busy extends Error {}

/** Takes the lock; returns its release. Throws Busy. */
export function lock(paths: StatePaths): () => void {
  const file = join(paths.run, "apply.lock");
  for (let i = 0; i < 2; i++) {
    try {
      const fd = openSync(file, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          unlinkSync(file);
        } catch {
          // gone already
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const pid = Number(readFileSync(file, "utf8") || 0);
      if (pidExists(pid)) throw new Busy(`another undo or redo is running (pid ${pid}); try again when it ends`);
      try {
        unlinkSync(file);
      } catch {
        // raced
      }
    }
  }
  throw new Busy("cannot take the undo lock");
}
