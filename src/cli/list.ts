// shit list: newest first — id, time, exit, effects, command line. The filters narrow in SQL
// (commands.list); the default view hides what changed nothing worth seeing (--all shows it).
import { realpathSync } from "node:fs";
import { resolve } from "node:path";
import * as commands from "../index/commands.js";
import type { CommandRow } from "../index/rows.js";
import { held } from "../undo/lock.js";
import type { Ctx } from "./context.js";
import { commandJson } from "./command-json.js";
import { ago, commandLine, countsText } from "./describe.js";
import { thisSession } from "./session.js";
import { CliError, EXIT } from "./exit.js";
import { cut, emit, out, paint, width } from "./output.js";

export interface ListOpts {
  json?: boolean;
  limit?: number;
  all?: boolean;
  here?: boolean;
  cwd?: string | boolean;
  since?: number;
  until?: number;
  grep?: string;
  exit?: number | "failed";
  effects?: boolean;
}

export const DEFAULT_LIMIT = 20;
export { parseExit, parseWhen } from "./when.js"; // the option parsers main wires up

export function list(ctx: Ctx, opts: ListOpts): void {
  const session = opts.here ? thisSession() : null;
  if (opts.here && !session)
    throw new CliError('--here: this shell is not hooked (eval "$(shit init bash)" in ~/.bashrc; see shit init --help)', EXIT.BAD_INPUT);
  const filter: commands.ListFilter = {
    session,
    cwds: opts.cwd === undefined ? undefined : cwdsOf(opts.cwd === true ? process.cwd() : String(opts.cwd)),
    since: opts.since,
    until: opts.until,
    grep: opts.grep,
    exit: opts.exit,
    effects: opts.effects,
    all: opts.all,
    // -a: every command, hidden ones too, and no limit unless one is given
    limit: opts.limit ?? (opts.all ? -1 : DEFAULT_LIMIT),
  };
  const { rows, hidden } = commands.list(ctx.index, filter);
  if (opts.json) {
    out(
      JSON.stringify(
        rows.map((c) => ({ ...commandJson(ctx, c), short: commands.shortId(ctx.index, c.id) })),
        null,
        2,
      ) + "\n",
    );
    return;
  }
  const filtered = [opts.here, opts.cwd, opts.since, opts.until, opts.grep, opts.exit, opts.effects].some((v) => v !== undefined && v !== false);
  const note = hidden ? `(${hidden} more that changed nothing, only housekeeping, or ran an undo: shit list --all shows every command)\n` : "";
  if (!rows.length) {
    out(filtered ? `no command matches\n${note}` : `no commands recorded yet (try: shit run -- CMD)\n${note}`);
    return;
  }
  const now = Date.now();
  // an undo or redo with no END while none holds the lock was killed part-way: not "running"
  let applying: boolean | undefined;
  const killed = (c: CommandRow) => (c.kind === "undo" || c.kind === "redo") && c.ended === null && !(applying ??= held(ctx.paths));
  let interrupted = 0;
  const lines = rows.map((c) => {
    const j = commandJson(ctx, c);
    const stopped = killed(c);
    if (stopped) interrupted++;
    const exit = stopped ? "interrupted" : j.running ? "running" : c.signal ? `sig${c.signal}` : c.exit === null ? "killed" : String(c.exit);
    const flag =
      (j.undone ? "  (undone)" : j.partlyUndoneBy.length ? "  (partly undone)" : "") +
      (j.freed ? "  (freed)" : "") +
      (j.pinned ? `  (pinned${j.pinned.name ? ` ${j.pinned.name}` : ""})` : "");
    const counts = countsText(j.effects) + (j.class === "housekeeping" ? " (housekeeping)" : "");
    return [commands.shortId(ctx.index, c.id), ago(c.started, now), exit, counts, commandLine(c) + flag];
  });
  const head = ["ID", "WHEN", "EXIT", "EFFECTS", "COMMAND"];
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  // on a terminal the COMMAND column ends at its edge; a pipe gets whole lines
  const cols = width();
  const last = cols === null ? Infinity : Math.max(10, cols - w.slice(0, -1).reduce((a, b) => a + b + 2, 0));
  const fmt = (l: string[], top = false) =>
    l.map((x, i) => (i === l.length - 1 ? cut(x, last) : i === 0 && !top ? paint("yellow", x.padEnd(w[i])) : x.padEnd(w[i]))).join("  ");
  const hint = interrupted ? "(interrupted: killed part-way; the next `shit undo` or `shit redo` finishes it first)\n" : "";
  emit([paint("bold", fmt(head, true)), ...lines.map((l) => fmt(l))].join("\n") + "\n" + hint + note, { page: true });
}

/** The dir as given and as it really is: a shell records its logical $PWD, `shit run` getcwd(). */
function cwdsOf(dir: string): Buffer[] {
  const abs = resolve(dir);
  let real = abs;
  try {
    real = realpathSync(abs);
  } catch {
    // gone: commands may still have run there
  }
  const strip = (p: string) => (p.length > 1 ? p.replace(/\/+$/, "") : p);
  return [...new Set([strip(abs), strip(real)])].map((p) => Buffer.from(p));
}
