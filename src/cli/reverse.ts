// shit undo / shit redo. A redo is the undo of the undo: both plan the inverse of one recorded
// command's effects and run it as a new recorded command (kind "undo" or "redo").
import { closeSync, existsSync, openSync, readFileSync, unlinkSync, writeFileSync, writeSync, constants as C } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline/promises";
import type { CommandRow } from "../index/db.js";
import { type Ctx, findCommand, getCommand, hasEffects, isUndone, refresh } from "./context.js";
import { commandLine, ago } from "./describe.js";
import { CliError, EXIT } from "./exit.js";
import { planUndo, type ConflictMode, type Plan, type Step } from "../plan/plan.js";
import { type BPath, display, fromBuf, dirname, isUnder } from "../plan/paths.js";
import { typeOf } from "../plan/vfs.js";
import { markMoved, preparePlan, runApply } from "../apply/apply.js";
import { BlobError } from "../store/store.js";
import { irreversibleOf } from "../irreversible/of-command.js";
import { changeCount, describeChanges, invert, script, type Shell, type ShellChanges } from "../shell/state.js";
import { recount } from "../index/effects.js";
import { OUTSIDE } from "../plan/untracked.js";
import { liveProcesses } from "./running.js";

export interface ReverseOpts {
  yes?: boolean;
  dryRun?: boolean;
  force?: boolean;
  onConflict?: string;
  json?: boolean;
  global?: boolean;
}

/** The hooked shell this CLI was started from (its session id), if any. */
export const thisSession = (): string | null => (/^[0-9a-f]{16}$/.test(process.env.SHIT_SESSION ?? "") ? process.env.SHIT_SESSION! : null);

/** The command whose effects are in place now for c: c itself, or the redo that re-did it. */
function acting(ctx: Ctx, c: CommandRow): CommandRow {
  for (;;) {
    if (!c.undone_by) return c;
    const u = getCommand(ctx, c.undone_by);
    if (!u?.undone_by) return c;
    const r = getCommand(ctx, u.undone_by);
    if (!r) return c;
    c = r;
  }
}

function pickUndo(ctx: Ctx, ref?: string, session?: string | null): CommandRow {
  if (ref) {
    const c = findCommand(ctx, ref);
    if (isUndone(ctx, c)) throw new CliError(`${c.id.slice(0, 8)} is already undone (by ${c.undone_by!.slice(0, 8)}); \`shit redo\` puts it back`, EXIT.BAD_INPUT);
    return acting(ctx, c);
  }
  // typed in a hooked shell: that shell's own latest command (an id or --global reaches others)
  const rows = (session
    ? ctx.index.q("SELECT * FROM commands WHERE kind = 'run' AND session = ? AND started IS NOT NULL ORDER BY started DESC, rowid DESC").iterate(session)
    : ctx.index.q("SELECT * FROM commands WHERE kind = 'run' AND started IS NOT NULL ORDER BY started DESC, rowid DESC").iterate()) as Iterable<CommandRow>;
  for (const c of rows) if (!isUndone(ctx, c) && hasEffects(ctx, c.id)) return acting(ctx, c);
  throw new CliError(`nothing to undo: no recorded command${session ? " of this shell" : ""} with effects that is not undone${session ? " (--global looks at every shell)" : ""}`, EXIT.NOTHING);
}

function pickRedo(ctx: Ctx, ref?: string, session?: string | null): CommandRow {
  if (ref) {
    const c = findCommand(ctx, ref);
    if ((c.kind === "undo" || c.kind === "redo") && !isUndone(ctx, c)) return c;
    if (isUndone(ctx, c)) return getCommand(ctx, c.undone_by!)!;
    throw new CliError(`${c.id.slice(0, 8)} is not undone: nothing to redo`, EXIT.BAD_INPUT);
  }
  const rows = (session
    ? ctx.index.q("SELECT * FROM commands WHERE kind = 'undo' AND session = ? AND ended IS NOT NULL AND exit = 0 ORDER BY started DESC, rowid DESC").iterate(session)
    : ctx.index.q("SELECT * FROM commands WHERE kind = 'undo' AND ended IS NOT NULL AND exit = 0 ORDER BY started DESC, rowid DESC").iterate()) as Iterable<CommandRow>;
  for (const u of rows) if (!isUndone(ctx, u)) return u;
  throw new CliError(`nothing to redo: no undo${session ? " made in this shell" : ""} that is not already redone${session ? " (--global looks at every shell)" : ""}`, EXIT.NOTHING);
}

