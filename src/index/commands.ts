// The commands table: one row per recorded command (run, undo, redo). Written by ingest (BEGIN,
// END, a shell journal record), by the undo that finishes its own row, and by effect counting.
import { IndexBusy, type Index } from "./db.js";
import type { CommandRow } from "./rows.js";

/** A reference that names no command, or more than one: bad input. */
export class CommandRefError extends Error {}

export function byId(ix: Index, id: string): CommandRow | undefined {
  return ix.q("SELECT * FROM commands WHERE id = ?").get(id) as CommandRow | undefined;
}

/** A command by id or unique id prefix (at least 4 hex digits). Throws CommandRefError: an
 *  ambiguous prefix names the commands it matches, an unknown one the ids it is close to. */
export function byRef(ix: Index, ref: string): CommandRow {
  if (!/^[0-9a-f]{4,16}$/.test(ref))
    throw new CommandRefError(`not a command id: ${JSON.stringify(ref)} (ids are hex, as \`shit list\` shows them; or @, @~1: see shit --help)`);
  const rows = ix.q("SELECT * FROM commands WHERE id >= ? AND id < ? ORDER BY id LIMIT 6").all(ref, ref + "g") as unknown as CommandRow[];
  if (rows.length === 1) return rows[0];
  if (rows.length > 1) {
    const more = rows.length > 5 ? ", …" : "";
    const named = rows.slice(0, 5).map((r) => `${shortId(ix, r.id)} (${lineOf(r)})`);
    throw new CommandRefError(`ambiguous command id ${ref}: it starts ${named.join(", ")}${more}; type more of it`);
  }
  const near = closeIds(ix, ref);
  throw new CommandRefError(`unknown command id: ${ref}${near.length ? ` (did you mean ${near.map((id) => shortId(ix, id)).join(" or ")}?)` : ""}`);
}

/** A row's command line, short, for messages from this layer. */
const lineOf = (r: CommandRow): string => {
  const argv = r.argv ? Buffer.from(r.argv).toString("utf8").replace(/\0$/, "").replaceAll("\0", " ") : "?";
  const t = r.kind !== "run" && r.of ? `shit ${r.kind} ${r.of.slice(0, 8)}` : (r.line ?? argv);
  return t.length > 40 ? t.slice(0, 39) + "…" : t;
};

/** Ids whose first digits are a typo or two away from ref (a swapped, missing, extra or wrong
 *  digit), nearest first. Read only when a reference names nothing. */
function closeIds(ix: Index, ref: string): string[] {
  const scored: Array<[number, string]> = [];
  for (const { id } of ix.q("SELECT id FROM commands").iterate() as Iterable<{ id: string }>) {
    const d = Math.min(...[0, -1, 1].map((k) => editDistance(ref, id.slice(0, ref.length + k))));
    if (d <= (ref.length >= 8 ? 2 : 1)) scored.push([d, id]);
  }
  return scored
    .sort((a, b) => a[0] - b[0])
    .slice(0, 3)
    .map(([, id]) => id);
}

/** Optimal string alignment distance (Damerau–Levenshtein, no substring edited twice). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}

/** The shortest prefix of id that names it alone among the recorded commands, as git abbreviates:
 *  at least `min` digits (ids of one fish shell share their first 8, and show longer). */
export function shortId(ix: Index, id: string, min = 8): string {
  const r = ix.q("SELECT (SELECT max(id) FROM commands WHERE id < ?1) AS before, (SELECT min(id) FROM commands WHERE id > ?1) AS after").get(id) as {
    before: string | null;
    after: string | null;
  };
  const common = (o: string | null) => {
    let n = 0;
    while (o && n < id.length && o[n] === id[n]) n++;
    return n;
  };
  return id.slice(0, Math.max(min, common(r.before) + 1, common(r.after) + 1));
}

/** Started commands, newest first (of one shell session when given); limit -1: all. */
export function newestFirst(ix: Index, session: string | null, limit: number): CommandRow[] {
  return list(ix, { session, all: true, limit }).rows;
}

/** What `shit list` selects. Every field narrows; none given: the default view. */
export interface ListFilter {
  session?: string | null; // typed in this shell session
  cwds?: Buffer[]; // run in one of these directories or below (absolute, no trailing slash)
  since?: number; // started at or after (ms)
  until?: number; // started at or before (ms)
  grep?: string; // in the command line (as typed, or the arguments joined by spaces)
  exit?: number | "failed"; // exited so; failed: not 0, killed by a signal, or killed (exit unknown)
  effects?: boolean; // only commands that changed something (class changes)
  all?: boolean; // the hidden ones too (HIDDEN)
  limit: number; // -1: all
}

