// shit undo / shit redo: pick the command (src/undo/chain.ts), plan its inverse, show the plan,
// ask, and perform it as a new recorded command (src/undo/perform.ts). A redo is the undo of the
// undo. This file is the conversation with the user; the rules live in src/undo/.
import { existsSync } from "node:fs";
import { matchesGlob, resolve } from "node:path";
import type { CommandRow } from "../index/rows.js";
import { PLAN_CACHE } from "../index/db.js";
import { lockFresh, type Ctx } from "./context.js";
import { argvOf, commandLine, ago } from "./describe.js";
import { CliError, EXIT, exitCodeOf } from "./exit.js";
import { planLines, rawLines, summary } from "./plan-text.js";
import { changesOf, type PlanView } from "../plan/view.js";
import { netChanges } from "../plan/net.js";
import { undoPatches } from "./changes.js";
import type { ConflictMode, Events, Scope, Step } from "../plan/plan.js";
import { OUTSIDE } from "../plan/untracked.js";
import { type BPath, display, fromBuf, isUnder } from "../paths/bytes.js";
import { BlobError } from "../store/store.js";
import { irreversibleOf } from "../irreversible/of-command.js";
import { liveProcesses, type LiveProcess } from "../procs/running.js";
import { isUndone, pickRedo, pickUndo, resolveRef, reversalKind, undoneBy, type History } from "../undo/chain.js";
import { dependents, rootOf } from "../undo/depends.js";
import { partlyUndoneBy, scopeFor } from "../undo/scope.js";
import * as commands from "../index/commands.js";
import * as events from "../index/events.js";
import * as kills from "../index/kills.js";
import { join } from "node:path";
import { argvOfKill, killText, restart, restartLine, signalName, stillRunning } from "../undo/restart.js";
import { newId, type Progress } from "../apply/apply.js";
import { indexHistory } from "../undo/history.js";
import { withoutLost, type Lost } from "../undo/preimages.js";
import { finish, interrupted, perform, planWithLost, viewOf, type Outcome, type UndoPlan } from "../undo/perform.js";
import { giveBack, spent, stillGood, takeAhead, type Ahead } from "../undo/ahead.js";
import { handShell, shellPart, type ShellPart } from "../undo/shell.js";
import { thisCommand, thisSession } from "./session.js";
import { confirm } from "./confirm.js";
import { phase } from "../undo/times.js";

export interface ReverseOpts {
  yes?: boolean;
  dryRun?: boolean;
  force?: boolean;
  onConflict?: string;
  json?: boolean;
  global?: boolean;
  patch?: boolean; // how each file's contents will change
  raw?: boolean; // the plan's steps one by one
  cascade?: boolean; // undo the later commands that depend on it first
  paths?: string[]; // --paths GLOB: only the paths it changed that match
  only?: string[]; // -- PATH…: only these paths (and what is under them)
  restart?: boolean; // start again, detached, each process it killed (and each unit it stopped)
  planNow?: boolean; // not the plan made ahead: it met a tree changed since (shit-apply's EXPECTs)
}

/** Whether a scope's selection takes p (prefix), leaving out what was already put back. */
const scopeHas = (scope: Scope, p: BPath) => !scope.except?.has(p) && (!scope.only || scope.only.some((o) => p === o || isUnder(p, o)));

const warnCorrupt = (o: Outcome) => {
  for (const s of o.corrupt) process.stderr.write(`shit: warning: spool ${s} has unreadable bytes; read up to them\n`);
};

/** What `--json` gives: the plan as data, then what came of it. */
interface Report {
  verb: "undo" | "redo";
  kind?: "undo" | "redo";
  target?: { id: string; argv: string[]; cwd: string };
  original?: { id: string; argv: string[] }; // the command it undoes or puts forward again (a redo's target is an undo)
  dependsOn?: Array<{ id: string; argv: string[]; line: string }>; // later commands that changed what it changed
  cascade?: Array<{ kind: string; target: string; original: { id: string; argv: string[] }; as: string | null }>; // each reversal, in order
  partial?: boolean; // a selective undo: the rest of the command is left as it is
  dryRun: boolean;
  steps: Array<{ kind: string; path: string; to?: string; length?: string }>;
  conflicts: Array<{ path: string; reason: string; changedBy: string | null }>;
  skipped: string[]; // left as they are by --on-conflict skip
  cannot: Array<{ path: string | null; reason: string }>; // not restored, and why (nothing kept, pre-image lost)
  outside: string[]; // changed outside capture: nothing kept
  beyond: string[]; // effects that left the machine
  running: Array<{ pid: number; argv: string[] }>;
  // processes it killed and units it stopped: never brought back, started again only with --restart
  killed: Array<{
    kind: string;
    pid: number | null;
    signal: string | null;
    argv: string[];
    unit: string | null;
    restart: string | null;
    stillRunning: boolean;
    restarted: { pid: number; log: string } | { exit: number } | null;
    error?: string;
  }>;
  shell: string[];
  outcome: "nothing" | "planned" | "done" | "partial" | "conflict" | "lost" | "refused" | "interrupted" | "stopped" | "error";
  as: string | null; // the undo/redo command's id once it ran
  exit: number;
  error?: string;
}

