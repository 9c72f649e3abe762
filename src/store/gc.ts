// gc: frees the pre-images of old commands, by age and by the store's size budget, oldest first.
// A command's pre-images are its keeps: files in staging/<id>/ (inodes kept whole, copies not yet
// absorbed) and the blobs it holds in the store (freed when no other command holds them). It never
// frees a pinned command, an undo whose redo is pending, or a command still running. Of each
// command it frees (and of every command past the age), it also reclaims what no longer has a use:
// the spool (once ingested), the staging dir, the plan and journal of an undo.
import { existsSync, lstatSync, readdirSync, rmSync, rmdirSync } from "node:fs";
import { join, relative } from "node:path";
import type { Index } from "../index/db.js";
import { settledSpool, type StatePaths } from "../paths/state.js";
import * as commands from "../index/commands.js";
import * as keeps from "../index/keeps.js";
import * as blobs from "../index/blobs.js";
import * as spools from "../index/spools.js";
import { mayRun, liveProcesses } from "../procs/running.js";
import { deleteUnheld } from "./blobs.js";

export interface GcOpts {
  maxAge: number; // ms: commands that started longer ago are freed
  budget: number; // bytes: then the oldest others, while the store is bigger than this
  dryRun?: boolean;
  unexplained?: boolean; // free too the staged files no record explains
  now?: number;
  /** After each command freed: how many of the candidates (oldest first) are done (a progress line). */
  step?: (done: number, of: number) => void;
}

export interface Freed {
  id: string;
  started: number | null;
  why: "gc" | "budget"; // by age, or over the budget
  files: number; // pre-images: staged files and stored keeps
  bytes: number; // what freeing it gives back (blobs only it held, its staging files)
}

export interface GcReport {
  freed: Freed[];
  bytes: number;
  blobs: number; // blobs deleted (no command holds them any more)
  spools: number; // spools, staging dirs, plans and journals reclaimed
  dirs: number;
  journals: number;
  unexplained: string[]; // staged files no record explains, kept (relative to staging/)
  held: { pinned: number; redo: number; bytes: number }; // kept whatever their age
  before: number; // store + staging bytes, before and after
  after: number;
  budget: number;
}

/** The files under dir and their bytes. A directory gone meanwhile counts as empty: an undo moves
 *  staged directories back while shitd's upkeep sums staging (readdir's recursive walk threw
 *  ENOENT for the whole sum: "store upkeep failed"). */
export function du(dir: string): { files: number; bytes: number } {
  let files = 0,
    bytes = 0;
  for (const todo = [dir]; todo.length;) {
    const d = todo.pop()!;
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT" || (e as NodeJS.ErrnoException).code === "ENOTDIR") continue; // gone (or replaced) meanwhile
      throw e;
    }
    for (const x of entries) {
      if (x.isDirectory()) {
        todo.push(join(d, x.name));
        continue;
      }
      files++;
      try {
        bytes += lstatSync(join(d, x.name)).size;
      } catch {
        // gone meanwhile
      }
    }
  }
  return { files, bytes };
}

/** What the store and staging hold now, in bytes. */
export function storeUsage(paths: StatePaths, ix: Index): { blobs: number; blobBytes: number; keptBytes: number; staging: number; stagingFiles: number } {
  const t = blobs.totals(ix);
  const s = du(paths.staging);
  return { blobs: t.blobs, blobBytes: t.stored, keptBytes: t.size, staging: s.bytes, stagingFiles: s.files };
}

/** The staged files of command id that no record explains (no keep of that name): left by a
 *  process killed between a keep and its record, or by a record lost. Relative to staging/. */
function unexplainedOf(paths: StatePaths, ix: Index, id: string): string[] {
  const dir = join(paths.staging, id);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((d) => !d.isDirectory())
    .map((d) => relative(paths.staging, join(d.parentPath, d.name)))
    .filter((name) => !keeps.exists(ix, name));
}

