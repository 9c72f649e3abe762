// Plans made ahead. shitd plans the reversal a user is likely to ask for next — the undo of the
// newest command with effects, the redo of the newest undo — once their records are in, and
// writes its plan file; `shit undo` then finds it ready and goes from its question straight to
// shit-apply (an rm -rf of 10k files: ~0.6 s of planning, writing and checking not done then).
//
// A plan made ahead is used only while nothing it was made from has moved:
//  - the index: its stamp (src/index/stamp.ts) is the one it was made at, in its file name;
//  - staging: every pre-image it reads that shit-apply does not check before any change is still
//    there (one listing per command dir); an inode moved back whole (an rm -rf's 10k) shit-apply
//    checks (KEPT_WHOLE: exit 5, nothing changed, and the CLI plans again in full to say what);
//  - the tree: checked where it always is, by shit-apply's EXPECT steps before any change (a
//    change since: exit 3, nothing changed, and the CLI plans again in full to say what).
// Only the plain case is made ahead: the whole command, no conflicts, nothing lost or dropped as
// never having happened, no later command depending on it, no shell state or processes to put
// back, at most MAX_EVENTS. The pre-images it reads out of the store are written out when it is
// taken, not before (nothing is left in staging for a plan never used).
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { deserialize, serialize } from "node:v8";
import type { CommandRow } from "../index/rows.js";
import { PLAN_CACHE } from "../index/db.js";
import type { PlanView } from "../plan/view.js";
import * as events from "../index/events.js";
import * as kills from "../index/kills.js";
import * as commands from "../index/commands.js";
import { stampOf } from "../index/stamp.js";
import { newId, planAhead, type PreparedPlan } from "../apply/apply.js";
import { BlobError, type Store } from "../store/store.js";
import { checkState, unsafeEntry } from "../paths/state.js";
import { hasRoom } from "../paths/room.js";
import { ChainError, NothingToDo, pickRedo, pickUndo, reversalKind, type History } from "./chain.js";
import { indexHistory } from "./history.js";
import { dependents } from "./depends.js";
import { scopeFor } from "./scope.js";
import { shellPart } from "./shell.js";
import { interrupted, planWithLost, type UndoPlan } from "./perform.js";
import { inStaging } from "./unhappened.js";
import { StepLog } from "../plan/steplog.js";
import { NameList } from "../store/names.js";
import { writeMoved } from "../ingest/moved.js";

/** Larger commands are planned when asked. An undo and a redo of an undo (which removes again
 *  what the undo put back: it looks at each of those files, and the undo's end scan names them
 *  all) have limits of their own. An rm -rf of 1M files in dirs of 1000 (1,001,001 events): shitd
 *  peaks at 204 MiB resident planning its undo ahead after ingesting the rm (290 before glibc's
 *  mmap threshold was fixed for it at 32 KiB, 249-253 at 128 KiB: src/daemon/client.ts), 175
 *  ingesting the undo's records; the undo from that plan took 6-14 s against ~45 s when asked.
 *  Planning the redo of that undo ahead, shitd peaks at 230 MiB for 700k files and 245 for 1M
 *  (248 before the overlay's node columns were made only for files: src/plan/vfs.ts; the redo
 *  from it 7.4 s against ~55 s when asked): under the 256 MiB a
 *  process, but at 1M by less than a run with its CPU taken by others added (~20 MiB); redos up
 *  to 710k events (an rm -rf of 700k files in dirs of 1000 is 700,701). */
const MAX_EVENTS = Number(process.env.SHIT_AHEAD_MAX_EVENTS ?? 1010000);
const MAX_REDO_EVENTS = Number(process.env.SHIT_AHEAD_MAX_REDO_EVENTS ?? 710000);

/** What the CLI takes: the plan's outcome (conflicts, what it cannot do), what its text shows
 *  (src/plan/view.ts), and its file, renamed to the reversal's own id (run/<id>.plan) so nothing
 *  else removes it meanwhile. */
