// commands.list's filters (`shit list --grep/--cwd`): the rows they select, newest first, are the
// same as a plain filter of every row in JS, and SQLite checks them on commands_find's entries
// (the row is read only when they match: at 100k commands the table is 4x the index).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Index } from "../../dist/index/db.js";
import * as commands from "../../dist/index/commands.js";
import type { CommandRow } from "../../dist/index/rows.js";

const DIRS = ["/p/a", "/p/a/sub", "/p/ab", "/p/b", "/q"];
const WORDS = ["sed", "rm", "tar", "make", "git"];

/** 300 commands: runs with argv, lines typed in a shell, some at the same ms (ties sort by rowid). */
function fill(ix: Index): void {
  ix.tx(() => {
    for (let i = 0; i < 300; i++) {
      const id = i.toString(16).padStart(16, "0");
      const started = 1_000_000 + Math.floor(i / 3) * 1000; // three a ms
      const cwd = Buffer.from(DIRS[i % DIRS.length]);
      const word = WORDS[(i * 7) % WORDS.length];
      commands.ensure(ix, id, started);
      if (i % 4 === 0) commands.typed(ix, id, { session: "s1", line: `${word} -x f${i}`, shell: "{}", cwd, started, ended: started + 5, exit: 0, pid: 1 });
      else {
        commands.begin(ix, id, { kind: "run", of: null, argv: Buffer.from(`${word}\0-x\0f${i}\0`), cwd, started, pid: 1 });
        commands.end(ix, id, started + 5, i % 9 === 0 ? 1 : 0, 0);
      }
    }
  });
}

const text = (c: CommandRow) => c.line ?? (c.argv ? Buffer.from(c.argv).toString().replace(/\0$/, "").replaceAll("\0", " ") : "");
const under = (c: CommandRow, d: string) => {
  const cwd = Buffer.from(c.cwd!).toString();
  return cwd === d || cwd.startsWith(d + "/");
};

test("list --grep / --cwd: the same rows, in the same order, as a filter of every row; checked on commands_find", (t) => {
  const d = mkdtempSync(join(tmpdir(), "shit-listq-"));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const ix = new Index(join(d, "index.sqlite"));
  try {
    fill(ix);
    const every = ix.db.prepare("SELECT * FROM commands ORDER BY started DESC, rowid DESC").all() as unknown as CommandRow[];
    const cases: Array<[string, commands.ListFilter, (c: CommandRow) => boolean]> = [
      ["--grep tar", { grep: "tar", all: true, limit: -1 }, (c) => text(c).includes("tar")],
      ["--grep 'rm -x f1'", { grep: "rm -x f1", all: true, limit: -1 }, (c) => text(c).includes("rm -x f1")],
      ["--cwd /p/a", { cwds: [Buffer.from("/p/a")], all: true, limit: -1 }, (c) => under(c, "/p/a")],
      [
        "--cwd /p/a --grep sed --exit 1",
        { cwds: [Buffer.from("/p/a")], grep: "sed", exit: 1, all: true, limit: -1 },
        (c) => under(c, "/p/a") && text(c).includes("sed") && c.exit === 1,
      ],
    ];
    for (const [name, f, keep] of cases) {
      const want = every.filter(keep).map((c) => c.id);
      assert.ok(want.length > 1, `${name}: the fill has rows for it`);
      assert.deepEqual(
        commands.list(ix, f).rows.map((c) => c.id),
        want,
        name,
      );
      // the default view's limit: the first rows of the same order
      assert.deepEqual(
        commands.list(ix, { ...f, all: false, limit: 2 }).rows.map((c) => c.id),
        want.slice(0, 2),
        `${name} -n 2`,
      );
      const { sql, args } = commands.listQuery({ ...f, all: false, limit: 20 });
      const plan = (ix.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[]).map((r) => r.detail).join("; ");
      assert.match(plan, /^SEARCH c USING INDEX commands_find/, `${name}: ${plan}`);
    }
    // no filter the index serves: the narrower commands_started, as before
    const { sql, args } = commands.listQuery({ limit: 20 });
    const plan = (ix.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[]).map((r) => r.detail).join("; ");
    assert.match(plan, /commands_started/, plan);
  } finally {
    ix.close();
  }
});

