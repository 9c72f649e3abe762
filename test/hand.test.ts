// Events in hand (src/ingest/hand.ts): an undo or redo plans from the rows its own ingest just
// wrote instead of reading them back. The answer must be the index's, for every case: each
// command of the case matrix (and the undo of it, which the redo plans) is planned both ways,
// in each conflict mode, from one index (a second connection, holding nothing, reads it), and the
// plans, their events, the effect counts and the stored view are compared whole.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { asText, cases, runCase, skipOf } from "./cases.ts";
import { sandbox, out, type Sandbox } from "./helpers.ts";
import { Index } from "../dist/index/db.js";
import * as commands from "../dist/index/commands.js";
import * as views from "../dist/index/views.js";
import { ingest } from "../dist/ingest/ingest.js";
import { recount } from "../dist/ingest/effects.js";
import { holdEvents, inHand, postsInHand, HOLD_MAX } from "../dist/ingest/hand.js";
import * as events from "../dist/index/events.js";
import { planFor } from "../dist/undo/perform.js";
import { planView } from "../dist/plan/view.js";
import { statePaths } from "../dist/paths/state.js";
import { Op, readRecords } from "../dist/spool/records.js";

/** A plan (or rows) as text: blobs as hex, bigints, maps and sets as lists; the same bytes in a
 *  Buffer or a Uint8Array are the same text. */
const text = (v: unknown) => asText(v);

/** The events a plan was made from, every pass, as text. */
const passes = (p: ReturnType<typeof planFor>) =>
  text({
    forward: [...p.events.forward()],
    backward: [...p.events.backward()],
    net: [...p.events.net()].map(({ seq, op, err, flags, path, path2, pre, pre2, keep, keep_how, note }) => ({
      seq,
      op,
      err,
      flags,
      path,
      path2,
      pre,
      pre2,
      keep,
      keep_how,
      note,
    })), // the columns net changes read
    writes: [...p.events.ofOps([Op.OPEN, Op.TRUNCATE])],
    dropped: p.events.dropped,
    last: p.events.last,
  });

/** Every command of the state dir planned from the rows in hand (held) and from the index (a
 *  second connection): the same plans, events, counts and stored view. How many were in hand. */
function sameBothWays(s: Sandbox, opts: { chunk?: number } = {}): number {
  const paths = statePaths(s.state);
  const held = new Index(paths.index);
  const plain = new Index(paths.index);
  let inhand = 0;
  try {
    holdEvents(held);
    ingest(paths, held, opts);
    for (const c of commands.newestFirst(held, null, -1)) {
      const rows = inHand(held, c.id);
      if (!rows) continue;
      inhand++;
      const c2 = commands.byId(plain, c.id)!;
      const posts = postsInHand(held, c.id);
      assert.ok(posts, `${c.id}: its events are in hand, its end scan is not`);
      assert.equal(text(posts), text(events.postsOf(plain, c.id)), `${c.id}: its end scan`);
      for (const mode of ["stop", "skip", "force"] as const) {
        const a = planFor(held, c, mode, paths.staging);
        const b = planFor(plain, c2, mode, paths.staging);
        assert.equal(text({ ...a, events: null }), text({ ...b, events: null }), `${c.id} ${mode}: the plan from the rows in hand`);
        assert.equal(passes(a), passes(b), `${c.id} ${mode}: the events planned from`);
        const view = (p: typeof a) => text(planView(p, p.events.changes(), p.events.net()));
        assert.equal(view(a), view(b), `${c.id} ${mode}: the plan text's view`);
      }
      // counted at ingest from the rows in hand; counted again from the index alone
      assert.notEqual(commands.effectsOf(held, c.id), null, `${c.id}: not counted at ingest`);
      const counted = [commands.effectsOf(held, c.id), commands.classOf(held, c.id), [...views.parts(held, c.id)]];
      recount(plain, [c.id], paths.staging);
      assert.deepEqual([commands.effectsOf(plain, c.id), commands.classOf(plain, c.id), [...views.parts(plain, c.id)]], counted, `${c.id}: its counts`);
    }
  } finally {
    held.close();
    plain.close();
  }
  return inhand;
}

for (const c of cases) {
  const skip = skipOf(c);
  test(`in hand = from the index: ${c.name}`, { skip }, async (t) => {
    const s = sandbox(t);
    await runCase(s, c);
    assert.ok(sameBothWays(s) >= 1, "the command's events were not held");
    if (c.expect.exit !== 0 || c.expect.summary === null) return;
    // the undo's records are left to the next verb: the redo plans from them in hand
    const undo = s.shit(["undo", "--yes"]);
    assert.equal(undo.status, 0, out(undo));
    assert.ok(sameBothWays(s) >= 1, "the undo's events were not held");
  });
}

