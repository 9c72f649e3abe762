// What every verb that reads history needs: the state dir, the index, and an ingest of what the
// spools hold so far (so answers are current even with no daemon running).
import { ensureState, statePaths, type StatePaths } from "../state.js";
import { Index, type CommandRow, type EventRow } from "../index/db.js";
import { Store } from "../store/store.js";
import { ingest } from "../ingest/ingest.js";
import { CliError, EXIT } from "./exit.js";
import { Op } from "../spool/records.js";
import { autostart, syncDaemon } from "../daemon/client.js";

export interface Ctx {
  paths: StatePaths;
  index: Index;
  store: Store;
}

/**
 * openCtx for the verbs that read history. When shitd answers, it brings the index up to date
 * (`sync`) and this process reads no spool; else this process ingests for itself. Measured for
 * `shit list` right after a 10k-file rm -rf (2 cores, busy): median 285 ms either way, 1-1.5 s
 * with no daemon at all; with the daemon caught up, 339 vs 370 ms. Equal within the noise, so
 * the sync stays: the daemon has usually read most of the spool already, and a second reader
 * would parse it again only to find its offset taken. A daemon that is down, killed or slow to
 * answer (5 s) only means this process ingests for itself.
 */
export async function openCurrentCtx(): Promise<Ctx> {
  const synced = process.env.SHIT_DAEMON !== "off" && (await syncDaemon(statePaths()));
  return openCtx({ ingest: !synced });
}

export function openCtx(opts: { ingest?: boolean } = {}): Ctx {
  const paths = statePaths();
  try {
    ensureState(paths);
  } catch (e) {
    throw new CliError(`cannot use the state directory ${paths.root}: ${(e as Error).message}`, EXIT.INTERNAL);
  }
  let index: Index;
  try {
    index = new Index(paths.index);
  } catch (e) {
    throw new CliError(`cannot open the index ${paths.index}: ${(e as Error).message}`, EXIT.INTERNAL);
  }
  const ctx = { paths, index, store: new Store(paths, index) };
  autostart(paths); // the background ingest for next time; this verb ingests for itself below
  if (opts.ingest !== false) refresh(ctx);
  return ctx;
}

export function refresh(ctx: Ctx): void {
  const r = ingest(ctx.paths, ctx.index);
  for (const s of r.corrupt) process.stderr.write(`shit: warning: spool ${s} has unreadable bytes; read up to them\n`);
}

export function getCommand(ctx: Ctx, id: string): CommandRow | undefined {
  return ctx.index.q("SELECT * FROM commands WHERE id = ?").get(id) as CommandRow | undefined;
}

/** A command by id or unique id prefix (at least 4 hex digits). */
export function findCommand(ctx: Ctx, ref: string): CommandRow {
  if (!/^[0-9a-f]{4,16}$/.test(ref)) throw new CliError(`not a command id: ${JSON.stringify(ref)} (ids are hex, as \`shit list\` shows them)`, EXIT.BAD_INPUT);
  const rows = ctx.index.q("SELECT * FROM commands WHERE id >= ? AND id < ? LIMIT 2").all(ref, ref + "g") as unknown as CommandRow[];
  if (!rows.length) throw new CliError(`unknown command id: ${ref}`, EXIT.BAD_INPUT);
  if (rows.length > 1) throw new CliError(`ambiguous command id: ${ref} (matches ${rows.map((r) => r.id.slice(0, 12)).join(", ")})`, EXIT.BAD_INPUT);
  return rows[0];
}

export function hasEffects(ctx: Ctx, id: string): boolean {
  if (ctx.index.q(`SELECT 1 FROM events WHERE cmd = ? AND (err = 0 OR op = ${Op.NOTCAPTURED}) LIMIT 1`).get(id)) return true;
  if (ctx.index.q("SELECT 1 FROM untracked WHERE cmd = ? LIMIT 1").get(id)) return true; // changed outside capture
  const c = ctx.index.q("SELECT effects FROM commands WHERE id = ?").get(id) as { effects: string | null } | undefined;
  return !!c?.effects && (JSON.parse(c.effects).shell ?? 0) > 0; // it changed its shell's state
}

/** Is this command's effect currently undone? (undone by an undo that was not itself undone) */
export function isUndone(ctx: Ctx, c: CommandRow): boolean {
  if (!c.undone_by) return false;
  const u = getCommand(ctx, c.undone_by);
  return !!u && !isUndone(ctx, u);
}

export function events(ctx: Ctx, id: string): EventRow[] {
  return ctx.index.q("SELECT * FROM events WHERE cmd = ? ORDER BY seq").all(id) as unknown as EventRow[];
}
