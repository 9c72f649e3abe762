// The index: one SQLite database (WAL) of commands, their events, kept pre-images and spool
// offsets. The schema is versioned: each entry of MIGRATIONS moves it one version forward.
// Every query lives in this directory, one file per table (commands.ts, events.ts, keeps.ts,
// procs.ts, untracked.ts, sessions.ts, spools.ts, scopes.ts, blobs.ts, kills.ts, views.ts, doubts.ts): a reader finds every writer of a table there.
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";

export type * from "./rows.js";

const MIGRATIONS: string[] = [
  `CREATE TABLE spools(
     name TEXT PRIMARY KEY,            -- spool file name (<cmd>.spool)
     offset INTEGER NOT NULL           -- bytes ingested so far (always the end of a whole record)
   );
   CREATE TABLE commands(
     id TEXT PRIMARY KEY,              -- SHIT_CMD
     kind TEXT NOT NULL DEFAULT 'run', -- run | undo | redo
     of TEXT,                          -- for undo/redo: the command it acted on
     argv BLOB,                        -- arguments, each followed by NUL
     cwd BLOB,
     started INTEGER,                  -- ms since the epoch
     ended INTEGER,
     exit INTEGER,
     signal INTEGER,
     pid INTEGER,
     undone_by TEXT                    -- the undo/redo command that reversed this one
   );
   CREATE INDEX commands_started ON commands(started);
   CREATE TABLE events(
     cmd TEXT NOT NULL,
     seq INTEGER NOT NULL,             -- byte offset in the spool: the order of the calls
     op INTEGER NOT NULL,
     pid INTEGER, err INTEGER, time INTEGER, flags INTEGER,
     path BLOB, path2 BLOB,
     pre BLOB, pre2 BLOB,              -- 64-byte stat records (docs/SPOOL.md)
     parent BLOB, parent2 BLOB,
     keep TEXT, keep_how TEXT,         -- staging name of the pre-image, and how it was kept
     keep2 TEXT, keep2_how TEXT,
     target BLOB, target2 BLOB,        -- symlink targets
     xname TEXT, xvalue BLOB,
     arg INTEGER, step INTEGER, note TEXT,
     PRIMARY KEY(cmd, seq)
   ) WITHOUT ROWID;
   CREATE INDEX events_path ON events(path);
   CREATE INDEX events_path2 ON events(path2);
   CREATE TABLE posts(                 -- each path's state when the command ended (shit-run's end scan)
     cmd TEXT NOT NULL, path BLOB NOT NULL, post BLOB,
     PRIMARY KEY(cmd, path)
   ) WITHOUT ROWID;
   CREATE TABLE keeps(                 -- pre-images: a staged file, later maybe moved into the store
     name TEXT PRIMARY KEY,            -- staging name, <cmd>/<dev>-<ino>[.tail<n>]
     hash TEXT,                        -- sha256 of the bytes (NULL: the file was missing at ingest)
     size INTEGER,
     ino INTEGER, ctime TEXT,          -- the staged file's inode and ctime when it was hashed
     state TEXT NOT NULL               -- staged (a hashed copy) | inode (the file itself, checked
                                       -- against its record's PRE) | missing | stored | gone | expired (freed by gc)
   ) WITHOUT ROWID;
   CREATE INDEX keeps_hash ON keeps(hash);`,
  `ALTER TABLE commands ADD COLUMN effects TEXT;  -- JSON counts by kind (src/ingest/effects.ts)`,
  `CREATE TABLE procs(                 -- EXEC records: each program a process of the command started
     cmd TEXT NOT NULL,
     seq INTEGER NOT NULL,             -- byte offset in the spool
     pid INTEGER, time INTEGER,
     argv BLOB,                        -- arguments, each followed by NUL
     cwd BLOB,
     PRIMARY KEY(cmd, seq)
   ) WITHOUT ROWID;`,
  `ALTER TABLE commands ADD COLUMN session TEXT;  -- the shell session (shell hooks) it was typed in
   ALTER TABLE commands ADD COLUMN line TEXT;     -- the command line as typed (shell hooks)
   ALTER TABLE commands ADD COLUMN shell TEXT;    -- JSON: shell, tty, pid, pipestatus, and the shell state it changed (src/ingest/shell.ts)
   CREATE INDEX commands_session ON commands(session, started);
   CREATE TABLE sessions(              -- one per hooked shell: where its journal left its state
     id TEXT PRIMARY KEY,
     shell TEXT, pid INTEGER, tty TEXT,
     started INTEGER, seen INTEGER,    -- ms since the epoch
     state TEXT                        -- JSON: cwd, env, aliases, options after the last record
   );`,
  `ALTER TABLE procs ADD COLUMN exited INTEGER;  -- ms: when the exit watcher (or a CLI check) saw it gone
   CREATE INDEX procs_live ON procs(cmd) WHERE exited IS NULL;
   CREATE TABLE untracked(             -- changes the watcher tier saw in a command's lifetime that capture did not record
     cmd TEXT NOT NULL,
     path BLOB NOT NULL,
     kind TEXT NOT NULL,               -- create | delete | modify | attrib | move
     path2 BLOB,                       -- for a move: where to
     time INTEGER,                     -- ms
     PRIMARY KEY(cmd, path, kind)
   ) WITHOUT ROWID;`,
  `ALTER TABLE posts ADD COLUMN seq INTEGER;  -- the POST's byte offset in the spool: an own record after it makes it stale`,
  `ALTER TABLE commands ADD COLUMN grp TEXT;  -- a cascade: the reversals done as one share it (one redo takes them all)
   CREATE INDEX commands_grp ON commands(grp) WHERE grp IS NOT NULL;
   CREATE INDEX commands_of ON commands(of) WHERE of IS NOT NULL;
   CREATE TABLE scopes(                -- a selective undo or redo: every path it acted on; its target is partly undone
     cmd TEXT NOT NULL,                -- the undo/redo command
     path BLOB NOT NULL,
     needed INTEGER NOT NULL DEFAULT 0, -- 1: a directory put back only for a path selected below it
     PRIMARY KEY(cmd, path)
   ) WITHOUT ROWID;`,
  `ALTER TABLE commands ADD COLUMN class TEXT;   -- changes | none | housekeeping (src/ingest/effects.ts classOf); NULL: not counted yet
   ALTER TABLE commands ADD COLUMN parent TEXT;  -- for undo/redo: the command it was run from (the shit undo line typed in a hooked shell)
   CREATE INDEX commands_parent ON commands(parent) WHERE parent IS NOT NULL;
   CREATE INDEX posts_path ON posts(path);  -- who left a path so (a git index refresh is proven by the next writer's keep)
   UPDATE commands SET class = CASE WHEN effects IS NULL THEN NULL
     WHEN (SELECT sum(value) FROM json_each(effects)) > 0 THEN 'changes' ELSE 'none' END;`,
  `CREATE TABLE blobs(                 -- the content-addressed store (src/store/blobs.ts); keeps in state 'stored' name them by hash
     hash TEXT PRIMARY KEY,            -- sha256 of the bytes
     size INTEGER NOT NULL,            -- bytes
     stored INTEGER NOT NULL,          -- bytes on disk
     zstd INTEGER NOT NULL DEFAULT 0,  -- 0 raw, not tried | 1 zstd (<hash>.zst) | 2 raw: compression saved too little
     added INTEGER                     -- ms
   ) WITHOUT ROWID;
   CREATE INDEX blobs_untried ON blobs(added) WHERE zstd = 0;         -- the blobs not yet compressed
   CREATE INDEX keeps_staged ON keeps(name) WHERE state = 'staged';  -- the copies not yet absorbed
   ALTER TABLE commands ADD COLUMN pinned INTEGER;   -- ms: shit pin (gc never frees it)
   ALTER TABLE commands ADD COLUMN pin_name TEXT;
   ALTER TABLE commands ADD COLUMN freed INTEGER;    -- ms: when gc freed its pre-images
   ALTER TABLE commands ADD COLUMN freed_by TEXT;    -- gc (by age) | budget (over the store budget)`,
  `CREATE TABLE kills(                 -- what a command ended that is not a file (src/index/kills.ts)
     cmd TEXT NOT NULL,
     seq INTEGER NOT NULL,             -- a process: its KILL record's byte offset in the spool; a unit: -1, -2, … as named
     kind TEXT NOT NULL,               -- process (a signal of the command ended it) | unit (systemctl stop)
     pid INTEGER, signal INTEGER,
     argv BLOB, cwd BLOB,              -- its command line (each argument followed by NUL) and working directory
     env BLOB,                         -- its environment (each entry followed by NUL)
     exe BLOB,                         -- its executable (/proc/PID/exe)
     start INTEGER,                    -- its start time, clock ticks after boot
     started_by TEXT,                  -- the recorded command that started it (its SHIT_CMD)
     unit TEXT, scope TEXT,            -- a unit: its name, user | system
     note TEXT,                        -- what capture could not read of it
     time INTEGER,                     -- ms
     PRIMARY KEY(cmd, seq)
   ) WITHOUT ROWID;`,
  `ALTER TABLE spools ADD COLUMN base INTEGER NOT NULL DEFAULT 0;  -- bytes of the command's records before the file now at name (its first file settled into spool/done/): seq = base + offset in the file
   CREATE INDEX commands_unended ON commands(started) WHERE ended IS NULL;  -- the few commands with no END yet, which every verb looks at`,
  `CREATE TABLE stamp(n INTEGER NOT NULL);  -- moves with every write an undo plan may depend on (src/index/stamp.ts)
   INSERT INTO stamp VALUES(0);
   ${stampTriggers()}`,
  `CREATE TABLE views(                 -- a large command's net view as shit show lists it, made at ingest (src/ingest/view.ts)
     cmd TEXT NOT NULL,
     part INTEGER NOT NULL,            -- -1: what it was made from (JSON: last seq, calls not captured); 0, 1, …: folded entries in path order (JSON)
     data TEXT NOT NULL,
     PRIMARY KEY(cmd, part)
   ) WITHOUT ROWID;
   CREATE TABLE doubts(                -- the command's records written before their call (unlink, rmdir, rename), by directory:
     cmd TEXT NOT NULL,                -- the view holds while none of their paths is there (src/undo/unhappened.ts)
     dir BLOB NOT NULL,
     names BLOB NOT NULL,              -- their names in dir, each followed by NUL
     PRIMARY KEY(cmd, dir)
   ) WITHOUT ROWID;
   -- a view is checked against its command's last seq (an event added); an event changed in place
   -- (a VOID marks one failed) drops it, to be made again by the next recount
   CREATE TRIGGER views_stale AFTER UPDATE ON events BEGIN
     DELETE FROM views WHERE cmd = NEW.cmd; DELETE FROM doubts WHERE cmd = NEW.cmd;
   END;
   ${stampTriggers(["views", "doubts"])}`,
  // The cost of an undo's 10k-row ingests, twice per undo: the two indexes over columns most rows
  // leave NULL hold only the rows that have one (every query of them asks for a value; 10k NULL
  // entries were ~15% of the inserts' cost); and posts' inserts move the stamp as events' and
  // keeps' do, once per ingest transaction (stamp.bump), not by a trigger per row (the 10k POSTs
  // of an undo's steps: 40% of their inserts' cost). ingest is the one writer of posts.
  `DROP INDEX events_path2;
   CREATE INDEX events_path2 ON events(path2) WHERE path2 IS NOT NULL;
   DROP INDEX keeps_hash;
   CREATE INDEX keeps_hash ON keeps(hash) WHERE hash IS NOT NULL;
   DROP TRIGGER stamp_posts_insert;`,
  // `shit list --grep/--cwd` (commands.list): the columns those filters read, in the list's order,
  // so a filter that matches few of 100k commands walks 6 MB of index, not the 24 MB table (its
  // rows hold the effect counts and the shell's state): 90-170 -> 35 ms
  `CREATE INDEX commands_find ON commands(started, cwd, argv, line);`,
  // The 10k keeps an undo of an rm -rf moves back are marked gone in one UPDATE (keeps.markGone, by
  // the next verb's ingest: a redo's), whose per-row trigger ran 10k stamp updates, ~40% of it:
  // a row made gone moves the stamp by markGone's own bump, once; every other update of a keep,
  // a gone one's included, still by its trigger
  `DROP TRIGGER stamp_keeps_update;
   CREATE TRIGGER stamp_keeps_update AFTER UPDATE ON keeps WHEN NEW.state IS NOT 'gone' OR OLD.state IS 'gone' BEGIN UPDATE stamp SET n = n + 1; END;`,
  // `shit list --grep`: each command's line (as typed, else its arguments joined by spaces) by its
  // trigrams, keyed by the command's rowid. A grep matching few of 100k commands walked all 100k
  // entries of commands_find (~16 ms, the verb's largest part); the trigrams name the few rows to
  // check. Filled by the greps themselves (src/index/commands.ts, catchUp): the rows past
  // command_text_upto, so an ingest writes nothing more (the FTS tables' pages, ~4 a command, were
  // too much for a full disk's index); a row up to it whose line comes later (a typed command's
  // journal record, at its end) is written then. secure-delete: a row removed (shit forget)
  // leaves none of its trigrams in the index's pages
  `CREATE VIRTUAL TABLE command_text USING fts5(text, tokenize = 'trigram case_sensitive 1', detail = none);
   INSERT INTO command_text(command_text, rank) VALUES('secure-delete', 1);
   CREATE TABLE command_text_upto(n INTEGER NOT NULL);  -- the commands' rowids up to n are in command_text (those with a line)
   INSERT INTO command_text_upto VALUES(0);`,
];

