// shit du: what the store and staging take, the budget, and what gc would free now.
import type { Ctx } from "./context.js";
import { EXIT } from "./exit.js";
import { loadConfig } from "../config.js";
import { gc, storeUsage } from "../store/gc.js";
import { human, limitsOf } from "../store/limits.js";

export function du(ctx: Ctx, opts: { json?: boolean }): number {
  const limits = limitsOf(loadConfig().config);
  const u = storeUsage(ctx.paths, ctx.index);
  const would = gc(ctx.paths, ctx.index, { ...limits, dryRun: true });
  if (opts.json) {
    process.stdout.write(
      JSON.stringify(
        {
          store: { blobs: u.blobs, bytes: u.blobBytes, keptBytes: u.keptBytes },
          staging: { files: u.stagingFiles, bytes: u.staging },
          budget: limits.budget,
          maxAgeMs: limits.maxAge,
          fileCap: limits.fileCap,
          gcWouldFree: { commands: would.freed.length, bytes: would.bytes },
          held: would.held,
        },
        null,
        2,
      ) + "\n",
    );
    return EXIT.OK;
  }
  const total = u.blobBytes + u.staging;
  const lines = [
    `store    ${human(u.blobBytes)} in ${u.blobs} blob${u.blobs === 1 ? "" : "s"} (${human(u.keptBytes)} of pre-images, kept once by content, compressed)`,
    `staging  ${human(u.staging)} in ${u.stagingFiles} file${u.stagingFiles === 1 ? "" : "s"} (inodes kept whole: undo moves them back)`,
    `total    ${human(total)} of a ${human(limits.budget)} budget; pre-images are kept ${Math.round(limits.maxAge / 86400_000)}d, files over ${human(limits.fileCap)} not at all`,
    `gc       would free ${human(would.bytes)} of ${would.freed.length} command${would.freed.length === 1 ? "" : "s"} now${would.held.pinned + would.held.redo ? `; keeps ${human(would.held.bytes)} of pinned commands and pending redos` : ""}`,
  ];
  process.stdout.write(lines.join("\n") + "\n");
  return EXIT.OK;
}