/** Runs gc (or with dryRun, says what it would do and changes nothing). The caller holds the undo lock. */
export function gc(paths: StatePaths, ix: Index, opts: GcOpts): GcReport {
  const now = opts.now ?? Date.now();
  const cutoff = now - opts.maxAge;
  // who holds which blob: the refcounts gc brings down as it frees commands
  const holders = new Map<string, number>();
  const held = new Map<string, string[]>(); // cmd → its blobs
  for (const b of blobs.all(ix)) holders.set(b.hash, 0);
  const sizes = new Map(blobs.all(ix).map((b) => [b.hash, b.stored]));
  for (const c of commands.forGc(ix)) {
    const hs = keeps.storedHashes(ix, c.id);
    if (hs.length) held.set(c.id, hs);
    for (const h of hs) holders.set(h, (holders.get(h) ?? 0) + 1);
  }
  const usage = storeUsage(paths, ix);
  let total = usage.blobBytes + usage.staging;
  const report: GcReport = {
    freed: [],
    bytes: 0,
    blobs: 0,
    spools: 0,
    dirs: 0,
    journals: 0,
    unexplained: [],
    held: { pinned: 0, redo: 0, bytes: 0 },
    before: total,
    after: total,
    budget: opts.budget,
  };
  const running = (id: string) => mayRun(ix, id) && liveProcesses(ix, id).length > 0;
  const candidates = [...commands.forGc(ix)];
  for (const [i, c] of candidates.entries()) {
    if (i && !opts.dryRun) opts.step?.(i, candidates.length);
    const old = (c.started ?? 0) < cutoff;
    const over = total > opts.budget;
    if (!old && !over) break; // oldest first: the rest are younger, and the store fits
    const stage = du(join(paths.staging, c.id));
    const hs = held.get(c.id) ?? [];
    const holds = stage.files > 0 || hs.length > 0;
    if (c.pinned || c.redo) continue; // counted in held below
    if (!old && !holds) continue; // nothing of it takes room: only the age reclaims its leftovers
    if (running(c.id)) continue;
    const odd = opts.unexplained ? [] : unexplainedOf(paths, ix, c.id);
    report.unexplained.push(...odd);
    let bytes = stage.bytes;
    for (const h of hs) {
      const n = (holders.get(h) ?? 1) - 1;
      holders.set(h, n);
      if (n === 0) bytes += sizes.get(h) ?? 0;
    }
    if (holds) {
      const files = stage.files - odd.length + hs.length;
      report.freed.push({ id: c.id, started: c.started, why: old ? "gc" : "budget", files, bytes });
      report.bytes += bytes;
      total -= bytes;
    }
    if (opts.dryRun) {
      report.spools += +(existsSync(join(paths.spool, `${c.id}.spool`)) || existsSync(settledSpool(paths, `${c.id}.spool`)));
      report.dirs += +existsSync(join(paths.staging, c.id));
      continue;
    }
    if (holds) {
      ix.tx(() => {
        keeps.expireOf(ix, c.id);
        if (!c.freed) commands.setFreed(ix, c.id, now, old ? "gc" : "budget");
      });
    }
    reclaim(paths, ix, c.id, odd, report);
  }
  if (!opts.dryRun) report.blobs = deleteUnheld(paths, ix).blobs;
  else for (const [, n] of holders) if (n === 0) report.blobs++;
  report.after = total;
  for (const c of commands.forGc(ix)) {
    if (!c.pinned && !c.redo) continue;
    const stage = du(join(paths.staging, c.id));
    const hs = held.get(c.id) ?? [];
    if (!stage.files && !hs.length) continue;
    if (c.pinned) report.held.pinned++;
    else report.held.redo++;
    report.held.bytes += stage.bytes + hs.reduce((n, h) => n + (sizes.get(h) ?? 0), 0);
  }
  return report;
}

/** A freed (or old) command's leftovers: its staging dir (but for files no record explains), its
 *  spool once all of it is in the index, the plan and journal of an undo or redo. */
function reclaim(paths: StatePaths, ix: Index, id: string, odd: string[], report: GcReport): void {
  const dir = join(paths.staging, id);
  if (existsSync(dir)) {
    if (odd.length) {
      const keep = new Set(odd.map((n) => join(paths.staging, n)));
      const entries = readdirSync(dir, { withFileTypes: true, recursive: true });
      for (const d of entries) if (!d.isDirectory() && !keep.has(join(d.parentPath, d.name))) rmSync(join(d.parentPath, d.name), { force: true });
      // the dirs files were kept in by their directory (d<dev>-<ino>), emptied: deepest first
      for (const d of entries.filter((e) => e.isDirectory()).reverse()) {
        try {
          rmdirSync(join(d.parentPath, d.name));
        } catch {
          // holds an unexplained file
        }
      }
    } else {
      rmSync(dir, { recursive: true, force: true });
      report.dirs++;
    }
  }
  const spool = `${id}.spool`;
  const file = join(paths.spool, spool);
  const settled = settledSpool(paths, spool); // its first file, once its command settled (src/ingest/ingest.ts)
  const live = lstatSync(file, { throwIfNoEntry: false });
  // no spool (a shell command's records come from its journal), or one with records not yet read
  if ((live || existsSync(settled)) && !(live && live.size > spools.offsetOf(ix, spool))) {
    rmSync(file, { force: true });
    rmSync(settled, { force: true });
    ix.tx(() => spools.forget(ix, spool));
    report.spools++;
  }
  for (const f of [`${id}.plan`, `${id}.journal`]) {
    if (!existsSync(join(paths.run, f))) continue;
    rmSync(join(paths.run, f), { force: true });
    report.journals++;
  }
}
