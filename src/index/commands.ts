// The commands table: one row per recorded command (run, undo, redo). Written by ingest (BEGIN,
// END, a shell journal record), by the undo that finishes its own row, and by effect counting.
import type { Index } from "./db.js";
import type { CommandRow } from "./rows.js";

/** A reference that names no command, or more than one: bad input. */
export class CommandRefError extends Error {}

export function byId(ix: Index, id: string): CommandRow | undefined {
  return ix.q("SELECT * FROM commands WHERE id = ?").get(id) as CommandRow | undefined;
}

/** A command by id or unique id prefix (at least 4 hex digits). Throws CommandRefError. */
export function byRef(ix: Index, ref: string): CommandRow {
  if (!/^[0-9a-f]{4,16}$/.test(ref)) throw new CommandRefError(`not a command id: ${JSON.stringify(ref)} (ids are hex, as \`shit list\` shows them)`);
  const rows = ix.q("SELECT * FROM commands WHERE id >= ? AND id < ? LIMIT 2").all(ref, ref + "g") as unknown as CommandRow[];
  if (!rows.length) throw new CommandRefError(`unknown command id: ${ref}`);
  if (rows.length > 1) throw new CommandRefError(`ambiguous command id: ${ref} (matches ${rows.map((r) => r.id.slice(0, 12)).join(", ")})`);
  return rows[0];
}

/** Started commands, newest first (of one shell session when given); limit -1: all. */
export function newestFirst(ix: Index, session: string | null, limit: number): CommandRow[] {
  return (session
    ? ix.q("SELECT * FROM commands WHERE started IS NOT NULL AND session = ? ORDER BY started DESC, rowid DESC LIMIT ?").all(session, limit)
    : ix.q("SELECT * FROM commands WHERE started IS NOT NULL ORDER BY started DESC, rowid DESC LIMIT ?").all(limit)) as unknown as CommandRow[];
}

/** Commands of one kind, newest first (of one session when given); `finishedOk`: only those that
 *  ended with exit 0. Lazy: the undo chain usually stops at the first rows. */
export function ofKindNewestFirst(ix: Index, kind: "run" | "undo" | "redo", session: string | null, finishedOk = false): Iterable<CommandRow> {
  const done = finishedOk ? " AND ended IS NOT NULL AND exit = 0" : " AND started IS NOT NULL";
  const sql = `SELECT * FROM commands WHERE kind = ?${done}${session ? " AND session = ?" : ""} ORDER BY started DESC, rowid DESC`;
  return (session ? ix.q(sql).iterate(kind, session) : ix.q(sql).iterate(kind)) as Iterable<CommandRow>;
}

/** Undos and redos of `of` that have no END (killed or still running), or whose last END is
 *  shit-apply's 4 (a step failed: it stopped there, and running it again retries that step). */
export function unfinishedReversals(ix: Index, of: string): CommandRow[] {
  return ix.q("SELECT * FROM commands WHERE of = ? AND (ended IS NULL OR exit = 4) AND kind IN ('undo','redo')").all(of) as unknown as CommandRow[];
}

/** The latest command other than `not`, started after `after`, whose events name path p. */
export function latestNaming(ix: Index, p: Buffer, after: number, not: string): CommandRow | undefined {
  return ix
    .q(
      "SELECT c.* FROM events e JOIN commands c ON c.id = e.cmd WHERE (e.path = ? OR e.path2 = ?) AND c.started > ? AND c.id != ? ORDER BY c.started DESC LIMIT 1",
    )
    .get(p, p, after, not) as CommandRow | undefined;
}

/** Ids of finished commands started before `before` (ms), oldest first. */
export function endedBefore(ix: Index, before: number): string[] {
  return (ix.q("SELECT id FROM commands WHERE ended IS NOT NULL AND started < ? ORDER BY started").all(before) as Array<{ id: string }>).map((r) => r.id);
}