interface ShellPart {
  shell: Shell;
  session: string | null; // the session whose state this is
  changes: ShellChanges; // what the undo/redo does to that shell
  lines: string[]; // the same, for people
}

/** What reversing target does to the state of the shell it ran in (cwd, variables, aliases,
 * options): the inverse of its recorded change, or null when it changed none. */
function shellPart(ctx: Ctx, target: CommandRow): ShellPart | null {
  if (!target.shell) return null;
  const info = JSON.parse(target.shell) as { shell?: Shell; changes?: ShellChanges };
  if (!info.changes || !changeCount(info.changes)) return null;
  const changes = invert(info.changes);
  const sess = target.session ? (ctx.index.q("SELECT shell FROM sessions WHERE id = ?").get(target.session) as { shell: Shell } | undefined) : undefined;
  return { shell: info.shell ?? sess?.shell ?? "bash", session: target.session, changes, lines: describeChanges(changes) };
}

/** Hands the shell part to the hooked shell it belongs to (its hook sources the file at the next
 * prompt), or says what to type when this is not that shell. */
function applyShell(ctx: Ctx, part: ShellPart, by: string): void {
  ctx.index.q("UPDATE commands SET shell = ? WHERE id = ?").run(JSON.stringify({ shell: part.shell, changes: part.changes }), by);
  recount(ctx.index, [by]);
  const text = script(part.shell, part.changes);
  if (part.session && part.session === thisSession()) {
    writeFileSync(join(ctx.paths.run, `shell-${part.session}.apply`), [...text, part.shell === "fish" ? `set __shit_of ${by}` : `__shit_of=${by}`, ""].join("\n"), { mode: 0o600 });
    process.stdout.write("shell: your shell puts its state back at the next prompt\n");
  } else {
    process.stdout.write(`shell: to put that shell's state back, run there:\n${text.map((l) => "  " + l).join("\n")}\n`);
  }
}

