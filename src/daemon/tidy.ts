// The store's upkeep in the background: after ingests settle, the daemon compresses the blobs
// absorbed since (a slice at a time, so requests still get their turn), then runs gc when the
// store is over its budget (src/store/gc.ts; the config's store limits, read each time). With no
// daemon, the CLI compresses at its own ingest (src/cli/context.ts) and gc runs when asked.
// SHIT_DAEMON_TIDY_MS: how long after the last ingest a pass starts (default 2000; tests make it short).
import { setImmediate as yieldNow } from "node:timers/promises";
import type { Index } from "../index/db.js";
import type { StatePaths } from "../paths/state.js";
import { loadConfig } from "../config.js";
import { compressPending } from "../store/blobs.js";
import { gc, storeUsage } from "../store/gc.js";
import { human, limitsOf } from "../store/limits.js";
import { Busy, lock } from "../undo/lock.js";
import type { Log } from "./log.js";

const DELAY_MS = Number(process.env.SHIT_DAEMON_TIDY_MS ?? 2000) || 0; // after the last ingest
const SLICE_MS = 200;

export class Tidy {
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(
    private paths: StatePaths,
    private index: () => Index,
    private log: Log,
    private busy: () => boolean, // an ingest is running or wanted: wait for the next quiet moment
  ) {}

  /** Asks for a pass once things are quiet (each call moves it later). */
  soon(): void {
    if (this.timer) this.timer.refresh();
    else this.timer = setTimeout(() => void this.run(), DELAY_MS).unref();
  }

  private async run(): Promise<void> {
    this.timer = null;
    if (this.running) return;
    if (this.busy()) return this.soon();
    this.running = true;
    try {
      for (;;) {
        const before = Date.now();
        const r = compressPending(this.paths, this.index(), before + SLICE_MS);
        if (r.blobs) this.log.write(`compressed ${r.blobs} blob${r.blobs === 1 ? "" : "s"}, ${human(r.saved)} saved`);
        if (Date.now() < before + SLICE_MS) break; // all done within the slice
        await yieldNow();
        if (this.busy()) return this.soon();
      }
      const limits = limitsOf(loadConfig().config);
      const u = storeUsage(this.paths, this.index());
      if (u.blobBytes + u.staging <= limits.budget) return;
      let unlock;
      try {
        unlock = lock(this.paths);
      } catch (e) {
        if (e instanceof Busy) return this.soon(); // an undo is running: after it
        throw e;
      }
      try {
        const g = gc(this.paths, this.index(), { maxAge: limits.maxAge, budget: limits.budget });
        this.log.write(
          `over the budget of ${human(limits.budget)}: gc freed ${g.freed.length} commands (${human(g.bytes)}); the store is ${human(g.after)} now`,
        );
      } finally {
        unlock();
      }
    } catch (e) {
      this.log.write(`store upkeep failed: ${(e as Error).message}`);
    } finally {
      this.running = false;
    }
  }
}