/** The distinct cwds of `run` commands started since `since`, most recent first. */
export function recentCwds(ix: Index, since: number, limit: number): Uint8Array[] {
  return (
    ix
      .q("SELECT cwd, max(started) AS s FROM commands WHERE kind = 'run' AND cwd IS NOT NULL AND started >= ? GROUP BY cwd ORDER BY s DESC LIMIT ?")
      .all(since, limit) as { cwd: Uint8Array }[]
  ).map((r) => r.cwd);
}

/** The distinct cwds `run` commands ran in, latest first. */
export function lastCwds(ix: Index, limit: number): Uint8Array[] {
  return (
    ix.q("SELECT DISTINCT cwd FROM commands WHERE kind = 'run' AND cwd IS NOT NULL ORDER BY started DESC LIMIT ?").all(limit) as { cwd: Uint8Array }[]
  ).map((r) => r.cwd);
}

/** The start and end of a command (ms), if it is known. */
export function times(ix: Index, id: string): { started: number | null; ended: number | null } | undefined {
  return ix.q("SELECT started, ended FROM commands WHERE id = ?").get(id) as { started: number | null; ended: number | null } | undefined;
}

/** Commands that were alive at t (ms): started by t, and ended (or a process of theirs exited)
 *  no more than `slack` ms before t, or with an END or a process still to come. */
export function aliveAround(
  ix: Index,
  t: number,
  slack: number,
): { id: string; kind: string; pid: number | null; ended: number | null; lastExit: number | null }[] {
  return ix
    .q(
      `SELECT id, kind, pid, ended, (SELECT max(exited) FROM procs p WHERE p.cmd = c.id) AS lastExit FROM commands c
        WHERE started IS NOT NULL AND started <= ? AND (ended IS NULL OR ended + ? >= ?
          OR EXISTS (SELECT 1 FROM procs p WHERE p.cmd = c.id AND (p.exited IS NULL OR p.exited + ? >= ?)))`,
    )
    .all(t, slack, t, slack, t) as { id: string; kind: string; pid: number | null; ended: number | null; lastExit: number | null }[];
}

/** Commands with no END yet: their runner's pid. */
export function unended(ix: Index): { id: string; pid: number | null }[] {
  return ix.q("SELECT id, pid FROM commands WHERE ended IS NULL AND started IS NOT NULL").all() as { id: string; pid: number | null }[];
}

// --- writers ---

/** The row exists (a command's first record may be any record). */
export function ensure(ix: Index, id: string): void {
  ix.q("INSERT OR IGNORE INTO commands(id) VALUES(?)").run(id);
}

/** BEGIN: what was run, where, when, by which process. */
export function begin(
  ix: Index,
  id: string,
  b: { kind: string; of: string | null; argv: Buffer | null; cwd: Buffer | null; started: number; pid: number },
): void {
  ix.q("UPDATE commands SET kind = ?, of = ?, argv = ?, cwd = ?, started = ?, pid = ? WHERE id = ?").run(b.kind, b.of, b.argv, b.cwd, b.started, b.pid, id);
}

/** END: when and how it ended. A successful undo or redo marks the command it reversed. */
export function end(ix: Index, id: string, ended: number, exit: number, signal: number): void {
  ix.q("UPDATE commands SET ended = ?, exit = ?, signal = ? WHERE id = ?").run(ended, exit, signal, id);
  const c = ix.q("SELECT kind, of FROM commands WHERE id = ?").get(id) as { kind: string; of: string | null };
  if (c.of && (c.kind === "undo" || c.kind === "redo") && exit === 0) ix.q("UPDATE commands SET undone_by = ? WHERE id = ?").run(id, c.of);
}

/** A command whose processes are all gone with no END (killed: kill -9 of its process group, a
 *  crash, a shell killed mid-line): ended at `at`, exit and signal unknown (NULL). A later END
 *  still overwrites it. */
