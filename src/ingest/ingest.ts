// Spool → index. Reads every spool from where the last ingest stopped, turns records into rows
// and hashes the pre-images they kept. Idempotent: the offset moves in the same transaction as
// the rows, and a record cut off mid-write is left for the next run.
import { existsSync, mkdirSync, readdirSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import { settledSpool, type StatePaths } from "../paths/state.js";
import { hasRoom } from "../paths/room.js";
import { INGEST_CACHE, type Index } from "../index/db.js";
import { checkedEvent, type EventRow } from "../index/rows.js";
import * as commands from "../index/commands.js";
import * as events from "../index/events.js";
import * as keeps from "../index/keeps.js";
import * as stamp from "../index/stamp.js";
import { settleMoved } from "./moved.js";
import * as procs from "../index/procs.js";
import * as kills from "../index/kills.js";
import * as spools from "../index/spools.js";
import { MAGIC, Op, Tag, parseKeep, readRecords, type Rec } from "../spool/records.js";
import { hashKept, isKeepName, type Hashed } from "../store/store.js";
import { absorb } from "../store/blobs.js";
import { recount } from "./effects.js";
import { ingestJournals } from "./shell.js";
import { readFrom } from "./read.js";
import { noteStoppedUnits } from "./units.js";
import * as hand from "./hand.js";

export interface IngestResult {
  spools: number;
  records: number;
  corrupt: string[]; // spools that hold bytes which are not records (read up to there)
  more: boolean; // stopped at the record budget: records on disk are still waiting
}

export interface IngestOpts {
  /** Records per transaction; the ingest returns (more: true) after the first spool that hit it. */
  budget?: number;
  /** Only these spool names (<cmd>.spool); all of them when absent. */
  only?: Iterable<string>;
  /** At most this many bytes of a spool are read per transaction (CHUNK; tests make it small).
   *  Without a budget the ingest goes on to the next chunk until the spool is read. */
  chunk?: number;
}

/** One Buffer per chunk, not per spool: a spool of 2 GiB or more cannot be read in one. And a
 *  chunk's records are parsed whole: at 64 MiB the ingest of a sed -i over 100k files peaked at
 *  1 GB resident, at 8 MiB 226 MB (with effect counting reading rows one at a time). At 256 KiB
 *  (~1300 records of an rm -rf) a chunk's parsed records die young: at 8 MiB the 20k records of
 *  an rm -rf of 10k files lived through the whole transaction, and copying them from scavenge to
 *  scavenge was ~40% of the ingest's CPU (--trace-gc: 176 ms of GC, 71 ms at 256 KiB). */
export const CHUNK = 256 << 10;

const ms = (ns: bigint) => Number(ns / 1000000n);
const text = (b: Buffer | undefined) => (b ? b.toString("utf8") : null);

export function ingest(paths: StatePaths, index: Index, opts: IngestOpts = {}): IngestResult {
  index.pageCache(INGEST_CACHE); // (a plan made before may have set a smaller one)
  try {
    return ingestAll(paths, index, opts);
  } catch (e) {
    hand.drop(index); // what a failed ingest wrote is unsure: the index alone answers
    // the state dir's disk full: said as before (the reserve, then the CLI's one line)
    if (!events.tempFault(e) || !hasRoom(paths.root)) throw e;
  }
  // SQLite could not write a temporary file (a full /tmp: the sort of a large command's view,
  // src/ingest/view.ts) and rolled the transaction back: it is made again with sorts that fit in
  // memory (slower), not left until there is room
  tellRanges();
  try {
    return events.sortInRanges(() => ingestAll(paths, index, opts));
  } catch (e) {
    hand.drop(index);
    throw e;
  }
}

/** Said once a process, where whoever runs the ingest sees it (the CLI's stderr, shitd's log). */
let toldRanges = false;
function tellRanges(): void {
  if (toldRanges) return;
  toldRanges = true;
  process.stderr.write(
    "shit: SQLite's temporary directory is full or unusable (SQLITE_TMPDIR, TMPDIR, /var/tmp, /tmp): a large command's view is sorted in smaller ranges (slower)\n",
  );
}

function ingestAll(paths: StatePaths, index: Index, opts: IngestOpts): IngestResult {
  const result: IngestResult = { spools: 0, records: 0, corrupt: [], more: false };
  let names: string[];
  let listed: string[] | undefined;
  const still: string[] = []; // read to their end: settled when their command is
  if (opts.only) names = [...opts.only].filter((n) => n.endsWith(".spool"));
  else {
    try {
      listed = readdirSync(paths.spool);
    } catch {
      return result;
    }
    names = [];
    const live = listed.filter((n) => n.endsWith(".spool"));
    const known = live.length > 32 ? spools.positions(index) : null; // one read, not a query a spool
    for (const n of live) {
      const size = statSync(join(paths.spool, n), { throwIfNoEntry: false })?.size;
      const at = known ? (known.get(n) ?? { offset: 0, base: 0 }) : spools.positionOf(index, n);
      if (size === undefined) continue;
      if (size === at.offset) {
        if (at.base === 0 && at.offset > 0) still.push(n);
        continue;
      }
      names.push(n);
    }
  }
  const budget = opts.budget ?? Infinity;
  const chunk = opts.chunk ?? CHUNK;
  for (const name of names) {
    readWhole(paths, index, name, budget, chunk, result);
    if (result.more) break;
  }
  if (!result.more) settle(paths, index, still, result);
  // the shells' journals after the spools: a journal record completes a command row
  if (listed) result.records += ingestJournals(paths, index, listed);
  absorb(paths, index); // the copies hashed just now move into the store (src/store/blobs.ts)
  settleMoved(paths, index); // what undos moved back out of staging (moved.ts)
  return result;
}

/** A spool from its offset to its end (or the budget: result.more). */
function readWhole(paths: StatePaths, index: Index, name: string, budget: number, chunk: number, result: IngestResult, file?: string): void {
  if (!file) {
    // a settle that moved the file but was killed before it recorded that: finished first, so
    // the new file's records go after the moved one's
    const at = spools.positionOf(index, name);
    if (at.base === 0 && at.offset > 0 && existsSync(settledSpool(paths, name))) finishSettle(paths, index, name, result);
  }
  // Another ingest (the daemon, another CLI) may take part of this spool meanwhile: the offset
  // is re-checked inside the transaction, and on a change this spool is read again from there.
  for (let tries = 0; tries < 100;) {
    const r =
      budget === Infinity ? index.tx(() => chunks(paths, index, name, chunk, result, file)) : ingestSpool(paths, index, name, budget, chunk, result, file);
    if (r === "raced") tries++;
    else if (r === "more" && budget === Infinity)
      continue; // the next chunks (the offset moved)
    else {
      if (r === "more") result.more = true;
      break;
    }
  }
}

/** Spool bytes per transaction when there is no budget: several chunks, each parsed and inserted
 *  on its own (their records die young), committed together. Each commit writes every page its
 *  transaction touched to the write-ahead log, and past 1 MiB of log checkpoints it (an fsync of
 *  the log and of the index): one commit per 256 KiB chunk made 49 commits, 47 fsyncs and 18 MB
 *  of log writes in the undo of an rm -rf of 10k files (two spools, 8 MiB); one per 2 MiB, 17
 *  fsyncs and 12 MB. Not more: the log holds a transaction's pages until it commits (~3 MB at
 *  2 MiB of an rm -rf's spool), and a disk with little room must still take it. */
export const TX_BYTES = 2 << 20;

/** Chunks of one spool, in the caller's transaction, up to TX_BYTES. */
function chunks(paths: StatePaths, index: Index, name: string, chunk: number, result: IngestResult, file?: string): "done" | "more" | "raced" {
  for (let read = 0; ; read += chunk) {
    const r = ingestSpool(paths, index, name, Infinity, chunk, result, file, true);
    if (r !== "more" || read + chunk >= TX_BYTES) return r;
  }
}

/** How long after its END, with no process of it left, a command's spool is settled. */
const SETTLE_MS = 10 * 60 * 1000;

/**
 * Spools read to their end whose command has settled move to spool/done/, out of the directory
 * every ingest lists and stats (a state dir of 100k commands kept 100k files there: seconds per
 * `shit list`). A record written later (a background process of the command) makes a new file at
 * the name, read from 0 with its seqs after the moved file's (spools.base). Only a command's
 * first file moves. The file is moved first and read again from the offset after the move (a
 * record that landed meanwhile is taken), then the position is recorded; a kill in between is
 * finished by the next ingest that sees a new file at the name (finishSettle).
 */
function settle(paths: StatePaths, index: Index, names: string[], result: IngestResult): void {
  const before = Date.now() - SETTLE_MS;
  const moved: string[] = [];
  let made = false;
  for (const n of names) {
    if (!commands.settled(index, n.slice(0, -".spool".length), before)) continue;
    try {
      if (!made) mkdirSync(join(paths.spool, "done"), { recursive: true, mode: 0o700 });
      made = true;
      renameSync(join(paths.spool, n), settledSpool(paths, n));
    } catch {
      continue; // gone meanwhile (gc, another ingest settled it): nothing to move
    }
    readWhole(paths, index, n, Infinity, CHUNK, result, settledSpool(paths, n));
    moved.push(n);
  }
  // recorded a thousand to a transaction (one each: the first ingest over 100k old spools took 29 s)
  for (let i = 0; i < moved.length; i += 1000)
    index.tx(() => {
      for (const n of moved.slice(i, i + 1000)) spools.settle(index, n, spools.positionOf(index, n).offset);
    });
}

/** The moved file read to its end, then its position recorded as settled. */
function finishSettle(paths: StatePaths, index: Index, name: string, result: IngestResult): void {
  readWhole(paths, index, name, Infinity, CHUNK, result, settledSpool(paths, name));
  index.tx(() => spools.settle(index, name, spools.positionOf(index, name).offset));
}

/** One transaction's worth of one spool (the file at its name, or `file`): done, more (stopped
 *  at the budget), or raced. */
function ingestSpool(
  paths: StatePaths,
  index: Index,
  name: string,
  budget: number,
  chunk: number,
  result: IngestResult,
  file = join(paths.spool, name),
  inTx = false, // a part of the caller's transaction (chunks): else one of its own
): "done" | "more" | "raced" {
  const cmd = name.slice(0, -".spool".length);
  const { offset, base } = spools.positionOf(index, name);
  // at most a chunk is read and parsed per transaction; with a budget, about that many records
  const corrupt = () => result.corrupt.includes(name) || result.corrupt.push(name);
  let got: ReturnType<typeof readFrom>;
  let read: ReturnType<typeof readRecords>;
  try {
    got = readFrom(file, offset, budget === Infinity ? chunk : Math.min(chunk, Math.max(budget * 512, 1 << 18)));
    if (!got) return "done";
    read = readRecords(got.buf);
    const len = got.buf.length >= 8 && got.buf.readUInt16LE(4) === MAGIC ? got.buf.readUInt32LE(0) : 0;
    if (!read.records.length && got.more && len > got.buf.length) {
      got = readFrom(file, offset, len); // one record longer than the cap: as long as its header says
      if (!got) return "done";
      read = readRecords(got.buf);
    }
  } catch (e) {
    // removed meanwhile (gc): nothing to take from it now; unreadable: said, not skipped silently
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") corrupt();
    return "done";
  }
  // each record looked at once: whether a writer could have made it
  const possible = read.records.map((r) => !impossible(r));
  if (read.corrupt || possible.includes(false)) corrupt();
  if (!read.records.length) return "done";
  const records = read.records.length > budget ? read.records.slice(0, budget) : read.records;
  const next = records === read.records ? read.next : read.records[budget].offset;
  const partial = records !== read.records || got.more;
  ensured = "";
  const took = (inTx ? (fn: () => boolean) => fn() : index.tx.bind(index))(() => {
    const now = spools.positionOf(index, name);
    if (now.offset !== offset || now.base !== base) return false;
    const staged = stagedIn(cmd, records);
    const held = hand.slice(index, cmd, base + offset, base); // the rows written kept in hand too (hand.ts)
    let counts = false;
    for (let i = 0; i < records.length; i++) {
      const r = records[i];
      if (possible[i]) applyRecord(paths, index, cmd, r, base + offset, staged, held);
      // an END with no effect before it is counted too: its class (nothing changed) is what the
      // default `shit list` leaves out
      counts ||= (r.op >= Op.UNLINK && r.op <= Op.NOTCAPTURED) || r.op === Op.END || r.op === Op.KILL;
    }
    // the rows written in hand, before anything reads them back (the count below: hand.ts)
    if (held) hand.took(index, cmd, held, base + offset + next);
    const ended = commands.times(index, cmd)?.ended != null;
    // an END read with more of the spool after it is counted at the slice that ends the read, which
    // may hold nothing that counts: shit-apply's end scan writes its 10k POSTs after its END, and
    // an undo's counts stayed NULL (no stored view for show; list counted it at every read)
    counts ||= !partial && ended && commands.effectsOf(index, cmd) === null;
    if (counts) {
      // Counting reads every event of the command: done once it has ended, not after each
      // slice of a running one (the daemon ingests while it runs); until then the counts are
      // NULL, which list counts on reading.
      if (ended) {
        const row = commands.byId(index, cmd);
        if (row && records.some((r) => r.op === Op.END)) noteStoppedUnits(index, row); // its lines are all in by its END
        // with more of its spool to read, counted once that is in: a recount per chunk would
        // read every event again (records written after the END, a background process's)
        if (partial) commands.setEffects(index, cmd, null, null);
        else recount(index, [cmd], paths.staging);
      } else commands.setEffects(index, cmd, null, null);
    }
    spools.setOffset(index, name, offset + next);
    stamp.bump(index); // events, keeps and posts rows move the stamp here, once, not by a trigger per row
    return true;
  });
  if (!took) return "raced";
  result.records += records.length;
  result.spools++;
  return partial ? "more" : "done";
}

let ensured = "";
function ensureCommand(index: Index, cmd: string, r: Rec): void {
  if (ensured === cmd) return;
  commands.ensure(index, cmd, ms(r.timeNs));
  ensured = cmd;
}

/** One record into the index. */
/** A record no writer makes: a path with a NUL byte in it (the kernel takes none), which only a
 *  damaged or forged spool holds. It is left out, and the spool reported as unreadable there. */
function impossible(r: Rec): boolean {
  const f = r.fields;
  return hasNul(f.get(Tag.PATH)) || hasNul(f.get(Tag.PATH2)) || hasNul(f.get(Tag.CWD));
}
const hasNul = (b: Buffer | undefined) => b !== undefined && b.indexOf(0) >= 0;

/** The STAGED records of one slice, by keep name: the identity each inode kept whole had right
 *  after the keep. Its keep row is then inserted with it, instead of inserted and then updated
 *  (an rm -rf of 10k files: 10k fewer statements). The names inserted so get `done`. */
interface Staged {
  kept: Map<string, Identity>;
  done: Set<string>;
}

/** What a keeps row holds of a staged inode: its inode number and ctime (ns, as text). */
interface Identity {
  ino: number;
  ctime: string;
}

/** The identity in a stat_rec (docs/SPOOL.md: ino at 8, ctime at 48), as decodeStat reads it,
 *  without decoding the other eight fields (an rm -rf of 10k files has 10k of them). */
function identityOf(b: Buffer | undefined): Identity | null {
  if (!b || b.length < 64) return null;
  return { ino: Number(b.readBigUInt64LE(8)), ctime: b.readBigInt64LE(48).toString() };
}

function stagedIn(cmd: string, records: Rec[]): Staged {
  const kept = new Map<string, Identity>();
  for (const r of records) {
    if (r.op !== Op.STAGED) continue;
    const k = parseKeep(r.fields.get(Tag.KEEP));
    const id = identityOf(r.fields.get(Tag.KEPT));
    if (k && id && isKeepName(cmd, k.name)) kept.set(k.name, id);
  }
  return { kept, done: new Set() };
}

function applyRecord(paths: StatePaths, index: Index, cmd: string, r: Rec, base: number, staged: Staged, held: hand.Slice | null): void {
  const f = r.fields;
  switch (r.op) {
    case Op.BEGIN: {
      ensureCommand(index, cmd, r);
      commands.begin(index, cmd, {
        kind: text(f.get(Tag.KIND)) ?? "run",
        of: text(f.get(Tag.OF)),
        argv: f.get(Tag.ARGV) ?? null,
        cwd: f.get(Tag.CWD) ?? null,
        started: ms(r.timeNs),
        pid: r.pid,
      });
      return;
    }
    case Op.END: {
      ensureCommand(index, cmd, r);
      commands.end(index, cmd, ms(r.timeNs), r.err, r.flags);
      return;
    }
    case Op.POST: {
      const p = f.get(Tag.PATH);
      if (p) events.insertPost(index, cmd, base + r.offset, p, f.get(Tag.POST) ?? null);
      if (p) held?.posts.push({ path: p, post: f.get(Tag.POST) ?? null, seq: base + r.offset });
      return;
    }
    case Op.STAGED: {
      // the stat of an inode kept whole, taken right after the keep (its record came first)
      const k = parseKeep(f.get(Tag.KEEP));
      if (!k || staged.done.has(k.name)) return; // inserted with it
      const id = identityOf(f.get(Tag.KEPT));
      if (id && isKeepName(cmd, k.name)) keeps.setIdentity(index, k.name, id.ino, id.ctime);
      return;
    }
    case Op.VOID: {
      const p = f.get(Tag.PATH);
      if (p) events.voidLatest(index, cmd, { op: r.flags, pid: r.pid, path: p, err: r.err });
      if (p && held) hand.voided(held, { op: r.flags, pid: r.pid, path: p, err: r.err });
      return;
    }
    case Op.KILL: {
      // a process a signal of the command ended (one that failed, ESRCH or EPERM, ended nothing)
      ensureCommand(index, cmd, r);
      if (r.err === 0) kills.insert(index, killRow(cmd, base + r.offset, r));
      return;
    }
    case Op.EXEC: {
      ensureCommand(index, cmd, r);
      procs.insert(index, { cmd, seq: base + r.offset, pid: r.pid, time: ms(r.timeNs), argv: f.get(Tag.ARGV) ?? null, cwd: f.get(Tag.CWD) ?? null });
      const shell = f.get(Tag.SHELL);
      if (shell?.length === 8 && shell.readBigInt64LE(0) > 0n) commands.typedIn(index, cmd, Number(shell.readBigInt64LE(0)));
      return;
    }
  }
  ensureCommand(index, cmd, r);
  const keep = parseKeep(f.get(Tag.KEEP));
  const keep2 = parseKeep(f.get(Tag.KEEP2));
  const kept = f.get(Tag.KEPT);
  // a name outside this command's staging dir (a forged record) is never read: the undo refuses it
  if (keep && keep.how !== "E" && isKeepName(cmd, keep.name)) noteKeep(paths, index, keep.name, keep.how, kept, staged);
  if (keep2 && keep2.how !== "E" && isKeepName(cmd, keep2.name)) noteKeep(paths, index, keep2.name, keep2.how, kept, staged);
  const arg = f.get(Tag.ARG);
  const step = f.get(Tag.STEP);
  const row: EventRow = {
    cmd,
    seq: base + r.offset,
    op: r.op,
    pid: r.pid,
    err: r.err,
    time: ms(r.timeNs),
    flags: r.flags,
    path: f.get(Tag.PATH) ?? null,
    path2: f.get(Tag.PATH2) ?? null,
    pre: f.get(Tag.PRE) ?? null,
    pre2: f.get(Tag.PRE2) ?? null,
    parent: f.get(Tag.PARENT) ?? null,
    parent2: f.get(Tag.PARENT2) ?? null,
    keep: keep?.name ?? null,
    keep_how: keep?.how ?? null,
    keep2: keep2?.name ?? null,
    keep2_how: keep2?.how ?? null,
    target: f.get(Tag.TARGET) ?? null,
    target2: f.get(Tag.TARGET2) ?? null,
    xname: text(f.get(Tag.XNAME)),
    xvalue: f.get(Tag.XVALUE) ?? null,
    arg: arg && arg.length >= 8 ? Number(arg.readBigInt64LE(0)) : null,
    step: step && step.length >= 4 ? step.readUInt32LE(0) : null,
    note: text(f.get(Tag.NOTE)),
  };
  events.insert(index, row);
  held?.fresh.push(checkedEvent(row)); // as the index gives it back
}

/** A KILL record as a kills row; who started the process is its environment's SHIT_CMD. */
function killRow(cmd: string, seq: number, r: Rec): kills.KillRow {
  const f = r.fields;
  const i64 = (b: Buffer | undefined) => (b && b.length >= 8 ? Number(b.readBigInt64LE(0)) : null);
  const env = f.get(Tag.ENV) ?? null;
  const by = env ? /(?:^|\0)SHIT_CMD=([0-9a-zA-Z_-]+)\0/.exec(env.toString("latin1"))?.[1] : undefined;
  return {
    cmd,
    seq,
    kind: "process",
    pid: i64(f.get(Tag.ARG)),
    signal: r.flags,
    argv: f.get(Tag.ARGV) ?? null,
    cwd: f.get(Tag.CWD) ?? null,
    env,
    exe: f.get(Tag.PATH) ?? null,
    start: i64(f.get(Tag.START)),
    started_by: by && by !== cmd ? by : null,
    unit: null,
    scope: null,
    note: text(f.get(Tag.NOTE)),
    time: ms(r.timeNs),
  };
}

/**
 * First sight of a kept pre-image. A copy (C, T) is hashed now, and its inode and ctime noted.
 * An inode kept whole (R, L: the file itself, renamed or linked into staging) is not read: its
 * record's PRE already names it (inode, size, mtime), and an undo checks the staged file
 * against that before it moves it back — an rm -rf of 10k files is not read back at ingest. Its
 * inode and ctime right after it was kept (the record's KEPT) are noted: any change since sets a
 * new ctime, which the undo sees.
 */
function noteKeep(paths: StatePaths, index: Index, name: string, how: string, kept: Buffer | undefined, staged: Staged): void {
  const whole = how === "R" || how === "L";
  if (whole) {
    // nothing to read. Known by its ctime once kept: the STAGED record capture writes right after
    // the keep (in this slice: inserted with it; in a later one: it sets the identity then), else
    // the record's own KEPT (a path past PATH_MAX, recorded after the keep). A kill between the
    // two leaves size and mtime only. Inserted unless there, without a lookup first.
    const id = staged.kept.get(name) ?? identityOf(kept);
    const fresh = keeps.insertNew(index, {
      name,
      hash: null,
      size: null,
      ino: id ? id.ino : null,
      ctime: id ? id.ctime : null,
      state: "inode",
    });
    if (fresh && staged.kept.has(name)) staged.done.add(name);
    return;
  }
  // a copy: hashed once, at first sight
  if (keeps.exists(index, name)) return;
  let h: Hashed | null = null;
  try {
    h = hashKept(join(paths.staging, name));
  } catch {
    // missing or unreadable: recorded with no identity, so an undo says it cannot restore it
  }
  keeps.insert(index, { name, hash: h?.hash ?? null, size: h?.size ?? null, ino: h?.ino ?? null, ctime: h?.ctime ?? null, state: h ? "staged" : "missing" });
}
