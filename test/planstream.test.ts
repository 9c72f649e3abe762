// A plan's pre-image checks and its plan file made a window of steps at a time (store.rowsOf,
// keepWindows) and with the verdicts and rows a store keeps bounded: the same lost
// pre-images and the same plan file, byte for byte, as with one window over the whole plan and
// every verdict kept. Each command of the case matrix, and a multi-directory tree many windows
// long with a kept file gone from staging, planned in every conflict mode.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { assertSameTexts, cases, eachCommand, planRecords, runCase, skipOf } from "./cases.ts";
import { sandbox, out, stagedFiles, type Sandbox } from "./helpers.ts";
import { planFor } from "../dist/undo/perform.js";
import { lostPreimages, withoutLost } from "../dist/undo/preimages.js";
import { planAhead, preparePlan } from "../dist/apply/apply.js";
import { Store } from "../dist/store/store.js";

/** What the plan of each command comes to with a store of this window and verdict bound: its lost
 *  pre-images and its plan files (made ahead, and as an undo prepares it), as text. */
function outcomes(s: Sandbox, bounds: { window?: number; verdicts?: number; rows?: number }): Map<string, string> {
  const got = new Map<string, string>();
  eachCommand(s, (ix, paths, c) => {
    for (const mode of ["stop", "skip", "force"] as const) {
      const store = new Store(paths, ix);
      if (bounds.window) store.window = bounds.window;
      if (bounds.verdicts !== undefined) store.verdicts = bounds.verdicts;
      if (bounds.rows !== undefined) store.rowsMax = bounds.rows;
      const planned = planFor(ix, c, mode, paths.staging);
      const lost = lostPreimages(store, planned, mode === "force");
      const plan = withoutLost(planned, lost);
      const file = join(s.dir, `${c.id}.${mode}.plan`);
      let ahead: string, prepared: string;
      try {
        const w = planAhead(store, plan, file);
        ahead = JSON.stringify({ ...w, file: null, records: planRecords(file) });
      } catch (e) {
        ahead = `throws ${(e as Error).message}`;
      }
      try {
        const w = preparePlan(store, plan, { force: mode === "force", checked: true });
        prepared = JSON.stringify({ ...w, id: null, file: null, records: planRecords(w.file) });
        rmSync(w.file);
      } catch (e) {
        prepared = `throws ${(e as Error).message}`;
      }
      const steps = [...plan.steps].filter((x) => x.keep).length;
      got.set(`${c.id} ${mode}`, JSON.stringify({ lost: lost.map((l) => [l.path, l.reason]), steps, ahead, prepared }));
    }
  });
  return got;
}

/** The same outcomes with a window of 3 steps, 2 verdicts and 4 rows kept as with one window and all kept. */
function sameWindowed(s: Sandbox): Map<string, string> {
  const whole = outcomes(s, { window: 1 << 30, verdicts: 1 << 30, rows: 1 << 30 });
  const small = outcomes(s, { window: 3, verdicts: 2, rows: 4 });
  assertSameTexts(whole, small, ["windowed", "whole"]);
  return whole;
}

for (const c of cases) {
  const skip = skipOf(c);
  test(`windowed pre-image checks and plan file = whole: ${c.name}`, { skip }, async (t) => {
    const s = sandbox(t);
    await runCase(s, c);
    sameWindowed(s);
  });
}

test("windowed pre-image checks and plan file = whole: a tree of 12 directories many windows long, a kept file gone and one changed, its undo", (t) => {
  const s = sandbox(t);
  s.sh("mkdir -p t && for i in $(seq 1 12); do mkdir t/d$i && for j in $(seq 1 25); do echo $i.$j > t/d$i/f$j; done; done; echo x > t/d3/big");
  const run = s.shit(["run", "--", "bash", "-c", "sed -i s/x/y/ t/d3/big && rm -rf t"]);
  assert.equal(run.status, 0, out(run));
  // one kept file gone from staging: lost, in every window
  const staging = join(s.state, "staging");
  const dir = readdirSync(staging).find((n) => !n.startsWith("."))!;
  const sub = readdirSync(join(staging, dir)).find((n) => n.startsWith("d"))!;
  const gone = readdirSync(join(staging, dir, sub))[0];
  rmSync(join(staging, dir, sub, gone));
  // and one changed since it was kept (in another directory): lost, or with --force restored as it is now
  const other = readdirSync(join(staging, dir)).filter((n) => n.startsWith("d") && n !== sub)[0];
  s.sh(`echo more >> '${join(staging, dir, other, readdirSync(join(staging, dir, other))[0])}'`);
  const got = sameWindowed(s);
  const stop = [...got.entries()].find(([k]) => k.endsWith(" stop") && got.get(k)!.includes('"lost":[['));
  assert.ok(stop, "no plan lost the removed pre-image: the case does not test one");
  const { steps, lost } = JSON.parse(stop[1]);
  assert.equal(lost.length, 2, stop[1].slice(0, 400));
  const force = got.get(stop[0].replace(/ stop$/, " force"))!;
  assert.ok(force.includes("restored as it is now"), "--force names no kept file restored as it is now: the case does not test one");
  assert.ok(steps > 3 * 20, `${steps} kept files: not many windows long`);
  // the undo of the rest (its redo plans the keeps of the undo) planned both ways too
  const undo = s.shit(["undo", "--yes", "--on-conflict", "skip"]);
  assert.equal(undo.status, 10, out(undo)); // done in part: the lost one is named
  sameWindowed(s);
});

test("with --yes, a kept inode two steps use (copied, not moved back, so shit-apply does not check it) is looked at before the plan file: changed since it was kept, both are named lost, and the plan file is written without them", (t) => {
  const s = sandbox(t);
  s.sh("mkdir d && for i in 1 2 3; do echo keep $i > d/f$i; done");
  assert.equal(s.shit(["run", "--", "rm", "-rf", "d"]).status, 0);
  // every staged file written on in place, its size and times as they were: only its ctime tells
  for (const f of stagedFiles(join(s.state, "staging")))
    s.sh(`touch -r '${f}' '${s.dir}/ref'; printf 'XXXXXX\\n' | dd of='${f}' conv=notrunc status=none; touch -r '${s.dir}/ref' '${f}'`);
  let checked = 0;
  eachCommand(s, (ix, paths, c) => {
    const store = new Store(paths, ix);
    const planned = planFor(ix, c, "stop", paths.staging);
    // the plan with one place doubled: its keep restored at two paths
    const steps = planned.steps.like();
    let twice: string | undefined;
    for (const x of planned.steps) {
      steps.push(x);
      if (x.kind === "place" && x.keep && !twice) (steps.push({ ...x, path: `${x.path}-again` as typeof x.path }), (twice = x.keep));
    }
    assert.ok(twice, "no place with a keep: the case does not test one");
    const plan = { ...planned, steps };
    const lost = lostPreimages(store, plan, false, true);
    // the three moved back whole are left to shit-apply; the doubled one is looked at here
    assert.deepEqual(
      lost.map((l) => l.step.keep),
      [twice, twice],
      lost.map((l) => `${l.path}: ${l.reason}`).join("\n"),
    );
    assert.match(lost[0].reason, /changed after it was kept/);
    const w = preparePlan(store, withoutLost(plan, lost), { checked: true, byApply: true });
    rmSync(w.file);
    checked++;
  });
  assert.equal(checked, 1);
});
