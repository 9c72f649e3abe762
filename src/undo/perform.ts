// Performing an undo or redo: plan it from the index, write the plan, run shit-apply on it as a
// new recorded command, and finish that command's row (its session and shell part, its effect
// counts) in one transaction once its spool is in. Also finishes an undo that was killed.
import { existsSync, rmSync } from "node:fs";
import { noSpace, roomy, withReserve } from "../paths/room.js";
import { join } from "node:path";
import type { Index } from "../index/db.js";
import type { CommandRow } from "../index/rows.js";
import { Op } from "../spool/records.js";
import * as commands from "../index/commands.js";
import * as events from "../index/events.js";
import * as untracked from "../index/untracked.js";
import * as keeps from "../index/keeps.js";
import { ingest } from "../ingest/ingest.js";
import { deferMoved } from "../ingest/moved.js";
import { recount } from "../ingest/effects.js";
import { postsInHand } from "../ingest/hand.js";
import { markMoved, movedIn, notStaged, preparePlan, runApply, type ApplyResult, type PreparedPlan, type Progress } from "../apply/apply.js";
import { planUndo, type ConflictMode, type Plan, type PlanOpts } from "../plan/plan.js";
import { planView, type PlanView } from "../plan/view.js";
import * as scopes from "../index/scopes.js";
import { type BPath, fromBuf, toBuf } from "../paths/bytes.js";
import type { StatePaths } from "../paths/state.js";
import type { Store } from "../store/store.js";
import { shellRecord, type ShellPart } from "./shell.js";
import { commandEvents, recordedEvents, type CommandEvents } from "./events.js";
import { phase } from "./times.js";
import { scopeFor } from "./scope.js";
import { lostPreimages, type Lost } from "./preimages.js";
import type { History } from "./chain.js";
import type { Step } from "../plan/plan.js";

/** A plan, with the later command (if any) that changed each conflicting path since. */
export interface UndoPlan extends Plan {
  changedBy: Map<BPath, CommandRow>;
  events: CommandEvents; // the target's events it was planned from, read again for each pass (its net changes are what the plan text names)
}

/** Plans the undo of target: the planner's inputs read from the index as values. */
/** `staging`: the state dir's staging root, to drop records of calls a kill kept from happening. */
/** `opts`: a part of it (selective undo), the steps that run before it (a cascade). */
export function planFor(ix: Index, target: CommandRow, mode: ConflictMode, staging?: string, opts: PlanOpts = {}): UndoPlan {
  const after = target.started ?? 0;
  const later = (p: BPath) => commands.latestNaming(ix, toBuf(p), after, target.id);
  const evs = commandEvents(ix, target.id, staging);
  const plan = planUndo(
    {
      cmd: target.id,
      ended: target.ended,
      events: evs,
      posts: postsInHand(ix, target.id) ?? (() => events.iteratePosts(ix, target.id)),
      untracked: untracked.of(ix, target.id),
      concurrent: concurrentWriters(ix, target, evs),
      related: target.of ? recordedEvents(ix, target.of) : undefined,
    },
    mode,
    opts,
  );
  const changedBy = new Map<BPath, CommandRow>();
  for (const c of plan.conflicts) {
    if (!c.changedSince) continue;
    const by = later(c.path);
    if (by) changedBy.set(c.path, by);
  }
  return { ...plan, changedBy, events: evs };
}

/** The plan of a reversal of target as `shit undo`/`redo` makes it (scoped by its selective
 *  reversals, or by `only`), and the steps whose kept pre-image is gone. `view`: what its text
 *  shows too (planView), made before the pre-images are checked: of an rm -rf of 100k files the
 *  net changes it reads (~35 MB while made) and the store's rows and verdicts (~31 MB, kept for
 *  the plan file) were held at once, and made the undo's peak. */
export function planWithLost(
  store: Store,
  h: History,
  target: CommandRow,
  mode: ConflictMode,
  prior: Iterable<Step> = [],
  only?: BPath[],
  opts: { view?: boolean; byApply?: boolean } = {},
): { planned: UndoPlan; lost: Lost[]; view: PlanView | null } {
  const { scope, keepIfFull } = scopeFor(store.index, h, target, only);
  const planned = planFor(store.index, target, mode, store.paths.staging, { prior, scope, keepIfFull, spill: store.paths.run });
  phase("plan: steps");
  const view = opts.view ? viewOf(planned) : null;
  phase("plan: view");
  const lost = lostPreimages(store, planned, mode === "force", opts.byApply);
  phase("plan: pre-images");
  return { planned, lost, view };
}

