// The keeps table: one row per kept pre-image (its staging name, hash, identity, state). Written
// at ingest (first sight), by the store (a re-hash), after an apply (moved back), by gc (freed).
import type { Index } from "./db.js";
import { checkedKeep, type KeepRow } from "./rows.js";

export function byName(ix: Index, name: string): KeepRow | undefined {
  const r = ix.q("SELECT * FROM keeps WHERE name = ?").get(name) as KeepRow | undefined;
  return r && checkedKeep(r);
}

/** Every pre-image one command kept (names <cmd>/...). */
export function ofCommand(ix: Index, cmd: string): KeepRow[] {
  return (ix.q("SELECT * FROM keeps WHERE name > ? AND name < ?").all(cmd + "/", cmd + "0") as unknown as KeepRow[]).map(checkedKeep);
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

/** An apply moved these back out of staging. */
export function markGone(ix: Index, names: Iterable<string>): void {
  // one statement for all of them (an undo of an rm -rf moves 10k back), not one each
  const list = [...names];
  if (list.length) ix.q("UPDATE keeps SET state = 'gone' WHERE name IN (SELECT value FROM json_each(?))").run(JSON.stringify(list));
}

/** gc freed a command's staging: its pre-images that were still there are expired. */
export function expireOf(ix: Index, cmd: string): void {
  ix.q("UPDATE keeps SET state = 'expired' WHERE name > ? AND name < ? AND state != 'gone'").run(cmd + "/", cmd + "0");
}
