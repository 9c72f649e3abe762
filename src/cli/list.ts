// shit list: newest first — id, time, exit, effects, command line.
import * as commands from "../index/commands.js";
import type { Ctx } from "./context.js";
import { commandJson } from "./command-json.js";
import { ago, commandLine, countsText } from "./describe.js";
import { thisSession } from "./session.js";
import { CliError, EXIT } from "./exit.js";
import { cut, emit, paint, width } from "./output.js";

export function list(ctx: Ctx, opts: { json?: boolean; limit: number; all?: boolean; here?: boolean }): void {
  const session = opts.here ? thisSession() : null;
  if (opts.here && !session)
    throw new CliError('--here: this shell is not hooked (eval "$(shit init bash)" in ~/.bashrc; see shit init --help)', EXIT.BAD_INPUT);
  const rows = commands.newestFirst(ctx.index, session, opts.all ? -1 : opts.limit);
  if (opts.json) {
    process.stdout.write(
      JSON.stringify(
        rows.map((c) => commandJson(ctx, c)),
        null,
        2,
      ) + "\n",
    );
    return;
  }
  if (!rows.length) {
    process.stdout.write("no commands recorded yet (try: shit run -- CMD)\n");
    return;
  }
  const now = Date.now();
  const lines = rows.map((c) => {
    const j = commandJson(ctx, c);
    const exit = j.running ? "running" : c.signal ? `sig${c.signal}` : c.exit === null ? "killed" : String(c.exit);
    const flag = j.undone ? "  (undone)" : j.partlyUndoneBy.length ? "  (partly undone)" : "";
    return [c.id.slice(0, 8), ago(c.started, now), exit, countsText(j.effects), commandLine(c) + flag];
  });
  const head = ["ID", "WHEN", "EXIT", "EFFECTS", "COMMAND"];
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  // on a terminal the COMMAND column ends at its edge; a pipe gets whole lines
  const cols = width();
  const last = cols === null ? Infinity : Math.max(10, cols - w.slice(0, -1).reduce((a, b) => a + b + 2, 0));
  const fmt = (l: string[], top = false) =>
    l.map((x, i) => (i === l.length - 1 ? cut(x, last) : i === 0 && !top ? paint("yellow", x.padEnd(w[i])) : x.padEnd(w[i]))).join("  ");
  emit([paint("bold", fmt(head, true)), ...lines.map((l) => fmt(l))].join("\n") + "\n", { page: true });
}