export async function reverse(ctx: Ctx, verb: "undo" | "redo", ref: string | undefined, opts: ReverseOpts): Promise<number> {
  const report: Report = {
    verb,
    kind: undefined,
    target: undefined,
    dryRun: !!opts.dryRun,
    steps: [],
    conflicts: [],
    skipped: [],
    cannot: [],
    outside: [],
    beyond: [],
    running: [],
    killed: [],
    shell: [],
    outcome: "error",
    as: null,
    exit: EXIT.INTERNAL,
  };
  if (!opts.json) return reverseOrReplan(ctx, verb, ref, opts, report);
  try {
    const code = await reverseOrReplan(ctx, verb, ref, opts, report);
    report.exit = code;
    process.stdout.write(JSON.stringify(report, null, 2) + "\n");
    return code;
  } catch (e) {
    // the one-line message and its exit code still come from main; the data says the same
    report.exit = exitCodeOf(e) ?? EXIT.INTERNAL;
    report.outcome =
      report.exit === EXIT.INTERRUPTED ? "interrupted" : report.exit === EXIT.REFUSED ? "refused" : report.exit === EXIT.NOTHING ? "nothing" : "error";
    report.error = (e as Error).message;
    process.stdout.write(JSON.stringify(report, null, 2) + "\n");
    throw e;
  }
}

/** One reversal of a plan that may reverse several commands (a cascade, or a cascade's redo). */
interface Part {
  target: CommandRow; // what is reversed
  orig: CommandRow; // the command it stands for: the run at the root of its undo chain
  kind: "undo" | "redo";
  cwd: BPath;
  plan: UndoPlan;
  lost: Lost[];
  cannot: Array<{ path: BPath | null; reason: string }>;
  skipped: BPath[];
  shell: ShellPart | null;
  beyond: string[];
  live: LiveProcess[];
  ended: kills.KillRow[]; // processes it killed, units it stopped (an undo of a run only)
  header: string;
  events: Events | null; // the target's, as planned, for --patch (none from a plan made ahead: it is not made for --patch)
  view: PlanView; // what the plan text shows
  byApply: boolean; // its inodes moved back whole were checked by their rows only: shit-apply checks them
}

const id8 = (c: CommandRow) => c.id.slice(0, 8);
/** "; changed later by 4baa4413 `rm -rf src`" */
const laterBy = (by: CommandRow | undefined) => (by ? `; changed later by ${id8(by)} \`${commandLine(by)}\`` : "");

/** The plan of one reversal: against the tree as the reversals before it (`prior`) leave it. */
/** `ahead`: the plan shitd made ahead for it (src/undo/ahead.ts), still good: nothing is planned here. */
/** `byApply`: nothing will wait between this plan and its apply: its inodes moved back whole are
 *  left to shit-apply's check (lostPreimages). */
function partOf(
  ctx: Ctx,
  h: History,
  target: CommandRow,
  mode: ConflictMode,
  opts: ReverseOpts,
  prior: Iterable<Step>,
  only?: BPath[],
  ahead?: Ahead,
  byApply = false,
): Part {
  const orig = rootOf(h, target);
  const kind = reversalKind(target);
  const cwd: BPath = orig.cwd ? fromBuf(orig.cwd) : target.cwd ? fromBuf(target.cwd) : process.cwd();
  // a step whose kept bytes are gone (freed by gc, deleted from staging, changed) cannot be done
  // (skip: the view of the plan less the steps whose pre-image is lost, so made after that check)
  const skip = opts.onConflict === "skip";
  const made = ahead ? { planned: ahead.plan, lost: [], view: ahead.view } : planWithLost(ctx.store, h, target, mode, prior, only, { view: !skip, byApply });
  const { planned, lost } = made;
  const plan = skip ? { ...withoutLost(planned, lost), changedBy: planned.changedBy, events: planned.events } : planned;
  const view = made.view ?? viewOf(plan, planned.events);
  // a redo names the command it puts forward again, not the undo it reverses
  const via = target.id === orig.id ? "" : `; ${target.kind === "undo" ? "undone" : "redone"} by ${id8(target)}`;
  return {
    target,
    orig,
    kind,
    cwd,
    plan,
    lost,
    cannot: [...plan.cannot, ...lost.map((l) => ({ path: l.path, reason: l.reason }))],
    skipped: [...new Set(Array.from(plan.skipped, (s) => s.path))], // a path may have several steps
    shell: shellPart(ctx.index, target),
    beyond: irreversibleOf(ctx.index, target).map((b) => `not undone: ${b.text}`), // effects that left the machine (a run's only)
    live: liveProcesses(ctx.index, target.id), // a process of it that still runs may write again after
    ended: kind === "undo" && orig.kind === "run" ? kills.of(ctx.index, orig.id) : [], // a redo of it killed nothing again
    header: `${kind} of ${id8(orig)}: ${commandLine(orig)}  (${ago(orig.started)}, in ${display(cwd)}${via})`,
    events: ahead ? null : planned.events,
    view,
    byApply: byApply && !ahead,
  };
}

/** The steps of these parts, in order (a pass over each one's log), as often as asked: the
 *  planner reads a cascade's prior steps several times (a generator gave them once, and the later
 *  parts were then checked against the present tree, not the one the parts before leave). */
