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

const text = (c: CommandRow) => c.line ?? Buffer.from(c.argv!).toString().replace(/\0$/, "").replaceAll("\0", " ");
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
