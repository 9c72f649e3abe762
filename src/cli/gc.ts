// shit gc: frees the pre-images of old commands. Capture defers the costly part of a delete
// (freeing inodes) to here; after gc those commands can no longer be undone, and say so.
import { readdirSync, rmSync, lstatSync, existsSync } from "node:fs";
import { join, relative } from "node:path";
import type { Ctx } from "./context.js";
import { EXIT } from "./exit.js";
import { lock } from "../undo/lock.js";
import { ProgressLine } from "./progress.js";
import * as commands from "../index/commands.js";
import * as keeps from "../index/keeps.js";
import { parseAge } from "./when.js";

export { parseAge } from "./when.js";

function du(dir: string): { files: number; bytes: number } {
  let files = 0,
    bytes = 0;
  for (const d of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (d.isDirectory()) continue;
    files++;
    try {
      bytes += lstatSync(join(d.parentPath, d.name)).size;
    } catch {
      // gone meanwhile
    }
  }
  return { files, bytes };
}

/** The staged files of command id that no record explains (no keep of that name): left by a
 *  process killed between a keep and its record, or by a record lost. Relative to staging/. */
function unexplained(ctx: Ctx, id: string): string[] {
  const dir = join(ctx.paths.staging, id);
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((d) => !d.isDirectory())
    .map((d) => relative(ctx.paths.staging, join(d.parentPath, d.name)))
    .filter((name) => !keeps.exists(ctx.index, name));
}

export function gc(ctx: Ctx, opts: { olderThan: string; dryRun?: boolean; unexplained?: boolean; json?: boolean }): number {
  const cutoff = Date.now() - parseAge(opts.olderThan);
  const old = commands.endedBefore(ctx.index, cutoff);
  const unlock = opts.dryRun ? () => {} : lock(ctx.paths);
  try {
    let cmds = 0,
      files = 0,
      bytes = 0;
    const kept: string[] = [];
    const freed: Array<{ id: string; files: number; bytes: number }> = [];
    const todo: Array<{ id: string; dir: string; odd: string[] }> = [];
    for (const id of old) {
      const dir = join(ctx.paths.staging, id);
      if (!existsSync(dir)) continue;
      const u = du(dir);
      if (!u.files) continue;
      cmds++;
      const odd = opts.unexplained ? [] : unexplained(ctx, id);
      kept.push(...odd);
      files += u.files - odd.length;
      bytes += u.bytes;
      freed.push({ id, files: u.files - odd.length, bytes: u.bytes });
      todo.push({ id, dir, odd });
    }
    if (!opts.dryRun) {
      const progress = new ProgressLine("freeing", files, "pre-images");
      for (const { id, dir, odd } of todo) {
        keeps.expireOf(ctx.index, id);
        // free what records explain; keep the rest, named below, until --unexplained
        const keep = new Set(odd.map((n) => join(ctx.paths.staging, n)));
        for (const d of readdirSync(dir, { withFileTypes: true, recursive: true }))
          if (!d.isDirectory() && !keep.has(join(d.parentPath, d.name))) {
            rmSync(join(d.parentPath, d.name), { force: true });
            progress.step();
          }
        if (!odd.length) rmSync(dir, { recursive: true, force: true });
        for (const f of [`${id}.plan`, `${id}.journal`]) rmSync(join(ctx.paths.run, f), { force: true });
      }
      progress.end();
    }
    const keptPaths = kept.map((n) => join(ctx.paths.staging, n));
    if (opts.json) {
      const doc = { dryRun: !!opts.dryRun, olderThan: opts.olderThan, commands: cmds, files, bytes, freed, kept: keptPaths };
      process.stdout.write(JSON.stringify(doc, null, 2) + "\n");
      return EXIT.OK;
    }
    const mb = (bytes / 1048576).toFixed(1);
    process.stdout.write(
      `${opts.dryRun ? "would free" : "freed"} ${files} pre-image${files === 1 ? "" : "s"} (${mb} MiB) of ${cmds} command${cmds === 1 ? "" : "s"} older than ${opts.olderThan}${cmds ? "; those can no longer be undone" : ""}\n`,
    );
    for (const p of keptPaths) process.stdout.write(`kept ${p}: no record explains it (a process killed mid-call?); \`shit gc --unexplained\` frees it\n`);
    return EXIT.OK;
  } finally {
    unlock();
  }
}