/** What the text of an undo's plan shows (src/plan/view.ts): from its steps and the target's net changes. */
export function viewOf(plan: Plan, events: CommandEvents = (plan as UndoPlan).events): PlanView {
  return planView(plan, () => events.inOrder(), events.net());
}

/** For each existing file whose bytes target changed, the other commands that wrote to it while
 *  target did (from target's first write of it to target's end, or now while it runs; the ms
 *  bounds are inclusive, so a tie counts as overlap). */
function concurrentWriters(ix: Index, target: CommandRow, evs: CommandEvents): Map<BPath, string[]> {
  const BYTES: readonly number[] = [Op.OPEN, Op.TRUNCATE];
  const first = new Map<BPath, number>();
  // (happened() drops no OPEN or TRUNCATE: the index answers, no pass over every event)
  for (const e of evs.ofOps(BYTES))
    if (e.err === 0 && e.path && BYTES.includes(e.op) && e.pre) {
      const p = fromBuf(e.path);
      if (!first.has(p)) first.set(p, e.time ?? target.started ?? 0);
    }
  const out = new Map<BPath, string[]>();
  const to = target.ended ?? Date.now();
  for (const [p, from] of first) {
    const others = events.writersDuring(ix, toBuf(p), target.id, BYTES, from, to);
    if (others.length) out.set(p, others);
  }
  return out;
}

/** The paths of the steps that undo an event (not the closing pass over directories' times). */
function* stepPaths(steps: Iterable<Step>): Generator<BPath> {
  for (const s of steps) {
    if (s.seq < 0) continue;
    yield s.path;
    if (s.path2 !== undefined) yield s.path2;
  }
}

/** Said when an apply that is done could not be recorded in the index (the disk full even with
 *  the reserve's room): it is done, and its journal has it. */
const LATER = "shit: the disk is full: the index records this at the next `shit` command (its journal has it)\n";

/** The index writes after an apply: on a full disk once more with the reserve's room (withReserve);
 *  still short after an apply that is done: null, for the caller to say it is done and recorded
 *  later, never an error that calls a reversal made "failed" (the next verb would then say
 *  "nothing to redo"). After a stopped apply the error stands: it is run again anyway. */
function recorded<T>(store: Store, code: number, write: () => T): T | null {
  try {
    return withReserve(store.paths, write);
  } catch (e) {
    if (code !== 0 || !noSpace(e)) throw e;
    return null;
  }
}

/** shit-apply said done, yet its END is not in the index after the ingest of its journal: a full
 *  disk cut the journal short (its last records are written without the reserve's room). Not
 *  said as done: as an apply stopped part-way, which run again finds its steps made and records
 *  them (else the next verb would say "nothing to redo", or meet its own changes as conflicts). */
function journalCut(ix: Index, id: string, r: { code: number; stderr: string }): void {
  if (commands.times(ix, id)?.ended != null) return;
  r.code = 2;
  r.stderr += "shit: the disk is full: the journal of its changes was cut short (they are made)\n";
}

export interface Outcome extends ApplyResult {
  id: string; // the undo/redo command's id
  // code: shit-apply's exit: 0 done, 3 a conflict found at apply time, 5 a pre-image kept whole gone or changed (nothing changed in either), else stopped part-way
  corrupt: string[]; // spools the ingest after it found unreadable bytes in
}

/** An undo or redo of target that was killed part-way, if one is waiting to be finished. */
export function interrupted(ix: Index, paths: StatePaths, target: CommandRow): { row: CommandRow; planFile: string } | null {
  for (const p of commands.unfinishedReversals(ix, target.id)) {
    const planFile = join(paths.run, `${p.id}.plan`);
    if (existsSync(planFile)) return { row: p, planFile };
  }
  return null;
}

/** Finishes an interrupted undo or redo from its own plan and journal. */
export function finish(store: Store, target: CommandRow, p: { row: CommandRow; planFile: string }, lockFd?: number, progress?: Progress): Outcome {
  const r = runApply(store, p.row.id, p.planFile, p.row.kind, target.id, [p.row.kind, target.id], lockFd, progress);
  const done = recorded(store, r.code, () => {
    const got = ingest(store.paths, store.index);
    // what it moved back, the killed run's moves too: the killed run marked only those it had
    // made by then (markMoved), and its list for the ingest was cancelled
    if (r.code === 0) store.index.tx(() => keeps.markGone(store.index, notStaged(store, movedIn(store, p.planFile))));
    return got;
  });
  if (done && r.code === 0) journalCut(store.index, p.row.id, r);
  return { id: p.row.id, ...r, stderr: r.stderr + (done ? "" : LATER), corrupt: done?.corrupt ?? [] };
}