/** The triggers that move the stamp: on every table but spools (ingest positions), on insert,
 *  update and delete, except inserts into events and keeps (and posts, whose trigger a later
 *  migration drops): the ingest, their one writer, moves it once per transaction instead (a
 *  trigger per row doubles the cost of 10k inserts). A table added later gets its triggers in its
 *  own migration (test/unit/stamp.test.ts checks that each has). */
function stampTriggers(tables = ["commands", "events", "posts", "keeps", "procs", "sessions", "untracked", "scopes", "blobs", "kills"]): string {
  const out: string[] = [];
  for (const t of tables)
    for (const op of ["INSERT", "UPDATE", "DELETE"])
      if (!(op === "INSERT" && (t === "events" || t === "keeps")))
        out.push(`CREATE TRIGGER stamp_${t}_${op.toLowerCase()} AFTER ${op} ON ${t} BEGIN UPDATE stamp SET n = n + 1; END;`);
  return out.join("\n   ");
}

const KEY_PAGE = 1024;

/** The index stayed locked by another process longer than any wait. */
export class IndexBusy extends Error {}

/** The schema version this build makes and reads (bench/fill-history.mjs keys its cache by it). */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** KiB of SQLite's page cache for an ingest: 16 MiB, not 2: its transaction of 2 MiB of spool
 *  (TX_BYTES) touches ~3 MB of pages, which at 2 MiB were read back from the log and the file
 *  (6k preads an undo). A plan, which reads a command's events a pass at a time, sets PLAN_CACHE. */
