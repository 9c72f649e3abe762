// shit forget: a command as if it had never been recorded (its line or a file it touched held a
// secret). Its row, events, processes, keeps and the undos and redos of it go from the index (with
// SQLite overwriting what it deletes); its spool, staging dir, plans and journals from the state
// dir; the blobs only it held from the store.
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Index } from "../index/db.js";
import { settledSpool, type StatePaths } from "../paths/state.js";
import * as commands from "../index/commands.js";
import * as events from "../index/events.js";
import * as keeps from "../index/keeps.js";
import * as procs from "../index/procs.js";
import * as kills from "../index/kills.js";
import * as spools from "../index/spools.js";
import * as untracked from "../index/untracked.js";
import * as views from "../index/views.js";
import * as doubts from "../index/doubts.js";
import { deleteUnheld } from "./blobs.js";

export interface Forgotten {
  commands: string[]; // the command, then the undos and redos of it
  events: number;
  keeps: number;
  blobs: number;
  bytes: number; // of the blobs deleted
  files: number; // spools, staging files, plans and journals removed
  scrubbed: boolean; // the index's write-ahead log was emptied too
}

export function forget(paths: StatePaths, ix: Index, id: string): Forgotten {
  const ids: string[] = [];
  const add = (c: string) => {
    if (ids.includes(c)) return;
    ids.push(c);
    for (const r of commands.reversalsOf(ix, c)) add(r);
  };
  add(id);
  const r: Forgotten = { commands: ids, events: 0, keeps: 0, blobs: 0, bytes: 0, files: 0, scrubbed: false };
  r.scrubbed = commands.scrub(ix, () => {
    for (const c of ids) {
      r.events += events.removeOf(ix, c);
      r.keeps += keeps.removeOf(ix, c);
      procs.removeOf(ix, c);
      kills.removeOf(ix, c);
      untracked.removeOf(ix, c);
      views.removeOf(ix, c);
      doubts.removeOf(ix, c);
      spools.forget(ix, `${c}.spool`);
      commands.remove(ix, c);
    }
  });
  for (const c of ids) {
    const dir = join(paths.staging, c);
    if (existsSync(dir)) {
      r.files += readdirSync(dir, { recursive: true }).length;
      rmSync(dir, { recursive: true, force: true });
    }
    for (const f of [join(paths.spool, `${c}.spool`), settledSpool(paths, `${c}.spool`), join(paths.run, `${c}.plan`), join(paths.run, `${c}.journal`)]) {
      if (!existsSync(f)) continue;
      rmSync(f, { force: true });
      r.files++;
    }
  }
  const d = deleteUnheld(paths, ix);
  r.blobs = d.blobs;
  r.bytes = d.bytes;
  return r;
}
