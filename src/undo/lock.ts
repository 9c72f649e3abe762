// The lock that one undo, redo or gc holds at a time: flock(LOCK_EX) on run/apply.lock, through
// native/lock (lock.node: Node has no flock). The lock belongs to the open file description, so
// the kernel drops it when the last process holding a descriptor of it ends, however it ends:
// nothing is stale after a kill -9, and two that start at once cannot both take it. The CLI hands
// the descriptor to the shit-apply it runs (src/apply/apply.ts), so the lock lives as long as
// either process does. The file stays; the pid in it is only for the Busy message.
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync, constants as C } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { nativeFile } from "../paths/native.js";
import type { StatePaths } from "../paths/state.js";

/** Another undo, redo or gc holds the lock: exit 7. */
export class Busy extends Error {}

/** The lock's release; `fd` is the descriptor that holds it (passed on to shit-apply). */
export type Unlock = (() => void) & { fd: number };

let tryLock: ((fd: number) => boolean) | null = null;

function native(): (fd: number) => boolean {
  if (tryLock) return tryLock;
  const path = nativeFile("lock.node");
  try {
    tryLock = (createRequire(import.meta.url)(path) as { tryLock(fd: number): boolean }).tryLock;
  } catch (e) {
    throw new Error(`${path} cannot be loaded (${(e as Error).message.split("\n")[0]}): run npm install`);
  }
  return tryLock;
}

/** Takes the lock without waiting; returns its release. Throws Busy. */
export function lock(paths: StatePaths): Unlock {
  const file = join(paths.run, "apply.lock");
  const take = native();
  const fd = openSync(file, C.O_RDWR | C.O_CREAT | C.O_NOFOLLOW, 0o600);
  let held = false;
  try {
    held = take(fd);
  } finally {
    if (!held) closeSync(fd);
  }
  if (!held) {
    let pid = "";
    try {
      pid = readFileSync(file, "utf8").trim();
    } catch {
      // unreadable: no pid to name
    }
    throw new Busy(`another undo, redo or gc is running${/^\d+$/.test(pid) ? ` (started by pid ${pid})` : ""}; try again when it ends`);
  }
  ftruncateSync(fd, 0);
  writeSync(fd, String(process.pid), 0);
  let open = true;
  const release = () => {
    if (open) closeSync(fd); // shit-apply, if it still runs, holds the lock until it ends
    open = false;
  };
  return Object.assign(release, { fd });
}

/** Whether an undo, redo or gc holds the lock now (taken and let go at once if not). */
export function held(paths: StatePaths): boolean {
  try {
    lock(paths)();
    return false;
  } catch (e) {
    if (e instanceof Busy) return true;
    throw e;
  }
}