export const INGEST_CACHE = 16384;
/** KiB of it while a large undo is planned: its passes over 1M events read each page once, and a
 *  sort's in memory is as large as the cache (the plan text's events by path: 16 MiB sorted and
 *  16 MiB of pages at once, of the undo of an rm -rf of 1M files; ~30 MB less at 2 MiB) */
export const PLAN_CACHE = 2048;

export class Index {
  readonly db: DatabaseSync;
  private cache = new Map<string, StatementSync>();
  /** Bytes a sort holds in memory before it writes a temporary file (the page cache's size). */
  sortBytes = 0;

  /** SQLite's page cache, KiB (and with it what a sort holds in memory). */
  pageCache(kib: number): void {
    if (this.sortBytes === kib * 1024) return;
    this.db.exec(`PRAGMA cache_size=-${Math.trunc(kib)}`);
    this.sortBytes = kib * 1024;
  }

  /** `timeoutMs`: how long a write waits for another writer before begin() retries (tests make it short). */
  constructor(file: string, timeoutMs = 10000) {
    this.db = new DatabaseSync(file, { timeout: timeoutMs });
    // the write-ahead log checkpointed at 512 KiB, not SQLite's 4 MiB: on a disk with little room
    // (the full-disk tests' 2 MiB state dir, shitd and the CLI both writing) a log grown toward
    // 4 MiB made an undo fail with "database or disk is full" 3 times in 8, and one of 1 MiB (its
    // file then held half the disk) still 1 time in 3 on a loaded machine (shell.test, root). Its
    // file is never cut back (no journal_size_limit): the room it has is what a later write on a
    // full disk reuses. The undo with no checkpoint at all was no faster (DESIGN.md, eighth pass).
    // a new index opened by several processes at once (shitd and a CLI, eight tests): the switch to
    // WAL takes the file's exclusive lock, and SQLite says "database is locked" at once rather than
    // wait for it (its busy handler is not called there): tried again, a few ms apart
    for (let i = 0; ; i++) {
      try {
        this.db.exec("PRAGMA journal_mode=WAL");
        break;
      } catch (e) {
        if (i >= 200 || !/database is locked/.test((e as Error).message)) throw e;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5 + (i % 10));
      }
    }
    this.db.exec("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF; PRAGMA wal_autocheckpoint=128;");
    this.pageCache(INGEST_CACHE);
    // a command's arguments (NUL-separated) as one line, for `shit list --grep`
    this.db.function("argv_line", { deterministic: true }, (b) =>
      b instanceof Uint8Array ? Buffer.from(b).toString("utf8").replace(/\0$/, "").replaceAll("\0", " ") : null,
    );
    this.migrate();
  }

  private migrate(): void {
    const version = () => {
      const v = (this.db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version;
      if (v > MIGRATIONS.length) throw new Error(`index schema v${v} is newer than this shit (v${MIGRATIONS.length})`);
      return v;
    };
    // read again under the write lock: another process (shitd, a second CLI) opening a new index
    // at the same moment may have migrated it meanwhile ("table ... already exists")
    for (let v = version(); v < MIGRATIONS.length;)
      v = this.tx(() => {
        const now = version();
        if (now >= MIGRATIONS.length) return now;
        this.db.exec(MIGRATIONS[now]);
        this.db.exec(`PRAGMA user_version=${now + 1}`);
        return now + 1;
      });
  }

  /** A prepared statement, cached by its text. For this directory's table modules only. */
  q(sql: string): StatementSync {
    let s = this.cache.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.cache.set(sql, s);
    }
    return s;
  }

  /** The rows of a query as arrays of its columns in order, for readers of many rows: node:sqlite's
   *  row objects are in dictionary mode, and reading one property by property costs several times
   *  what an object literal made from the array does (the 10k events of an undo are read so). */
  arrays(sql: string, ...params: SQLInputValue[]): unknown[][] {
    const rows = this.arrayStatement(sql).all(...params) as unknown[];
    return rows.length && !Array.isArray(rows[0]) ? rows.map((r) => Object.values(r as object)) : (rows as unknown[][]);
  }

  /** arrays(), one row at a time: a command's 100k events are never held whole. Read it to its
   *  end: a statement left stepping holds a read snapshot that fails this process's next write. */
  *iterateArrays(sql: string, ...params: SQLInputValue[]): Generator<unknown[]> {
    for (const r of this.arrayStatement(sql).iterate(...params) as Iterable<unknown>) yield Array.isArray(r) ? r : Object.values(r as object);
  }

  /** The first column of `sql` a page of KEY_PAGE rows at a time: `sql` selects the keys past ?1
   *  (from `after` on) in key order, its other parameters ?2, ?3…. For changing many rows a
   *  statement each without holding them all, nor a statement stepping meanwhile (keeps.ts says
   *  why one statement over all of them is not made). */
  *keysAfter(sql: string, after: SQLInputValue, ...params: SQLInputValue[]): Generator<SQLInputValue> {
    for (;;) {
      const page = this.arrays(`${sql} LIMIT ${KEY_PAGE}`, after, ...params);
      for (const r of page) yield r[0] as SQLInputValue;
      if (page.length < KEY_PAGE) return;
      after = page[page.length - 1][0] as SQLInputValue;
    }
  }

  private arrayStatement(sql: string): StatementSync {
    let s = this.arrayCache.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      // Node < 22.16 has no setReturnArrays: its objects' values are the columns in order
      if (typeof s.setReturnArrays === "function") s.setReturnArrays(true);
      this.arrayCache.set(sql, s);
    }
    return s;
  }
  private arrayCache = new Map<string, StatementSync>();

  tx<T>(fn: () => T): T {
    this.begin();
    try {
      const r = fn();
      this.db.exec("COMMIT");
      return r;
    } catch (e) {
      // SQLite ends a transaction itself on some errors (SQLITE_FULL: a full disk); a ROLLBACK
      // then would fail and hide the error that says what happened
      if (this.db.isTransaction) this.db.exec("ROLLBACK");
      throw e;
    }
  }

  /** BEGIN IMMEDIATE, waiting out a writer (shitd ingesting a large command) past SQLite's own
   *  busy timeout a few more times before it says so: an undo that finished its steps must get
   *  to record that. Still busy: an IndexBusy, which the CLI says in one line. */
  private begin(): void {
    for (let tries = 0; ; tries++) {
      try {
        this.db.exec("BEGIN IMMEDIATE");
        return;
      } catch (e) {
        const busy = ((e as { errcode?: number }).errcode ?? 0) & 0xff; // SQLITE_BUSY and its extended codes
        if (busy !== 5) throw e;
        if (tries >= 5) throw new IndexBusy(`the index is busy: another shit process kept it locked (${(e as Error).message}); run it again`);
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200 * (tries + 1));
      }
    }
  }

  close(): void {
    this.db.close();
  }
}
