// Which of a plan's steps can still get their kept bytes: a pre-image freed by `shit gc`, deleted
// from staging, or changed since it was kept cannot restore its path. The CLI names those
// (with why), stops, or with `--on-conflict skip` performs the plan without them.
import type { BPath } from "../paths/bytes.js";
import type { Plan, Step } from "../plan/plan.js";
import { BlobError, keepWindows, type Store } from "../store/store.js";
import { keepUses, movedWhole } from "../apply/apply.js";

export interface Lost {
  path: BPath;
  reason: string; // the store's word for it: "pre-image … was freed by `shit gc`", "… is missing (ENOENT)"
  step: Step;
  at: number; // its place in plan.steps (a spilled plan's steps are read anew at each pass: no identity)
}

/** The steps of plan whose pre-image cannot be used, each with why. `force`: a kept inode changed
 *  since it was kept is not lost (the apply restores it as it is now, and says so). `byApply`:
 *  nothing waits between this and the apply (`--yes`): an inode a `place` moves back whole is
 *  checked by shit-apply before any step (exit 5: the CLI plans again with this check, which
 *  names it), so only its row is looked at here, not the file (an lstat per kept file). A keep two
 *  steps use is copied, not moved back: shit-apply does not check it, so it is looked at here. */
export function lostPreimages(store: Store, plan: Plan, force = false, byApply = false): Lost[] {
  const lost: Lost[] = [];
  const twice = byApply ? keepUses(plan.steps) : new Set<string>();
  let at = 0;
  for (const win of keepWindows(store, plan.steps)) {
    for (const s of win) {
      at++;
      if (!s.keep) continue;
      try {
        store.source(plan.cmd, s.keep, s.pre, { force, path: s.path, whole: byApply && !twice.has(s.keep) && movedWhole(s) });
      } catch (e) {
        if (!(e instanceof BlobError)) throw e;
        lost.push({ path: s.path, reason: e.message, step: s, at: at - 1 });
      }
    }
  }
  return lost;
}

/** plan without the steps that lost their pre-image, and without the later steps that act on
 *  what a lost `place` would have put there (the mode a `chmod` before an `rm` changed, a rename
 *  or link of it, and so on down what those would have made), until a step places it again:
 *  with nothing there, each would stop the apply. The path is named by its lost pre-image. */
export function withoutLost(plan: Plan, lost: Lost[]): Plan {
  if (!lost.length) return plan;
  const drop = new Set(lost.map((l) => l.at));
  const placed = new Map(lost.filter((l) => l.step.kind === "place").map((l) => [l.at, l.step.path]));
  const absent = new Set<BPath>(); // paths left empty by a lost place (or by a step on one, dropped)
  const steps = plan.steps.like();
  let at = 0;
  for (const s of plan.steps) {
    const i = at++;
    if (drop.has(i)) {
      const p = placed.get(i);
      if (p !== undefined) absent.add(p);
      continue;
    }
    if (absent.has(s.path) && s.kind !== "place") {
      // what a rename or link of it would have made is not there either
      if ((s.kind === "rename" || s.kind === "link") && s.path2 !== undefined) absent.add(s.path2);
      continue;
    }
    absent.delete(s.path); // placed again: there from here on
    if (s.path2 !== undefined && (s.kind === "rename" || s.kind === "link")) absent.delete(s.path2);
    steps.push(s);
  }
  return { ...plan, steps };
}
