// A command's events → the steps that put every path back, checked against the present state
// before anything runs. Steps are the inverse of each effect, in reverse order, so chains
// (rm a && mv b a && echo c > b) and swaps come out right; then directories get their old
// modes and times back. A path whose present state is not what the command left is a conflict.
import { constants as C, lstatSync } from "node:fs";
import type { EventRow, PostRow, UntrackedRow } from "../index/rows.js";
import { Op, decodeStat, modeOf, type Stat } from "../spool/records.js";
import { type BPath, dirname, fromBuf, isUnder, join, toBuf } from "../paths/bytes.js";
import { Expectations, TYPE_NAME, VFS, typeOf, type VNode } from "./vfs.js";
import type { Conflict, Plan, Step } from "./steps.js";
import { untrackedUndo } from "./untracked.js";
import { StepLog } from "./steplog.js";

export type { Conflict, Plan, Step, StepKind } from "./steps.js";

/** Everything the planner needs to know of one command, as values read from the index. */
export interface PlanInput {
  cmd: string;
  ended: number | null; // ms, when it ended
  events: EventRow[] | Events; // in order
  /** The end scan of shit-run, shit-apply or a hooked shell; read twice, a row at a time when a
   *  function (the redo of an undo of an rm -rf of 100k files has 100k). */
  posts: PostRow[] | (() => Iterable<PostRow>);
  untracked: UntrackedRow[]; // what the watcher tier saw change outside capture: named, never acted on
  /** Paths whose bytes the command changed (open for writing, truncate) that other commands wrote
   *  to while it ran, with their ids: their bytes may sit between its own (interleaved appends),
   *  so truncating back or putting the old bytes back would remove theirs too. */
  concurrent?: Map<BPath, string[]>;
  /** The events of the command this one reversed (an undo's or redo's OF), if any: the other
   *  names of a hard-linked file it puts back are looked for in their directories too. */
  related?: EventRow[] | Events;
}

/** A command's events as the planner reads them: once a pass, in seq order or its reverse. From
 *  the index a row at a time (src/undo/events.ts), so a command of 100k events is never held
 *  whole (it was ~1 KB an event); an array serves as well. */
export interface Events {
  forward(): Iterable<EventRow>;
  backward(): Iterable<EventRow>;
}

export function arrayEvents(a: EventRow[]): Events {
  return {
    forward: () => a,
    backward: function* () {
      for (let i = a.length - 1; i >= 0; i--) yield a[i];
    },
  };
}

const asEvents = (e: EventRow[] | Events): Events => (Array.isArray(e) ? arrayEvents(e) : e);

export type ConflictMode = "stop" | "skip" | "force";

/** Which of a command's paths an undo acts on (selective undo). */
export interface Scope {
  /** Only these paths and everything under them (absolute), with the parent directories they
   *  need put back too. Absent: all of them. */
  only?: BPath[];
  /** Paths an undo of part of the command already put back (exact): left out. */
  except?: Set<BPath>;
}

/** How a plan is made: `scope`, a part of the command; `prior`, the steps of reversals that run
 *  before this one (a cascade): the plan is checked against the tree as they will leave it. */
export interface PlanOpts {
  scope?: Scope;
  prior?: Iterable<Step>;
  /** Directories to remove only when empty (those a selective undo put back only because a path
   *  it selected was below them: other undos may have put things there since). */
  keepIfFull?: Set<BPath>;
  /** Where a plan of many steps keeps them (the state dir's run/; src/plan/steplog.ts). */
  spill?: string;
}

const RENAME_EXCHANGE = 2;
// fish's end time comes from /proc/uptime (10 ms ticks); ctime from the kernel's coarse clock
const CTIME_SLACK_MS = 100;
const idOf = (s: Stat) => `${s.dev}:${s.ino}`;
const describe = (n: VNode | null) => (n ? (TYPE_NAME[n.type] ?? "object") : "nothing");
const p1 = (e: EventRow) => (e.path ? fromBuf(e.path) : null);
const p2 = (e: EventRow) => (e.path2 ? fromBuf(e.path2) : null);