test("in hand = from the index: a spool read in many small slices and transactions, a VOID, processes interleaved", (t) => {
  const s = sandbox(t);
  s.sh("mkdir -p d/e full && for i in $(seq 1 40); do echo $i > d/f$i; echo $i > d/e/g$i; echo $i > s$i; done; echo x > full/x");
  // rmdir of a directory that is not empty: recorded before the call, then voided (it failed)
  const cmd = "rmdir full 2>/dev/null; for i in $(seq 1 40); do rm s$i & done; rm -rf d & mv full gone; wait";
  const run = s.shit(["run", "--", "bash", "-c", cmd]);
  assert.equal(run.status, 0, out(run));
  const spool = readdirSync(join(s.state, "spool")).find((n) => n !== "done" && readFileSync(join(s.state, "spool", n)).length > 4096)!;
  const recs = readRecords(readFileSync(join(s.state, "spool", spool))).records;
  assert.ok(
    recs.some((r) => r.op === Op.VOID),
    "no VOID record: the case does not test one",
  );
  assert.ok(new Set(recs.map((r) => r.pid)).size > 10, "the processes' records are not interleaved");
  assert.equal(sameBothWays(s, { chunk: 700 }), 1); // a few records a slice, ~2 a transaction
});

test("in hand = from the index: a command large enough for a stored view (its net changes made once)", (t) => {
  const s = sandbox(t);
  s.sh("mkdir -p d && for i in $(seq 1 12); do mkdir d/$i && touch d/$i/f{1..100}; done");
  assert.equal(s.shit(["run", "--", "rm", "-rf", "d"]).status, 0);
  const paths = statePaths(s.state);
  assert.equal(sameBothWays(s), 1);
  const ix = new Index(paths.index);
  try {
    const id = commands.newestFirst(ix, null, -1).find((c) => c.kind === "run" && c.argv)!.id;
    assert.ok([...views.parts(ix, id)].length > 0, "no stored view: the case does not test one");
  } finally {
    ix.close();
  }
  const undo = s.shit(["undo", "--yes"]);
  assert.equal(undo.status, 0, out(undo));
  assert.equal(sameBothWays(s), 1);
});

test("not in hand: a spool another ingest read part of; more rows than the hand holds, in one command or in all", (t) => {
  const s = sandbox(t);
  s.sh("mkdir d e f && for i in $(seq 1 50); do echo $i > d/f$i; done && for i in $(seq 1 20); do echo $i > e/f$i; echo $i > f/f$i; done");
  for (const dir of ["d", "e", "f"]) assert.equal(s.shit(["run", "--", "rm", "-rf", dir]).status, 0);
  const paths = statePaths(s.state);
  const base = join(s.dir, "base");
  spawnSync("cp", ["-a", s.state, base]); // each ingest below starts from the spools alone
  const fresh = () => {
    spawnSync("rm", ["-rf", s.state]);
    spawnSync("cp", ["-a", base, s.state]);
    return new Index(paths.index);
  };
  const runs = (ix: Index) => commands.newestFirst(ix, null, -1).filter((c) => c.kind === "run" && c.argv);
  const held = (ix: Index) => runs(ix).filter((c) => inHand(ix, c.id)).length;
  let ix = fresh();
  try {
    holdEvents(ix);
    ingest(paths, ix);
    assert.equal(held(ix), 3, "every command is in hand under the cap");
  } finally {
    ix.close();
  }
  ix = fresh();
  const other = new Index(paths.index); // as shitd: one transaction of a few records, then it stops
  try {
    ingest(paths, other, { budget: 10, chunk: 1024 });
    holdEvents(ix);
    ingest(paths, ix);
    assert.equal(held(ix), 2, "rows another ingest wrote are not in hand: the index answers");
  } finally {
    other.close();
    ix.close();
  }
  ix = fresh();
  try {
    holdEvents(ix, 45); // each small command's ~21 events fit, and one more; the 50-file one does not
    ingest(paths, ix);
    assert.equal(held(ix), 2);
    assert.ok(runs(ix).every((c) => inHand(ix, c.id) === null || inHand(ix, c.id)!.length < 45));
  } finally {
    ix.close();
  }
  assert.ok(HOLD_MAX >= 20_000, "the undo of an rm -rf of 10k files (its ~10k events and the redo's) is planned from the rows in hand");
});