export interface Ahead {
  plan: UndoPlan; // its steps, expects and events are in its file and the view, not here (sealed)
  view: PlanView;
  id: string;
  file: string;
  base: string; // where it was made ahead: <run>/ahead/<target>-<stamp>(.plan|.v8)
  moved: NameList; // the pre-images it moves back out of staging (PreparedPlan.moved)
  keeps: NameList; // the pre-images it reads from staging that shit-apply does not check first (PreparedPlan.reads)
  materialised: string[]; // written out of the store when it was taken (PreparedPlan.materialised)
}

/** The saved file's format: a file of another (an older shitd's, after an upgrade) is not used. */
const FORMAT = 3;

interface Saved {
  v: number;
  target: string;
  kind: "undo" | "redo";
  plan: Omit<UndoPlan, "events" | "steps" | "skipped"> & { steps: never[]; skipped: never[] }; // without steps and expects (in the plan file), skipped (none) and events (a pass over the index)
  view: PlanView;
  moved: Uint8Array[]; // NameList.bytes: 1M names packed, not 1M strings in shitd, the file and the CLI
  keeps: Uint8Array[];
  stored: Array<{ name: string; what: string }>; // pre-images in the store: written out when taken
}

const dirOf = (store: Store) => join(store.paths.run, "ahead");

/** Whether run/ahead, or a file in it, is not as this user's own makes it (a symlink, another
 *  user's, writable by others: planted, or pointing elsewhere): then it is never used, nor
 *  followed; the undo is planned in full. */
function unsafe(path: string, dir: boolean): boolean {
  try {
    return unsafeEntry(path, lstatSync(path), dir) !== null;
  } catch {
    return true;
  }
}

/** The saved file, read through a descriptor that did not follow a symlink and is checked as
 *  opened; null when it may not be used. */
function readOwn(file: string): Buffer | null {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    return unsafeEntry(file, fstatSync(fd), false) ? null : readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}
const baseOf = (target: string, stamp: number) => `${target}-${stamp}`;

/** The reversals worth making ahead now: the undo and the redo `shit undo`/`redo` would pick with
 *  no id, across sessions, and in `session` (the hooked shell asking) when given. */
function candidates(h: History, session?: string): CommandRow[] {
  const out: CommandRow[] = [];
  for (const s of session ? [null, session] : [null])
    for (const pick of [pickUndo, pickRedo])
      try {
        const c = pick(h, undefined, s);
        if (!out.some((o) => o.id === c.id)) out.push(c);
      } catch (e) {
        if (!(e instanceof NothingToDo || e instanceof ChainError)) throw e;
      }
  return out;
}

/** For shitd: makes ahead the plans of the reversals likely asked for next, unless made at this
 *  stamp already; removes the rest. Returns the targets whose plan is ready. `tried`: each target
 *  tried before, with the newest command then (commands.lastAndRunning): it is tried again only
 *  while no later command came and none is running — the stamp then moved by what settles after
 *  a command (the exit of its processes noted, what an undo moved back marked, a pin), not by
 *  another command, each of which would plan a 10k-file command again (the sync of an undo asks
 *  for it then). Without `tried`: each target is planned if it is not yet (a sync that asks). */
export function makeAhead(store: Store, tried?: Map<string, number>, session?: string): string[] {
  const ix = store.index;
  const dir = dirOf(store);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (unsafe(dir, true)) return []; // not written through (the CLI would not take it either)
  const stamp = stampOf(ix);
  const h = indexHistory(ix);
  const { last, running } = commands.lastAndRunning(ix);
  const ready: string[] = [];
  for (const t of candidates(h, session)) {
    const base = baseOf(t.id, stamp);
    const have = readdirSync(dir).includes(`${base}.v8`);
    if (!have && tried?.has(t.id) && (tried.get(t.id) !== last || running)) continue;
    const ok = have || ahead(store, h, t, join(dir, base));
    if (ok) ready.push(t.id);
    if (ok || t.ended != null) tried?.set(t.id, last); // one still running is tried again once it has ended
  }
  // those of other stamps: stale (those of this one stay: another shell's, planned at its sync)
  for (const n of readdirSync(dir)) if (!n.replace(/\.(v8|plan|v8\.tmp|moved|moved\.tmp)$/, "").endsWith(`-${stamp}`)) rmSync(join(dir, n), { force: true });
  return ready;
}