function stepsOf(parts: Part[]): Iterable<Step> {
  const now = [...parts];
  return {
    *[Symbol.iterator]() {
      for (const p of now) yield* p.plan.steps;
    },
  };
}

/** Paths as typed (relative to the cwd), and globs matched against the paths target changed. */
function selection(ctx: Ctx, target: CommandRow, opts: ReverseOpts): BPath[] | undefined {
  const typed = opts.only ?? [];
  const globs = opts.paths ?? [];
  if (!typed.length && !globs.length) return undefined;
  const abs = (p: string) => fromBuf(Buffer.from(resolve(process.cwd(), p)));
  const out = typed.map(abs);
  if (globs.length) {
    const named = new Set<string>();
    for (const e of events.of(ctx.index, target.id)) for (const b of [e.path, e.path2]) if (b && e.err === 0) named.add(Buffer.from(b).toString("utf8"));
    for (const g of globs) {
      const pattern = resolve(process.cwd(), g);
      const hits = [...named].filter((p) => matchesGlob(p, pattern));
      if (!hits.length) throw new CliError(`--paths ${g}: matches no path ${id8(target)} changed`, EXIT.BAD_INPUT);
      out.push(...hits.map((p) => fromBuf(Buffer.from(p))));
    }
  }
  return out;
}

/** A plan made ahead that met a tree changed since it was made (nothing was changed): planned
 *  again now, against the tree as it is, which names what changed. */
async function reverseOrReplan(ctx: Ctx, verb: "undo" | "redo", ref: string | undefined, opts: ReverseOpts, report: Report): Promise<number> {
  const code = await reverseWith(ctx, verb, ref, opts, report);
  if (code !== REPLAN && code !== RECHECK) return code;
  process.stderr.write(
    code === REPLAN
      ? "shit: the tree changed since that plan was made (nothing was changed); planning again:\n"
      : "shit: a kept pre-image is not as it was kept (nothing was changed); checking each one:\n",
  );
  report.as = null;
  return reverseWith(ctx, verb, ref, { ...opts, planNow: true }, report);
}
const REPLAN = -1;
/** shit-apply refused a pre-image moved back whole that only its row was checked for (--yes):
 *  planned again with every file looked at, which names each one lost and why. */
const RECHECK = -2;

