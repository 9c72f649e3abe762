// Spool → index. Reads every spool from where the last ingest stopped, turns records into rows
// and hashes the pre-images they kept. Idempotent: the offset moves in the same transaction as
// the rows, and a record cut off mid-write is left for the next run.
import { closeSync, fstatSync, openSync, readdirSync, readSync } from "node:fs";
import { join } from "node:path";
import type { StatePaths } from "../state.js";
import type { Index } from "../index/db.js";
import { Op, Tag, parseKeep, readRecords, type Rec } from "../spool/records.js";
import { hashKept, type Hashed } from "../store/store.js";
import { recount } from "../index/effects.js";
import { ingestJournals } from "./shell.js";

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
}

/** The bytes from offset on (at most max of them), and whether the file holds more past them. */
function readFrom(path: string, offset: number, max = Infinity): { buf: Buffer; more: boolean } | null {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    if (size <= offset) return null;
    const buf = Buffer.allocUnsafe(Math.min(size - offset, max));
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, offset + got);
      if (n <= 0) break;
      got += n;
    }
    return { buf: buf.subarray(0, got), more: offset + got < size };
  } finally {
    closeSync(fd);
  }
}

const ms = (ns: bigint) => Number(ns / 1000000n);
const text = (b: Buffer | undefined) => (b ? b.toString("utf8") : null);

export function ingest(paths: StatePaths, index: Index, opts: IngestOpts = {}): IngestResult {
  const result: IngestResult = { spools: 0, records: 0, corrupt: [], more: false };
  let names: string[];
  if (opts.only) names = [...opts.only].filter((n) => n.endsWith(".spool"));
  else {
    try {
      names = readdirSync(paths.spool).filter((n) => n.endsWith(".spool"));
    } catch {
      return result;
    }
  }
  const budget = opts.budget ?? Infinity;
  for (const name of names) {
    // Another ingest (the daemon, another CLI) may take part of this spool meanwhile: the offset
    // is re-checked inside the transaction, and on a change this spool is read again from there.
    for (let tries = 0; tries < 100; tries++) {
      const r = ingestSpool(paths, index, name, budget, result);
      if (r === "raced") continue;
      if (r === "more") result.more = true;
      break;
    }
    if (result.more) break;
  }
  // the shells' journals after the spools: a journal record completes a command row
  if (!opts.only) result.records += ingestJournals(paths, index);
  return result;
}

const offsetOf = (index: Index, name: string) => (index.q("SELECT offset FROM spools WHERE name = ?").get(name) as { offset: number } | undefined)?.offset ?? 0;

/** One transaction's worth of one spool: done, more (stopped at the budget), or raced. */
function ingestSpool(paths: StatePaths, index: Index, name: string, budget: number, result: IngestResult): "done" | "more" | "raced" {
  const cmd = name.slice(0, -".spool".length);
  const offset = offsetOf(index, name);
  // with a budget, only about that many records' bytes are read and parsed per transaction
  const file = join(paths.spool, name);
  let got: ReturnType<typeof readFrom>;
  let read: ReturnType<typeof readRecords>;
  try {
    got = readFrom(file, offset, budget === Infinity ? Infinity : Math.max(budget * 512, 1 << 18));
    if (!got) return "done";
    read = readRecords(got.buf);
    if (!read.records.length && got.more) {
      got = readFrom(file, offset); // one record longer than the cap
      if (!got) return "done";
      read = readRecords(got.buf);
    }
  } catch {
    return "done"; // removed meanwhile (gc) or unreadable: nothing to take from it now
  }
  if (read.corrupt) result.corrupt.push(name);
  if (!read.records.length) return "done";
  const records = read.records.length > budget ? read.records.slice(0, budget) : read.records;
  const next = records === read.records ? read.next : read.records[budget].offset;
  const partial = records !== read.records || got.more;
  ensured = "";
  const took = index.tx(() => {
    if (offsetOf(index, name) !== offset) return false;
    for (const r of records) applyRecord(paths, index, cmd, r, offset);
    if (records.some((r) => r.op >= Op.UNLINK && r.op <= Op.NOTCAPTURED)) {
      // Counting reads every event of the command: done once it has ended, not after each
      // slice of a running one (the daemon ingests while it runs); until then the counts are
      // NULL, which list counts on reading.
      const ended = (index.q("SELECT ended FROM commands WHERE id = ?").get(cmd) as { ended: number | null } | undefined)?.ended;
      if (ended != null) recount(index, [cmd]);
      else index.q("UPDATE commands SET effects = NULL WHERE id = ?").run(cmd);
    }
    index.q("INSERT INTO spools(name, offset) VALUES(?, ?) ON CONFLICT(name) DO UPDATE SET offset = excluded.offset").run(name, offset + next);
    return true;
  });
  if (!took) return "raced";
  result.records += records.length;
  result.spools++;
  return partial ? "more" : "done";
}

