// shit gc: frees the pre-images of old commands, by age and by the store's size budget (the
// config's "store" limits, src/store/limits.ts), oldest first (src/store/gc.ts); after gc those
// commands can no longer be undone, and say so in list, show and undo.
import { lockFresh, type Ctx } from "./context.js";
import { EXIT } from "./exit.js";
import { loadConfig } from "../config.js";
import { gc as runGc, type GcReport } from "../store/gc.js";
import { human, limitsOf } from "../store/limits.js";
import { parseAge } from "./when.js";
import { ProgressLine } from "./progress.js";

export { parseAge } from "./when.js";

const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? "" : "s"}`;

export function gc(ctx: Ctx, opts: { olderThan?: string; dryRun?: boolean; unexplained?: boolean; json?: boolean }): number {
  const limits = limitsOf(loadConfig().config);
  const maxAge = opts.olderThan !== undefined ? parseAge(opts.olderThan) : limits.maxAge;
  const ageText = opts.olderThan ?? `${Math.round(maxAge / 86400_000)}d`;
  const unlock = opts.dryRun ? () => {} : lockFresh(ctx);
  let r: GcReport;
  try {
    let line: ProgressLine | undefined;
    const step = (done: number, of: number) => (line ??= new ProgressLine("gc: looked at", of, "commands")).step(done);
    r = runGc(ctx.paths, ctx.index, { maxAge, budget: limits.budget, dryRun: opts.dryRun, unexplained: opts.unexplained, step });
    line?.end();
  } finally {
    unlock();
  }
  const files = r.freed.reduce((n, f) => n + f.files, 0);
  if (opts.json) {
    process.stdout.write(JSON.stringify({ dryRun: !!opts.dryRun, maxAgeMs: maxAge, commands: r.freed.length, files, ...r }, null, 2) + "\n");
    return EXIT.OK;
  }
  const byBudget = r.freed.filter((f) => f.why === "budget").length;
  const why = `older than ${ageText}${byBudget ? ` (${byBudget} of them younger, oldest first, to fit the budget of ${human(r.budget)})` : ""}`;
  const out = [
    `${opts.dryRun ? "would free" : "freed"} ${plural(files, "pre-image")} (${(r.bytes / 1048576).toFixed(1)} MiB) of ${plural(r.freed.length, "command")} ${why}${r.freed.length ? "; those can no longer be undone" : ""}`,
  ];
  if (r.spools || r.dirs || r.journals || r.blobs)
    out.push(
      `${opts.dryRun ? "would reclaim" : "reclaimed"} ${plural(r.blobs, "blob")}, ${plural(r.spools, "spool")}, ${plural(r.dirs, "staging dir")}, ${plural(r.journals, "plan or journal")}`,
    );
  out.push(`store: ${human(r.after)}${opts.dryRun ? " after it" : ""} of a ${human(r.budget)} budget`);
  if (r.held.pinned || r.held.redo)
    out.push(
      `kept whatever their age: ${plural(r.held.pinned, "pinned command")}, ${plural(r.held.redo, "undo")} whose redo is pending (${human(r.held.bytes)})`,
    );
  for (const n of r.unexplained)
    out.push(`kept ${ctx.paths.staging}/${n}: no record explains it (a process killed mid-call?); \`shit gc --unexplained\` frees it`);
  process.stdout.write(out.join("\n") + "\n");
  return EXIT.OK;
}