async function reverseWith(ctx: Ctx, verb: "undo" | "redo", ref: string | undefined, opts: ReverseOpts, report: Report): Promise<number> {
  const mode: ConflictMode = opts.force ? "force" : opts.onConflict === "skip" ? "skip" : "stop";
  if (opts.onConflict && !["skip", "stop"].includes(opts.onConflict))
    throw new CliError(`--on-conflict takes skip or stop, not ${opts.onConflict}`, EXIT.BAD_INPUT);
  // with --json the plan goes out as data at the end, and no question is asked
  const say = (text: string) => opts.json || process.stdout.write(text);
  const ended = (outcome: Report["outcome"], code: number) => {
    report.outcome = outcome;
    return code;
  };
  const session = opts.global ? null : thisSession();
  if (!ref && !opts.dryRun) {
    const code = finishKilled(ctx, verb, session, report);
    if (code !== null) return ended(report.outcome, code);
  }
  const h = indexHistory(ctx.index);
  // `shit undo ID --restart` of a command already undone without it: only the restarts are left
  if (verb === "undo" && opts.restart && ref) {
    const named = resolveRef(h, ref, session, thisCommand() ?? undefined);
    const by = named.kind === "run" ? undoneBy(h, named) : undefined;
    const gone = by ? kills.of(ctx.index, named.id) : [];
    if (by && gone.length) return restartOnly(ctx, named, by, gone, opts, report, say);
  }
  const target = verb === "undo" ? pickUndo(h, ref, session, thisCommand() ?? undefined) : pickRedo(h, ref, session, thisCommand() ?? undefined);
  const only = selection(ctx, target, opts);
  const orig = rootOf(h, target);
  report.kind = reversalKind(target);
  report.target = { id: target.id, argv: argvOf(target), cwd: display(target.cwd ? fromBuf(target.cwd) : process.cwd()) };
  report.original = { id: orig.id, argv: argvOf(orig) };
  const unlock = lockFresh(ctx);
  let ahead: Ahead | null = null;
  let performed = false;
  try {
    // picked before the lock: a verb that held it meanwhile may have reversed it (its records are
    // read in now); picked again, an id names it already undone (exit 2), no id another command
    const fresh = indexHistory(ctx.index);
    const now = verb === "undo" ? pickUndo(fresh, ref, session, thisCommand() ?? undefined) : pickRedo(fresh, ref, session, thisCommand() ?? undefined);
    if (now.id !== target.id)
      throw new CliError(`${id8(target)} was ${verb === "undo" ? "undone" : "redone"} by another shit while this one waited; nothing changed`, EXIT.NOTHING);
    // what is reversed, in order: a cascade's redo takes all of the cascade still undone (newest
    // first, so the oldest command comes forward first); an undo or redo with later commands that
    // depend on it reverses those first with --cascade, else it stops and names them
    let targets = [target];
    let hasDeps = false;
    // the plain case (the whole command, conflicts stop it) may have been planned ahead by shitd:
    // then it had no group, no dependents and nothing interrupted at the index's present stamp
    // (--patch, --raw and --json read its steps and events, which a plan made ahead keeps in its file)
    const plain = !only && mode === "stop" && !opts.onConflict && !opts.patch && !opts.raw && !opts.json && !opts.planNow && !target.grp;
    ahead = plain ? takeAhead(ctx.store, target) : null;
    if (ahead) {
      // planned ahead: targets stay [target]
    } else if (verb === "redo" && !only && target.grp) {
      const all = commands.inGroup(ctx.index, target.grp).filter((c) => !isUndone(h, c));
      if (all.some((c) => c.id === target.id)) targets = all;
    }
    if (targets.length === 1 && !ahead) {
      const { scope, first } = scopeFor(ctx.index, h, target, only);
      targets = [...first, target];
      const deps = dependents(ctx.index, h, target, scope ? (p) => scopeHas(scope, p) : undefined);
      hasDeps = deps.length > 0;
      report.dependsOn = deps.map((d) => ({ id: d.cmd.id, argv: argvOf(d.cmd), line: commandLine(d.cmd) }));
      if (deps.length && opts.cascade) targets = [...deps.map((d) => d.acting), ...targets];
      else if (deps.length && mode === "stop") {
        process.stderr.write(
          `depends: ${deps.length === 1 ? "a later command" : `${deps.length} later commands`} changed what ${id8(orig)} changed (or a path under a directory it made, moved or removed):\n`,
        );
        for (const d of deps) process.stderr.write(`  ${id8(d.cmd)}  ${commandLine(d.cmd)}  (${ago(d.cmd.started)})\n`);
        process.stderr.write(
          `nothing changed. \`shit ${verb} ${verb === "undo" ? id8(orig) : id8(target)} --cascade\` ${verb === "undo" ? "undoes" : "reverses"} ${deps.length === 1 ? "it" : "them"} first (newest first), then this one, as one plan; \`--on-conflict skip\` restores only what ${deps.length === 1 ? "it" : "they"} did not change; \`--force\` overwrites (what it overwrites is kept).\n`,
        );
        return ended("conflict", EXIT.CONFLICT);
      }
    }

    // a killed undo/redo of one of them is finished first, from its own plan and journal
    for (const t of targets) {
      const pending = interrupted(ctx.index, ctx.paths, t);
      if (!pending) continue;
      const which = `${pending.row.kind} ${id8(pending.row)} of ${id8(t)}`;
      process.stderr.write(pending.row.exit === 4 ? `shit: retrying the ${which} from the step that failed\n` : `shit: finishing the interrupted ${which}\n`);
      const r = finish(ctx.store, t, pending, unlock.fd, progressTo(pending.row.kind, t));
      process.stderr.write(r.stderr);
      warnCorrupt(r);
      report.as = pending.row.id;
      if (r.interrupted) return interruptedApply(verb, pending.row.kind, r.id, ended);
      if (r.code === 4) stepFailed(verb, pending.row.kind, r.id);
      if (r.code === 5) return ended("lost", EXIT.BLOB);
      return r.code === 0 ? ended("done", EXIT.OK) : r.code === 3 ? ended("conflict", EXIT.CONFLICT) : ended("stopped", EXIT.INTERNAL);
    }

    // one plan over all of them, each checked against the tree as the ones before it leave it
    // with --yes nothing waits before the apply (unless a process still runs: asked below, and
    // then every file is checked when the plan is written); not for a dry run, which names them
    const byApply = !!opts.yes && !opts.dryRun && !opts.planNow && mode === "stop" && targets.length === 1;
    const parts: Part[] = [];
    ctx.index.pageCache(PLAN_CACHE); // until the ingest of the apply (a plan reads each page once)
    for (const t of targets)
      parts.push(partOf(ctx, h, t, mode, opts, stepsOf(parts), t === target ? only : undefined, t === target ? (ahead ?? undefined) : undefined, byApply));
    const main = parts[parts.length - 1];
    phase(ahead ? "plan (made ahead)" : "plan");
    report.kind = main.kind;
    report.cascade =
      parts.length > 1 ? parts.map((p) => ({ kind: p.kind, target: p.target.id, original: { id: p.orig.id, argv: argvOf(p.orig) }, as: null })) : [];
    report.steps = [];
    for (const s of opts.json ? stepsOf(parts) : [])
      if (s.seq >= 0)
        report.steps.push({
          kind: s.kind,
          path: display(s.path),
          ...(s.path2 !== undefined ? { to: display(s.path2) } : {}),
          ...(s.length !== undefined && s.kind === "truncate" ? { length: String(s.length) } : {}),
        });
    report.conflicts = parts.flatMap((p) =>
      p.plan.conflicts.map((c) => ({ path: display(c.path), reason: c.reason, changedBy: p.plan.changedBy.get(c.path)?.id ?? null })),
    );
    report.skipped = parts.flatMap((p) => p.skipped.map((x) => display(x)));
    report.cannot = parts.flatMap((p) => p.cannot.map((c) => ({ path: c.path ? display(c.path) : null, reason: c.reason })));
    report.outside = parts.flatMap((p) => p.plan.outside.map((x) => display(x)));
    report.beyond = parts.flatMap((p) => p.beyond);
    report.running = parts.flatMap((p) => p.live.map((x) => ({ pid: x.pid, argv: x.argv })));
    report.shell = parts.flatMap((p) => p.shell?.lines ?? []);
    const gone = parts.flatMap((p) => p.ended);
    report.killed = gone.map(killedEntry);
    report.partial = !!main.plan.partial;

    if (parts.length === 1) {
      const { plan, cannot, shell, beyond, cwd, lost } = main;
      const noSteps = lost.length ? !plan.steps.some((s) => s.seq >= 0) : !main.view.steps; // skip may leave only the closing pass
      if (noSteps && !plan.conflicts.length && !shell && !main.ended.length) {
        if (cannot.length || plan.outside.length) {
          for (const c of cannot) process.stderr.write(`cannot ${verb}: ${c.path ? display(c.path, cwd) : "?"}: ${c.reason}\n`);
          for (const p of plan.outside) process.stderr.write(`cannot restore: ${display(p, cwd)}: ${OUTSIDE}\n`);
          return ended("lost", EXIT.BLOB);
        }
        if (only)
          throw new CliError(
            `${id8(orig)} (${commandLine(orig)}) changed nothing under ${only.map((p) => display(p, process.cwd())).join(", ")}`,
            EXIT.BAD_INPUT,
          );
        for (const b of beyond) say(b + "\n");
        const rest = partlyUndoneBy(ctx.index, h, target);
        say(
          rest.length
            ? `nothing left to ${verb}: the rest of ${id8(orig)} (${commandLine(orig)}) was undone in part by ${rest.map(id8).join(", ")}\n`
            : `nothing to ${verb}: ${id8(orig)} (${commandLine(orig)}) changed no files\n`,
        );
        return ended("nothing", EXIT.OK);
      }
    }
    const out: string[] = [];
    if (parts.length > 1)
      out.push(
        verb === "undo"
          ? `cascade: ${parts.length - 1} later command${parts.length === 2 ? "" : "s"} depend${parts.length === 2 ? "s" : ""} on ${id8(orig)}; undone first, newest first, as one plan:`
          : `redo of a cascade: ${parts.length} commands put forward again, oldest first, as one plan:`,
      );
    for (const p of parts) {
      const { plan, shell, cwd } = p;
      const more = `shit show ${id8(p.target)} --all lists them all`;
      out.push(p.header, ...(opts.raw ? rawLines(plan, cwd, more) : planLines(p.view, cwd, more)));
      if (p.view.steps || (!shell && !p.ended.length)) out.push(summary(p.view, cwd) + (plan.partial ? "; the rest of the command is left as it is" : ""));
      if (shell) out.push(...shell.lines.map((l) => `  shell     ${l}`));
      // a lost pre-image that stops the undo is told on stderr below, as a conflict is
      const shown = opts.onConflict === "skip" ? p.cannot : plan.cannot;
      for (const c of shown) out.push(`cannot ${verb}: ${c.path ? display(c.path, cwd) : "?"}: ${c.reason}`);
      // the watcher tier saw these change and nothing was kept: the undo does the rest (exit PARTIAL)
      for (const x of plan.outside) out.push(`cannot restore: ${display(x, cwd)}: ${OUTSIDE}`);
      out.push(...p.beyond);
      for (const x of p.live) out.push(`still running: pid ${x.pid} ${x.argv.join(" ")} — it may write again`);
      out.push(...endedLines(p.ended, !!opts.restart));
      for (const x of p.skipped) out.push(`left as it is (conflict): ${display(x, cwd)}${laterBy(p.plan.changedBy.get(x))}`);
      if (opts.patch && p.events) {
        const evs = [...p.events.forward()]; // read whole: each file's diff asks them again
        const diffs = undoPatches(ctx.store, p.target, evs, changesOf(plan, netChanges(evs), evs).undone, cwd);
        if (diffs.length) out.push("", ...diffs);
      }
    }
    say(out.join("\n") + "\n");

    const conflicted = parts.filter((p) => p.plan.conflicts.length);
    if (conflicted.length && mode !== "skip") {
      let later = false;
      for (const p of conflicted)
        for (const c of p.plan.conflicts) {
          const by = p.plan.changedBy.get(c.path);
          later ||= !!by;
          process.stderr.write(`conflict: ${display(c.path, p.cwd)}: ${c.reason}${laterBy(by)}\n`);
        }
      process.stderr.write(conflictHint(verb, verb === "undo" ? id8(orig) : id8(target), opts, later && hasDeps) + "\n");
      return ended("conflict", EXIT.CONFLICT);
    }
    const lost = parts.flatMap((p) => p.lost);
    if (lost.length && opts.onConflict !== "skip") {
      const rest = parts.some((p) => {
        const gone = new Set(p.lost.map((l) => l.at));
        let at = 0;
        return p.plan.steps.some((s) => !gone.has(at++) && s.seq >= 0);
      });
      for (const p of parts) for (const l of p.lost) process.stderr.write(`cannot ${verb}: ${display(l.path, p.cwd)}: ${l.reason}\n`);
      process.stderr.write(
        `nothing changed: ${lost.length === 1 ? "a kept pre-image is" : `${lost.length} kept pre-images are`} gone; no undo can restore ${lost.length === 1 ? "that path" : "those paths"}.` +
          (rest ? ` \`shit ${verb} --on-conflict skip\` restores the rest.` : "") +
          "\n",
      );
      return ended("lost", EXIT.BLOB);
    }
    if (opts.dryRun) return ended("planned", EXIT.OK);
    const Verb = verb === "undo" ? "Undo" : "Redo";
    const live = parts.flatMap((p) => p.live);
    if (opts.json && !opts.yes && !(live.length && opts.force)) {
      process.stderr.write(`--json asks nothing: add --yes to go ahead (or --dry-run to look); nothing changed\n`);
      return ended("refused", EXIT.REFUSED);
    }
    // a question may wait for minutes: then every pre-image is checked again right before the apply
    const asked = (live.length > 0 && !opts.force) || !opts.yes;
    if (live.length && !opts.force) {
      // asked even with --yes: only --force goes ahead without a person saying so
      const pids = live.map((p) => p.pid).join(", ");
      if (!process.stdin.isTTY || opts.json)
        throw new CliError(`${id8(target)} is still running (pid ${pids}) and there is no terminal to ask on: --force ${verb}s it anyway`, EXIT.REFUSED);
      if (!(await confirm(`${Verb} anyway? [y/N] `))) {
        process.stderr.write("nothing changed\n");
        return ended("refused", EXIT.REFUSED);
      }
    } else if (!opts.yes && !(await confirm(`${Verb} ${parts.length > 1 ? `these ${parts.length}` : "this"}? [y/N] `))) {
      process.stderr.write("nothing changed\n");
      return ended("refused", EXIT.REFUSED);
    }

    if (ahead && asked && !stillGood(ctx.store, ahead)) {
      process.stderr.write("something changed while asking (a kept pre-image); nothing was changed. Run it again to see the new plan.\n");
      return ended("conflict", EXIT.CONFLICT);
    }

    // one after the other; each after the first is planned again against the tree the ones
    // before it left (what shit-apply checks), and the cascade stops at the first that cannot go on
    const group = parts.length > 1 ? newId() : undefined;
    let left = 0;
    for (const [i, p] of parts.entries()) {
      if (i > 0) {
        const again = partOf(ctx, h, p.target, mode, opts, [], p.target === target ? only : undefined);
        if (again.plan.conflicts.length && mode !== "skip") {
          for (const c of again.plan.conflicts) process.stderr.write(`conflict: ${display(c.path, p.cwd)}: ${c.reason}\n`);
          process.stderr.write(
            `shit: the cascade stopped before the ${p.kind} of ${id8(p.orig)}: ${i} of ${parts.length} done (\`shit ${verb === "undo" ? "redo" : "undo"}\` reverses them)\n`,
          );
          return ended("stopped", EXIT.CONFLICT);
        }
        parts[i] = again;
      }
      const q = parts[i];
      let r: Outcome;
      const prepared = i === 0 && ahead ? spent(ahead) : undefined; // performed now: not there for another undo to take
      if (prepared) performed = true;
      try {
        r = perform(ctx.store, q.target, q.plan, {
          verb,
          kind: q.kind,
          session,
          shell: q.shell,
          lockFd: unlock.fd, // shit-apply holds the lock too
          force: mode === "force",
          parent: thisCommand(),
          daemon: ctx.daemon,
          leave: i === parts.length - 1, // a cascade's next part is planned from the index: the last one's records can wait
          checked: !asked || i > 0, // partOf checked them (lostPreimages), a later part's just now
          byApply: q.byApply && !asked,
          group,
          progress: progressTo(q.kind, q.orig, parts.length > 1 ? `${i + 1}/${parts.length}` : ""),
          prepared,
        });
      } catch (e) {
        if (e instanceof BlobError) throw new CliError(`cannot ${verb}: ${e.message}; nothing changed`, EXIT.BLOB);
        throw e;
      }
      report.as = r.id;
      if (report.cascade?.length) report.cascade[i].as = r.id;
      if ((r.code === 3 || r.code === 5) && prepared) return REPLAN; // the plan made now names its conflicts, or what is lost
      if (r.code === 5 && q.byApply && !asked) return RECHECK;
      process.stderr.write(r.stderr);
      warnCorrupt(r);
      if (r.code === 0 && q.shell) {
        const handed = handShell(ctx.paths, q.shell, r.id, thisSession());
        if (handed === "handed") say("shell: your shell puts its state back at the next prompt\n");
        else say(`shell: to put that shell's state back, run there:\n${handed.map((l) => "  " + l).join("\n")}\n`);
      }
      if (r.code === 0) {
        left += q.cannot.length + q.plan.outside.length + q.skipped.length;
        if (parts.length > 1) say(`${q.kind === "undo" ? "undone" : "redone"}: ${id8(q.orig)} ${commandLine(q.orig)} (as ${r.id.slice(0, 8)})\n`);
        continue;
      }
      if (i > 0) process.stderr.write(`shit: the cascade stopped at ${id8(q.orig)}: ${i} of ${parts.length} done\n`);
      if (r.code === 3) {
        process.stderr.write("something changed while planning; nothing was changed. Run it again to see the new plan.\n");
        return ended("conflict", EXIT.CONFLICT);
      }
      if (r.code === 5) {
        process.stderr.write("a kept pre-image changed while planning (named above); nothing was changed.\n");
        return ended("lost", EXIT.BLOB);
      }
      if (r.interrupted) return interruptedApply(verb, q.kind, r.id, ended);
      if (r.code === 4) stepFailed(verb, q.kind, r.id);
      else process.stderr.write(`shit: the ${verb} stopped part-way (shit-apply exit ${r.code}); run \`shit ${verb}\` again to finish it\n`);
      return ended("stopped", EXIT.INTERNAL);
    }
    const notBack = await restartEnded(ctx, report, gone, !!opts.restart, say);
    const reverses = `\`shit ${verb === "undo" ? "redo" : "undo"}\` reverses ${parts.length > 1 ? "them all" : "it"}`;
    const as = parts.length > 1 ? `as ${parts.length} ${verb}s` : `as ${report.as!.slice(0, 8)}`;
    const partly = main.plan.partial ? `; ${id8(main.orig)} is partly undone: \`shit undo ${id8(main.orig)}\` undoes the rest` : "";
    if (left) {
      // done, but not all of it: each thing left is named above, with why; here how to finish
      say(`${verb === "undo" ? "undone" : "redone"} in part (${as}; ${reverses}): ${left} ${left === 1 ? "path was" : "paths were"} not restored\n`);
      const skipped = parts.reduce((n, p) => n + p.skipped.length, 0);
      const nothingKept = parts.reduce((n, p) => n + p.plan.cannot.length + p.plan.outside.length, 0);
      if (skipped)
        process.stderr.write(
          `left as they are: ${skipped} changed since the command (conflicts), as --on-conflict skip asks; what the command found there stays kept (\`shit show ${id8(target)}\`). To overwrite them, \`shit ${verb} --force\` instead of skip.\n`,
        );
      if (lost.length)
        process.stderr.write(
          `not restored: ${lost.length} whose kept pre-image is gone (freed by \`shit gc\`, or deleted from staging): nothing is left to restore them from\n`,
        );
      if (nothingKept) process.stderr.write(`not restored: ${nothingKept} of which nothing was kept (named above, with why): no undo can restore them\n`);
      if (notBack) process.stderr.write(notBackText(notBack, !!opts.restart, id8(orig)) + "\n");
      return ended("partial", EXIT.PARTIAL);
    }
    if (notBack) {
      // the files are back; a process is not: done in part, and the line above starts it again
      say(`${verb === "undo" ? "undone" : "redone"} in part (${as}; ${reverses}${partly}): ${notBackText(notBack, !!opts.restart, id8(orig))}\n`);
      return ended("partial", EXIT.PARTIAL);
    }
    say(`${verb === "undo" ? "undone" : "redone"} (${as}; ${reverses}${partly})\n`);
    return ended("done", EXIT.OK);
  } finally {
    if (ahead && !performed) giveBack(ahead); // taken, not used: for the next undo
    unlock();
  }
}

