// What every verb that reads history needs: the state dir, the index, and an ingest of what the
// spools hold so far (so answers are current even with no daemon running).
import { checkState, ensureState, statePaths, type StatePaths } from "../paths/state.js";
import { Index } from "../index/db.js";
import { Store } from "../store/store.js";
import { ingest } from "../ingest/ingest.js";
import { holdEvents } from "../ingest/hand.js";
import { compressPending } from "../store/blobs.js";
import { syncCap } from "../store/cap.js";
import { limitsOf } from "../store/limits.js";
import { loadConfig } from "../config.js";
import { CliError, EXIT, fullHint } from "./exit.js";
import { autostart, syncDaemon } from "../daemon/client.js";
import { endGone } from "../procs/running.js";
import { phase } from "../undo/times.js";
import { thisSession } from "./session.js";
import { lock, type Unlock } from "../undo/lock.js";

export interface Ctx {
  paths: StatePaths;
  index: Index;
  store: Store;
  /** shitd answered and brought the index up to date: it also ingests what this verb's own
   *  records add (an undo's apply), so this process need not wait for that. */
  daemon?: boolean;
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
/** `ahead`: shitd also makes the plans it makes ahead (of this shell's session's undo) before it
 *  answers (an undo or redo). */
export async function openCurrentCtx(opts: { ahead?: { global: boolean } } = {}): Promise<Ctx> {
  checkState(statePaths()); // before anything is read from it, or asked of its daemon
  const ahead = opts.ahead && { session: opts.ahead.global ? null : thisSession() };
  // an undo or redo waits for a shitd still starting (launched by the hooked shell at its start):
  // its sync ingests and plans ahead what this verb would otherwise ingest and plan itself
  const synced = process.env.SHIT_DAEMON !== "off" && (await syncDaemon(statePaths(), 5000, ahead, ahead ? 5000 : 0));
  // an undo or redo plans from the rows its own ingest writes (src/ingest/hand.ts)
  return { ...openCtx({ ingest: !synced, hold: !!opts.ahead }), daemon: synced };
}

export function openCtx(opts: { ingest?: boolean; hold?: boolean } = {}): Ctx {
  const paths = statePaths();
  checkState(paths); // another user's, or writable by others: refused (exit 9), nothing made in it
  try {
    ensureState(paths);
  } catch (e) {
    throw new CliError(`cannot use the state directory ${paths.root}: ${(e as Error).message}`, EXIT.INTERNAL);
  }
  let index: Index;
  try {
    index = new Index(paths.index);
  } catch (e) {
    throw new CliError(`cannot open the index ${paths.index}: ${(e as Error).message}${fullHint(paths.root)}`, EXIT.INTERNAL);
  }
  try {
    syncCap(paths, limitsOf(loadConfig().config).fileCap); // for the shim (src/store/cap.ts)
  } catch {
    // a config that cannot be read: the verbs that use it say so; capture keeps the last cap
  }
  if (opts.hold) holdEvents(index);
  const ctx = { paths, index, store: new Store(paths, index) };
  autostart(paths); // the background ingest for next time; this verb ingests for itself below
  phase("start, open index");
  if (opts.ingest !== false) refresh(ctx);
  phase("ingest");
  endGone(index); // a command killed with all its processes is ended (exit unknown), not "running" forever
  return ctx;
}

/** The undo/redo/gc lock (exit 7 when held), then the spools read in again: the verb that held it
 *  just before leaves its records (an undo's END) to the next one, and this one read them before. */
export function lockFresh(ctx: Ctx): Unlock {
  const unlock = lock(ctx.paths);
  try {
    refresh(ctx);
  } catch (e) {
    unlock();
    throw e;
  }
  return unlock;
}

export function refresh(ctx: Ctx): void {
  const r = ingest(ctx.paths, ctx.index);
  for (const s of r.corrupt) process.stderr.write(`shit: warning: spool ${s} has unreadable bytes; read up to them\n`);
  // no daemon did it: the blobs absorbed just now are compressed here (src/daemon/tidy.ts otherwise)
  compressPending(ctx.paths, ctx.index);
}
