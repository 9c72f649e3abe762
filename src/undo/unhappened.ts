// Records of calls that never happened. Capture writes the record of an unlink into staging, a
// rename that replaced a file and an rmdir *before* the call (docs/SPOOL.md), so a process killed
// at any point leaves no staged file without its record. A process killed between such a record
// and its call leaves a record of something that did not happen: those are dropped here, from
// what the present tree shows, before planning.
import { type Dir, lstatSync, opendirSync } from "node:fs";
import { join } from "node:path";
import type { EventRow } from "../index/rows.js";
import { Op, decodeStat } from "../spool/records.js";
import { ByHash, NameSet, bytesHash } from "../paths/names.js";
import { looksLikeKeepName } from "../store/store.js";

const S_IFMT = 0o170000,
  S_IFDIR = 0o040000;

// no exception for a path that is not there (most are not, after an rm -rf): throwing costs more than the call
const lstatB = (p: string | Buffer) => lstatSync(p, { bigint: true, throwIfNoEntry: false }) ?? null;

/** Whether a keep name (<cmd>/<file>, <cmd>/d<dir>/<file>) is in staging now: one listing per
 *  dir instead of an lstat per kept file (an rm -rf of 10k files keeps 10k); an lstat where a dir
 *  cannot be listed. */
export function inStaging(staging: string): (name: string) => boolean {
  const listed = new Map<string, NameSet | null>();
  return (name) => {
    const slash = name.lastIndexOf("/");
    const dir = name.slice(0, slash);
    if (!listed.has(dir)) {
      // an entry at a time into a packed set: an rm -rf of 1M files stages 1M names in one
      // directory, which as readdir's array and a Set were ~100 MB at the undo's peak
      let names: NameSet | null = new NameSet();
      let d: Dir | null = null;
      try {
        d = opendirSync(join(staging, dir), { encoding: "latin1", bufferSize: 1024 });
        for (let e; (e = d.readSync());) names.add(e.name);
      } catch {
        names = null;
      } finally {
        d?.closeSync();
      }
      listed.set(dir, names);
    }
    const names = listed.get(dir);
    return names ? names.has(name.slice(slash + 1)) : !!lstatB(join(staging, name));
  };
}

/**
 * The events minus those whose call never happened:
 *  - an UNLINK whose path still holds PRE's inode with PRE's ctime (for one kept whole, R, whose
 *    staged file is absent: a rename into staging changes the ctime), an RMDIR whose directory is
 *    still there, the same inode with the same ctime, or a RENAME whose source path still holds
 *    PRE's inode with PRE's ctime (a rename changes the ctime of what it moves);
 *  - of several UNLINK (or RMDIR) records of one path with the same PRE (inode and ctime) and keep (shit-apply
 *    resumed after a kill between the record and the call, then made the call; a directory taken
 *    into staging whole has its files' and its own records written before its one move), all but
 *    the last.
 */
export function happened(events: EventRow[], staging: string | undefined): EventRow[] {
  const bySeq = new Map<number, EventRow>();
  for (const e of events) bySeq.set(e.seq, e);
  const dropped = unhappened(events, staging, (seq) => bySeq.get(seq)!);
  return dropped.size ? events.filter((e) => !dropped.has(e.seq)) : events;
}

/** The columns happened's rules read of a record. */
type Rule = Pick<EventRow, "seq" | "op" | "err" | "path" | "pre" | "keep" | "keep_how">;

/** The seqs of happened's dropped records, from one pass over the events in seq order (a row at
 *  a time: nothing of an event is held but its path and seq, and only for UNLINK and RMDIR).
 *  `events` may carry only the columns the rules read (a pass over the index reads a third of the
 *  bytes); `whole`: the event of a seq as planned, asked only of a record about to be dropped and
 *  of those it is compared with (one whose other columns are damaged is planned as a NOTCAPTURED,
 *  which is never dropped). */
export function unhappened(events: Iterable<Rule>, staging: string | undefined, whole: (seq: number) => EventRow): Set<number> {
  // by path first: a path unlinked once (nearly all of them) has no earlier record to compare
  // (its seq, an array only from a path's second)
  // the seqs of the UNLINK and RMDIR records by a hash of their path (an rm -rf of 1M files has
  // 1M: as a Map of path strings ~90 MB at the undo's peak); those of a hash that are of another
  // path are told apart by their rows' paths, read only then
  const byPath = new ByHash();
  const dropped = new Set<number>();
  const did = didHappen(staging);
  for (const e of events) {
    if (!did(e) && !did(whole(e.seq))) dropped.add(e.seq);
    if (!((e.op === Op.UNLINK || e.op === Op.RMDIR) && e.err === 0 && e.path && e.pre)) continue;
    const h = bytesHash(e.path);
    const before = byPath.get(h);
    byPath.add(h, e.seq);
    if (!before.length) continue;
    const w = whole(e.seq);
    for (const seq of before) {
      const x = whole(seq);
      if (!x.path || Buffer.compare(x.path, e.path) !== 0) continue; // another path of the same hash
      if (x.op === w.op && w.op === e.op && x.keep === w.keep && x.pre && w.pre && sameObject(x.pre, w.pre)) dropped.add(seq);
    }
  }
  return dropped;
}

/** The same object as it was: inode and ctime (its atime may differ: a re-run read the directory). */
function sameObject(a: Uint8Array, b: Uint8Array): boolean {
  if (Buffer.compare(a, b) === 0) return true;
  const x = decodeStat(a),
    y = decodeStat(b);
  return !!x && !!y && x.dev === y.dev && x.ino === y.ino && x.ctimeNs === y.ctimeNs;
}

/**
 * The test of one event, by what the present tree shows (the first rule of happened), for a
 * pass over a command's events one at a time. Without happened's second rule: a repeated UNLINK
 * record (a resumed shit-apply) changes no path's net effect, so `shit show`'s net changes need
 * no look-ahead.
 */
export function didHappen(staging: string | undefined): (e: Pick<EventRow, "op" | "err" | "path" | "pre" | "keep" | "keep_how">) => boolean {
  const staged = staging ? inStaging(staging) : () => false;
  return (e) => {
    if (e.err !== 0 || !e.path || !e.pre) return true;
    if (e.op === Op.UNLINK) {
      // a keep that is no keep name (a damaged record) was never in staging: the tree decides
      if (e.keep_how === "R" && (!staging || !e.keep || (looksLikeKeepName(e.keep) && staged(e.keep)))) return true;
    } else if (e.op !== Op.RMDIR && e.op !== Op.RENAME) return true;
    const now = lstatB(Buffer.from(e.path)); // most often gone (the call happened): nothing to decode
    const pre = now && decodeStat(e.pre);
    if (!pre || !now) return true;
    if (e.op === Op.RMDIR && (Number(now.mode) & S_IFMT) !== S_IFDIR) return true;
    return !(now.dev === pre.dev && now.ino === pre.ino && now.ctimeNs === pre.ctimeNs);
  };
}