/** Free space left for a plan made ahead (~200 bytes a step) with a wide margin: a plan nobody may
 *  use must never take the room a user's next command needs (a disk nearly full: planned when
 *  asked, as without shitd). */
const MARGIN = 64 << 20;
function roomFor(store: Store, events: number): boolean {
  return hasRoom(store.paths.run, MARGIN + events * 512);
}

/** Plans t ahead into base.plan and base.v8, if it is the plain case. */
function ahead(store: Store, h: History, t: CommandRow, base: string): boolean {
  const ix = store.index;
  const n = t.ended == null || t.grp ? Infinity : events.count(ix, t.id);
  if (n > (reversalKind(t) === "redo" ? MAX_REDO_EVENTS : MAX_EVENTS) || !roomFor(store, n)) return false;
  if (interrupted(ix, store.paths, t) || shellPart(ix, t) || kills.of(ix, t.id).length) return false;
  const scoped = scopeFor(ix, h, t);
  if (scoped.first.length || scoped.scope || scoped.keepIfFull) return false;
  if (dependents(ix, h, t).length) return false;
  ix.pageCache(PLAN_CACHE); // until shitd's next ingest
  const { planned, lost, view } = planWithLost(store, h, t, "stop", [], undefined, { view: true });
  const dropped = planned.events.dropped > 0; // records of calls that never ran: the tree decided
  if (lost.length || dropped || planned.conflicts.length || planned.changedBy.size || planned.partial) return false;
  if (!planned.steps.some((s) => s.seq >= 0)) return false;
  const written = planAhead(store, planned, `${base}.plan`);
  const keeps = written.reads ?? new NameList();
  // with the plan, what its text shows (view), not the 10k steps and events it is made from:
  // reading those back (7 MB) cost more than planning a small command
  const { events: _, ...rest } = planned; // a pass over the index, not data
  const plan = { ...rest, steps: [], skipped: [], expect: [] }; // (no conflicts: none skipped)
  const saved: Saved = {
    v: FORMAT,
    target: t.id,
    kind: reversalKind(t),
    plan,
    view: view!,
    moved: written.moved.bytes(),
    keeps: keeps.bytes(),
    stored: written.stored,
  };
  if (written.moved.length) {
    // for the undo to move into run/moved/ (src/ingest/moved.ts): whole, or not there
    writeMoved(`${base}.moved`, written.moved);
  }
  writeFileSync(`${base}.v8.tmp`, serialize(saved), { mode: 0o600 });
  renameSync(`${base}.v8.tmp`, `${base}.v8`); // the plan file first: a .v8 always has its plan
  return true;
}

/** For `shit undo`/`redo` of target (the whole command, no options that change the plan): the
 *  plan made ahead for it, if it is still good, with its file taken; else null (plan it now). */