/** A rename between two names of one inode: rename(2) does nothing and succeeds. */
export function noop(e: Pick<EventRow, "op" | "pre" | "pre2">): boolean {
  if (e.op !== Op.RENAME) return false;
  const a = e.pre,
    b = e.pre2;
  if (!(a instanceof Uint8Array && b instanceof Uint8Array && a.length >= 64 && b.length >= 64)) return false;
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false; // dev and ino (docs/SPOOL.md stat_rec): idOf of both
  return true;
}

/** The inverse steps of one command's events, in the order they must run. */
export function inverseSteps(input: EventRow[] | Events, spill?: string): { steps: StepLog; cannot: Plan["cannot"]; firstStat: Map<BPath, Stat> } {
  const steps = new StepLog(spill);
  const cannot: Plan["cannot"] = [];
  // each directory's state before the command touched it, from its earliest record: read
  // backward, the last one seen (one pass over the events, not two). Its raw stat and its place
  // in this pass (the final pass puts its mode and times back, in the order the command first met
  // them). A path met as no directory in an earlier record than any that shows it as one is no
  // directory first: it is dropped (only paths seen as directories are held, not one entry per
  // path: the undo of an rm -rf of 1M files held 1M here for its 1k directories). Keyed by the
  // steps' own path strings.
  const earliest = new Map<BPath, { raw: Uint8Array; at: number }>();
  let at = 0;
  const note = (p: BPath | null, raw: Uint8Array | null) => {
    const mode = modeOf(raw);
    if (!p || mode === null) return;
    if (typeOf(mode) === C.S_IFDIR) earliest.set(p, { raw: raw!, at: at++ });
    else earliest.delete(p);
  };
  for (const e of asEvents(input).backward()) {
    const path = p1(e),
      path2 = p2(e);
    if (e.err === 0 && !noop(e)) {
      // in the reverse of the order a forward pass takes them: the earliest wins
      note(path2, e.pre2);
      note(path, e.pre);
      note(path2 && dirname(path2), e.parent2);
      note(path && dirname(path), e.parent);
    }
    if (e.op === Op.NOTCAPTURED) {
      // a file removed where no undo can reach (a path past PATH_MAX) is still kept: say where
      const kept = e.keep && e.keep_how === "R" ? `; its bytes are kept in the state dir as staging/${e.keep}` : "";
      cannot.push({ path, reason: (e.note ?? "not captured") + kept });
      // a rename over a file, not recorded: the file it replaced is lost too (capture.c prewrite)
      if (path2) cannot.push({ path: path2, reason: `replaced by a rename: ${e.note ?? "not captured"}` });
      continue;
    }
    if (e.err !== 0 || !path) continue;
    const pre = decodeStat(e.pre);
    const seq = e.seq;
    const restore = (p: BPath, s: Stat | null, keep: string | null, how: string | null, target: Uint8Array | null) => {
      if (!s) return;
      const t = typeOf(s.mode);
      if (t === C.S_IFDIR) steps.push({ kind: "place", path: p, pre: s, seq });
      else if (t === C.S_IFLNK && target) steps.push({ kind: "place", path: p, pre: s, target: Buffer.from(target), seq });
      else if (t === C.S_IFREG && keep && how !== "T") steps.push({ kind: "place", path: p, pre: s, keep, seq });
      else if (t === C.S_IFIFO || t === C.S_IFSOCK) steps.push({ kind: "place", path: p, pre: s, seq });
      else if ((t === C.S_IFCHR || t === C.S_IFBLK) && s.rdev !== undefined) steps.push({ kind: "place", path: p, pre: s, rdev: s.rdev, seq });
      else cannot.push({ path: p, reason: `its ${TYPE_NAME[t] ?? "contents"} was not kept${e.note ? ": " + e.note : ""}` });
    };
    // OPSWITCH(inverse; ignores: BEGIN END POST EXEC NOTCAPTURED VOID STAGED KILL) -- not effects; NOTCAPTURED is named above; ingest applies a VOID to the event it voids; a KILL has no inverse (ingest puts it in kills; the undo prints its restart command)
    switch (e.op) {
      case Op.UNLINK:
      case Op.RMDIR:
        restore(path, pre, e.keep, e.keep_how, e.target);
        break;
      case Op.RENAME: {
        const to = path2;
        if (to === null) {
          cannot.push({ path, reason: "its record names no destination (a damaged record)" });
          break;
        }
        if (noop(e)) break;
        if (e.flags & RENAME_EXCHANGE) {
          cannot.push({ path, reason: `exchanged with ${to}: undoing an exchange is not supported yet` });
          break;
        }
        steps.push({ kind: "rename", path: to, path2: path, pre: pre ?? undefined, seq });
        restore(to, decodeStat(e.pre2), e.keep2, e.keep2_how, e.target2);
        break;
      }
      case Op.OPEN:
        if (!pre) steps.push({ kind: "remove", path, seq });
        else if (typeOf(pre.mode) !== C.S_IFREG) break;
        else if (e.keep && e.keep_how !== "T") steps.push({ kind: "rewrite", path, keep: e.keep, length: -1n, pre, seq });
        else if (e.flags & C.O_APPEND && !(e.flags & C.O_TRUNC)) steps.push({ kind: "truncate", path, length: pre.size, pre, seq });
        else if (e.flags & (C.O_WRONLY | C.O_RDWR | C.O_TRUNC)) cannot.push({ path, reason: e.note ?? "its old bytes were not kept" });
        break;
      case Op.TRUNCATE: {
        if (!pre) break;
        const len = BigInt(e.arg ?? 0);
        if (e.keep && e.keep_how === "T") steps.push({ kind: "rewrite", path, keep: e.keep, tailOf: len, length: -1n, pre, seq });
        else if (e.keep) steps.push({ kind: "rewrite", path, keep: e.keep, length: -1n, pre, seq });
        else if (pre.size <= len) steps.push({ kind: "truncate", path, length: pre.size, pre, seq });
        else cannot.push({ path, reason: e.note ?? "the truncated bytes were not kept" });
        break;
      }
      case Op.MKDIR:
      case Op.SYMLINK:
      case Op.MKNOD:
        steps.push({ kind: "remove", path, seq });
        break;
      case Op.LINK:
        if (path2) steps.push({ kind: "remove", path: path2, seq });
        break;
      case Op.CHMOD:
      case Op.CHOWN:
      case Op.UTIMES:
        if (pre) steps.push({ kind: "meta", path, pre, seq });
        break;
      case Op.SETXATTR:
      case Op.REMOVEXATTR:
        if (e.xname) steps.push({ kind: "xattr", path, xname: e.xname, xvalue: e.xvalue ? Buffer.from(e.xvalue) : null, seq });
        // an access ACL is mode bits too (its mask is the group bits, and removing it leaves them
        // as they were): the old mode goes back after it
        if (e.xname === "system.posix_acl_access" && pre) steps.push({ kind: "meta", path, pre, seq });
        break;
    }
  }
  // the directories, first met first (the last of this pass)
  const dirs = [...earliest];
  earliest.clear();
  dirs.sort((x, y) => y[1].at - x[1].at);
  const firstStat = new Map<BPath, Stat>();
  for (const [p, v] of dirs) firstStat.set(p, decodeStat(v.raw)!);
  return { steps, cannot, firstStat };
}

