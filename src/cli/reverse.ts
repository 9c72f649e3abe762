// shit undo / shit redo: pick the command (src/undo/chain.ts), plan its inverse, show the plan,
// ask, and perform it as a new recorded command (src/undo/perform.ts). A redo is the undo of the
// undo. This file is the conversation with the user; the rules live in src/undo/.
import { createInterface } from "node:readline/promises";
import type { CommandRow } from "../index/rows.js";
import { type Ctx } from "./context.js";
import { argvOf, commandLine, ago } from "./describe.js";
import { CliError, EXIT, exitCodeOf } from "./exit.js";
import { summary, stepLines } from "./plan-text.js";
import type { ConflictMode } from "../plan/plan.js";
import { OUTSIDE } from "../plan/untracked.js";
import { type BPath, display, fromBuf } from "../paths/bytes.js";
import { BlobError } from "../store/store.js";
import { irreversibleOf } from "../irreversible/of-command.js";
import { liveProcesses } from "../procs/running.js";
import { pickRedo, pickUndo, reversalKind } from "../undo/chain.js";
import { indexHistory } from "../undo/history.js";
import { lock } from "../undo/lock.js";
import { lostPreimages, withoutLost } from "../undo/preimages.js";
import { finish, interrupted, perform, planFor, type Outcome } from "../undo/perform.js";
import { handShell, shellPart } from "../undo/shell.js";
import { thisCommand, thisSession } from "./session.js";

export interface ReverseOpts {
  yes?: boolean;
  dryRun?: boolean;
  force?: boolean;
  onConflict?: string;
  json?: boolean;
  global?: boolean;
}

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) throw new CliError("no terminal to ask on: add --yes to go ahead (or --dry-run to look)", EXIT.REFUSED);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  // Ctrl-C (a key to readline in raw mode) ends it quietly, exit 130; Ctrl-D (end of input) is a no
  const stop = new AbortController();
  let interrupted = false;
  rl.on("SIGINT", () => {
    interrupted = true;
    stop.abort();
  });
  rl.on("close", () => stop.abort());
  try {
    return /^y(es)?$/i.test((await rl.question(question, { signal: stop.signal })).trim());
  } catch (e) {
    if (!stop.signal.aborted) throw e;
    process.stderr.write("\n");
    if (interrupted) throw new CliError("interrupted: nothing changed", EXIT.INTERRUPTED);
    return false;
  } finally {
    rl.close();
  }
}

const warnCorrupt = (o: Outcome) => {
  for (const s of o.corrupt) process.stderr.write(`shit: warning: spool ${s} has unreadable bytes; read up to them\n`);
};

const byText = (c: CommandRow) => `command ${c.id.slice(0, 8)}: ${commandLine(c)}`;