/** `shit undo`/`redo` with no id after an undo or redo of this shell (any, with no session) was
 *  killed part-way: that one is finished first, from its plan and journal, so the history reads
 *  as the tree is. Else `shit redo` after a killed undo said "nothing to redo", and `shit undo`
 *  after a killed redo picked an older command, the tree half-way. The same kind as asked: that
 *  was the answer (its exit code). The other: null, and it is reversed as the history now says
 *  (a killed undo finished, then redone: rolled back). */
function finishKilled(ctx: Ctx, verb: "undo" | "redo", session: string | null, report: Report): number | null {
  const planOf = (c: CommandRow) => join(ctx.paths.run, `${c.id}.plan`);
  const killed = () => commands.unendedReversals(ctx.index).find((c) => (!session || c.session === session) && c.of && existsSync(planOf(c)));
  if (!killed()) return null;
  const unlock = lockFresh(ctx); // held, the spools read in: no undo runs now, so one with no END was killed
  try {
    const p = killed();
    const target = p && commands.byId(ctx.index, p.of!);
    if (!p || !target) return null;
    process.stderr.write(`shit: finishing the interrupted ${p.kind} ${id8(p)} of ${id8(target)}${p.kind === verb ? "" : ` before the ${verb}`}\n`);
    const r = finish(ctx.store, target, { row: p, planFile: planOf(p) }, unlock.fd, progressTo(p.kind, target));
    process.stderr.write(r.stderr);
    warnCorrupt(r);
    report.as = p.id;
    if (r.code === 0) {
      if (p.kind !== verb) return null;
      report.outcome = "done";
      return EXIT.OK;
    }
    if (r.code === 4) stepFailed(verb, p.kind, r.id);
    report.outcome = r.code === 5 ? "lost" : r.code === 3 ? "conflict" : "stopped";
    return r.code === 5 ? EXIT.BLOB : r.code === 3 ? EXIT.CONFLICT : EXIT.INTERNAL;
  } finally {
    unlock();
  }
}