/** The steps (and what cannot be undone) a scope keeps: the selected paths and everything under
 *  them, the directories above them that the undo must put back first (placed, or moved back),
 *  less what an earlier selective undo already put back. */
function scoped(all: ReturnType<typeof inverseSteps>, scope?: Scope) {
  const inScope = (p: BPath | null): boolean => {
    if (p === null) return !scope?.only;
    if (scope?.except?.has(p)) return false;
    return !scope?.only || scope.only.some((o) => p === o || isUnder(p, o));
  };
  if (!scope) return { ...all, inScope, partial: false, needed: [] as BPath[] };
  // two passes over the log: which steps are picked (by their place in it), then those and the
  // directories above them
  const picked = new Uint8Array(all.steps.length);
  const above = new Set<BPath>();
  let i = 0;
  for (const s of all.steps) {
    if (inScope(s.path) || (s.path2 !== undefined && inScope(s.path2))) {
      picked[i] = 1;
      for (const p of s.path2 !== undefined ? [s.path, s.path2] : [s.path]) for (let d = dirname(p); d !== "/"; d = dirname(d)) above.add(d);
    }
    i++;
  }
  const isNeeded = (s: Step) =>
    !scope.except?.has(s.path) &&
    ((s.kind === "place" && !!s.pre && typeOf(s.pre.mode) === C.S_IFDIR && above.has(s.path)) || (s.kind === "rename" && above.has(s.path2!)));
  const steps = all.steps.like();
  const needed: BPath[] = [];
  let left = 0; // the steps of what is left of the command
  i = 0;
  for (const s of all.steps) {
    if (!scope.except?.has(s.path)) left++;
    if (picked[i] || isNeeded(s)) {
      steps.push(s);
      if (!picked[i]) needed.push(s.path2 ?? s.path);
    }
    i++;
  }
  const firstStat = new Map([...all.firstStat].filter(([p]) => !scope.only || above.has(p) || inScope(p)));
  // less than all that is left of the command: its target stays partly undone
  const partial = !!scope.only && steps.length < left;
  return { steps, cannot: all.cannot.filter((c) => inScope(c.path)), firstStat, inScope, partial, needed };
}

