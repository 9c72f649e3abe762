// A full disk, as the layers meet it: the error that says so, and the state dir's reserve
// (run/reserve, filled by capture.c while the disk has room) given back for a write that must
// not be lost for want of a few blocks.
import { closeSync, constants, fstatSync, ftruncateSync, openSync, statfsSync } from "node:fs";
import { join } from "node:path";
import type { StatePaths } from "./state.js";

/** A full disk (or quota), as node:fs (ENOSPC, EDQUOT) or node:sqlite (SQLITE_FULL) says it. */
export function noSpace(e: unknown): boolean {
  const x = e as { code?: unknown; errcode?: unknown } | null;
  return x?.code === "ENOSPC" || x?.code === "EDQUOT" || (x?.code === "ERR_SQLITE_ERROR" && typeof x.errcode === "number" && (x.errcode & 0xff) === 13);
}

/** Bytes free to an unprivileged writer on dir's file system; null when it cannot be asked. */
export function freeBytes(dir: string): number | null {
  try {
    const f = statfsSync(dir);
    return f.bavail * f.bsize;
  } catch {
    return null;
  }
}

/** Whether dir's file system has `bytes` free (1 MiB: a full disk there is not why a write
 *  elsewhere failed); not when that cannot be asked. */
export function hasRoom(dir: string, bytes = 1 << 20): boolean {
  return (freeBytes(dir) ?? -1) >= bytes;
}

/** Empties run/reserve, so its room is free for the next write; false when it held none. Capture
 *  fills it again once the disk has room (cap_reserve_fill). */
export function giveReserve(paths: StatePaths): boolean {
  let fd: number;
  try {
    fd = openSync(join(paths.run, "reserve"), constants.O_WRONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return false; // none (never filled, or not a file: never followed)
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size === 0) return false;
    ftruncateSync(fd, 0);
    return true;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

/** write(), once more with the reserve's room if a full disk stopped it. */
export function withReserve<T>(paths: StatePaths, write: () => T): T {
  try {
    return write();
  } catch (e) {
    if (!noSpace(e) || !giveReserve(paths)) throw e;
    return write();
  }
}

/** Whether the state dir's filesystem has room to spare (64 MiB): then no write of a moment ago
 *  was cut short by a full disk. */
export function roomy(paths: StatePaths): boolean {
  return hasRoom(paths.root, 64 << 20);
}