export function endKilled(ix: Index, id: string, at: number): void {
  ix.q("UPDATE commands SET ended = ?, exit = NULL, signal = NULL WHERE id = ? AND ended IS NULL").run(at, id);
}

/** A line typed into a hooked shell (its journal record): the whole row but argv. */
export function typed(
  ix: Index,
  id: string,
  t: { session: string; line: string | null; shell: string; cwd: Buffer; started: number | null; ended: number | null; exit: number; pid: number | null },
): void {
  ensure(ix, id);
  ix.q(
    `UPDATE commands SET kind = 'run', session = ?, line = ?, shell = ?, cwd = ?, started = ?, ended = ?, exit = ?,
       pid = coalesce(pid, ?) WHERE id = ?`,
  ).run(t.session, t.line, t.shell, t.cwd, t.started, t.ended, t.exit, t.pid, id);
}

export function shellOf(ix: Index, id: string): string | null | undefined {
  return (ix.q("SELECT shell FROM commands WHERE id = ?").get(id) as { shell: string | null } | undefined)?.shell;
}

export function setShell(ix: Index, id: string, shell: string): void {
  ix.q("UPDATE commands SET shell = ? WHERE id = ?").run(shell, id);
}

export function setSession(ix: Index, id: string, session: string): void {
  ix.q("UPDATE commands SET session = ? WHERE id = ?").run(session, id);
}

export function effectsOf(ix: Index, id: string): string | null {
  return (ix.q("SELECT effects FROM commands WHERE id = ?").get(id) as { effects: string | null } | undefined)?.effects ?? null;
}

/** The counts JSON (src/ingest/effects.ts); null while the command runs. */
export function setEffects(ix: Index, id: string, json: string | null): void {
  ix.q("UPDATE commands SET effects = ? WHERE id = ?").run(json, id);
}

/** What gc weighs, oldest first: every ended command, with what keeps it (a pin, a pending redo:
 *  an undo that ended well and is not redone). */
export function forGc(ix: Index): { id: string; started: number | null; pinned: number | null; redo: number; freed: number | null }[] {
  return ix
    .q(
      `SELECT id, started, pinned, freed, (kind = 'undo' AND exit = 0 AND undone_by IS NULL) AS redo
       FROM commands WHERE ended IS NOT NULL ORDER BY started, rowid`,
    )
    .all() as { id: string; started: number | null; pinned: number | null; redo: number; freed: number | null }[];
}

/** gc freed its pre-images: when, and why ("gc": by age, "budget": over the store's budget). */
export function setFreed(ix: Index, id: string, at: number, by: string): void {
  ix.q("UPDATE commands SET freed = ?, freed_by = ? WHERE id = ?").run(at, by, id);
}

/** shit pin / unpin (at null: unpinned). */
export function setPin(ix: Index, id: string, at: number | null, name: string | null): void {
  ix.q("UPDATE commands SET pinned = ?, pin_name = ? WHERE id = ?").run(at, name, id);
}

/** shit forget: the command's row. */
export function remove(ix: Index, id: string): void {
  ix.q("DELETE FROM commands WHERE id = ?").run(id);
}

/** The undos and redos that reversed id (directly). */
export function reversalsOf(ix: Index, id: string): string[] {
  return (ix.q("SELECT id FROM commands WHERE of = ? AND kind IN ('undo', 'redo')").all(id) as { id: string }[]).map((r) => r.id);
}

/** SQLite overwrites what it deletes (a forgotten secret must not linger in free pages), and the
 *  write-ahead log is emptied into the database. Whether the log could be emptied. */
export function scrub(ix: Index, fn: () => void): boolean {
  ix.db.exec("PRAGMA secure_delete = ON");
  try {
    ix.tx(fn);
  } finally {
    ix.db.exec("PRAGMA secure_delete = OFF");
  }
  const r = ix.db.prepare("PRAGMA wal_checkpoint(TRUNCATE)").get() as { busy: number };
  return r.busy === 0;
}