/** Hidden from the default view: a finished `run` that only did housekeeping, a line typed into
 *  a hooked shell that changed nothing (`shit run CMD` was asked for: it stays), and a typed line
 *  that started an undo or redo (that undo's own row stands for it). */
const HIDDEN = `(c.kind = 'run' AND c.ended IS NOT NULL AND (c.class IS 'housekeeping' OR (c.class IS 'none' AND c.session IS NOT NULL)
  OR EXISTS (SELECT 1 FROM commands r WHERE r.parent = c.id)))`;

/** The one query behind `shit list`: the rows the filter selects, newest first, and how many the
 *  default view hid among them (newer than the last row shown when the limit cut the list). */
export function list(ix: Index, f: ListFilter): { rows: CommandRow[]; hidden: number } {
  // a --grep that few lines hold: the rows its trigrams name, read by rowid and sorted. One that
  // many hold: commands_find's entries newest first, which reach the limit after a few
  const text = f.grep === undefined ? null : trigrams(f.grep);
  const most = fewest(f.limit);
  if (text !== null && !catchUp(ix)) return scan(ix, f, null);
  return scan(ix, f, text, most);
}

/** list's one pass over listQuery's rows; text: the grep's trigrams, used while they name at most
 *  `most` rows. */
function scan(ix: Index, f: ListFilter, text: string | null, most = 0): { rows: CommandRow[]; hidden: number } {
  const few =
    text !== null &&
    Number((ix.q("SELECT count(*) AS n FROM (SELECT 1 FROM command_text WHERE command_text MATCH ? LIMIT ?)").get(text, most + 1) as { n: number }).n) <= most;
  const { sql, args } = listQuery(f, few ? text : null);
  if (f.all) return { rows: ix.q(`${sql} LIMIT ?`).all(...args, f.limit) as unknown as CommandRow[], hidden: 0 };
  // One pass, newest first: the rows shown, and the hidden ones among them (down to the time of the
  // last one shown) counted on the way. A second query for the count scanned the table again when
  // a filter left fewer rows than the limit (a --grep over 100k commands: twice ~100 ms).
  const rows: CommandRow[] = [];
  let hidden = 0;
  let cut: number | null = null; // the time of the last row shown, once the limit is reached
  if (f.limit === 0) return { rows, hidden };
  for (const { hidden_, ...r } of ix.q(sql).iterate(...args) as Iterable<CommandRow & { hidden_: number }>) {
    if (cut !== null && r.started !== cut) break;
    if (hidden_) hidden++;
    else if (cut === null) {
      rows.push(r);
      if (rows.length === f.limit) cut = r.started;
    }
  }
  return { rows, hidden };
}

/** command_text brought up to the last command (the rows past command_text_upto that have a
 *  line), for a grep about to ask it; after the first grep, only the commands recorded since.
 *  false: it could not be written (a full disk, the index busy): the grep walks commands_find. */
function catchUp(ix: Index): boolean {
  const upto = () => Number((ix.q("SELECT n FROM command_text_upto").get() as { n: number | bigint }).n);
  const last = () => Number((ix.q("SELECT coalesce(max(rowid), 0) AS n FROM commands").get() as { n: number | bigint }).n);
  if (upto() >= last()) return true;
  try {
    ix.tx(() => {
      const from = upto(), // again, under the write lock
        to = last();
      if (from >= to) return;
      ix.q(
        "INSERT INTO command_text(rowid, text) SELECT rowid, coalesce(line, argv_line(argv)) FROM commands WHERE rowid > ? AND rowid <= ? AND (line IS NOT NULL OR argv IS NOT NULL)",
      ).run(from, to);
      ix.q("UPDATE command_text_upto SET n = ?").run(to);
    });
    return true;
  } catch (e) {
    if (e instanceof IndexBusy || typeof (e as { errcode?: unknown }).errcode === "number") return false; // SQLite's own error
    throw e;
  }
}

/** At most how many candidates of a --grep's trigrams are read by rowid; more: the scan of
 *  commands_find, which stops at the limit. At 100k commands a candidate costs ~13 µs (its row
 *  read, checked, sorted), the scan ~0.16 µs an entry until `limit` rows match: ~16 ms x limit / n
 *  when the n matches are spread. Even at n² = 1600 x limit (~180 for 20 rows); no limit: the
 *  scan reads every entry, ~16 ms, as 1200 candidates do. */