/** The lock that one undo, redo or gc holds at a time. */
export function lock(ctx: Ctx): () => void {
  const file = join(ctx.paths.run, "apply.lock");
  for (let i = 0; i < 2; i++) {
    try {
      const fd = openSync(file, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => { try { unlinkSync(file); } catch { /* gone already */ } };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const pid = Number(readFileSync(file, "utf8") || 0);
      let alive = false;
      try { if (pid > 0) { process.kill(pid, 0); alive = true; } } catch (k) { alive = (k as NodeJS.ErrnoException).code === "EPERM"; }
      if (alive) throw new CliError(`another undo or redo is running (pid ${pid}); try again when it ends`, EXIT.BUSY);
      try { unlinkSync(file); } catch { /* raced */ }
    }
  }
  throw new CliError("cannot take the undo lock", EXIT.BUSY);
}

function summary(plan: Plan, cwd?: BPath): string {
  const n = { files: 0, dirs: 0, links: 0, other: 0, remove: 0, move: 0, bytes: 0, meta: 0 };
  for (const s of plan.steps) {
    if (s.kind === "place" || s.kind === "link") {
      const t = s.pre ? typeOf(s.pre.mode) : C.S_IFREG;
      if (t === C.S_IFREG) n.files++;
      else if (t === C.S_IFDIR) n.dirs++;
      else if (t === C.S_IFLNK) n.links++;
      else n.other++;
    } else if (s.kind === "remove") n.remove++;
    else if (s.kind === "rename") n.move++;
    else if (s.kind === "rewrite" || s.kind === "truncate") n.bytes++;
    else if (s.seq >= 0) n.meta++;
  }
  const pl = (k: number, one: string, many = one + "s") => `${k} ${k === 1 ? one : many}`;
  const parts: string[] = [];
  const restore = [n.files && pl(n.files, "file"), n.dirs && pl(n.dirs, "dir"), n.links && pl(n.links, "symlink"), n.other && pl(n.other, "special file")].filter(Boolean);
  if (restore.length) parts.push(`restore ${restore.join(", ")}`);
  if (n.bytes) parts.push(`put back the old contents of ${pl(n.bytes, "file")}`);
  if (n.move) parts.push(`move ${pl(n.move, "path")} back`);
  if (n.remove) parts.push(`remove ${pl(n.remove, "path")} it created`);
  if (n.meta) parts.push(`reset permissions or times of ${pl(n.meta, "path")}`);
  const paths = plan.steps.filter((s) => s.seq >= 0).map((s) => s.path);
  let common = paths.length ? dirname(paths[0]) : "";
  for (const p of paths) while (common !== "/" && p !== common && !isUnder(p, common)) common = dirname(common);
  const where = paths.length > 1 && common && common !== "/" ? ` under ${cwd && (common === cwd || isUnder(common, cwd)) ? "./" + display(common, cwd).replace(/^\.$/, "").replace(/^\.\//, "") : display(common)}` : "";
  return (parts.join("; ") || "nothing to change") + where;
}

const VERB: Record<Step["kind"], string> = {
  remove: "remove", rename: "move", place: "restore", rewrite: "rewrite", truncate: "truncate", link: "link", meta: "reset", xattr: "xattr",
};

function stepLine(s: Step, cwd?: BPath): string {
  const p = display(s.path, cwd);
  switch (s.kind) {
    case "rename": return `  move      ${p} → ${display(s.path2!, cwd)}`;
    case "link": return `  link      ${display(s.path2!, cwd)} (to ${p})`;
    case "truncate": return `  truncate  ${p} (back to ${s.length} bytes)`;
    case "place": return `  restore   ${p}${s.pre && typeOf(s.pre.mode) === C.S_IFDIR ? "/" : ""}`;
    default: return `  ${VERB[s.kind].padEnd(9)} ${p}`;
  }
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

export async function reverse(ctx: Ctx, verb: "undo" | "redo", ref: string | undefined, opts: ReverseOpts): Promise<number> {
  const mode: ConflictMode = opts.force ? "force" : opts.onConflict === "skip" ? "skip" : "stop";
  if (opts.onConflict && !["skip", "stop"].includes(opts.onConflict)) throw new CliError(`--on-conflict takes skip or stop, not ${opts.onConflict}`, EXIT.BAD_INPUT);
  const session = opts.global ? null : thisSession();
  const target = verb === "undo" ? pickUndo(ctx, ref, session) : pickRedo(ctx, ref, session);
  const shell = shellPart(ctx, target);
  // undoing an undo is a redo; undoing anything else (a run, a redo) is an undo
  const kind = target.kind === "undo" ? "redo" : "undo";
  const cwd = target.cwd ? fromBuf(target.cwd) : process.cwd();
  const unlock = lock(ctx);
  try {
    // a killed undo/redo of this command is finished first, from its own plan and journal
    const pending = ctx.index.q("SELECT * FROM commands WHERE of = ? AND ended IS NULL AND kind IN ('undo','redo')").all(target.id) as unknown as CommandRow[];
    for (const p of pending) {
      const file = join(ctx.paths.run, `${p.id}.plan`);
      if (!existsSync(file)) continue;
      process.stderr.write(`shit: finishing the interrupted ${p.kind} ${p.id.slice(0, 8)} of ${target.id.slice(0, 8)}\n`);
      const r = runApply(ctx.store, p.id, file, p.kind, target.id, [p.kind, target.id]);
      process.stderr.write(r.stderr);
      refresh(ctx);
      return r.code === 0 ? EXIT.OK : r.code === 3 ? EXIT.CONFLICT : EXIT.INTERNAL;
    }

    const later = (p: BPath): string | null => {
      const row = ctx.index
        .q("SELECT c.id, c.argv, c.kind, c.of FROM events e JOIN commands c ON c.id = e.cmd WHERE (e.path = ? OR e.path2 = ?) AND c.started > ? AND c.id != ? ORDER BY c.started DESC LIMIT 1")
        .get(Buffer.from(p, "latin1"), Buffer.from(p, "latin1"), target.started ?? 0, target.id) as CommandRow | undefined;
      return row ? `command ${row.id.slice(0, 8)}: ${commandLine(row)}` : null;
    };
    const plan = planUndo(ctx.index, target.id, mode, later);
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
    const out: string[] = [header];
    const visible = plan.steps.filter((s) => s.seq >= 0);
    const shown = visible.length > 40 ? visible.slice(0, 30) : visible;
    for (const s of shown) out.push(stepLine(s, cwd));
    if (shown.length < visible.length) out.push(`  … and ${visible.length - shown.length} more (shit show ${target.id.slice(0, 8)} lists them all)`);
    if (plan.steps.length || !shell) out.push(summary(plan, cwd));
    if (shell) out.push(...shell.lines.map((l) => `  shell     ${l}`));
    for (const c of plan.cannot) out.push(`cannot ${verb}: ${c.path ? display(c.path, cwd) : "?"}: ${c.reason}`);
    // the watcher tier saw these change and nothing was kept: the undo does the rest (exit 0)
    for (const p of plan.outside) out.push(`cannot restore: ${display(p, cwd)}: ${OUTSIDE}`);
    out.push(...beyond);
    const live = liveProcesses(ctx, target.id); // a process of it that still runs may write again after
    for (const p of live) out.push(`still running: pid ${p.pid} ${p.argv.join(" ")} — it may write again`);
    for (const s of plan.skipped) out.push(`left as it is (conflict): ${display(s.path, cwd)}`);
    process.stdout.write(out.join("\n") + "\n");

    if (plan.conflicts.length && mode !== "skip") {
      for (const c of plan.conflicts) process.stderr.write(`conflict: ${display(c.path, cwd)}: ${c.reason}\n`);
      process.stderr.write(`nothing changed. \`shit ${verb} --on-conflict skip\` restores the rest, \`--force\` overwrites (what it overwrites is kept).\n`);
      return EXIT.CONFLICT;
    }
    if (opts.dryRun) return EXIT.OK;
    if (live.length && !opts.force) {
      // asked even with --yes: only --force goes ahead without a person saying so
      const pids = live.map((p) => p.pid).join(", ");
      if (!process.stdin.isTTY) throw new CliError(`${target.id.slice(0, 8)} is still running (pid ${pids}) and there is no terminal to ask on: --force ${verb}s it anyway`, EXIT.REFUSED);
      if (!(await confirm(`${verb === "undo" ? "Undo" : "Redo"} anyway? [y/N] `))) {
        process.stderr.write("nothing changed\n");
        return EXIT.REFUSED;
      }
    } else if (!opts.yes && !(await confirm(`${verb === "undo" ? "Undo" : "Redo"} this? [y/N] `))) {
      process.stderr.write("nothing changed\n");
      return EXIT.REFUSED;
    }
    let prepared;
    try {
      prepared = preparePlan(ctx.store, plan);
    } catch (e) {
      if (e instanceof BlobError) throw new CliError(`cannot ${verb}: ${e.message}; nothing changed`, EXIT.BLOB);
      throw e;
    }
    const r = runApply(ctx.store, prepared.id, prepared.file, kind, target.id, ["shit", verb, target.id]);
    process.stderr.write(r.stderr);
    markMoved(ctx.store, prepared.moved, r.code === 0);
    refresh(ctx);
    if (session) ctx.index.q("UPDATE commands SET session = ? WHERE id = ?").run(session, prepared.id);
    if (r.code === 0 && shell) applyShell(ctx, shell, prepared.id);
    if (r.code === 0) {
      process.stdout.write(`${verb === "undo" ? "undone" : "redone"} (as ${prepared.id.slice(0, 8)}; \`shit ${verb === "undo" ? "redo" : "undo"}\` reverses it)\n`);
      return EXIT.OK;
    }
    if (r.code === 3) {
      process.stderr.write("something changed while planning; nothing was changed. Run it again to see the new plan.\n");
      return EXIT.CONFLICT;
    }
    process.stderr.write(`shit: the ${verb} stopped part-way (shit-apply exit ${r.code}); run \`shit ${verb}\` again to finish it\n`);
    return EXIT.INTERNAL;
  } finally {
    unlock();
  }
}

