// The spools table: how far each spool or journal file has been ingested (always the end of a
// whole record). Moves in the same transaction as the rows read from it.
import type { Index } from "./db.js";

export function offsetOf(ix: Index, name: string): number {
  return (ix.q("SELECT offset FROM spools WHERE name = ?").get(name) as { offset: number } | undefined)?.offset ?? 0;
}

export function setOffset(ix: Index, name: string, offset: number): void {
  ix.q("INSERT INTO spools(name, offset) VALUES(?, ?) ON CONFLICT(name) DO UPDATE SET offset = excluded.offset").run(name, offset);
}

export function forget(ix: Index, name: string): void {
  ix.q("DELETE FROM spools WHERE name = ?").run(name);
}
