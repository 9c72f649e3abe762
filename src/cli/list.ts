// shit list: newest first — id, time, exit, effects, command line.
import type { CommandRow } from "../index/db.js";
import { type Ctx, isUndone } from "./context.js";
import { ago, argvOf, commandLine, countsText } from "./describe.js";
import { recount, storedCounts } from "../index/effects.js";
import { display } from "../plan/paths.js";
import { thisSession } from "./reverse.js";
import { CliError, EXIT } from "./exit.js";
import { liveProcesses, mayRun } from "./running.js";

export function commandJson(ctx: Ctx, c: CommandRow) {
  if (c.effects === null) {
    // still running when last ingested (or recorded before effects were counted at ingest)
    recount(ctx.index, [c.id]);
    c = { ...c, effects: (ctx.index.q("SELECT effects FROM commands WHERE id = ?").get(c.id) as { effects: string }).effects };
  }
  // running while any of its processes lives (a background job outlives its line); /proc is
  // looked at only for commands with processes not yet seen gone
  const processes = c.ended === null || mayRun(ctx, c.id) ? liveProcesses(ctx, c.id) : [];
  return {
    id: c.id,
    kind: c.kind,
    ...(c.of ? { of: c.of } : {}),
    argv: argvOf(c),
    cwd: c.cwd ? display(c.cwd) : null,
    started: c.started ? new Date(c.started).toISOString() : null,
    ended: c.ended ? new Date(c.ended).toISOString() : null,
    exit: c.exit,
    signal: c.signal || null,
    running: c.ended === null || processes.length > 0,
    processes,
    effects: storedCounts(c.effects),
    undone: isUndone(ctx, c),
    undoneBy: c.undone_by,
    ...(c.session ? { session: c.session, line: c.line, shell: c.shell ? JSON.parse(c.shell) : null } : {}),
  };
}

export function list(ctx: Ctx, opts: { json?: boolean; limit: number; all?: boolean; here?: boolean }): void {
  const session = opts.here ? thisSession() : null;
  if (opts.here && !session) throw new CliError("--here: this shell is not hooked (eval \"$(shit init bash)\" in ~/.bashrc; see shit init --help)", EXIT.BAD_INPUT);
  const rows = (session
    ? ctx.index.q("SELECT * FROM commands WHERE started IS NOT NULL AND session = ? ORDER BY started DESC, rowid DESC LIMIT ?").all(session, opts.all ? -1 : opts.limit)
    : ctx.index.q("SELECT * FROM commands WHERE started IS NOT NULL ORDER BY started DESC, rowid DESC LIMIT ?").all(opts.all ? -1 : opts.limit)) as unknown as CommandRow[];
  if (opts.json) {
    process.stdout.write(JSON.stringify(rows.map((c) => commandJson(ctx, c)), null, 2) + "\n");
    return;
  }
  if (!rows.length) {
    process.stdout.write("no commands recorded yet (try: shit run -- CMD)\n");
    return;
  }
  const now = Date.now();
  const lines = rows.map((c) => {
    const j = commandJson(ctx, c);
    const exit = j.running ? "running" : c.signal ? `sig${c.signal}` : String(c.exit);
    const flag = j.undone ? "  (undone)" : "";
    return [c.id.slice(0, 8), ago(c.started, now), exit, countsText(j.effects), commandLine(c) + flag];
  });
  const head = ["ID", "WHEN", "EXIT", "EFFECTS", "COMMAND"];
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (l: string[]) => l.map((x, i) => (i === l.length - 1 ? x : x.padEnd(w[i]))).join("  ");
  process.stdout.write([fmt(head), ...lines.map(fmt)].join("\n") + "\n");
}