let ensured = "";
function ensureCommand(index: Index, cmd: string): void {
  if (ensured === cmd) return;
  index.q("INSERT OR IGNORE INTO commands(id) VALUES(?)").run(cmd);
  ensured = cmd;
}

/** One record into the index. */
function applyRecord(paths: StatePaths, index: Index, cmd: string, r: Rec, base: number): void {
  const f = r.fields;
  switch (r.op) {
    case Op.BEGIN: {
      ensureCommand(index, cmd);
      index
        .q("UPDATE commands SET kind = ?, of = ?, argv = ?, cwd = ?, started = ?, pid = ? WHERE id = ?")
        .run(text(f.get(Tag.KIND)) ?? "run", text(f.get(Tag.OF)), f.get(Tag.ARGV) ?? null, f.get(Tag.CWD) ?? null, ms(r.timeNs), r.pid, cmd);
      return;
    }
    case Op.END: {
      ensureCommand(index, cmd);
      index.q("UPDATE commands SET ended = ?, exit = ?, signal = ? WHERE id = ?").run(ms(r.timeNs), r.err, r.flags, cmd);
      const c = index.q("SELECT kind, of FROM commands WHERE id = ?").get(cmd) as { kind: string; of: string | null };
      if (c.of && (c.kind === "undo" || c.kind === "redo") && r.err === 0) {
        index.q("UPDATE commands SET undone_by = ? WHERE id = ?").run(cmd, c.of);
      }
      return;
    }
    case Op.POST: {
      const p = f.get(Tag.PATH);
      if (p) index.q("INSERT OR REPLACE INTO posts(cmd, path, post) VALUES(?, ?, ?)").run(cmd, p, f.get(Tag.POST) ?? null);
      return;
    }
    case Op.EXEC:
      index
        .q("INSERT OR IGNORE INTO procs(cmd, seq, pid, time, argv, cwd) VALUES(?, ?, ?, ?, ?, ?)")
        .run(cmd, base + r.offset, r.pid, ms(r.timeNs), f.get(Tag.ARGV) ?? null, f.get(Tag.CWD) ?? null);
      return;
  }
  ensureCommand(index, cmd);
  const keep = parseKeep(f.get(Tag.KEEP));
  const keep2 = parseKeep(f.get(Tag.KEEP2));
  for (const k of [keep, keep2]) if (k && k.how !== "E") noteKeep(paths, index, k.name, k.how);
  const arg = f.get(Tag.ARG);
  const step = f.get(Tag.STEP);
  index
    .q(
      `INSERT OR IGNORE INTO events(cmd, seq, op, pid, err, time, flags, path, path2, pre, pre2, parent, parent2,
         keep, keep_how, keep2, keep2_how, target, target2, xname, xvalue, arg, step, note)
       VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
    )
    .run(
      cmd, base + r.offset, r.op, r.pid, r.err, ms(r.timeNs), r.flags,
      f.get(Tag.PATH) ?? null, f.get(Tag.PATH2) ?? null, f.get(Tag.PRE) ?? null, f.get(Tag.PRE2) ?? null,
      f.get(Tag.PARENT) ?? null, f.get(Tag.PARENT2) ?? null,
      keep?.name ?? null, keep?.how ?? null, keep2?.name ?? null, keep2?.how ?? null,
      f.get(Tag.TARGET) ?? null, f.get(Tag.TARGET2) ?? null, text(f.get(Tag.XNAME)), f.get(Tag.XVALUE) ?? null,
      arg && arg.length >= 8 ? Number(arg.readBigInt64LE(0)) : null,
      step && step.length >= 4 ? step.readUInt32LE(0) : null,
      text(f.get(Tag.NOTE)),
    );
}

/**
 * First sight of a kept pre-image. A copy (C, T) is hashed now, and its inode and ctime noted.
 * An inode kept whole (R, L: the file itself, renamed or linked into staging) is not read: its
 * record's PRE already names it (inode, size, mtime), and an undo checks the staged file
 * against that before it moves it back — an rm -rf of 10k files is not read back at ingest.
 */
function noteKeep(paths: StatePaths, index: Index, name: string, how: string): void {
  if (index.q("SELECT 1 FROM keeps WHERE name = ?").get(name)) return;
  let h: Hashed | null = null;
  if (how !== "R" && how !== "L") {
    try {
      h = hashKept(join(paths.staging, name));
    } catch {
      // missing or unreadable: recorded with no identity, so an undo says it cannot restore it
    }
  }
  index
    .q("INSERT INTO keeps(name, hash, size, ino, ctime, state) VALUES(?, ?, ?, ?, ?, ?)")
    .run(name, h?.hash ?? null, h?.size ?? null, h?.ino ?? null, h?.ctime ?? null, how === "R" || how === "L" ? "inode" : h ? "staged" : "missing");
}