/** What the command left at a path, by its end scan. */
function postNode(r: PostRow): VNode | null {
  const s = decodeStat(r.post ? Buffer.from(r.post) : null);
  return s && { type: typeOf(s.mode), ino: s.ino, dev: s.dev, size: s.size, mtimeNs: s.mtimeNs, orig: idOf(s) };
}

function differs(want: VNode | null, have: VNode | null): string | null {
  if (!want && !have) return null;
  if (!want) return `it was gone after the command, and now there is a ${describe(have)}`;
  if (!have) return `the command left a ${describe(want)} there, and now it is gone`;
  if (want.type !== have.type) return `the command left a ${describe(want)}, now it is a ${describe(have)}`;
  // a node an earlier step of a cascade puts back has no inode yet: it is the inode it was
  if (have.ino === null ? have.orig !== want.orig : want.ino !== have.ino) return `it was replaced since the command`;
  if (want.type === C.S_IFDIR) return null;
  if (want.size !== have.size || want.mtimeNs !== have.mtimeNs) return `it was modified since the command`;
  return null;
}

/** Plans the undo of one command: its inverse steps, checked one by one against the virtual tree
 *  (the real tree, read now, overlaid with the steps before). */
export function planUndo(input: PlanInput, mode: ConflictMode, opts: PlanOpts = {}): Plan {
  const cmd = input.cmd;
  const events = asEvents(input.events);
  const all = inverseSteps(events, opts.spill);
  const { steps: inverse, cannot, firstStat, inScope, partial, needed } = scoped(all, opts.scope);
  // what the watcher tier saw change while it ran is named, never acted on (src/plan/untracked.ts)
  const untracked = untrackedUndo(input.untracked);
  untracked.cannot = untracked.cannot.filter((p) => inScope(p));
  // the last time, and the last place in the spool, the command's own records touch each path:
  // a record after the path's end scan comes from a background process of it that outlived its
  // line, and makes that scan stale. By place, not by time: a shell's end time is coarse (fish
  // reads /proc/uptime), a spool's order is exact (one file, appended to).
  // Only of the records that can make anything stale: those after the earliest end scan (by
  // place) and those after the command's end (by time; 1a below compares with the later of the
  // two). Both are few: the scans come at the end of a command's spool. It held an entry per path
  // asked (1M files removed: 1M paths, two maps and a set of them, ~250 bytes a path) for the
  // handful of paths written after their scan.
  const postRows = () => (typeof input.posts === "function" ? input.posts() : input.posts);
  let firstScan = Infinity;
  for (const r of postRows()) if (r.seq !== null && r.seq < firstScan) firstScan = r.seq;
  const ended = input.ended;
  const touched = new Map<BPath, number>();
  const lastSeq = new Map<BPath, number>();
  const touch = (p: BPath, e: EventRow) => {
    if (ended !== null && e.time !== null && e.time > ended && e.time > (touched.get(p) ?? -Infinity)) touched.set(p, e.time);
    if (e.seq > firstScan && e.seq > (lastSeq.get(p) ?? -Infinity)) lastSeq.set(p, e.seq);
  };
  if (firstScan < Infinity || ended !== null)
    for (const e of events.forward()) {
      if (e.err !== 0 || !(e.seq > firstScan || (ended !== null && e.time !== null && e.time > ended))) continue;
      if (e.path) touch(fromBuf(e.path), e);
      if (e.path2) touch(fromBuf(e.path2), e);
    }
  // a selective undo checks only the paths it acts on
  let acted: Set<BPath> | null = null;
  if (opts.scope) {
    acted = new Set();
    for (const s of inverse) {
      acted.add(s.path);
      if (s.path2 !== undefined) acted.add(s.path2);
    }
  }
  // in a cascade the tree this plan meets is the present one as the reversals before it leave it
  const prior = opts.prior ?? [];
  const priorPaths = new Set<BPath>();
  for (const s of prior) {
    priorPaths.add(s.path);
    if (s.path2 !== undefined) priorPaths.add(s.path2);
  }
  const start = (v: VFS) => {
    if (priorPaths.size) simulate(v, prior, new Map(), mode === "force", () => [], undefined, inverse.like());
    return v;
  };
  // read only when a hard link is put back: a pass over the related command's events (10k for
  // the redo of an rm -rf's undo) that most plans never need
  let nearDirs: BPath[] | null = null;
  const near = () => {
    if (nearDirs) return nearDirs;
    const dirs = new Set<BPath>();
    if (input.related) for (const e of asEvents(input.related).forward()) for (const p of [p1(e), p2(e)]) if (p) dirs.add(dirname(p));
    return (nearDirs = [...dirs]);
  };

  // 1. Is each path as the command left it?
  const real = new VFS();
  const before = priorPaths.size ? start(real.fresh()) : null;
  const conflicts: Conflict[] = [];
  const conflicted = new Set<BPath>();
  // the paths whose end scan stands (not stale, acted on), each compared as it is read: marked
  // on the real tree's slot of each (the redo of an undo of an rm -rf of 1M files has 1M)
  for (const r of postRows()) {
    const p = fromBuf(r.path);
    const stale = r.seq !== null ? (lastSeq.get(p) ?? -Infinity) > r.seq : input.ended !== null && (touched.get(p) ?? -Infinity) > input.ended;
    if (stale || (acted && !acted.has(p)) || real.marked(p)) continue;
    real.mark(p);
    const why = differs(postNode(r), before ? before.get(p) : real.realAt(p));
    if (why) {
      conflicts.push({ path: p, reason: why, changedSince: true });
      conflicted.add(p);
    }
  }
  // 1a. A command with no end scan for a path (a shell that is not preloaded, a runner killed
  // before its scan, a background process writing after it): a file whose inode changed (ctime,
  // which no process can set) after the command ended, and after its last record of that path,
  // was changed by someone since.
  if (input.ended !== null) {
    for (const s of inverse) {
      if ((s.kind !== "remove" && s.kind !== "rewrite" && s.kind !== "truncate") || real.marked(s.path) || conflicted.has(s.path) || priorPaths.has(s.path))
        continue;
      const ctime = changedAt(s.path);
      if (ctime === null || ctime <= Math.max(input.ended, touched.get(s.path) ?? 0) + CTIME_SLACK_MS) continue;
      conflicts.push({ path: s.path, reason: "it was changed after the command ended", changedSince: true });
      conflicted.add(s.path);
    }
  }
  // 1b. Did another command write its bytes while this one ran? Then its bytes may sit between
  // this command's own (A1 B1 A2 B2): putting the old bytes back would remove them too.
  for (const s of inverse) {
    const others = s.kind === "truncate" || s.kind === "rewrite" ? input.concurrent?.get(s.path) : undefined;
    if (!others?.length || conflicted.has(s.path)) continue;
    const who = others.length === 1 ? `another command (${others[0]})` : `other commands (${others.join(", ")})`;
    conflicts.push({ path: s.path, reason: `${who} wrote to it while this one ran: putting its old bytes back would remove theirs too` });
    conflicted.add(s.path);
  }

  // 2. Simulate; with "skip", leave out the steps on conflicting paths until the rest is clean
  // (the conflicts only grow: each round splits the whole log again, in its order)
  const split = () => {
    const steps = inverse.like(),
      skipped = inverse.like();
    if (mode !== "skip") return { steps: inverse, skipped };
    for (const s of inverse) (touches(s, conflicted) ? skipped : steps).push(s);
    return { steps, skipped };
  };
  let { steps, skipped } = split();
  for (let round = 0; round < 50; round++) {
    const sim = simulate(start(real.fresh(steps.length)), steps, firstStat, mode === "force", near, opts.keepIfFull, inverse.like());
    if (!sim.conflicts.length || mode !== "skip") {
      for (const c of sim.conflicts) if (!conflicted.has(c.path)) conflicts.push(c);
      return {
        cmd,
        steps: sim.steps,
        // with --force only what force could not clear stands in the way
        conflicts: mode === "force" ? sim.conflicts : conflicts,
        skipped,
        cannot,
        expect: sim.expect,
        outside: untracked.cannot,
        partial,
        needed,
      };
    }
    for (const c of sim.conflicts) {
      if (!conflicted.has(c.path)) conflicts.push(c);
      conflicted.add(c.path);
    }
    ({ steps, skipped } = split());
  }
  throw new Error("planning did not settle");
}