/** How the plan names what it killed or stopped: it cannot be brought back, here is how to start
 *  it again (with --restart: it will be, after the undo). */
function endedLines(ended: kills.KillRow[], restarting: boolean): string[] {
  const out: string[] = [];
  for (const k of ended) {
    if (stillRunning(k)) {
      out.push(`still running: ${killText(k).replace(/^killed /, "pid ")}: it outlived the signal; nothing to restart`);
      continue;
    }
    const line = restartLine(k);
    const what = k.kind === "unit" ? "a unit's processes cannot be brought back" : "a process cannot be brought back";
    out.push(
      `cannot undo: ${killText(k)}: ${what}; ${!line ? "its command line was not recorded" : restarting ? "--restart starts it again with:" : "to start it again (`--restart` does it):"}`,
    );
    if (line) out.push(`  ${line}`);
  }
  return out;
}

const killedEntry = (k: kills.KillRow): Report["killed"][number] => ({
  kind: k.kind,
  pid: k.pid,
  signal: k.kind === "process" ? signalName(k.signal) : null,
  argv: argvOfKill(k),
  unit: k.unit,
  restart: restartLine(k),
  stillRunning: stillRunning(k),
  restarted: null,
});

/** `shit undo ID --restart` of a command already undone (its files are back): start again what
 *  it killed and stopped, nothing else. 0 when all of it runs again, else 10 (each named). */
