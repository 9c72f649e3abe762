// The pre-images an undo moves back out of staging, marked so in the index (keeps.markGone) by
// the ingest of the undo's END rather than by the undo itself when shitd is running: shitd is
// then ingesting the undo's own 10k records, and the undo's write would wait behind all of it
// (0.1–0.35 s of a 10k-file undo). The list is left in run/moved/<undo id> before shit-apply
// runs, and taken by the first ingest that finds the undo ended with exit 0 (all of them moved);
// one that stopped part-way is marked by the CLI, file by file (apply.ts, markMoved).
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Index } from "../index/db.js";
import * as keeps from "../index/keeps.js";
import * as commands from "../index/commands.js";
import type { StatePaths } from "../paths/state.js";

const dirOf = (paths: StatePaths) => join(paths.run, "moved");

/** Leaves the names for the next ingest to mark gone; false when it cannot (a full disk): the
 *  CLI marks them itself then. */
export function deferMoved(paths: StatePaths, id: string, names: string[]): boolean {
  const file = join(dirOf(paths), id);
  try {
    mkdirSync(dirOf(paths), { recursive: true, mode: 0o700 });
    writeJson(`${file}.tmp`, names);
    renameSync(`${file}.tmp`, file);
    return true;
  } catch {
    rmSync(`${file}.tmp`, { force: true });
    return false;
  }
}

/** JSON.stringify(names) into file, 64 KiB at a time: the undo of an rm -rf of 1M files moves 1M
 *  names back (~50 MB of JSON), which as one string and its bytes were ~100 MB at the undo's peak. */
function writeJson(file: string, names: string[]): void {
  const fd = openSync(file, "w", 0o600);
  try {
    let out = "[";
    for (let i = 0; i < names.length; i++) {
      out += (i ? "," : "") + JSON.stringify(names[i]);
      if (out.length >= 1 << 16) (writeAll(fd, out), (out = ""));
    }
    writeAll(fd, out + "]");
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, s: string): void {
  const b = Buffer.from(s);
  for (let off = 0; off < b.length;) off += writeSync(fd, b, off);
}

/** The list of an undo that did not finish: the CLI marks what it moved itself. */
export function cancelMoved(paths: StatePaths, id: string): void {
  rmSync(join(dirOf(paths), id), { force: true });
}

/** Marks gone what each waiting list of an undo that ended with exit 0 names, one transaction a
 *  list (with the undo's END in the index: the ingest's last step). */
export function settleMoved(paths: StatePaths, index: Index): void {
  let lists: string[];
  try {
    lists = readdirSync(dirOf(paths)).filter((n) => !n.endsWith(".tmp"));
  } catch {
    return; // none ever
  }
  for (const n of lists) {
    const c = commands.byId(index, n);
    if (c?.ended == null || c.exit !== 0) continue; // not yet (or to be resumed)
    const file = join(dirOf(paths), n);
    let names: unknown;
    try {
      names = JSON.parse(readFileSync(file, "utf8"));
    } catch {
      names = null; // gone meanwhile (another ingest took it), or not whole: nothing to mark
    }
    if (Array.isArray(names) && names.every((x) => typeof x === "string")) index.tx(() => keeps.markGone(index, names as string[]));
    rmSync(file, { force: true });
  }
}