/** ms of the last change to a non-directory at p (its ctime), null when absent or a directory. */
function changedAt(p: BPath): number | null {
  try {
    const st = lstatSync(toBuf(p));
    return st.isDirectory() ? null : st.ctimeMs;
  } catch {
    return null;
  }
}

function touches(s: Step, set: Set<BPath>): boolean {
  return set.has(s.path) || (s.path2 !== undefined && set.has(s.path2));
}

function nodeOf(s: Stat, ino: bigint | null = null): VNode {
  return { type: typeOf(s.mode), ino, dev: ino === null ? null : s.dev, size: s.size, mtimeNs: s.mtimeNs, orig: idOf(s) };
}

/** Each step of input checked against vfs (and made there) in order, those that can run into out. */
function simulate(
  vfs: VFS,
  input: Iterable<Step>,
  firstStat: Map<BPath, Stat>,
  force: boolean,
  near: () => BPath[],
  keepIfFull: Set<BPath> | undefined,
  out: StepLog,
) {
  const conflicts: Conflict[] = [];
  const expect = new Expectations(vfs.cache);
  // not below a directory expected absent (its iterator would drop it: nothing can be there), so
  // the undo of an rm -rf of 100k files holds one expectation, not 100k
  const seen = (p: BPath) => {
    if (expect.has(p)) return;
    for (let d = dirname(p); d !== "/"; d = dirname(d)) if (expect.has(d, true)) return;
    vfs.expectReal(expect, p);
  };
  const clash = (path: BPath, reason: string) => conflicts.push({ path, reason });

  // with --force, what stands in the way is removed first (and kept, like any removal)
  const clear = (p: BPath, seq: number): boolean => {
    const n = vfs.get(p);
    if (!n) return true;
    if (!force) return false;
    if (n.type === C.S_IFDIR) for (const c of vfs.children(p)) if (!clear(join(p, c), seq)) return false;
    seen(p);
    out.push({ kind: "remove", path: p, seq });
    vfs.remove(p);
    return true;
  };
  const parentOk = (p: BPath): boolean => {
    const d = vfs.get(dirname(p));
    if (d?.type === C.S_IFDIR) return true;
    clash(p, `its directory ${dirname(p)} is ${d ? "not a directory" : "gone"}`);
    return false;
  };

  for (const s of input) {
    seen(s.path);
    if (s.path2) seen(s.path2);
    const n = vfs.get(s.path);
    switch (s.kind) {
      case "remove": {
        if (!n) continue; // already gone: nothing to do
        if (n.type === C.S_IFDIR) {
          const left = vfs.children(s.path);
          if (left.length) {
            if (keepIfFull?.has(s.path)) continue; // still needed by what is in it
            if (!force) {
              clash(
                s.path,
                `the command created this directory, and it now holds ${left.length} entr${left.length === 1 ? "y" : "ies"} it did not (${left.slice(0, 3).join(", ")})`,
              );
              continue;
            }
            if (!clear(s.path, s.seq)) continue;
            continue;
          }
        }
        out.push(s);
        vfs.remove(s.path);
        break;
      }
      case "rename": {
        const to = s.path2!;
        if (!n) {
          clash(s.path, `the command moved something here from ${to}, and it is gone now`);
          continue;
        }
        if (s.pre && n.orig !== idOf(s.pre) && n.ino !== null && n.ino !== s.pre.ino) {
          clash(s.path, `the ${describe(n)} here is not the one the command moved here`);
          continue;
        }
        if (!parentOk(to)) continue;
        if (vfs.get(to) && !clear(to, s.seq)) {
          clash(to, `something new is here; it would be replaced by ${s.path} moving back`);
          continue;
        }
        out.push(s);
        vfs.rename(s.path, to);
        break;
      }
      case "place": {
        if (n && !clear(s.path, s.seq)) {
          clash(s.path, `a ${describe(n)} is here now; it would be replaced by what the command removed`);
          continue;
        }
        if (!parentOk(s.path)) continue;
        const pre = s.pre!;
        // a hard link whose other name is back (or never left): link to it, keeping link-ness
        if (typeOf(pre.mode) === C.S_IFREG && pre.nlink > 1) {
          const other = vfs.findOrig(idOf(pre), [dirname(s.path), ...near()]);
          const on = other && vfs.get(other);
          if (other && on && on.size === pre.size && on.mtimeNs === pre.mtimeNs) {
            out.push({ kind: "link", path: other, path2: s.path, seq: s.seq });
            vfs.set(s.path, { ...on });
            break;
          }
        }
        out.push(s);
        if (typeOf(pre.mode) === C.S_IFDIR) vfs.setEmptyDir(s.path, nodeOf(pre));
        else vfs.set(s.path, nodeOf(pre));
        break;
      }
      case "rewrite":
      case "truncate":
        if (n?.type !== C.S_IFREG) {
          clash(s.path, `the command changed the bytes of a file here, and now there is ${n ? "a " + describe(n) : "nothing"}`);
          continue;
        }
        out.push(s);
        vfs.set(s.path, { ...n, size: s.kind === "truncate" ? s.length! : s.pre!.size, mtimeNs: s.pre!.mtimeNs });
        break;
      case "link":
        if (!n || vfs.get(s.path2!)) {
          clash(s.path2!, "cannot link it back");
          continue;
        }
        out.push(s);
        vfs.set(s.path2!, { ...n });
        break;
      case "meta":
      case "xattr":
        if (!n) continue; // removed again later by this plan, or gone: nothing to set
        out.push(s);
        break;
    }
  }
  // finally, every directory the command touched gets its old mode and times back
  for (const [p, s] of firstStat) {
    if (!s || typeOf(s.mode) !== C.S_IFDIR) continue;
    const n = vfs.get(p);
    if (n?.type !== C.S_IFDIR) continue;
    seen(p);
    out.push({ kind: "meta", path: p, pre: s, seq: -1 });
  }
  return { steps: out, conflicts, expect };
}