async function restartOnly(
  ctx: Ctx,
  c: CommandRow,
  by: CommandRow,
  gone: kills.KillRow[],
  opts: ReverseOpts,
  report: Report,
  say: (t: string) => unknown,
): Promise<number> {
  report.kind = "undo";
  report.target = { id: c.id, argv: argvOf(c), cwd: display(c.cwd ? fromBuf(c.cwd) : process.cwd()) };
  report.original = { id: c.id, argv: argvOf(c) };
  report.killed = gone.map(killedEntry);
  say(`${id8(c)} (${commandLine(c)}) is already undone (by ${id8(by)}); what it ended is started again:\n`);
  say(endedLines(gone, true).join("\n") + "\n");
  if (opts.dryRun) {
    report.outcome = "planned";
    return EXIT.OK;
  }
  const notBack = await restartEnded(ctx, report, gone, true, say);
  report.outcome = notBack ? "partial" : "done";
  if (notBack) process.stderr.write(notBackText(notBack, true) + "\n");
  return notBack ? EXIT.PARTIAL : EXIT.OK;
}

/** With --restart, starts again what it killed and stopped (each once the apply is done) and
 *  says what came of it. Returns how many are not running again. */
async function restartEnded(ctx: Ctx, report: Report, ended: kills.KillRow[], restarting: boolean, say: (t: string) => unknown): Promise<number> {
  let notBack = 0;
  for (const [i, k] of ended.entries()) {
    if (report.killed[i].stillRunning) continue;
    if (!restarting) {
      notBack++;
      continue;
    }
    const r = await restart(k, join(ctx.paths.run, "restart"));
    if ("error" in r) {
      notBack++;
      report.killed[i].error = r.error;
      process.stderr.write(`not restarted: ${killText(k)}: ${r.error}\n`);
      continue;
    }
    report.killed[i].restarted = r;
    if ("pid" in r) say(`restarted: ${argvOfKill(k).join(" ")} as pid ${r.pid} (was ${k.pid}; its output: ${r.log})\n`);
    else say(`restarted: ${k.unit} (${k.scope})\n`);
  }
  return notBack;
}