function fewest(limit: number): number {
  return limit < 0 ? 1200 : Math.ceil(40 * Math.sqrt(limit));
}

/** A --grep as the command_text query every line that holds it matches: each of its trigrams (a
 *  line may hold them all and not the text: list checks the text itself). null: fewer than 3
 *  characters, no trigram. */
export function trigrams(grep: string): string | null {
  const cs = Array.from(grep); // the tokenizer's characters: code points
  const terms = new Set<string>();
  for (let i = 0; i + 3 <= cs.length; i++) terms.add(cs.slice(i, i + 3).join(""));
  return terms.size ? [...terms].map((t) => `"${t.replaceAll('"', '""')}"`).join(" AND ") : null;
}

/** list's SQL for a filter, newest first (with hidden_ unless f.all) and its arguments. `text`:
 *  the grep's trigrams (trigrams()), to read only the rows command_text names. */
export function listQuery(f: ListFilter, text: string | null = null): { sql: string; args: Array<string | number | Buffer> } {
  const where = ["c.started IS NOT NULL"];
  const args: Array<string | number | Buffer> = [];
  const and = (sql: string, ...a: Array<string | number | Buffer>) => (where.push(sql), args.push(...a));
  if (f.session) and("c.session = ?", f.session);
  if (f.cwds?.length) {
    // the dir itself or a path below it: a range of byte strings ('0' is the byte after '/')
    const one = (d: Buffer) => {
      if (d.equals(Buffer.from("/"))) return "c.cwd IS NOT NULL";
      args.push(d, Buffer.concat([d, Buffer.from("/")]), Buffer.concat([d, Buffer.from("0")]));
      return "(c.cwd = ? OR (c.cwd >= ? AND c.cwd < ?))";
    };
    where.push(`(${f.cwds.map(one).join(" OR ")})`);
  }
  if (f.since !== undefined) and("c.started >= ?", f.since);
  if (f.until !== undefined) and("c.started <= ?", f.until);
  if (f.grep !== undefined) {
    // in the line as typed, else in the arguments joined by spaces: each word of it in argv's
    // bytes first (SQL alone), the whole only then (argv_line is a call into JS: 100k of them
    // were most of a --grep)
    const words = f.grep
      .split(" ")
      .filter(Boolean)
      .map((w) => Buffer.from(w));
    const all = words.map(() => "instr(c.argv, ?) > 0").join(" AND ") || "1";
    and(
      `(CASE WHEN c.line IS NOT NULL THEN instr(c.line, ?) > 0 WHEN c.argv IS NULL THEN ? = '' WHEN ${all} THEN instr(argv_line(c.argv), ?) > 0 ELSE 0 END)`,
      f.grep,
      f.grep,
      ...words,
      f.grep,
    );
    if (text !== null) and("c.rowid IN (SELECT rowid FROM command_text WHERE command_text MATCH ?)", text);
  }
  if (f.exit === "failed") and("c.ended IS NOT NULL AND (c.exit IS NULL OR c.exit != 0 OR c.signal)");
  else if (f.exit !== undefined) and("c.exit = ?", f.exit);
  if (f.effects) and("c.class IS 'changes'");
  const base = where.join(" AND ");
  // --grep and --cwd are checked on commands_find's entries, and only the rows they match are read
  // (SQLite picks the narrower commands_started, which reads every row it passes); with the
  // grep's trigrams, the rows they name are read by rowid (NOT INDEXED: by no index but it)
  const from =
    text !== null ? "commands c NOT INDEXED" : !f.session && (f.grep !== undefined || f.cwds?.length) ? "commands c INDEXED BY commands_find" : "commands c";
  const hidden = f.all ? "" : `, ${HIDDEN} AS hidden_`;
  return { sql: `SELECT c.*${hidden} FROM ${from} WHERE ${base} ORDER BY c.started DESC, c.rowid DESC`, args };
}

/** Commands of one kind, newest first (of one session when given); `finishedOk`: only those that
 *  ended with exit 0, the last to end first: an undo killed part-way and finished by a later
 *  verb took effect when it ended, after any undo started meanwhile (and a row whose start never
 *  came, from before shit-apply wrote BEGIN on a re-run, would sort last by its start). Lazy:
 *  the undo chain usually stops at the first rows. */
