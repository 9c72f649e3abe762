// shit undo / shit redo: pick the command (src/undo/chain.ts), plan its inverse, show the plan,
// ask, and perform it as a new recorded command (src/undo/perform.ts). A redo is the undo of the
// undo. This file is the conversation with the user; the rules live in src/undo/.
import { createInterface } from "node:readline/promises";
import type { CommandRow } from "../index/rows.js";
import { type Ctx } from "./context.js";
import { commandLine, ago } from "./describe.js";
import { CliError, EXIT } from "./exit.js";
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
import { finish, interrupted, perform, planFor, type Outcome } from "../undo/perform.js";
import { handShell, shellPart } from "../undo/shell.js";
import { thisSession } from "./session.js";

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
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

const warnCorrupt = (o: Outcome) => {
  for (const s of o.corrupt) process.stderr.write(`shit: warning: spool ${s} has unreadable bytes; read up to them\n`);
};

const byText = (c: CommandRow) => `command ${c.id.slice(0, 8)}: ${commandLine(c)}`;

export async function reverse(ctx: Ctx, verb: "undo" | "redo", ref: string | undefined, opts: ReverseOpts): Promise<number> {
  const mode: ConflictMode = opts.force ? "force" : opts.onConflict === "skip" ? "skip" : "stop";
  if (opts.onConflict && !["skip", "stop"].includes(opts.onConflict))
    throw new CliError(`--on-conflict takes skip or stop, not ${opts.onConflict}`, EXIT.BAD_INPUT);
  const session = opts.global ? null : thisSession();
  const history = indexHistory(ctx.index);
  const target = verb === "undo" ? pickUndo(history, ref, session) : pickRedo(history, ref, session);
  const shell = shellPart(ctx.index, target);
  const kind = reversalKind(target);
  const cwd: BPath = target.cwd ? fromBuf(target.cwd) : process.cwd();
  const unlock = lock(ctx.paths);
  try {
    // a killed undo/redo of this command is finished first, from its own plan and journal
    const pending = interrupted(ctx.index, ctx.paths, target);
    if (pending) {
      const which = `${pending.row.kind} ${pending.row.id.slice(0, 8)} of ${target.id.slice(0, 8)}`;
      process.stderr.write(pending.row.exit === 4 ? `shit: retrying the ${which} from the step that failed\n` : `shit: finishing the interrupted ${which}\n`);
      const r = finish(ctx.store, target, pending);
      process.stderr.write(r.stderr);
      warnCorrupt(r);
      if (r.code === 4) stepFailed(verb, pending.row.kind, r.id);
      return r.code === 0 ? EXIT.OK : r.code === 3 ? EXIT.CONFLICT : EXIT.INTERNAL;
    }

    const plan = planFor(ctx.index, target, mode, ctx.paths.staging);
    const header = `${kind} of ${target.id.slice(0, 8)}: ${commandLine(target)}  (${ago(target.started)}, in ${display(cwd)})`;
    const beyond = irreversibleOf(ctx.index, target).map((b) => `not undone: ${b.text}`); // effects that left the machine

    if (!plan.steps.length && !plan.conflicts.length && !shell) {
      if (plan.cannot.length || plan.outside.length) {
        for (const c of plan.cannot) process.stderr.write(`cannot ${verb}: ${c.path ? display(c.path, cwd) : "?"}: ${c.reason}\n`);
        for (const p of plan.outside) process.stderr.write(`cannot restore: ${display(p, cwd)}: ${OUTSIDE}\n`);
        return EXIT.BLOB;
      }
      for (const b of beyond) process.stdout.write(b + "\n");
      process.stdout.write(`nothing to ${verb}: ${target.id.slice(0, 8)} (${commandLine(target)}) changed no files\n`);
      return EXIT.OK;
    }
    const out: string[] = [header, ...stepLines(plan, cwd, `shit show ${target.id.slice(0, 8)} lists them all`)];
    if (plan.steps.length || !shell) out.push(summary(plan, cwd));
    if (shell) out.push(...shell.lines.map((l) => `  shell     ${l}`));
    for (const c of plan.cannot) out.push(`cannot ${verb}: ${c.path ? display(c.path, cwd) : "?"}: ${c.reason}`);
    // the watcher tier saw these change and nothing was kept: the undo does the rest (exit 0)
    for (const p of plan.outside) out.push(`cannot restore: ${display(p, cwd)}: ${OUTSIDE}`);
    out.push(...beyond);
    const live = liveProcesses(ctx.index, target.id); // a process of it that still runs may write again after
    for (const p of live) out.push(`still running: pid ${p.pid} ${p.argv.join(" ")} — it may write again`);
    for (const s of plan.skipped) out.push(`left as it is (conflict): ${display(s.path, cwd)}`);
    process.stdout.write(out.join("\n") + "\n");

    if (plan.conflicts.length && mode !== "skip") {
      for (const c of plan.conflicts) {
        const by = plan.changedBy.get(c.path);
        process.stderr.write(`conflict: ${display(c.path, cwd)}: ${c.reason}${by ? ` (by ${byText(by)})` : ""}\n`);
      }
      process.stderr.write(`nothing changed. \`shit ${verb} --on-conflict skip\` restores the rest, \`--force\` overwrites (what it overwrites is kept).\n`);
      return EXIT.CONFLICT;
    }
    if (opts.dryRun) return EXIT.OK;
    const Verb = verb === "undo" ? "Undo" : "Redo";
    if (live.length && !opts.force) {
      // asked even with --yes: only --force goes ahead without a person saying so
      const pids = live.map((p) => p.pid).join(", ");
      if (!process.stdin.isTTY)
        throw new CliError(
          `${target.id.slice(0, 8)} is still running (pid ${pids}) and there is no terminal to ask on: --force ${verb}s it anyway`,
          EXIT.REFUSED,
        );
      if (!(await confirm(`${Verb} anyway? [y/N] `))) {
        process.stderr.write("nothing changed\n");
        return EXIT.REFUSED;
      }
    } else if (!opts.yes && !(await confirm(`${Verb} this? [y/N] `))) {
      process.stderr.write("nothing changed\n");
      return EXIT.REFUSED;
    }
    let r: Outcome;
    try {
      r = perform(ctx.store, target, plan, { verb, kind, session, shell });
    } catch (e) {
      if (e instanceof BlobError) throw new CliError(`cannot ${verb}: ${e.message}; nothing changed`, EXIT.BLOB);
      throw e;
    }
    process.stderr.write(r.stderr);
    warnCorrupt(r);
    if (r.code === 0 && shell) {
      const handed = handShell(ctx.paths, shell, r.id, thisSession());
      if (handed === "handed") process.stdout.write("shell: your shell puts its state back at the next prompt\n");
      else process.stdout.write(`shell: to put that shell's state back, run there:\n${handed.map((l) => "  " + l).join("\n")}\n`);
    }
    if (r.code === 0) {
      process.stdout.write(`${verb === "undo" ? "undone" : "redone"} (as ${r.id.slice(0, 8)}; \`shit ${verb === "undo" ? "redo" : "undo"}\` reverses it)\n`);
      return EXIT.OK;
    }
    if (r.code === 3) {
      process.stderr.write("something changed while planning; nothing was changed. Run it again to see the new plan.\n");
      return EXIT.CONFLICT;
    }
    if (r.code === 4) stepFailed(verb, kind, r.id);
    else process.stderr.write(`shit: the ${verb} stopped part-way (shit-apply exit ${r.code}); run \`shit ${verb}\` again to finish it\n`);
    return EXIT.INTERNAL;
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