const notBackText = (n: number, restarting: boolean, id?: string) =>
  `${n} ${n === 1 ? "process or unit it ended is" : "processes or units it ended are"} not running again (${restarting ? "named above, with why" : `the line above starts each again; \`shit undo ${id ?? "ID"} --restart\` runs ${n === 1 ? "it" : "them"}`})`;

/** What can help with conflicts, leaving out what was already asked for. */
function conflictHint(verb: string, id: string, opts: ReverseOpts, byLater: boolean): string {
  const can: string[] = [];
  if (byLater && !opts.cascade) can.push(`\`shit ${verb} ${id} --cascade\` ${verb === "undo" ? "undoes" : "reverses"} the later commands first`);
  if (opts.onConflict !== "skip") can.push(`\`shit ${verb} --on-conflict skip\` restores the rest`);
  if (!opts.force) can.push(`\`--force\` overwrites (what it overwrites is kept)`);
  return `nothing changed.${can.length ? " " + can.join(", ") + "." : ""}`;
}

/** The progress line's target (stderr, when it is a terminal). */
function progressTo(kind: string, c: CommandRow, of = ""): Progress | undefined {
  if (!process.stderr.isTTY) return undefined;
  return { fd: 2, label: `${kind === "undo" ? "undoing" : "redoing"} ${id8(c)}${of ? ` (${of})` : ""}:` };
}

/** A step of the apply failed (shit-apply exit 4, its line above names the path and the cause):
 *  running it again as things are fails the same way, so say what to do instead. */
/** Ctrl-C while shit-apply ran: what it journaled is done and recorded; the next verb finishes it. */
function interruptedApply(verb: string, kind: string, id: string, ended: (outcome: Report["outcome"], code: number) => number): number {
  process.stderr.write(`shit: interrupted: the ${kind} ${id.slice(0, 8)} stopped part-way; the steps done are recorded, and \`shit ${verb}\` finishes it\n`);
  return ended("stopped", EXIT.INTERRUPTED);
}

function stepFailed(verb: string, kind: string, id: string): void {
  process.stderr.write(
    `shit: the ${kind} ${id.slice(0, 8)} stopped at the step above; the steps before it are done. Remove the cause, then \`shit ${verb}\` resumes this ${kind} at that step (it will fail the same way until then)\n`,
  );
}