export function ofKindNewestFirst(ix: Index, kind: "run" | "undo" | "redo", session: string | null, finishedOk = false): Iterable<CommandRow> {
  // (a reversal's `of` is set: that term lets SQLite read the few reversals through commands_of)
  const done = finishedOk ? " AND ended IS NOT NULL AND exit = 0" + (kind === "run" ? "" : " AND of IS NOT NULL") : " AND started IS NOT NULL";
  const sql = `SELECT * FROM commands WHERE kind = ?${done}${session ? " AND session = ?" : ""} ORDER BY ${finishedOk ? "ended" : "started"} DESC, rowid DESC`;
  return (session ? ix.q(sql).iterate(kind, session) : ix.q(sql).iterate(kind)) as Iterable<CommandRow>;
}

/** Undos and redos of `of` that have no END (killed or still running), or whose last END is
 *  shit-apply's 4 (a step failed: it stopped there, and running it again retries that step). */
export function unfinishedReversals(ix: Index, of: string): CommandRow[] {
  return ix.q("SELECT * FROM commands WHERE of = ? AND (ended IS NULL OR exit = 4) AND kind IN ('undo','redo')").all(of) as unknown as CommandRow[];
}

/** Undos and redos with no END: killed part-way, or running now (the caller holds the undo lock
 *  to tell: then none runs), newest first. */
export function unendedReversals(ix: Index): CommandRow[] {
  return ix.q("SELECT * FROM commands WHERE ended IS NULL AND kind IN ('undo','redo') ORDER BY rowid DESC").all() as unknown as CommandRow[];
}

/** The latest command other than `not`, started after `after`, with a successful event on path p. */
export function latestNaming(ix: Index, p: Buffer, after: number, not: string): CommandRow | undefined {
  return ix
    .q(
      "SELECT c.* FROM events e JOIN commands c ON c.id = e.cmd WHERE (e.path = ? OR e.path2 = ?) AND e.err = 0 AND c.started > ? AND c.id != ? ORDER BY c.started DESC LIMIT 1",
    )
    .get(p, p, after, not) as CommandRow | undefined;
}

/** Commands started after `after` (ms) with a successful event, oldest first: the candidates for
 *  depending on a command. */
export function laterWithEvents(ix: Index, after: number): CommandRow[] {
  return ix
    .q("SELECT * FROM commands c WHERE started > ? AND EXISTS (SELECT 1 FROM events e WHERE e.cmd = c.id AND e.err = 0) ORDER BY started, rowid")
    .all(after) as unknown as CommandRow[];
}

/** The successful undos and redos of `of` that acted on part of it (a scope), oldest first. */
export function scopedReversalsOf(ix: Index, of: string): CommandRow[] {
  return ix
    .q(
      "SELECT * FROM commands c WHERE of = ? AND kind IN ('undo','redo') AND exit = 0 AND EXISTS (SELECT 1 FROM scopes s WHERE s.cmd = c.id) ORDER BY started, rowid",
    )
    .all(of) as unknown as CommandRow[];
}

