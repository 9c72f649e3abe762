// The keeps table: one row per kept pre-image (its staging name, hash, identity, state). Written
// at ingest (first sight), by the store (a re-hash), after an apply (moved back), by gc (freed).
import type { Index } from "./db.js";
import { checkedKeep, type KeepRow } from "./rows.js";
import { bump } from "./stamp.js";

export function byName(ix: Index, name: string): KeepRow | undefined {
  const r = ix.q("SELECT * FROM keeps WHERE name = ?").get(name) as KeepRow | undefined;
  return r && checkedKeep(r);
}

/** Every pre-image one command kept (names <cmd>/...). */
export function ofCommand(ix: Index, cmd: string): KeepRow[] {
  return ix
    .arrays("SELECT name, hash, size, ino, ctime, state FROM keeps WHERE name > ? AND name < ?", cmd + "/", cmd + "0")
    .map((r) => checkedKeep({ name: r[0], hash: r[1], size: r[2], ino: r[3], ctime: r[4], state: r[5] } as KeepRow));
}

/** The rows of these pre-images (names of any command), those in the index, in one query: a
 *  plan's keeps a window at a time, never a whole command's (1M rows of an rm -rf were ~300 MB). */
export function byNames(ix: Index, names: readonly string[]): KeepRow[] {
  if (!names.length) return [];
  return ix
    .arrays("SELECT name, hash, size, ino, ctime, state FROM keeps WHERE name IN (SELECT value FROM json_each(?))", JSON.stringify(names))
    .map((r) => checkedKeep({ name: r[0], hash: r[1], size: r[2], ino: r[3], ctime: r[4], state: r[5] } as KeepRow));
}

export function exists(ix: Index, name: string): boolean {
  return !!ix.q("SELECT 1 FROM keeps WHERE name = ?").get(name);
}

export function insert(ix: Index, k: KeepRow): void {
  ix.q("INSERT INTO keeps(name, hash, size, ino, ctime, state) VALUES(?, ?, ?, ?, ?, ?)").run(k.name, k.hash, k.size, k.ino, k.ctime, k.state);
}

/** Inserts k unless a row of that name is there; whether it did. */
export function insertNew(ix: Index, k: KeepRow): boolean {
  const r = ix
    .q("INSERT OR IGNORE INTO keeps(name, hash, size, ino, ctime, state) VALUES(?, ?, ?, ?, ?, ?)")
    .run(k.name, k.hash, k.size, k.ino, k.ctime, k.state);
  return Number(r.changes) > 0;
}

/** The staged file was hashed again and matched: its inode and ctime now. */
export function setIdentity(ix: Index, name: string, ino: number, ctime: string): void {
  ix.q("UPDATE keeps SET ino = ?, ctime = ? WHERE name = ?").run(ino, ctime, name);
}

// Rows are changed one statement each, never one statement over thousands: inside a transaction
// SQLite keeps the pages a statement changes in a statement journal, which past 64 KiB is a file
// in its temporary directory; with that full (a tmpfs /tmp filled by something else) the one
// UPDATE over an undo's 3000 names failed "database or disk is full", and every later ingest,
// which marks them, failed with it. One row a statement journals a few pages, in memory; it costs
// what the one statement did (~4 µs a row).

/** An apply moved these back out of staging. */
export function markGone(ix: Index, names: Iterable<string>): void {
  // its trigger leaves out the rows this makes gone (src/index/db.ts): the stamp moves once here
  const q = ix.q("UPDATE keeps SET state = 'gone' WHERE name = ? AND state != 'gone'");
  let changed = 0;
  for (const n of names) changed += Number(q.run(n).changes);
  if (changed) bump(ix);
}

/** The names of a command's keep rows (those `where` allows), a page at a time in name order:
 *  for changing them one by one (above) without holding a million. */
const namesOf = (ix: Index, cmd: string, where = "") =>
  ix.keysAfter(`SELECT name FROM keeps WHERE name > ?1 AND name < ?2 ${where} ORDER BY name`, cmd + "/", cmd + "0") as Generator<string>;

/** gc freed a command's staging: its pre-images that were still there are expired. */
export function expireOf(ix: Index, cmd: string): void {
  const q = ix.q("UPDATE keeps SET state = 'expired' WHERE name = ?");
  for (const name of namesOf(ix, cmd, "AND state != 'gone'")) q.run(name);
}

/** Hashed copies still in staging, not yet moved into the store. */
export function staged(ix: Index): KeepRow[] {
  return (ix.q("SELECT * FROM keeps WHERE state = 'staged' AND hash IS NOT NULL").all() as unknown as KeepRow[]).map(checkedKeep);
}

/** A staged copy's bytes are now the blob of its hash. */
export function setStored(ix: Index, name: string): void {
  ix.q("UPDATE keeps SET state = 'stored' WHERE name = ? AND state = 'staged'").run(name);
}

/** The hashes of the blobs a command's keeps hold. */
export function storedHashes(ix: Index, cmd: string): string[] {
  return (ix.q("SELECT DISTINCT hash FROM keeps WHERE name > ? AND name < ? AND state = 'stored'").all(cmd + "/", cmd + "0") as { hash: string }[]).map(
    (r) => r.hash,
  );
}

/** shit forget: every keep row of a command. */
export function removeOf(ix: Index, cmd: string): number {
  const q = ix.q("DELETE FROM keeps WHERE name = ?");
  let n = 0;
  for (const name of namesOf(ix, cmd)) n += Number(q.run(name).changes);
  return n;
}

/** The stored keeps that hold blob hash. */
export function holdersOf(ix: Index, hash: string): string[] {
  return (ix.q("SELECT name FROM keeps WHERE hash = ? AND state = 'stored' ORDER BY name").all(hash) as { name: string }[]).map((r) => r.name);
}
