// The spools table: how far each spool or journal file has been ingested (always the end of a
// whole record). Moves in the same transaction as the rows read from it.
import type { Index } from "./db.js";

export function offsetOf(ix: Index, name: string): number {
  return positionOf(ix, name).offset;
}

/** Where reading a spool goes on: `offset` in the file at its name; `base`: the bytes of the
 *  command's records before that file (a first file settled into spool/done/, src/ingest/ingest.ts),
 *  so a record's seq is base + its offset in the file. */
export interface Position {
  offset: number;
  base: number;
}

export function positionOf(ix: Index, name: string): Position {
  return (ix.q("SELECT offset, base FROM spools WHERE name = ?").get(name) as Position | undefined) ?? { offset: 0, base: 0 };
}

/** Every file's position, in one read: a scan of many spools would ask for each. */
export function positions(ix: Index): Map<string, Position> {
  const m = new Map<string, Position>();
  for (const r of ix.q("SELECT name, offset, base FROM spools").iterate() as Iterable<Position & { name: string }>) m.set(r.name, r);
  return m;
}

/** The spool read to `offset` has moved to spool/done/: a later record of its command starts a
 *  new file at its name, read from 0, its seqs after the moved file's. False when the position
 *  is not that (another ingest moved it first). */
export function settle(ix: Index, name: string, offset: number): boolean {
  return Number(ix.q("UPDATE spools SET base = base + offset, offset = 0 WHERE name = ? AND offset = ? AND base = 0").run(name, offset).changes) === 1;
}

export function setOffset(ix: Index, name: string, offset: number): void {
  ix.q("INSERT INTO spools(name, offset) VALUES(?, ?) ON CONFLICT(name) DO UPDATE SET offset = excluded.offset").run(name, offset);
}

export function forget(ix: Index, name: string): void {
  ix.q("DELETE FROM spools WHERE name = ?").run(name);
}