/**
 * Performs a plan as a new undo/redo command of target: checks the pre-images it uses (throws
 * BlobError, nothing changed), runs shit-apply, ingests its spool, then finishes its row in one
 * transaction: the session it was asked from, the shell part it undoes, its effect counts.
 */
export function perform(
  store: Store,
  target: CommandRow,
  plan: Plan,
  how: {
    verb: "undo" | "redo";
    kind: "undo" | "redo";
    session: string | null;
    shell: ShellPart | null;
    lockFd?: number;
    force?: boolean;
    checked?: boolean; // its pre-images were checked for this plan just now, nothing waited since
    byApply?: boolean; // and those moved back whole by their rows only: shit-apply checks the files (exit 5)
    group?: string; // a cascade's reversals share it
    progress?: Progress; // a progress line on a terminal
    parent?: string | null; // the recorded command it runs under (the `shit undo` line typed): list shows one row for both
    daemon?: boolean; // shitd ingests the apply's spool: this process does not wait for that
    // nor with no shitd: the spool is on disk (the undo is a recorded command: its spool is its
    // record) and every verb ingests before it reads the index; ~0.2-0.5 s of a 10k-file undo/redo.
    // Not on a disk short of room: there the ingest now (with the reserve's room) tells a journal
    // a full disk cut short from one that is whole (journalCut), and says so
    leave?: boolean;
    prepared?: PreparedPlan; // its plan file is written already (made ahead: src/undo/ahead.ts)
  },
): Outcome {
  phase("show plan");
  const prepared = how.prepared ?? preparePlan(store, plan, { force: how.force, checked: how.checked, byApply: how.checked && how.byApply });
  // known before it runs, so the ingest of its END already knows: a selective undo leaves its
  // target partly undone, and a cascade's reversals are redone together
  const ix = store.index;
  ix.tx(() => {
    // the row's own fields go in first, whoever ingests its spool (its records fill in the rest)
    commands.planned(ix, prepared.id, how.kind, target.id);
    if (how.session) commands.setSession(ix, prepared.id, how.session);
    if (how.parent) commands.setParent(ix, prepared.id, how.parent);
    if (how.group) commands.setGroup(store.index, prepared.id, how.group);
    if (plan.partial) scopes.set(store.index, prepared.id, stepPaths(plan.steps), new Set(plan.needed ?? []));
  });
  phase("write plan");
  const later = !!how.daemon || (!!how.leave && roomy(store.paths));
  // with the apply's records left to a later ingest, the ingest of its END marks what it moved back
  const deferred = later && prepared.moved.length > 0 && deferMoved(store.paths, prepared.id, prepared.moved, prepared.movedFile);
  if (prepared.movedFile && !deferred) rmSync(prepared.movedFile, { force: true }); // marked by this process below
  const r = runApply(store, prepared.id, prepared.file, how.kind, target.id, ["shit", how.verb, target.id], how.lockFd, how.progress);
  phase("shit-apply");
  // the apply is done (or stopped): what follows records it in the index, which a full disk
  // must not turn into "failed" for a reversal that was made (the next verb would then say
  // "nothing to redo"): once more with the reserve's room, and if even that is short, left for
  // the next verb's ingest of the apply's journal, which has it all
  const done = recorded(store, r.code, () => {
    markMoved(store, prepared, r.code, deferred);
    // a conflict or a lost pre-image found at apply time changed nothing: its plan is no
    // interrupted reversal to finish
    if (r.code === 3 || r.code === 5) rmSync(prepared.file, { force: true });
    // 10k records of an undo of an rm -rf: ~0.2 s here, or none when shitd takes them (it watches
    // the spool dir; any later verb syncs with it, or ingests itself if it is gone)
    const { corrupt } = later ? { corrupt: [] } : ingest(store.paths, store.index);
    phase("ingest the apply");
    if (r.code === 0 && how.shell)
      ix.tx(() => {
        commands.setShell(ix, prepared.id, shellRecord(how.shell!));
        // counted with its shell part: now if its END is in, else by the ingest of its END
        if (commands.times(ix, prepared.id)?.ended != null) recount(ix, [prepared.id], store.paths.staging);
      });
    return { corrupt };
  });
  if (done && r.code === 0 && !later) journalCut(ix, prepared.id, r);
  if (!done) {
    // what it moved back stays marked as kept until then: the next ingest marks it (moved.ts)
    if (!deferred && prepared.moved.length) deferMoved(store.paths, prepared.id, prepared.moved);
    r.stderr += LATER;
  }
  phase("finish row");
  const notes = prepared.notes.map((n) => `shit: ${n}\n`).join("");
  return { id: prepared.id, ...r, stderr: notes + r.stderr, corrupt: done?.corrupt ?? [] };
}