test("list --grep: a text few lines hold is looked up by its trigrams in command_text, with the same rows as the scan; a forgotten command leaves it, and a migrated index has every older line", (t) => {
  const d = mkdtempSync(join(tmpdir(), "shit-listq-"));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const file = join(d, "index.sqlite");
  let ix = new Index(file);
  try {
    fill(ix);
    // lines of other characters: code points past ASCII, a quote, a text across a space
    ix.tx(() => {
      commands.ensure(ix, "a000000000000001", 2_000_000);
      commands.begin(ix, "a000000000000001", {
        kind: "run",
        of: null,
        argv: Buffer.from('echo\0"grüße" x\0'),
        cwd: Buffer.from("/q"),
        started: 2_000_000,
        pid: 1,
      });
      commands.ensure(ix, "a000000000000002", 2_000_001);
      commands.typed(ix, "a000000000000002", {
        session: "s1",
        line: "printf 'a\"b' | tee -a ÿ",
        shell: "{}",
        cwd: Buffer.from("/q"),
        started: 2_000_001,
        ended: 2_000_002,
        exit: 0,
        pid: 1,
      });
    });
    const every = () => ix.db.prepare("SELECT * FROM commands ORDER BY started DESC, rowid DESC").all() as unknown as CommandRow[];
    const check = (grep: string, what: string) => {
      const want = every()
        .filter((c) => text(c).includes(grep))
        .map((c) => c.id);
      const f: commands.ListFilter = { grep, all: true, limit: -1 };
      assert.deepEqual(
        commands.list(ix, f).rows.map((c) => c.id),
        want,
        `${what}: --grep ${grep}`,
      );
      const q = commands.trigrams(grep);
      if (q === null) return want;
      // the query the list makes when the trigrams name few rows: the same rows, read through them
      const { sql, args } = commands.listQuery(f, q);
      assert.deepEqual(
        (ix.db.prepare(sql).all(...args) as unknown as CommandRow[]).map((c) => c.id),
        want,
        `${what}: --grep ${grep} by its trigrams`,
      );
      const plan = (ix.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[]).map((r) => r.detail).join("; ");
      assert.match(plan, /SCAN command_text VIRTUAL TABLE/, `${what}: ${plan}`);
      assert.doesNotMatch(plan, /commands_find|commands_started/, `${what}: ${plan}`);
      return want;
    };
    assert.equal(check("rm -x f1", "argv and lines").length, 22);
    assert.equal(check("grüße", "past ASCII").length, 1);
    assert.equal(check('"grüße" x', "a quote and a space").length, 1);
    assert.equal(check('a"b', "a quote").length, 1);
    assert.equal(check("-a ÿ", "the end of a line").length, 1);
    assert.equal(check("x f29", "across a space").length, 11);
    assert.equal(check("f2", "two characters: no trigram, the scan").length, 111);
    assert.equal(check("nothing-like-it", "nothing").length, 0);
    // forgotten: not found, and its trigrams gone with it
    const gone = check("make -x f2", "before forget")[0];
    ix.tx(() => commands.remove(ix, gone));
    assert.ok(!check("make -x f2", "after forget").includes(gone));
    const line = text(every().find((c) => c.id === "a000000000000002")!);
    ix.tx(() => commands.remove(ix, "a000000000000002"));
    assert.equal((ix.db.prepare("SELECT count(*) AS n FROM command_text WHERE command_text MATCH ?").get(commands.trigrams(line)) as { n: number }).n, 0);
    // an index made before command_text: the migration puts every line there
    const before = every().map((c) => c.id);
    ix.db.exec("DROP TABLE command_text; DROP TABLE command_text_upto; PRAGMA user_version = 16");
    ix.close();
    ix = new Index(file);
    assert.deepEqual(
      every().map((c) => c.id),
      before,
    );
    assert.equal(check("rm -x f1", "migrated").length, 22);
    assert.equal(check("grüße", "migrated").length, 1);
    // a row the last grep passed before it had a line (a typed command's journal record comes at its
    // end), and one recorded after that grep: each found by the next
    ix.tx(() => commands.ensure(ix, "b000000000000001", 3_000_000));
    assert.equal(check("late-line", "before its line").length, 0);
    ix.tx(() => {
      commands.typed(ix, "b000000000000001", {
        session: "s1",
        line: "echo late-line",
        shell: "{}",
        cwd: Buffer.from("/q"),
        started: 3_000_000,
        ended: 3_000_001,
        exit: 0,
        pid: 1,
      });
      commands.ensure(ix, "b000000000000002", 3_000_002);
      commands.begin(ix, "b000000000000002", {
        kind: "run",
        of: null,
        argv: Buffer.from("echo\0after-grep\0"),
        cwd: Buffer.from("/q"),
        started: 3_000_002,
        pid: 1,
      });
    });
    assert.deepEqual(check("late-line", "its line after the grep"), ["b000000000000001"]);
    assert.deepEqual(check("after-grep", "recorded after the grep"), ["b000000000000002"]);
  } finally {
    ix.close();
  }
});