export function takeAhead(store: Store, target: CommandRow): Ahead | null {
  const base = join(dirOf(store), baseOf(target.id, stampOf(store.index)));
  if (unsafe(dirOf(store), true)) return null;
  let saved: Saved;
  try {
    const bytes = readOwn(`${base}.v8`);
    if (!bytes) return null;
    saved = deserialize(bytes) as Saved;
  } catch {
    return null; // none made for it at this stamp (or not whole: then it is planned now)
  }
  if (!isSaved(saved) || saved.target !== target.id || saved.kind !== reversalKind(target)) return null;
  // its lists read once, here (1M names each for a 1M-file rm -rf), not also to check them
  const moved = NameList.fromBytes(saved.moved),
    keeps = NameList.fromBytes(saved.keeps);
  if (!moved || !keeps || !stillStaged(store, keeps)) return null;
  checkState(store.paths, [join(store.paths.staging, saved.plan.cmd)]); // as preparePlan: others must not write there
  const id = newId();
  const file = join(store.paths.run, `${id}.plan`);
  try {
    renameSync(`${base}.plan`, file);
  } catch {
    return null; // removed meanwhile (shitd moved on to a newer stamp)
  }
  // checked where it is now, in run/ (0700, checked): no one else can change it there any more
  if (unsafe(file, false)) {
    rmSync(file, { force: true });
    return null;
  }
  const taken: Ahead = {
    plan: sealed({ ...saved.plan, skipped: new StepLog() }),
    view: saved.view,
    id,
    file,
    base,
    moved,
    keeps,
    materialised: [],
  };
  // the pre-images in the store, written out to their staging names as preparePlan does (each
  // verified against its hash as it is read): one that cannot be is for the plan made now to name
  if (saved.stored.length) store.preload(saved.plan.cmd); // an rm -rf's 10k are all kept whole: none to read
  try {
    for (const x of saved.stored) {
      const row = store.keep(x.name);
      if (row?.state !== "stored") throw new BlobError(`${x.name} is no longer in the store`);
      taken.materialised.push(store.materialise(saved.plan.cmd, row, x.what));
    }
  } catch (e) {
    if (!(e instanceof BlobError)) throw e;
    giveBack(taken);
    return null;
  }
  return taken;
}

/** A plan made ahead as the CLI holds it: reading its steps, expects or events is a bug (they are
 *  in its file), said loudly rather than taken as "none". */
function sealed(p: Omit<UndoPlan, "events" | "steps"> & { steps: never[] }): UndoPlan {
  for (const k of ["steps", "expect", "events"] as const)
    Object.defineProperty(p, k, {
      get() {
        throw new Error(`the ${k} of a plan made ahead are in its plan file, not in memory`);
      },
    });
  return p as unknown as UndoPlan;
}

/** Whether a file read back is one this build writes (an older shitd's may not be). */
function isSaved(x: Saved): boolean {
  const p = x?.plan as Partial<Saved["plan"]> | undefined;
  return (
    x?.v === FORMAT &&
    Array.isArray(x.moved) && // each a NameList's bytes: read (and checked) by takeAhead
    Array.isArray(x.keeps) &&
    Array.isArray(x.stored) &&
    !!p &&
    !!x.view &&
    Array.isArray(x.view.entries) &&
    typeof x.view.steps === "number" &&
    typeof p.cmd === "string" &&
    [p.steps, p.conflicts, p.cannot, p.skipped, p.outside, p.expect].every(Array.isArray) &&
    p.changedBy instanceof Map
  );
}

/** A plan made ahead that is being performed: no longer there to take; as perform() takes it. */
export function spent(a: Ahead): PreparedPlan {
  rmSync(`${a.base}.v8`, { force: true });
  const movedFile = `${a.base}.moved`; // taken by the undo into run/moved/ (perform), or removed there
  return { id: a.id, file: a.file, moved: a.moved, materialised: a.materialised, notes: [], stored: [], ...(a.moved.length ? { movedFile } : {}) };
}

/** A plan made ahead that was taken and not performed (a dry run, a question answered no): put
 *  back for the next `shit undo`, which is then as quick. */
export function giveBack(a: Ahead): void {
  for (const f of a.materialised) rmSync(f, { force: true });
  try {
    renameSync(a.file, `${a.base}.plan`);
  } catch {
    rmSync(a.file, { force: true });
  }
}

/** Whether the pre-images a plan made ahead reads are all still in staging: asked again after a
 *  question that may have waited for minutes, as the CLI checks its own plan's pre-images again. */
export const stillGood = (store: Store, a: Ahead): boolean => stillStaged(store, a.keeps);

/** Whether every one of these pre-images is still in staging (by name: one listing per command
 *  dir, not an lstat each). */
function stillStaged(store: Store, keeps: Iterable<string>): boolean {
  const staged = inStaging(store.paths.staging);
  for (const k of keeps) if (!staged(k)) return false;
  return true;
}
