// shit list: newest first — id, time, exit, effects, command line.
import * as commands from "../index/commands.js";
import type { Ctx } from "./context.js";
import { commandJson } from "./command-json.js";
import { ago, commandLine, countsText } from "./describe.js";
import { thisSession } from "./session.js";
import { CliError, EXIT } from "./exit.js";

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
    const flag = (j.undone ? "  (undone)" : "") + (j.freed ? "  (freed)" : "") + (j.pinned ? `  (pinned${j.pinned.name ? ` ${j.pinned.name}` : ""})` : "");
    return [c.id.slice(0, 8), ago(c.started, now), exit, countsText(j.effects), commandLine(c) + flag];
  });
  const head = ["ID", "WHEN", "EXIT", "EFFECTS", "COMMAND"];
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (l: string[]) => l.map((x, i) => (i === l.length - 1 ? x : x.padEnd(w[i]))).join("  ");
  process.stdout.write([fmt(head), ...lines.map(fmt)].join("\n") + "\n");
}
