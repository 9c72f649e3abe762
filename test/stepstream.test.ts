// A plan's steps spilled to a file (src/plan/steplog.ts, SHIT_STEPS_HELD=0: every plan past no
// step) give the same plan as steps held in memory, record for record: for each command of the
// case matrix (and the undo of each, which its redo plans), in every conflict mode and as a
// selective undo, its steps, skipped steps, view, lost pre-images and plan file, and what `shit
// undo --dry-run` prints (text, --raw, --json); then the undo and redo run from spilled plans.
import { test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { asText, assertSameTexts, cases, eachCommand, planRecords, runCase, skipOf } from "./cases.ts";
import { sandbox, out, type Sandbox } from "./helpers.ts";
import { planFor } from "../dist/undo/perform.js";
import { planView } from "../dist/plan/view.js";
import { lostPreimages, withoutLost } from "../dist/undo/preimages.js";
import { preparePlan } from "../dist/apply/apply.js";
import { Store } from "../dist/store/store.js";

const text = (v: unknown) => asText(v, true);

/** With SHIT_STEPS_HELD set to `held` (undefined: the default) while f runs. */
function withHeld<T>(held: string | undefined, f: () => T): T {
  const was = process.env.SHIT_STEPS_HELD;
  if (held === undefined) delete process.env.SHIT_STEPS_HELD;
  else process.env.SHIT_STEPS_HELD = held;
  try {
    return f();
  } finally {
    if (was === undefined) delete process.env.SHIT_STEPS_HELD;
    else process.env.SHIT_STEPS_HELD = was;
  }
}

/** Every command's plan in each mode (and scoped to its first step's path), as text. */
function plans(s: Sandbox, spill: boolean): Map<string, string> {
  const got = new Map<string, string>();
  eachCommand(s, (ix, paths, c) => {
    let first: string | undefined;
    for (const mode of ["stop", "skip", "force", "scoped"] as const) {
      if (mode === "scoped" && !first) continue;
      const store = new Store(paths, ix);
      const opts = mode === "scoped" ? { scope: { only: [first!] }, spill: paths.run } : { spill: paths.run };
      const planned = withHeld(spill ? "0" : undefined, () => planFor(ix, c, mode === "scoped" ? "stop" : mode, paths.staging, opts));
      if (spill && planned.steps.length) assert.ok(planned.steps.spilled, `${c.id} ${mode}: its ${planned.steps.length} steps were not spilled`);
      if (!spill) assert.ok(!planned.steps.spilled, `${c.id} ${mode}: spilled by default`);
      if (mode === "stop") first = [...planned.steps].find((x) => x.seq >= 0)?.path;
      const lost = lostPreimages(store, planned, mode === "force");
      const plan = withoutLost(planned, lost);
      let file: string;
      try {
        const w = preparePlan(store, plan, { force: mode === "force", checked: true });
        file = text({ ...w, id: null, file: null, records: planRecords(w.file, true) });
        rmSync(w.file);
      } catch (e) {
        file = `throws ${(e as Error).message}`;
      }
      const { events: _, ...rest } = planned;
      got.set(
        `${c.id} ${mode}`,
        text({
          plan: rest,
          view: planView(planned, planned.events.changes(), planned.events.net()),
          lost: lost.map((l) => [l.path, l.reason, l.at, l.step]),
          without: [...plan.steps],
          file,
        }),
      );
    }
  });
  return got;
}

/** What `shit undo --dry-run` prints, in each form, spilled or held ("Ns ago" as the clock says). */
function printed(s: Sandbox, spill: boolean, only: string | undefined): string {
  // spilled, the view's changes also come path by path from the index (changesByPath, past 1 event)
  const env: NodeJS.ProcessEnv = { ...s.env, SHIT_STEPS_HELD: "0", SHIT_VIEW_BOUNDED: "1" };
  if (!spill) (delete env.SHIT_STEPS_HELD, delete env.SHIT_VIEW_BOUNDED);
  const forms = [[], ["--raw"], ["--json"], ["--on-conflict", "skip"], ["--json", "--on-conflict", "skip"], ["--json", "--force"], ["--force"]];
  if (only) forms.push(["--", only], ["--json", "--", only]);
  return forms
    .map((f) => {
      const r = s.shit(["undo", "--dry-run", ...f], { env });
      return `${f.join(" ")}: ${r.status}\n${r.stdout}\n${r.stderr}`.replace(/\b\d+[smhd] ago\b/g, "T ago");
    })
    .join("\n");
}

const same = (held: Map<string, string>, spilled: Map<string, string>) => assertSameTexts(held, spilled, ["spilled", "held"]);

for (const c of cases) {
  const skip = skipOf(c);
  test(`spilled steps = held: ${c.name}`, { skip }, async (t) => {
    const s = sandbox(t);
    await runCase(s, c);
    const held = plans(s, false);
    same(held, plans(s, true));
    const stop = [...held.entries()].find(([k]) => k.endsWith(" stop"));
    const only = stop && (JSON.parse(stop[1]).plan.steps as Array<{ seq: number; path: string }>).find((x) => x.seq >= 0)?.path;
    assert.equal(printed(s, true, only), printed(s, false, only));
    // the undo performed from a spilled plan, then its redo (which plans the undo's records)
    const env = { ...s.env, SHIT_STEPS_HELD: "0" };
    const undo = s.shit(["undo", "--yes"], { env });
    assert.equal(undo.status, c.expect.summary === null ? 1 : c.expect.exit, out(undo)); // changed nothing: nothing to undo
    if (undo.status !== 0) return;
    same(plans(s, false), plans(s, true));
    const redo = s.shit(["redo", "--yes"], { env });
    assert.equal(redo.status, 0, out(redo));
  });
}