/** The reversals a cascade did as one, newest first. */
export function inGroup(ix: Index, grp: string): CommandRow[] {
  return ix.q("SELECT * FROM commands WHERE grp = ? AND exit = 0 ORDER BY started DESC, rowid DESC").all(grp) as unknown as CommandRow[];
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

/** A command as the watcher tier matches changes to it (src/daemon/untracked.ts, aliveAt):
 *  lastExit is the latest exit of its processes, unexited whether one has not been seen to exit. */
export interface AliveRow {
  id: string;
  kind: string;
  pid: number | null;
  started: number;
  ended: number | null;
  lastExit: number | null;
  unexited: boolean;
}

/** Commands that were alive at some time in [lo, hi] (ms): started by hi, and ended (or a process
 *  of theirs exited) no more than `slack` ms before lo, or with an END or a process still to come.
 *  One query for a batch of changes: which of them were alive at each change's own time is
 *  decided from these rows (one query a change cost shitd ~50 µs each, 0.4-0.5 s for the 10k
 *  files an undo puts back under a watched root, while a `shit redo` waited on its sync). */
export function aliveBetween(ix: Index, lo: number, hi: number, slack: number): AliveRow[] {
  return (
    ix
      .q(
        `SELECT id, kind, pid, started, ended, (SELECT max(exited) FROM procs p WHERE p.cmd = c.id) AS lastExit,
          EXISTS (SELECT 1 FROM procs p WHERE p.cmd = c.id AND p.exited IS NULL) AS unexited FROM commands c
          WHERE started IS NOT NULL AND started <= ? AND (ended IS NULL OR ended + ? >= ?
            OR EXISTS (SELECT 1 FROM procs p WHERE p.cmd = c.id AND (p.exited IS NULL OR p.exited + ? >= ?)))`,
      )
      .all(hi, slack, lo, slack, lo) as Array<Omit<AliveRow, "unexited"> & { unexited: number }>
  ).map((r) => ({ ...r, unexited: !!r.unexited }));
}

/** Whether a row of aliveBetween was alive at t, as aliveBetween(t, t) would have returned it. */
export const aliveAt = (r: AliveRow, t: number, slack: number): boolean =>
  r.started <= t && (r.ended === null || r.ended + slack >= t || r.unexited || (r.lastExit !== null && r.lastExit + slack >= t));

/** Whether the command ended before `before` (ms) and has no process left that was not seen to
 *  exit: its spool is unlikely to grow again (it may: then a new file goes on after it). */
export function settled(ix: Index, id: string, before: number): boolean {
  return !!ix
    .q(
      "SELECT 1 FROM commands c WHERE id = ? AND ended IS NOT NULL AND ended < ? AND NOT EXISTS (SELECT 1 FROM procs p WHERE p.cmd = c.id AND p.exited IS NULL)",
    )
    .get(id, before);
}

/** Commands with no END yet: their runner's pid. */
export function unended(ix: Index): { id: string; pid: number | null }[] {
  return ix.q("SELECT id, pid FROM commands WHERE ended IS NULL AND started IS NOT NULL").all() as { id: string; pid: number | null }[];
}

/** The newest command (its rowid: a later command has a larger one) and whether any command has
 *  no END yet: a plan made ahead is made again, once the stamp moved, only while neither changed. */
export function lastAndRunning(ix: Index): { last: number; running: boolean } {
  const r = ix.q("SELECT (SELECT max(rowid) FROM commands) AS last, EXISTS (SELECT 1 FROM commands WHERE ended IS NULL) AS running").get() as {
    last: number | bigint | null;
    running: number | bigint;
  };
  return { last: Number(r.last ?? 0), running: Number(r.running) > 0 };
}

// --- writers ---

/** The row exists (a command's first record may be any record). `started`: the time of that
 *  record, until a BEGIN or a shell's journal record says when the command started (a command
 *  typed in a shell killed before its journal record has no other). */
export function ensure(ix: Index, id: string, started: number | null = null): void {
  ix.q("INSERT OR IGNORE INTO commands(id, started) VALUES(?, ?)").run(id, started);
}

/** An undo or redo about to run (its BEGIN not ingested yet): what it is, so that one whose
 *  records never come in (killed first) is an unfinished reversal of `of`, not a bare row. */
export function planned(ix: Index, id: string, kind: string, of: string): void {
  ensure(ix, id);
  ix.q("UPDATE commands SET kind = ?, of = ? WHERE id = ? AND argv IS NULL").run(kind, of, id);
}

/** An EXEC of a command typed in a hooked shell (SHELL: the shell's pid), before the shell's
 *  journal record: the shell is the command's process to watch, as its journal would say. */
export function typedIn(ix: Index, id: string, shellPid: number): void {
  ix.q("UPDATE commands SET pid = ? WHERE id = ? AND pid IS NULL AND argv IS NULL AND session IS NULL").run(shellPid, id);
}

/** BEGIN: what was run, where, when, by which process. */
export function begin(
  ix: Index,
  id: string,
  b: { kind: string; of: string | null; argv: Buffer | null; cwd: Buffer | null; started: number; pid: number },
): void {
  ix.q("UPDATE commands SET kind = ?, of = ?, argv = ?, cwd = ?, started = ?, pid = ? WHERE id = ?").run(b.kind, b.of, b.argv, b.cwd, b.started, b.pid, id);
  indexText(ix, id);
}

/** The row's line in command_text (list's --grep), as the row now has it: its line as typed,
 *  else its arguments joined by spaces, when a grep's catchUp has passed the row already. Every
 *  writer of argv or line calls it. */
function indexText(ix: Index, id: string): void {
  // past command_text_upto, the next grep's catchUp writes it
  if (!ix.q("SELECT 1 FROM commands WHERE id = ? AND rowid <= (SELECT n FROM command_text_upto)").get(id)) return;
  dropText(ix, id);
  ix.q(
    "INSERT INTO command_text(rowid, text) SELECT rowid, coalesce(line, argv_line(argv)) FROM commands WHERE id = ? AND (line IS NOT NULL OR argv IS NOT NULL)",
  ).run(id);
}

function dropText(ix: Index, id: string): void {
  ix.q("DELETE FROM command_text WHERE rowid = (SELECT rowid FROM commands WHERE id = ?)").run(id);
}

/** END: when and how it ended. A successful undo or redo marks the command it reversed. */
export function end(ix: Index, id: string, ended: number, exit: number, signal: number): void {
  ix.q("UPDATE commands SET ended = ?, exit = ?, signal = ? WHERE id = ?").run(ended, exit, signal, id);
  const c = ix.q("SELECT kind, of FROM commands WHERE id = ?").get(id) as { kind: string; of: string | null };
  // a selective one (rows in scopes) leaves its target partly undone: not undone
  const whole = !ix.q("SELECT 1 FROM scopes WHERE cmd = ? LIMIT 1").get(id);
  if (c.of && (c.kind === "undo" || c.kind === "redo") && exit === 0 && whole) ix.q("UPDATE commands SET undone_by = ? WHERE id = ?").run(id, c.of);
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
  indexText(ix, id);
}

export function shellOf(ix: Index, id: string): string | null | undefined {
  return (ix.q("SELECT shell FROM commands WHERE id = ?").get(id) as { shell: string | null } | undefined)?.shell;
}

export function setShell(ix: Index, id: string, shell: string): void {
  ix.q("UPDATE commands SET shell = ? WHERE id = ?").run(shell, id);
}

/** A reversal done as part of a cascade (before it runs, so a killed one is still in it). */
export function setGroup(ix: Index, id: string, grp: string): void {
  ensure(ix, id);
  ix.q("UPDATE commands SET grp = ? WHERE id = ?").run(grp, id);
}

export function setSession(ix: Index, id: string, session: string): void {
  ix.q("UPDATE commands SET session = ? WHERE id = ?").run(session, id);
}

/** The command's class (changes | none | housekeeping), or null while it is not counted. */
export function classOf(ix: Index, id: string): string | null {
  return (ix.q("SELECT class FROM commands WHERE id = ?").get(id) as { class: string | null } | undefined)?.class ?? null;
}

/** An undo or redo: the command it was run from (SHIT_CMD of the CLI: the typed line). */
export function setParent(ix: Index, id: string, parent: string): void {
  ix.q("UPDATE commands SET parent = ? WHERE id = ? AND id != ?").run(parent, id, parent);
}

export function effectsOf(ix: Index, id: string): string | null {
  return (ix.q("SELECT effects FROM commands WHERE id = ?").get(id) as { effects: string | null } | undefined)?.effects ?? null;
}

/** The counts JSON (src/ingest/effects.ts) and the class they make (changes | none |
 *  housekeeping); null while the command runs. */
export function setEffects(ix: Index, id: string, json: string | null, cls: string | null): void {
  ix.q("UPDATE commands SET effects = ?, class = ? WHERE id = ?").run(json, cls, id);
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
  dropText(ix, id);
  ix.q("DELETE FROM commands WHERE id = ?").run(id);
}

/** The undos and redos that reversed id (directly). */
export function reversalsOf(ix: Index, id: string): string[] {
  return (ix.q("SELECT id FROM commands WHERE of = ? AND kind IN ('undo', 'redo')").all(id) as { id: string }[]).map((r) => r.id);
}

/** SQLite overwrites what it deletes (a forgotten secret must not linger in free pages), and the
 *  write-ahead log is emptied into the database. Whether the log could be emptied. */
export function scrub(ix: Index, fn: () => void): boolean {
  // Overwriting writes every page a row held (a view's or doubts' large values too), and inside
  // the transaction each statement keeps those pages' old bytes in a statement journal, a file in
  // SQLite's temporary directory past 64 KiB: with that full, forget failed. Held in memory here;
  // the rows go one a statement (events.removeOf, keeps.removeOf), so each holds a few pages.
  ix.db.exec("PRAGMA secure_delete = ON; PRAGMA temp_store = MEMORY");
  try {
    ix.tx(fn);
  } finally {
    ix.db.exec("PRAGMA secure_delete = OFF; PRAGMA temp_store = DEFAULT");
  }
  const r = ix.db.prepare("PRAGMA wal_checkpoint(TRUNCATE)").get() as { busy: number };
  return r.busy === 0;
}
