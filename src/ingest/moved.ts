// The pre-images an undo moves back out of staging, marked so in the index (keeps.markGone) by
// the ingest of the undo's END rather than by the undo itself when shitd is running: shitd is
// then ingesting the undo's own 10k records, and the undo's write would wait behind all of it
// (0.1–0.35 s of a 10k-file undo). The list is left in run/moved/<undo id> before shit-apply
// runs, and taken by the first ingest that finds the undo ended with exit 0 (all of them moved);
// one that stopped part-way is marked by the CLI, file by file (apply.ts, markMoved).
import { closeSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Index } from "../index/db.js";
import * as keeps from "../index/keeps.js";
import * as commands from "../index/commands.js";
import type { StatePaths } from "../paths/state.js";

const dirOf = (paths: StatePaths) => join(paths.run, "moved");

/** Leaves the names for the next ingest to mark gone; false when it cannot (a full disk): the
 *  CLI marks them itself then. `ready`: the list written already (by shitd, with a plan made
 *  ahead: writeMoved), moved into place rather than written now (~7 ms of a 10k-file undo). */
export function deferMoved(paths: StatePaths, id: string, names: Iterable<string>, ready?: string): boolean {
  const file = join(dirOf(paths), id);
  try {
    mkdirSync(dirOf(paths), { recursive: true, mode: 0o700 });
    if (ready)
      try {
        renameSync(ready, file);
        return true;
      } catch {
        // gone (or not there to take): written now
      }
    writeMoved(file, names);
    return true;
  } catch {
    rmSync(`${file}.tmp`, { force: true });
    return false;
  }
}

/** The names into file, as deferMoved leaves them (also a plan made ahead: src/undo/ahead.ts),
 *  through FILE.tmp: whole, or not there. */
export function writeMoved(file: string, names: Iterable<string>): void {
  writeLines(`${file}.tmp`, names);
  renameSync(`${file}.tmp`, file);
}

/** The names into file, one a line (a keep name is printable ASCII: isKeepName), 64 KiB at a
 *  time: the undo of an rm -rf of 1M files moves 1M names back (~45 MB), which as one JSON string
 *  and its bytes were ~100 MB at the undo's peak. */
function writeLines(file: string, names: Iterable<string>): void {
  const fd = openSync(file, "w", 0o600);
  try {
    let out = "";
    for (const n of names) {
      out += n + "\n";
      if (out.length >= 1 << 16) (writeAll(fd, out), (out = ""));
    }
    writeAll(fd, out);
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, s: string): void {
  const b = Buffer.from(s, "latin1");
  for (let off = 0; off < b.length;) off += writeSync(fd, b, off);
}

/** The names of a list, a MiB of the file at a time (not its 1M names at once: the ingest of the
 *  undo of an rm -rf of 1M files peaked at ~400 MiB with them, their JSON and SQLite's copy). A
 *  list left by a version that wrote JSON (a "[" first) is read whole. */
export function* readLines(file: string): Generator<string> {
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    let rest = "";
    let first = true;
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) {
      const text = rest + buf.toString("latin1", 0, n);
      if (first && text.startsWith("[")) {
        const all = text + readFileSync(fd, "latin1");
        const names: unknown = JSON.parse(all);
        if (Array.isArray(names)) for (const x of names) if (typeof x === "string") yield x;
        return;
      }
      first = false;
      const lines = text.split("\n");
      rest = lines.pop()!;
      for (const l of lines) if (l) yield l;
    }
    if (rest) yield rest;
  } finally {
    closeSync(fd);
  }
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
    try {
      index.tx(() => keeps.markGone(index, readLines(file)));
    } catch (e) {
      // gone meanwhile (another ingest took it), or not whole: nothing to mark
      if ((e as NodeJS.ErrnoException).code !== "ENOENT" && !(e instanceof SyntaxError)) throw e;
    }
    rmSync(file, { force: true });
  }
}
