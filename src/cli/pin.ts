// shit pin / unpin / forget: what gc must keep, and what must go now.
import { lockFresh, type Ctx } from "./context.js";
import { CliError, EXIT } from "./exit.js";
import * as commands from "../index/commands.js";
import { forget as forgetCommand } from "../store/forget.js";
import { human } from "../store/limits.js";
import { liveProcesses } from "../procs/running.js";

export function pin(ctx: Ctx, ref: string, opts: { name?: string }): number {
  const c = commands.byRef(ctx.index, ref);
  if (c.freed) throw new CliError(`${c.id.slice(0, 8)}: its pre-images were already freed by gc; there is nothing left to pin`, EXIT.BAD_INPUT);
  ctx.index.tx(() => commands.setPin(ctx.index, c.id, Date.now(), opts.name ?? null));
  process.stdout.write(`pinned ${c.id.slice(0, 8)}${opts.name ? ` as ${opts.name}` : ""}: gc keeps its pre-images until \`shit unpin ${c.id.slice(0, 8)}\`\n`);
  return EXIT.OK;
}

export function unpin(ctx: Ctx, ref: string): number {
  const c = commands.byRef(ctx.index, ref);
  if (!c.pinned) throw new CliError(`${c.id.slice(0, 8)} is not pinned`, EXIT.BAD_INPUT);
  ctx.index.tx(() => commands.setPin(ctx.index, c.id, null, null));
  process.stdout.write(`unpinned ${c.id.slice(0, 8)}: gc frees it like any other\n`);
  return EXIT.OK;
}

export function forget(ctx: Ctx, ref: string): number {
  const c = commands.byRef(ctx.index, ref);
  if (c.ended === null || liveProcesses(ctx.index, c.id).length)
    throw new CliError(`${c.id.slice(0, 8)} is still running; forget it when it has ended`, EXIT.BAD_INPUT);
  const unlock = lockFresh(ctx);
  let r;
  try {
    r = forgetCommand(ctx.paths, ctx.index, c.id);
  } finally {
    unlock();
  }
  const others = r.commands.length - 1;
  process.stdout.write(
    `forgot ${c.id.slice(0, 8)}${others ? ` and ${others} undo${others === 1 ? "" : "s"} or redo${others === 1 ? "" : "s"} of it` : ""}: ` +
      `${r.events} recorded effect${r.events === 1 ? "" : "s"}, ${r.keeps} pre-image${r.keeps === 1 ? "" : "s"}, ` +
      `${r.blobs} blob${r.blobs === 1 ? "" : "s"} only it held (${human(r.bytes)}), ${r.files} file${r.files === 1 ? "" : "s"} of the state dir\n`,
  );
  if (!r.scrubbed) process.stdout.write("the index's write-ahead log is in use (by the daemon?); it is emptied at the next checkpoint\n");
  return EXIT.OK;
}
