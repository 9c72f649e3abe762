// The index's stamp: a number that moves with every write an undo plan may depend on (triggers
// on every table but spools, src/index/db.ts), so a plan made ahead of time (src/undo/prepared.ts)
// is used only while the stamp it was made at still holds. Inserts into events, keeps and posts move it
// through bump(), once per ingest transaction.
import type { Index } from "./db.js";

export function stampOf(ix: Index): number {
  return Number((ix.q("SELECT n FROM stamp").get() as { n: number | bigint }).n);
}

/** For the ingest, the one writer of events, keeps and posts rows: inside its transaction. */
export function bump(ix: Index): void {
  ix.q("UPDATE stamp SET n = n + 1").run();
}

/** The tables whose writes move the stamp, and on which operations (for the test that keeps the
 *  triggers complete as tables are added). */
export function triggers(ix: Index): Array<{ table: string; op: string }> {
  return (
    ix.q("SELECT tbl_name AS t, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'stamp\\_%' ESCAPE '\\'").all() as Array<{ t: string; sql: string }>
  ).map((r) => ({ table: r.t, op: /AFTER (\w+)/.exec(r.sql)![1] }));
}

/** Every table of the index but these (spools: ingest positions; stamp itself; command_text and
 *  its own tables: the lines of commands, written only beside a commands row, whose triggers move it). */
export function tables(ix: Index): string[] {
  return (ix.q("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'").all() as Array<{ name: string }>)
    .map((r) => r.name)
    .filter((n) => n !== "spools" && n !== "stamp" && n !== "command_text" && !n.startsWith("command_text_"));
}