/** What `--json` gives: the plan as data, then what came of it. */
interface Report {
  verb: "undo" | "redo";
  kind?: "undo" | "redo";
  target?: { id: string; argv: string[]; cwd: string };
  dryRun: boolean;
  steps: Array<{ kind: string; path: string; to?: string; length?: string }>;
  conflicts: Array<{ path: string; reason: string; changedBy: string | null }>;
  skipped: string[]; // left as they are by --on-conflict skip
  cannot: Array<{ path: string | null; reason: string }>; // not restored, and why (nothing kept, pre-image lost)
  outside: string[]; // changed outside capture: nothing kept
  beyond: string[]; // effects that left the machine
  running: Array<{ pid: number; argv: string[] }>;
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
    shell: [],
    outcome: "error",
    as: null,
    exit: EXIT.INTERNAL,
  };
  if (!opts.json) return reverseWith(ctx, verb, ref, opts, report);
  try {
    const code = await reverseWith(ctx, verb, ref, opts, report);
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
  const history = indexHistory(ctx.index);
  const target = verb === "undo" ? pickUndo(history, ref, session) : pickRedo(history, ref, session);
  const shell = shellPart(ctx.index, target);
  const kind = reversalKind(target);
  const cwd: BPath = target.cwd ? fromBuf(target.cwd) : process.cwd();
  report.kind = kind;
  report.target = { id: target.id, argv: argvOf(target), cwd: display(cwd) };
  const unlock = lock(ctx.paths);
  try {
    // a killed undo/redo of this command is finished first, from its own plan and journal
    const pending = interrupted(ctx.index, ctx.paths, target);
    if (pending) {
      const which = `${pending.row.kind} ${pending.row.id.slice(0, 8)} of ${target.id.slice(0, 8)}`;
      process.stderr.write(pending.row.exit === 4 ? `shit: retrying the ${which} from the step that failed\n` : `shit: finishing the interrupted ${which}\n`);
      const r = finish(ctx.store, target, pending, unlock.fd);
      process.stderr.write(r.stderr);
      warnCorrupt(r);
      report.as = pending.row.id;
      if (r.code === 4) stepFailed(verb, pending.row.kind, r.id);
      return r.code === 0 ? ended("done", EXIT.OK) : r.code === 3 ? ended("conflict", EXIT.CONFLICT) : ended("stopped", EXIT.INTERNAL);
    }

    const planned = planFor(ctx.index, target, mode, ctx.paths.staging);
    // a step whose kept bytes are gone (freed by gc, deleted from staging, changed) cannot be done
    const lost = lostPreimages(ctx.store, planned, mode === "force");
    const plan = opts.onConflict === "skip" ? { ...withoutLost(planned, lost), changedBy: planned.changedBy } : planned;
    const cannot = [...plan.cannot, ...lost.map((l) => ({ path: l.path, reason: l.reason }))];
    const header = `${kind} of ${target.id.slice(0, 8)}: ${commandLine(target)}  (${ago(target.started)}, in ${display(cwd)})`;
    const beyond = irreversibleOf(ctx.index, target).map((b) => `not undone: ${b.text}`); // effects that left the machine
    const live = liveProcesses(ctx.index, target.id); // a process of it that still runs may write again after
    report.steps = plan.steps
      .filter((s) => s.seq >= 0)
      .map((s) => ({
        kind: s.kind,
        path: display(s.path),
        ...(s.path2 !== undefined ? { to: display(s.path2) } : {}),
        ...(s.length !== undefined && s.kind === "truncate" ? { length: String(s.length) } : {}),
      }));
    report.conflicts = plan.conflicts.map((c) => ({ path: display(c.path), reason: c.reason, changedBy: plan.changedBy.get(c.path)?.id ?? null }));
    const skipped = [...new Set(plan.skipped.map((s) => s.path))]; // a path may have several steps
    report.skipped = skipped.map((p) => display(p));
    report.cannot = cannot.map((c) => ({ path: c.path ? display(c.path) : null, reason: c.reason }));
    report.outside = plan.outside.map((p) => display(p));
    report.beyond = beyond;
    report.running = live.map((p) => ({ pid: p.pid, argv: p.argv }));
    report.shell = shell?.lines ?? [];

    const noSteps = lost.length ? !plan.steps.some((s) => s.seq >= 0) : !plan.steps.length; // skip may leave only the closing pass
    if (noSteps && !plan.conflicts.length && !shell) {
      if (cannot.length || plan.outside.length) {
        for (const c of cannot) process.stderr.write(`cannot ${verb}: ${c.path ? display(c.path, cwd) : "?"}: ${c.reason}\n`);
        for (const p of plan.outside) process.stderr.write(`cannot restore: ${display(p, cwd)}: ${OUTSIDE}\n`);
        return ended("lost", EXIT.BLOB);
      }
      for (const b of beyond) say(b + "\n");
      say(`nothing to ${verb}: ${target.id.slice(0, 8)} (${commandLine(target)}) changed no files\n`);
      return ended("nothing", EXIT.OK);
    }
    const out: string[] = [header, ...stepLines(plan, cwd, `shit show ${target.id.slice(0, 8)} lists them all`)];
    if (plan.steps.length || !shell) out.push(summary(plan, cwd));
    if (shell) out.push(...shell.lines.map((l) => `  shell     ${l}`));
    // a lost pre-image that stops the undo is told on stderr below, as a conflict is
    const shown = opts.onConflict === "skip" ? cannot : plan.cannot;
    for (const c of shown) out.push(`cannot ${verb}: ${c.path ? display(c.path, cwd) : "?"}: ${c.reason}`);
    // the watcher tier saw these change and nothing was kept: the undo does the rest (exit PARTIAL)
    for (const p of plan.outside) out.push(`cannot restore: ${display(p, cwd)}: ${OUTSIDE}`);
    out.push(...beyond);
    for (const p of live) out.push(`still running: pid ${p.pid} ${p.argv.join(" ")} — it may write again`);
    for (const p of skipped) out.push(`left as it is (conflict): ${display(p, cwd)}`);
    say(out.join("\n") + "\n");

    if (plan.conflicts.length && mode !== "skip") {
      for (const c of plan.conflicts) {
        const by = plan.changedBy.get(c.path);
        process.stderr.write(`conflict: ${display(c.path, cwd)}: ${c.reason}${by ? ` (by ${byText(by)})` : ""}\n`);
      }
      process.stderr.write(`nothing changed. \`shit ${verb} --on-conflict skip\` restores the rest, \`--force\` overwrites (what it overwrites is kept).\n`);
      return ended("conflict", EXIT.CONFLICT);
    }
    if (lost.length && opts.onConflict !== "skip") {
      const rest = plan.steps.some((s) => s.seq >= 0 && !lost.some((l) => l.step === s));
      for (const l of lost) process.stderr.write(`cannot ${verb}: ${display(l.path, cwd)}: ${l.reason}\n`);
      process.stderr.write(
        `nothing changed: ${lost.length === 1 ? "a kept pre-image is" : `${lost.length} kept pre-images are`} gone; no undo can restore ${lost.length === 1 ? "that path" : "those paths"}.` +
          (rest ? ` \`shit ${verb} --on-conflict skip\` restores the rest.` : "") +
          "\n",
      );
      return ended("lost", EXIT.BLOB);
    }
    if (opts.dryRun) return ended("planned", EXIT.OK);
    const Verb = verb === "undo" ? "Undo" : "Redo";
    if (opts.json && !opts.yes && !(live.length && opts.force)) {
      process.stderr.write(`--json asks nothing: add --yes to go ahead (or --dry-run to look); nothing changed\n`);
      return ended("refused", EXIT.REFUSED);
    }
    if (live.length && !opts.force) {
      // asked even with --yes: only --force goes ahead without a person saying so
      const pids = live.map((p) => p.pid).join(", ");
      if (!process.stdin.isTTY || opts.json)
        throw new CliError(
          `${target.id.slice(0, 8)} is still running (pid ${pids}) and there is no terminal to ask on: --force ${verb}s it anyway`,
          EXIT.REFUSED,
        );
      if (!(await confirm(`${Verb} anyway? [y/N] `))) {
        process.stderr.write("nothing changed\n");
        return ended("refused", EXIT.REFUSED);
      }
    } else if (!opts.yes && !(await confirm(`${Verb} this? [y/N] `))) {
      process.stderr.write("nothing changed\n");
      return ended("refused", EXIT.REFUSED);
    }
    let r: Outcome;
    try {
      r = perform(ctx.store, target, plan, { verb, kind, session, shell, lockFd: unlock.fd, force: mode === "force", parent: thisCommand() }); // shit-apply holds the lock too
    } catch (e) {
      if (e instanceof BlobError) throw new CliError(`cannot ${verb}: ${e.message}; nothing changed`, EXIT.BLOB);
      throw e;
    }
    report.as = r.id;
    process.stderr.write(r.stderr);
    warnCorrupt(r);
    if (r.code === 0 && shell) {
      const handed = handShell(ctx.paths, shell, r.id, thisSession());
      if (handed === "handed") say("shell: your shell puts its state back at the next prompt\n");
      else say(`shell: to put that shell's state back, run there:\n${handed.map((l) => "  " + l).join("\n")}\n`);
    }
    const left = cannot.length + plan.outside.length + skipped.length;
    if (r.code === 0 && left) {
      // done, but not all of it: each thing left is named above, with why; here how to finish
      const reverses = `\`shit ${verb === "undo" ? "redo" : "undo"}\` reverses it`;
      say(
        `${verb === "undo" ? "undone" : "redone"} in part (as ${r.id.slice(0, 8)}; ${reverses}): ${left} ${left === 1 ? "path was" : "paths were"} not restored\n`,
      );
      if (skipped.length)
        process.stderr.write(
          `left as they are: ${skipped.length} changed since the command (conflicts), as --on-conflict skip asks; what the command found there stays kept (\`shit show ${target.id.slice(0, 8)}\`). To overwrite them, \`shit ${verb} --force\` instead of skip.\n`,
        );
      if (lost.length)
        process.stderr.write(
          `not restored: ${lost.length} whose kept pre-image is gone (freed by \`shit gc\`, or deleted from staging): nothing is left to restore them from\n`,
        );
      if (plan.cannot.length || plan.outside.length)
        process.stderr.write(
          `not restored: ${plan.cannot.length + plan.outside.length} of which nothing was kept (named above, with why): no undo can restore them\n`,
        );
      return ended("partial", EXIT.PARTIAL);
    }
    if (r.code === 0) {
      say(`${verb === "undo" ? "undone" : "redone"} (as ${r.id.slice(0, 8)}; \`shit ${verb === "undo" ? "redo" : "undo"}\` reverses it)\n`);
      return ended("done", EXIT.OK);
    }
    if (r.code === 3) {
      process.stderr.write("something changed while planning; nothing was changed. Run it again to see the new plan.\n");
      return ended("conflict", EXIT.CONFLICT);
    }
    if (r.code === 4) stepFailed(verb, kind, r.id);
    else process.stderr.write(`shit: the ${verb} stopped part-way (shit-apply exit ${r.code}); run \`shit ${verb}\` again to finish it\n`);
    return ended("stopped", EXIT.INTERNAL);
  } finally {
    unlock();
  }
}

/** A step of the apply failed (shit-apply exit 4, its line above names the path and the cause):
 *  running it again as things are fails the same way, so say what to do instead. */
function stepFailed(verb: string, kind: string, id: string): void {
  process.stderr.write(
    `shit: the ${kind} ${id.slice(0, 8)} stopped at the step above; the steps before it are done. Remove the cause, then \`shit ${verb}\` resumes this ${kind} at that step (it will fail the same way until then)\n`,
  );
}
