// The sessions table: one row per hooked shell, with the state its journal left it in (the base
// against which its next record's state change is computed). Written by the journal ingest.
import type { Index } from "./db.js";

export function stateOf(ix: Index, id: string): { state: string | null; seen: number | null } | undefined {
  return ix.q("SELECT state, seen FROM sessions WHERE id = ?").get(id) as { state: string | null; seen: number | null } | undefined;
}

export function shellOf(ix: Index, id: string): string | undefined {
  return (ix.q("SELECT shell FROM sessions WHERE id = ?").get(id) as { shell: string } | undefined)?.shell;
}

/** A journal record seen: the session exists, was seen at `seen`, and is now in `state`. */
export function seen(ix: Index, s: { id: string; shell: string | null; pid: number | null; tty: string | null; seen: number; state: string }): void {
  ix.q(
    `INSERT INTO sessions(id, shell, pid, tty, started, seen, state) VALUES(?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT(id) DO UPDATE SET pid = excluded.pid, seen = max(coalesce(seen, 0), excluded.seen), state = excluded.state`,
  ).run(s.id, s.shell, s.pid, s.tty, s.seen, s.seen, s.state);
}
