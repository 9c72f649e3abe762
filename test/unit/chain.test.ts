// The undo chain on synthetic rows: which command `undo` and `redo` pick, what is undone, what
// acts for a command. No index, no processes (src/undo/chain.ts; docs/DESIGN.md "Undo chain").
import { test } from "node:test";
import assert from "node:assert/strict";
import { ChainError, NothingToDo, acting, isUndone, pickRedo, pickUndo, reversalKind, undoneBy, type History } from "../../dist/undo/chain.js";
import type { CommandRow } from "../../dist/index/rows.js";

let clock = 0;
function row(id: string, kind = "run", of: string | null = null, extra: Partial<CommandRow> = {}): CommandRow {
  return {
    id,
    kind,
    of,
    argv: null,
    cwd: null,
    started: ++clock,
    ended: clock,
    exit: 0,
    signal: null,
    pid: null,
    undone_by: null,
    effects: null,
    session: null,
    line: null,
    shell: null,
    ...extra,
  };
}

/** A history of rows; `effects`: ids that changed something. undone_by is set as ingest sets it. */
function history(rows: CommandRow[], effects = new Set(rows.map((r) => r.id))): History & { rows: Map<string, CommandRow> } {
  const m = new Map(rows.map((r) => [r.id, r]));
  for (const r of rows) if (r.of && r.exit === 0 && r.ended !== null && (r.kind === "undo" || r.kind === "redo")) m.get(r.of)!.undone_by = r.id;
  return {
    rows: m,
    byId: (id) => m.get(id),
    byRef: (ref) => {
      const hits = [...m.values()].filter((r) => r.id.startsWith(ref));
      if (hits.length !== 1) throw new Error(`no single command ${ref}`);
      return hits[0];
    },
    newest: (kind, session, finishedOk) =>
      [...m.values()]
        .filter((r) => r.kind === kind && (!session || r.session === session) && (!finishedOk || (r.ended !== null && r.exit === 0)))
        .sort((a, b) => b.started! - a.started!),
    hasEffects: (id) => effects.has(id),
  };
}

test("undo picks the latest run with effects; the undone one is skipped next time", () => {
  const h = history([row("aaaa1"), row("bbbb1"), row("cccc1")], new Set(["aaaa1", "bbbb1"]));
  assert.equal(pickUndo(h).id, "bbbb1"); // cccc1 changed nothing
  const h2 = history([row("aaaa1"), row("bbbb1"), row("cccc1"), row("dddd1", "undo", "bbbb1")], new Set(["aaaa1", "bbbb1"]));
  assert.equal(isUndone(h2, h2.rows.get("bbbb1")!), true);
  assert.equal(pickUndo(h2).id, "aaaa1");
});

test("undo, redo, undo: the chain alternates, and acting follows the redo", () => {
  const a = row("aaaa1");
  const u1 = row("bbbb1", "undo", "aaaa1");
  const r1 = row("cccc1", "redo", "bbbb1");
  let h = history([a, u1]);
  assert.equal(isUndone(h, a), true);
  assert.equal(pickRedo(h).id, "bbbb1");
  assert.equal(reversalKind(pickRedo(h)), "redo");
  h = history([a, u1, r1]);
  assert.equal(isUndone(h, a), false, "redone: A's effects are back");
  assert.equal(isUndone(h, u1), true);
  assert.equal(acting(h, a).id, "cccc1", "what to reverse for A is the redo that put it back");
  assert.equal(pickUndo(h).id, "cccc1");
  assert.equal(reversalKind(pickUndo(h)), "undo");
  const u2 = row("dddd1", "undo", "cccc1");
  h = history([a, u1, r1, u2]);
  assert.equal(isUndone(h, a), true, "undone again");
  assert.equal(isUndone(h, r1), true);
  assert.throws(() => pickUndo(h, "aaaa1"), ChainError);
  assert.equal(pickRedo(h).id, "dddd1");
  assert.equal(pickRedo(h, "aaaa1").id, "dddd1", "redo by the run's id: reverse the undo in effect (U2), not U1, which R1 already reversed");
  assert.equal(undoneBy(h, a)?.id, "dddd1");
  assert.equal(pickRedo(h, "bbbb1").id, "dddd1", "redo by U1's id: its effects stand through U2");
  assert.equal(pickRedo(h, "cccc1").id, "dddd1", "redo by R1's id: the undo that undid it");
  assert.throws(() => pickUndo(h, "aaaa1"), /already undone \(by dddd1\)/);
  // one more round: A ◀ U1 ◀ R1 ◀ U2 ◀ R2 ◀ U3
  const r2 = row("eeee1", "redo", "dddd1");
  const u3 = row("ffff1", "undo", "eeee1");
  h = history([a, u1, r1, u2, r2, u3]);
  for (const ref of ["aaaa1", "bbbb1", "cccc1", "dddd1", "eeee1", "ffff1"]) assert.equal(pickRedo(h, ref).id, "ffff1", `redo by ${ref}`);
  assert.equal(undoneBy(h, a)?.id, "ffff1");
  h = history([a, u1, r1, u2, r2]);
  assert.equal(undoneBy(h, a), undefined, "redone: not undone");
  assert.equal(pickUndo(h, "aaaa1").id, "eeee1", "undo by the run's id reverses the redo in effect");
  assert.throws(() => pickRedo(h, "aaaa1"), ChainError);
});

test("a failed or unfinished undo does not count", () => {
  const a = row("aaaa1");
  const failed = row("bbbb1", "undo", "aaaa1", { exit: 5 });
  const running = row("cccc1", "undo", "aaaa1", { ended: null, exit: null });
  const h = history([a, failed, running]);
  assert.equal(isUndone(h, a), false);
  assert.equal(pickUndo(h).id, "aaaa1");
  assert.throws(() => pickRedo(h), NothingToDo);
});

test("per shell session: undo and redo stay in the session unless none is given", () => {
  const mine = row("aaaa1", "run", null, { session: "s1" });
  const theirs = row("bbbb1", "run", null, { session: "s2" });
  const h = history([mine, theirs]);
  assert.equal(pickUndo(h, undefined, "s1").id, "aaaa1");
  assert.equal(pickUndo(h, undefined, null).id, "bbbb1");
  assert.throws(
    () => pickUndo(h, undefined, "s3"),
    (e: Error) => e instanceof NothingToDo && /of this shell/.test(e.message),
  );
});

test("redo of a command that is not undone is bad input; nothing to undo is NothingToDo", () => {
  const h = history([row("aaaa1")]);
  assert.throws(() => pickRedo(h, "aaaa1"), ChainError);
  assert.throws(() => pickUndo(history([])), NothingToDo);
});

test("a dangling undone_by (its undo row gone) is not undone, and acting stops there", () => {
  const a = row("aaaa1", "run", null, { undone_by: "ffff1" });
  const h = history([a]);
  assert.equal(isUndone(h, a), false, "no such undo row: not undone");
  assert.equal(acting(h, a).id, "aaaa1");
});

test("the command an undo runs in (its line typed at a hooked prompt, still running) is never its own default target", () => {
  const earlier = row("aaaa1");
  const typed = row("eeee1", "run", null, { ended: null, exit: null }); // `echo x > out; shit undo`: its line has effects
  const h = history([earlier, typed]);
  assert.equal(pickUndo(h, undefined, null, "eeee1").id, "aaaa1");
  assert.equal(pickUndo(h).id, "eeee1", "from elsewhere it is a command like any other");
});
